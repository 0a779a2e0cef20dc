#!/usr/bin/env python3
"""Times pypickle-pickle against CPython on the benchmark files, in one run.

    python3 formats/pickle/benches/compare.py [DIR]

DIR defaults to target/bench-data (written by make_bench_files.py, run first if the files
are missing). For each file it measures, best of several runs:

- CPython: `pickle.loads` (the C unpickler) and a `pickletools.genops` globals listing (what
  the Python library pypickle's `validate_modules` does, and how picklescan reads files);
- pypickle-pickle: `validate_modules`, `analyze` and `load` (through the `measure` bench
  binary, built in release mode);
- peak memory (max RSS from /usr/bin/time -v) of one `load`, ours and CPython's. Ours loads
  as `pypickle::load_value` loads a large file: mapped, with the pages the machine has passed
  let go (`RSS held`: the whole input held in memory, as a caller with a byte slice does);

then prints the ratios and checks the targets: validate >= 300 MB/s on the dense file, the
array file in < 0.1 s, load >= 2x faster than CPython, load memory <= 3x the file size.
"""

import json
import os
import pickle
import pickletools
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))


def best_of(fn, min_runs=5, budget=3.0):
    best = float("inf")
    started = time.perf_counter()
    runs = 0
    while runs < min_runs or (time.perf_counter() - started < budget and runs < 30):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
        del result
        runs += 1
    return best


def genops_globals(data):
    """Globals as a pickletools.genops scanner finds them (STACK_GLOBAL from the last two
    string arguments), reading every stacked pickle."""
    found = set()
    strings = []
    pos = 0
    while pos < len(data):
        last = pos
        for op, arg, at in pickletools.genops(data[pos:]):
            last = at
            if op.name in ("GLOBAL", "INST"):
                found.add(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add("%s.%s" % (strings[-2], strings[-1]))
            elif isinstance(arg, str):
                strings.append(arg)
        pos += last + 1
    return sorted(found)


def measure_binary():
    out = subprocess.run(
        ["cargo", "bench", "-p", "pypickle-pickle", "--bench", "measure", "--no-run",
         "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == "measure":
            return msg["executable"]
    raise SystemExit("could not find the measure bench binary")


def peak_rss_kb(argv):
    res = subprocess.run(["/usr/bin/time", "-v"] + argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit("%s failed: %s" % (argv, res.stderr[-500:]))
    for line in res.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1])
    return None


def main():
    bench_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "bench-data")
    names = ["dense.pkl", "array.pkl", "sklearn.pkl"]
    if not os.path.exists(os.path.join(bench_dir, "dense.pkl")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_bench_files.py"), bench_dir],
                       check=True)
    files = [os.path.join(bench_dir, n) for n in names if os.path.exists(os.path.join(bench_dir, n))]

    binary = measure_binary()
    ours = {}
    out = subprocess.run([binary] + files, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        rec = json.loads(line)
        ours[(os.path.basename(rec["file"]), rec["mode"])] = rec["seconds"]

    print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("%-12s %10s | %10s %10s %8s | %10s %10s %10s %7s | %9s %9s %9s" % (
        "file", "size MB", "py genops", "ours valid", "ratio",
        "py loads", "ours load", "ours anlz", "ratio",
        "RSS ours", "RSS held", "RSS py"))
    verdicts = []
    for path in files:
        name = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        size = len(data)
        py_loads = best_of(lambda: pickle.loads(data))
        py_genops = best_of(lambda: genops_globals(data), min_runs=1, budget=1.0)
        validate = ours[(name, "validate")]
        analyze = ours[(name, "analyze")]
        load = ours[(name, "load")]
        # As `pypickle::load_value` reads a large file: mapped, its pages let go behind the
        # machine; and, for comparison, a load of the whole file held in memory.
        rss_ours = peak_rss_kb([binary, "--once", "load-released", path])
        rss_held = peak_rss_kb([binary, "--once", "load", path])
        rss_py = peak_rss_kb([sys.executable, "-c",
                              "import pickle,sys; d=open(sys.argv[1],'rb').read(); x=pickle.loads(d)",
                              path])
        print("%-12s %10.1f | %9.3fs %9.4fs %7.0fx | %9.3fs %9.3fs %9.4fs %6.2fx"
              " | %7.0fMB %7.0fMB %7.0fMB" % (
                  name, size / 1e6, py_genops, validate, py_genops / validate,
                  py_loads, load, analyze, py_loads / load,
                  rss_ours / 1024, rss_held / 1024, rss_py / 1024))
        if name == "dense.pkl":
            mbps = size / validate / 1e6
            verdicts.append(("validate >= 300 MB/s on the dense file", mbps >= 300, "%.0f MB/s" % mbps))
            verdicts.append(("load >= 2x faster than CPython on the dense file",
                             py_loads / load >= 2, "%.2fx" % (py_loads / load)))
        if name == "array.pkl":
            verdicts.append(("array file validated in < 0.1 s", validate < 0.1, "%.6f s" % validate))
        # Small files measure the process more than the load.
        if size >= 10 << 20:
            ratio = rss_ours * 1024 / size
            verdicts.append(("load memory <= 3x the size of %s" % name, ratio <= 3,
                             "%.1fx (%.0f MB peak RSS, the window of the mapped input included; "
                             "%.0f MB with the whole input held; CPython %.0f MB)"
                             % (ratio, rss_ours / 1024, rss_held / 1024, rss_py / 1024)))
    print()
    for what, ok, figure in verdicts:
        print("%-4s %-50s %s" % ("ok" if ok else "MISS", what, figure))


if __name__ == "__main__":
    main()
