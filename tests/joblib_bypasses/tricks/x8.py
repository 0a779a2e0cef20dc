from mk import *
import pickle, numpy as np
# Object array: joblib reads a nested pickle with a fresh pure-Python Unpickler. If that
# pickle's FRAME runs past its STOP, the whole frame is consumed from the file, so joblib's
# outer stream resumes after the frame; the scanner resumes right after the STOP.
inner_body = pickle.dumps(np.array([1, 2], dtype=object), protocol=2)[2:]   # without PROTO
tail = b'0'+PAYLOAD+b'.'
E = b'T'+struct.pack('<i', len(tail)-1)           # inside the frame, after the inner STOP
framed = inner_body + E
inner = b'\x80\x04\x95'+struct.pack('<Q', len(framed)) + framed
hdr = b'\x80\x02'+wrapper6(2, 'O8')+b'}b'
check('x8.joblib', hdr+inner+tail)
