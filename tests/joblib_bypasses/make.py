#!/usr/bin/env python3
"""Writes the joblib scanner-bypass files of this folder (deterministic).

    python3 tests/joblib_bypasses/make.py            # writes the files
    python3 tests/joblib_bypasses/make.py --verify   # also runs joblib.load on each

Each file in tricks/ builds one file that joblib.load loads while running os.system("echo
pwned") (the payload hidden where the scanner would skip or misread bytes), found by
red-teaming pypickle's joblib scanner. `pypickle scan` must never call one SAFE
(tests/tests/joblib_bypasses.rs). --verify RUNS THE PAYLOAD (a harmless echo) through joblib
in a subprocess, to confirm each file still works against the installed joblib: it prints
"pwned" once per file, x10 excepted (it reads side.bin, then fails).
"""

import os
import runpy
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRICKS = os.path.join(HERE, "tricks")
VERIFY = "--verify" in sys.argv[1:]


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def check(name, data):
    write(name, data)
    if VERIFY:
        path = os.path.join(HERE, name)
        done = subprocess.run(
            [sys.executable, "-c", f"import joblib; joblib.load({path!r})"],
            capture_output=True, text=True, cwd=HERE)
        print(f"{name}: {'payload ran' if 'pwned' in done.stdout else 'payload did NOT run'}")


def main():
    sys.path.insert(0, TRICKS)
    import mk
    mk.check, mk.write = check, write
    for script in sorted(f for f in os.listdir(TRICKS) if f.startswith("x") and f.endswith(".py")):
        variants = [["argparse:Namespace"], ["joblib.numpy_pickle:NumpyPickler"]] \
            if script == "x4.py" else [[]]
        for argv in variants:
            sys.argv = [script, *argv]
            runpy.run_path(os.path.join(TRICKS, script), run_name="__main__")


if __name__ == "__main__":
    main()
