#!/usr/bin/env python3
"""Writes the third round of joblib scanner-bypass files (deterministic), found by
red-teaming pypickle's joblib scanner after the first two rounds (../make.py).

    python3 tests/joblib_bypasses/round3/make.py                 # writes the files
    VERIFY=1 python3 tests/joblib_bypasses/round3/make.py        # also runs joblib.load on each
    PYPICKLE=target/release/pypickle python3 .../make.py         # also scans each

Each b*.py script builds the files of one trick; each file makes joblib.load run
os.system("echo pwned") (VERIFY=1 RUNS that harmless payload, in a subprocess) while an
earlier pypickle called it SAFE. b4* (joblib's old ZF format) and b12* (a FLOAT argument only
Python's float() accepts) were ERROR when named but skipped in folder scans. The scanner must
never call any of them safe (tests/tests/joblib_bypasses.rs).
"""
import glob
import os
import runpy

HERE = os.path.dirname(os.path.abspath(__file__))

# b5 compresses the files b1, b2 and b3 write: it runs last.
scripts = sorted(glob.glob(os.path.join(HERE, "b*.py")), key=lambda p: "b5" in p)
for script in scripts:
    runpy.run_path(script, run_name="__main__")
