#!/usr/bin/env python3
"""Writes the fifth round of joblib scanner-bypass files (deterministic), found by
red-teaming pypickle's joblib scanner after the fourth round (../round4).

    python3 tests/joblib_bypasses/round5/make.py                 # writes the files
    VERIFY=1 python3 tests/joblib_bypasses/round5/make.py        # also runs joblib.load on each
    PYPICKLE=target/release/pypickle python3 .../make.py         # also scans each

The d*.py scripts (with ../round3/common.py and ../tricks/mk.py) build files that make
joblib.load run os.system("echo pwned") (VERIFY=1 RUNS that harmless payload, in a
subprocess) while an earlier pypickle called them SAFE: an object given a `__setstate__`
attribute by one BUILD calls it on the next BUILD's state (d1*), an object's `__dict__` made
a dict the wrapper's state is (d2, and d2z: the same zlib-compressed), and pickle's unpickler
table rewritten through `joblib.numpy_pickle_utils.Unpickler.dispatch.update` (d7c).
"""
import glob
import os
import runpy
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "round3"))

for script in sorted(glob.glob(os.path.join(HERE, "d*.py"))):
    runpy.run_path(script, run_name="__main__")
with open(os.path.join(HERE, "d2_dict_alias.joblib"), "rb") as f:
    d2 = f.read()
with open(os.path.join(HERE, "d2z_dict_alias_zlib.joblib"), "wb") as f:
    f.write(zlib.compress(d2, 3))
