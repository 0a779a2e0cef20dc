# LZMA "alone" header whose dictionary size has a nonzero second byte: joblib's prefix test is
# b']\x00' (2 bytes) and liblzma's alone decoder accepts any dictionary size; the scanner wants
# ']\x00\x00' to call it lzma, else it reads it as a pickle (']' then opcode 0x00) -> "no pickle".
import lzma, struct
from common import *
inner = b'\x80\x02' + PAYLOAD + b'.'
raw = lzma.compress(inner, format=lzma.FORMAT_ALONE)
# header: props(1) dict(4) size(8)
d = bytearray(raw)
assert d[0]==0x5d and d[1]==0
d[1:5] = (0x1000).to_bytes(4,"little")   # 4 KiB = 2^12: liblzma's picky auto decoder takes 2^n sizes
run('c1_lzma_dict.joblib', bytes(d))
