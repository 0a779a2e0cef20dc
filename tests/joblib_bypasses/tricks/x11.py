from mk import *
# dtype state in numpy's old 6-item form (version, endian, subarray, fields, elsize, alignment):
# numpy takes elsize from index 4 (=40), the scanner reads index 5 (alignment, =1).
d = G('numpy','dtype')+U('S1')+b'\x89\x88\x87R'+b'(K\x01'+U('|')+b'NNK\x28K\x01tb'
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'K\x06\x85'+U('C')+d+b'\x89NtR}b'
check('x11.joblib', b'\x80\x02'+W+region(240,[0,6]))
