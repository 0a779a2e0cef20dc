#!/usr/bin/env python3
"""Writes the sixth round of joblib scanner-bypass files (deterministic), found by
red-teaming pypickle's joblib scanner after the fifth round (../round5).

    python3 tests/joblib_bypasses/round6/make.py                 # writes the files
    VERIFY=1 python3 tests/joblib_bypasses/round6/make.py        # also runs joblib.load on each
    PYPICKLE=target/release/pypickle python3 .../make.py         # also scans each

The e*.py scripts (with ../round3/common.py and ../tricks/mk.py) build files that make
joblib.load run os.system("echo pwned") (VERIFY=1 RUNS that harmless payload, in a
subprocess) while an earlier pypickle called them SAFE: `numpy.dtype(w)` returns the dtype
`w` itself (or `w.dtype` of an object holding it), and a BUILD on that result sets the state
of the dtype a wrapper uses (e1, e1b, e1c). e1d does it through `numpy.dtype.__setstate__`,
which the policy refused already.
"""
import glob
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "round3"))

for script in sorted(glob.glob(os.path.join(HERE, "e*.py"))):
    runpy.run_path(script, run_name="__main__")
