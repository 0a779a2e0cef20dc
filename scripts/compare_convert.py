#!/usr/bin/env python3
"""Pickle -> CBOR: `pypickle convert` against CPython (`pickle.load` + `cbor2.dump`), in one run.

    cargo build --release -p pypickle
    python3 scripts/compare_convert.py [--pypickle target/release/pypickle] [--input FILE] [--runs 3]

The input defaults to the opcode-dense benchmark pickle: 300 000 small dicts, protocol 4, about
14 MB (written to target/bench-data/dense.pkl if missing, with the recipe of
formats/pickle/benches/make_bench_files.py). Each side runs in its own process, `--runs` times;
the best wall time is kept, and the peak resident memory of each process is measured by the
kernel (getrusage of the child). Both outputs are checked to decode to the same data.
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

CPYTHON = r"""
import pickle, sys, time, cbor2
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    value = pickle.load(f)
with open(sys.argv[2], "wb") as f:
    cbor2.dump(value, f)
print(time.perf_counter() - start)
"""

MEASURE = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
if done.returncode:
    sys.exit(done.stderr.decode())
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(wall, peak_kib, done.stdout.decode().strip() or "-")
"""


def dense_pickle(path):
    dense = [
        {"id": i, "name": "user%06d" % i, "score": i * 0.5, "active": i % 3 == 0, "group": i % 7}
        for i in range(300_000)
    ]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(dense, f, protocol=4)


def measure(command):
    """(wall seconds, peak RSS bytes, what the command printed) of one run in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return float(out[0]), int(out[1]) * 1024, out[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pypickle", default=os.path.join(ROOT, "target", "release", "pypickle"),
                        help="the pypickle binary (release build)")
    parser.add_argument("--input", default=os.path.join(ROOT, "target", "bench-data", "dense.pkl"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    if not os.path.exists(args.input):
        dense_pickle(args.input)
    size = os.path.getsize(args.input)
    with tempfile.TemporaryDirectory() as tmp:
        ours_out = os.path.join(tmp, "pypickle.cbor")
        theirs_out = os.path.join(tmp, "cpython.cbor")
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(measure([args.pypickle, "convert", args.input, ours_out, "--overwrite"]))
            theirs.append(measure([sys.executable, "-c", CPYTHON, args.input, theirs_out]))
        import cbor2
        with open(args.input, "rb") as f:
            original = pickle.load(f)
        with open(ours_out, "rb") as f:
            same = cbor2.load(f) == original
        ours_time = min(r[0] for r in ours)
        theirs_time = min(r[0] for r in theirs)
        ours_peak = max(r[1] for r in ours)
        theirs_peak = max(r[1] for r in theirs)
        print(f"input: {args.input} ({size / 1e6:.1f} MB)")
        print(f"pypickle convert : {ours_time:.3f} s wall, peak RSS {ours_peak / 1e6:.1f} MB "
              f"({ours_peak / size:.2f}x the input), output {os.path.getsize(ours_out) / 1e6:.1f} MB")
        print(f"CPython pickle.load + cbor2.dump: {theirs_time:.3f} s wall "
              f"({min(float(r[2]) for r in theirs):.3f} s inside the interpreter), "
              f"peak RSS {theirs_peak / 1e6:.1f} MB, output {os.path.getsize(theirs_out) / 1e6:.1f} MB")
        print(f"speed-up: {theirs_time / ours_time:.2f}x (wall, process start included)")
        print(f"pypickle's CBOR reads back in cbor2 equal to the pickle's value: {same}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
