"""Compares pickles pypickle rewrote with the CPython-written originals.

Usage: python3 tests/pickle_interop.py JOBS.json
JOBS.json: [{"original": path, "rewritten": path, "compare": mode, "load_kwargs": {...},
             "expected_predictions": [...] or null}, ...]
Prints one line per job, "ok PATH" or "FAIL PATH: reason", and exits 1 if any failed.
Modes (from tests/fixtures/manifest.json): eq, repr, identity, numpy, pandas, sklearn_predict.
"""
import json
import os
import pickle
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def load_all(path, kwargs):
    objects = []
    with open(path, "rb") as f:
        while True:
            try:
                objects.append(pickle.load(f, **kwargs))
            except EOFError:
                return objects


def canonical(x, seen):
    """The structure of x with aliasing made explicit: a container met again is ('ref', n)."""
    if isinstance(x, (list, dict, set, frozenset, tuple, bytearray)) or hasattr(x, "__dict__"):
        if id(x) in seen:
            return ("ref", seen[id(x)])
        seen[id(x)] = len(seen)
    if isinstance(x, list):
        return ("list", [canonical(v, seen) for v in x])
    if isinstance(x, tuple):
        return ("tuple", [canonical(v, seen) for v in x])
    if isinstance(x, dict):
        return (type(x).__name__, [(canonical(k, seen), canonical(v, seen)) for k, v in x.items()])
    if isinstance(x, (set, frozenset)):
        return (type(x).__name__, sorted(repr(v) for v in x))
    if hasattr(x, "__dict__") and not isinstance(x, type):
        return ("obj", type(x).__qualname__, canonical(vars(x), seen))
    return ("value", type(x).__name__, repr(x))


def deep_equal(a, b):
    if type(a) is not type(b):
        return False, f"type {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.dtype.str != b.dtype.str or a.shape != b.shape:
            return False, f"dtype/shape {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        if a.flags.f_contiguous != b.flags.f_contiguous or a.flags.c_contiguous != b.flags.c_contiguous:
            return False, "memory order differs"
        if a.dtype.kind in "fc":
            same = np.array_equal(a, b, equal_nan=True)
        elif a.dtype.kind == "O":
            same = all(deep_equal(x, y)[0] for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        else:
            same = np.array_equal(a, b)
        return same, "" if same else "values differ"
    if isinstance(a, np.generic):
        return repr(a) == repr(b), f"{a!r} != {b!r}"
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return False, "lengths differ"
        for x, y in zip(a, b):
            ok, why = deep_equal(x, y)
            if not ok:
                return ok, why
        return True, ""
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            return False, "keys differ"
        for k in a:
            ok, why = deep_equal(a[k], b[k])
            if not ok:
                return ok, f"[{k!r}]: {why}"
        return True, ""
    return a == b, f"{a!r} != {b!r}"


def compare(job, a, b):
    mode = job["compare"]
    if mode == "eq":
        return a == b, f"{a!r} != {b!r}"
    if mode == "repr":
        return repr(a) == repr(b), f"{a!r} != {b!r}"
    if mode == "identity":
        ca, cb = canonical(a, {}), canonical(b, {})
        return ca == cb, f"{ca!r} != {cb!r}"
    if mode == "numpy":
        return deep_equal(a, b)
    if mode == "pandas":
        return type(a) is type(b) and a.equals(b), "frames differ"
    if mode == "sklearn_predict":
        from sklearn.datasets import load_iris

        predictions = b.predict(load_iris().data[::10]).tolist()
        return predictions == job["expected_predictions"], f"predictions {predictions}"
    return False, f"unknown compare mode {mode}"


def main():
    jobs = json.load(open(sys.argv[1]))
    failed = 0
    for job in jobs:
        kwargs = job.get("load_kwargs") or {}
        try:
            originals = load_all(job["original"], kwargs)
            ours = load_all(job["rewritten"], kwargs)
            if len(originals) != len(ours):
                ok, why = False, f"{len(ours)} pickles, expected {len(originals)}"
            else:
                ok, why = True, ""
                for a, b in zip(originals, ours):
                    ok, why = compare(job, a, b)
                    if not ok:
                        break
        except Exception as e:  # a rewritten file CPython cannot load is a failure, not a crash
            ok, why = False, f"{type(e).__name__}: {e}"
        if ok:
            print(f"ok {job['original']}")
        else:
            failed += 1
            print(f"FAIL {job['original']}: {why[:500]}")
    sys.exit(1 if failed else 0)


main()
