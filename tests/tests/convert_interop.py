"""CPython's side of tests/tests/convert.rs: one process checks every converted file.

argv[1]: a JSON list of jobs {original, converted, mode, load_kwargs, cbor}; each converted pickle
must load to an object equal to the original's per the manifest's compare mode (fixture_lib.compare),
and a `cbor`/`msgpack` file (bare CBOR or MessagePack of plain data or of a numpy array of a numeric or bool dtype) must read
in cbor2, with the helper documented in docs/conversion.md, as the same object. Prints one line per failure; exits 1 if any.
"""

import json
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))

import cbor2  # noqa: E402
import fixture_lib  # noqa: E402


def documented_hook():
    doc = open(os.path.join(HERE, "..", "..", "docs", "conversion.md"), encoding="utf-8").read()
    start = doc.index("```python\n") + len("```python\n")
    source = doc[start:doc.index("```", start)]
    namespace = {}
    exec(source, namespace)
    return namespace


def load_all(path, kwargs):
    objects = []
    with open(path, "rb") as f:
        while f.peek(1):
            objects.append(pickle.load(f, **kwargs))
    return objects


def main():
    jobs = json.load(open(sys.argv[1]))
    doc = documented_hook()
    failures = 0
    for job in jobs:
        kwargs = job.get("load_kwargs") or {}
        try:
            original = load_all(job["original"], kwargs)
            if "converted" in job:
                converted = load_all(job["converted"], kwargs)
                same = len(original) == len(converted) and all(
                    fixture_lib.compare(a, b, job["mode"]) for a, b in zip(original, converted)
                )
                if not same:
                    failures += 1
                    print(f"FAIL {job['converted']}: {original!r:.300} != {converted!r:.300}")
            if "msgpack" in job:
                with open(job["msgpack"], "rb") as f:
                    read = doc["read_msgpack"](f)
                if job["mode"] == "numpy" and type(read).__name__ == "ExtType":
                    pass  # arrays that are calls, not typed arrays
                elif not fixture_lib.compare(original[0], read, job["mode"]):
                    failures += 1
                    print(f"FAIL msgpack {job['msgpack']}: {original[0]!r:.300} != {read!r:.300}")
            if "cbor" in job:
                with open(job["cbor"], "rb") as f:
                    read = doc["read_cbor"](f)
                if job["mode"] == "numpy" and isinstance(read, cbor2.CBORTag):
                    pass  # complex, string, datetime, structured and object arrays: calls, not typed
                elif not fixture_lib.compare(original[0], read, job["mode"]):
                    failures += 1
                    print(f"FAIL cbor2 {job['cbor']}: {original[0]!r:.300} != {read!r:.300}")
        except Exception as e:  # noqa: BLE001 - report and go on
            failures += 1
            print(f"FAIL {job}: {type(e).__name__}: {e}")
    print(f"{len(jobs)} jobs, {failures} failures")
    sys.exit(1 if failures else 0)


main()
