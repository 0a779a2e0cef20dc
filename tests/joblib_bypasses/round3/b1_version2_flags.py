from common import *
# dtype state of 8 items whose version (item 0) is 2: numpy < version 3 recomputes
# flags = _descr_find_object(self), which returns NPY_OBJECT_DTYPE_FLAGS whenever the given
# flags are nonzero. flags=2 (bit 0 clear) => 'u1' dtype with hasobject=True.
def v2(code, flags): return dtype(code) + tup(b'K\x02', U('|'), b'N', b'N', b'N', I(-1), I(-1), flags) + b'b'
nested = b'\x80\x02'+PAYLOAD+b'.'
rest = b'0' + wr(len(nested), v2('u1', b'K\x02')) + nested
run('b1.joblib', b'\x80\x02' + wr(5, dtype('u1')) + T(len(rest)) + rest + b'0N.')
# the same with versions 0 and 1 and other nonzero flags (bit 0 clear)
for v, f in [(0, 2), (1, 4), (2, 8)]:
    def vX(code, flags, v=v): return dtype(code) + tup(b'K'+bytes([v]), U('|'), b'N', b'N', b'N', I(-1), I(-1), flags) + b'b'
    rest = b'0' + wr(len(nested), vX('u1', b'K'+bytes([f]))) + nested
    run(f'b1_v{v}_f{f}.joblib', b'\x80\x02' + wr(5, dtype('u1')) + T(len(rest)) + rest + b'0N.')
