from common import *
import zlib, bz2, lzma
# b1/b2/b3 inside joblib's compressed containers (the format joblib.dump(compress=...) writes).
def z(x, wbits): c=zlib.compressobj(3, zlib.DEFLATED, wbits); return c.compress(x)+c.flush()
comp = {'zlib': lambda x: z(x,15), 'gzip': lambda x: z(x,31), 'bz2': bz2.compress,
        'xz': lambda x: lzma.compress(x, format=lzma.FORMAT_XZ), 'lzma': lambda x: lzma.compress(x, format=lzma.FORMAT_ALONE)}
for src in ['b1','b2','b3']:
    raw = open(os.path.join(HERE, f'{src}.joblib'),'rb').read()
    for name, f in comp.items():
        run(f'{src}_{name}.joblib', f(raw), quiet=True)
