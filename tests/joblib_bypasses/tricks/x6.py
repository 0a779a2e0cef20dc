from mk import *
N=30
# wrapper built with 6 args (shape (30,)); BUILD slotstate replaces __dict__ with shape (60,)
d = b'}('+U('subclass')+G('numpy','ndarray')+U('shape')+b'K\x3c\x85'+U('order')+U('C')+U('dtype')+dtype('u1')+U('allow_mmap')+b'\x89u'
hdr = b'\x80\x02'+wrapper6(N)+b'N}'+U('__dict__')+d+b's\x86b'
# joblib reads 60 bytes (no alignment attr any more); scanner skips 30
check('x6.joblib', hdr+region(60,[0,N]))
