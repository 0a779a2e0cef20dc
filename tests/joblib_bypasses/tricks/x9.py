from mk import *
N=30
# numpy_array_alignment_bytes is None when joblib runs but not spelled None in the file: the
# result of builtins.print() (x9) or the global numpy.newaxis (x9b). A scanner that takes
# anything but None for "not None" reads a padding byte; joblib reads none.
for name, value in [('x9.joblib', G('builtins','print')+b')R'), ('x9b.joblib', G('numpy','newaxis'))]:
    hdr = b'\x80\x02'+wrapper6(N)+b'}'+U('numpy_array_alignment_bytes')+value+b'sb'
    P=40
    r = bytearray(72)
    r[0]=P                      # scanner: padding length; plain: MARK
    r[30:30+len(PAYLOAD)+2] = b'0'+PAYLOAD+b'.'   # joblib resumes at N=30
    r[71]=ord('.')               # scanner resumes at 1+P+N = 71: STOP
    r[1:6]=b'T'+struct.pack('<i',71-6)  # plain: string over the payload
    check(name, hdr+bytes(r))
