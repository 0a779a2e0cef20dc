from mk import *
N=30
# BUILD state dict whose key is builtins.str('shape') (a call, not a literal): joblib's
# getattr finds it; the scanner skips keys that are not literal strs.
key = G('builtins','str')+U('shape')+b'\x85R'
hdr = b'\x80\x02'+wrapper6(N)+b'}'+key+b'K\x3c\x85sb'
check('x7.joblib', hdr+region(60,[0,N]))
