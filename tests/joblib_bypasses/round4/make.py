#!/usr/bin/env python3
"""Writes the fourth round of joblib scanner-bypass files (deterministic), found by
red-teaming pypickle's joblib scanner after the third round (../round3).

    python3 tests/joblib_bypasses/round4/make.py                 # writes the files
    VERIFY=1 python3 tests/joblib_bypasses/round4/make.py        # also runs joblib.load on each
    PYPICKLE=target/release/pypickle python3 .../make.py         # also scans each

Each c*.py script builds the files of one trick (with ../round3/common.py and
../tricks/mk.py); each makes joblib.load (c5: pickle.load) run os.system("echo pwned")
(VERIFY=1 RUNS that harmless payload, in a subprocess) while an earlier pypickle called it
SAFE, or (c1) skipped it in a folder scan. c5 and c7 hold 2^24 + 16 DUP opcodes (17 MB, and
17 KB of zlib data followed by 300 000 zero bytes): only their ends are kept here
(c5_plain_stack_limit.head/.tail, c7_zf_compat_stack.head), and tests/tests/joblib_bypasses.rs
puts them together again. The scanner must never call any of them safe.
"""
import glob
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "round3"))
DUPS = (1 << 24) + 16
ZEROS = 300_000

for script in sorted(glob.glob(os.path.join(HERE, "c*.py"))):
    runpy.run_path(script, run_name="__main__")

with open(os.path.join(HERE, "c5_plain_stack_limit.joblib"), "rb") as f:
    c5 = f.read()
head_len = c5.index(b"2" * 64)
assert c5[head_len:head_len + DUPS] == b"2" * DUPS
with open(os.path.join(HERE, "c5_plain_stack_limit.head"), "wb") as f:
    f.write(c5[:head_len])
with open(os.path.join(HERE, "c5_plain_stack_limit.tail"), "wb") as f:
    f.write(c5[head_len + DUPS:])
with open(os.path.join(HERE, "c7_zf_compat_stack.joblib"), "rb") as f:
    c7 = f.read()
assert c7.endswith(bytes(ZEROS))
with open(os.path.join(HERE, "c7_zf_compat_stack.head"), "wb") as f:
    f.write(c7[:-ZEROS])
if not os.environ.get("KEEP_LARGE"):
    os.remove(os.path.join(HERE, "c5_plain_stack_limit.joblib"))
    os.remove(os.path.join(HERE, "c7_zf_compat_stack.joblib"))
