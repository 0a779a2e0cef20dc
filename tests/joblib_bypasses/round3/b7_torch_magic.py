from common import *
# The file opens with PROTO 2 + LONG1 <torch legacy magic number>: the scanner takes it for a
# legacy PyTorch file and reads it as plain pickles only (no joblib array skipping). joblib
# pushes the number, POPs it and goes on: the wrapper's BUILD makes it read N array bytes, which
# the plain reading takes for a BINSTRING over the payload.
MAGIC = bytes([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])
N = 30
hdr = b'\x80\x02' + b'\x8a' + bytes([len(MAGIC)]) + MAGIC + b'0' + wrapper6(N) + b'}b'
run('b7.joblib', hdr + region(N, [0]))
