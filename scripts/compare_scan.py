#!/usr/bin/env python3
"""Speed: `pypickle scan` against picklescan on the same files, in one run.

    pip install picklescan numpy
    cargo build --release
    python3 scripts/compare_scan.py            # prints a table of timings and ratios

Files (generated into a temporary folder, removed afterwards):
  dense.pkl   ~14 MB opcode-dense pickle: 300 000 small dicts, protocol 4
  array.pkl   128 MB numpy float64 array pickle (one large BINBYTES8 payload)
  many/       400 small pickles (a folder scan: both cores used)

Each tool is timed as a command line (wall clock, startup included) and picklescan also
in-process (`scan_file_path`, no interpreter startup), best of --repeat runs.
"""

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(cmd, env=None):
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed with exit status {result.returncode}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "pypickle"))
    args = parser.parse_args()

    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "-p", "pypickle"], cwd=ROOT, check=True)
    picklescan_cli = shutil.which("picklescan")
    try:
        from picklescan.scanner import scan_file_path
    except ImportError:
        raise SystemExit("pip install picklescan")
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="compare_scan-")
    try:
        dense = os.path.join(tmp, "dense.pkl")
        rows = [{"id": i, "name": "n%d" % i, "score": i * 0.5, "ok": i % 2 == 0, "tags": (i, "a")}
                for i in range(300_000)]
        with open(dense, "wb") as f:
            pickle.dump(rows, f, protocol=4)
        del rows
        array = os.path.join(tmp, "array.pkl")
        with open(array, "wb") as f:
            pickle.dump(np.arange(16 * 1024 * 1024, dtype=np.float64), f, protocol=4)
        many = os.path.join(tmp, "many")
        os.mkdir(many)
        small = pickle.dumps([{"k": i, "v": str(i)} for i in range(20_000)], protocol=4)
        for i in range(400):
            with open(os.path.join(many, "f%03d.pkl" % i), "wb") as f:
                f.write(small)

        print(f"{'file':<12} {'size':>9} {'pypickle':>10} {'picklescan cli':>15} {'in-process':>11}"
              f" {'ratio cli':>10} {'ratio api':>10}")
        for name, path in [("dense.pkl", dense), ("array.pkl", array)]:
            size = os.path.getsize(path) / 1e6
            ours = best(lambda: run([args.binary, "scan", "-q", path]), args.repeat)
            cli = best(lambda: run([picklescan_cli, "--path", path]), args.repeat) if picklescan_cli else float("nan")
            api = best(lambda: scan_file_path(path), args.repeat)
            print(f"{name:<12} {size:>7.1f}MB {ours:>9.4f}s {cli:>14.3f}s {api:>10.3f}s"
                  f" {cli / ours:>9.0f}x {api / ours:>9.0f}x")

        one = dict(os.environ, RAYON_NUM_THREADS="1")
        serial = best(lambda: run([args.binary, "scan", "-q", many], env=one), args.repeat)
        parallel = best(lambda: run([args.binary, "scan", "-q", many]), args.repeat)
        cli = best(lambda: run([picklescan_cli, "--path", many]), 1) if picklescan_cli else float("nan")
        print(f"folder of 400 pickles ({os.path.getsize(os.path.join(many, 'f000.pkl')) * 400 / 1e6:.0f} MB):"
              f" pypickle {serial:.3f}s on 1 thread, {parallel:.3f}s on {os.cpu_count()} cores"
              f" ({serial / parallel:.2f}x); picklescan cli {cli:.2f}s ({cli / parallel:.0f}x)")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
