from common import *
# No PROTO, first opcode FLOAT with an argument Python's float() takes but the scanner refuses
# (' 1e1', '1_0.5'): the scanner's pass stops at offset 0 with nothing read, so the file is "no
# pickle": ERROR when named on the command line, silently SKIPPED when found in a folder.
for name, arg in [('b12.joblib', b' 1e1'), ('b12b.joblib', b'1_0.5')]:
    run(name, b'F' + arg + b'\n0' + PAYLOAD + b'.')
