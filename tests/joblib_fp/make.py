#!/usr/bin/env python3
"""Writes the files of tests/joblib_fp/ (deterministic; needs numpy >= 2, joblib, sklearn).

    python3 tests/joblib_fp/make.py            # writes the files
    python3 tests/joblib_fp/make.py --verify   # also loads the attack files that do something

safe/: real files that were false positives of `pypickle scan` (a dump of a numpy.memmap was
unsafe, an array of numpy 2's StringDType was an error); tests/tests/joblib_false_positives.rs
asserts each is SAFE.

attacks/: hand-assembled files that look like those but use what the scanner now accepts
somewhere else (numpy.memmap called, or reached through the state dict or the wrapper; a
StringDType-like dtype the scanner must not lay out); the test asserts none is SAFE. With
--verify, the ones marked below are loaded with joblib in a temporary folder, to show they
do what they claim (create a file through numpy.memmap, or run `echo pwned`).
"""

import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile

import joblib
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY = "--verify" in sys.argv[1:]


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def dumped(value, **kw):
    buf = io.BytesIO()
    joblib.dump(value, buf, **kw)
    return buf.getvalue()


# ---------------------------------------------------------------- real files (safe)

def safe_files():
    with tempfile.TemporaryDirectory() as tmp:
        mm = np.memmap(os.path.join(tmp, "a.dat"), dtype="float32", mode="w+", shape=(3, 2))
        mm[:] = np.arange(6, dtype="float32").reshape(3, 2)
        for p in (0, 2, 3, 4, 5):
            write("safe", f"memmap_p{p}.joblib", dumped(mm, protocol=p))
        two = {"a": mm, "b": mm[1:], "c": np.arange(3)}
        write("safe", "memmap_dict.joblib", dumped(two))
        write("safe", "memmap_dict_zlib.joblib", dumped(two, compress=("zlib", 3)))
        write("safe", "memmap_dict_xz.joblib", dumped(two, compress=("xz", 3)))
        from sklearn.linear_model import LinearRegression
        lr = LinearRegression().fit(np.arange(8.0).reshape(4, 2), np.arange(4.0))
        coef = np.memmap(os.path.join(tmp, "c.dat"), dtype="float64", mode="w+", shape=(2,))
        coef[:] = lr.coef_
        lr.coef_ = coef
        write("safe", "memmap_in_estimator.joblib", dumped(lr))
        write("safe", "memmap_in_estimator_zlib.joblib", dumped(lr, compress=3))
        from argparse import Namespace
        m = Namespace(weights=mm, bias=np.zeros(2))
        write("safe", "memmap_in_object_p2.joblib", dumped(m, protocol=2))
        del mm, coef, two, lr, m

    sd = np.dtypes.StringDType
    for p in (2, 3, 4, 5):
        arr = np.array(["a", "bb", "ccc"], dtype=sd())
        write("safe", f"stringdtype_p{p}.joblib", dumped(arr, protocol=p))
        write("safe", f"stringdtype_p{p}.pkl", pickle.dumps(arr, protocol=p))
    many = {
        "plain": np.array(["x", "yy"], dtype=sd()),
        "no_coerce": np.array(["q"] * 3, dtype=sd(coerce=False)),
        "na_str": np.array(["a", "b"], dtype=sd(na_object="?")),
        "na_nan": np.array(["a", np.nan], dtype=sd(na_object=np.nan)),
        "na_none": np.array(["a", None], dtype=sd(na_object=None)),
        "floats": np.arange(4.0),
    }
    write("safe", "stringdtype_dict.joblib", dumped(many))
    write("safe", "stringdtype_dict_zlib.joblib", dumped(many, compress=3))

    # A time-zone-aware column: its dtype holds a zoneinfo.ZoneInfo, which pickles as
    # builtins.getattr(zoneinfo.ZoneInfo, '_unpickle')(key, 1).
    import pandas as pd
    tz = pd.DataFrame({"t": pd.date_range("2024-03-30 22:00", periods=3, freq="h", tz="Europe/Paris"),
                       "x": [1.0, 2.0, 3.0]})
    for p in (2, 4, 5):
        write("safe", f"pandas_tz_p{p}.joblib", dumped(tz, protocol=p))
    write("safe", "pandas_tz_zlib.joblib", dumped(tz, compress=3))
    write("safe", "pandas_tz_p4.pkl", pickle.dumps(tz, protocol=4))


# ---------------------------------------------------------------- attacks (never safe)

sys.path.insert(0, os.path.join(HERE, "..", "joblib_bypasses", "tricks"))
from mk import MAKE_FILE, PAYLOAD, U1, state, G, GET, K, PUT, SG, U  # noqa: E402  (the opcode helpers of the bypass files)

WRAPPER = G("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + PUT(0)  # memo 0
MEMMAP = G("numpy", "memmap") + PUT(2)  # memo 2
OS_SYSTEM = PAYLOAD


def memmap_wrapper(subclass=MEMMAP, key="subclass", shape=2):
    """A u1 wrapper of `shape` items, aligned, state (memo 1) naming `subclass` by `key`;
    then its array (a zero padding byte and the items)."""
    items = [("subclass", G("numpy", "ndarray")), ("shape", K(shape) + b"\x85"),
             ("order", U("C")), ("dtype", U1), ("allow_mmap", b"\x89"),
             ("numpy_array_alignment_bytes", K(16))]
    items = [(k, subclass if k == key else v) for k, v in items]
    return WRAPPER + state(items) + b"b" + b"\x00" + b"\x07" * shape


def attack_files():
    P2 = b"\x80\x02"
    files = {
        # numpy.memmap as the subclass, and called after the array: creates pwned.dat.
        "memmap_called_after.joblib": (P2 + memmap_wrapper() + b"0" + MAKE_FILE(GET(2)) + b".", True),
        # ... called before, through the memo, while it is also the subclass.
        "memmap_called_before.joblib": (
            P2 + MEMMAP + b"0" + MAKE_FILE(GET(2)) + b"0" + memmap_wrapper(subclass=GET(2)) + b".",
            True),
        # The state dict reached again after the BUILD: its values are handed to calls
        # (list(starmap(next(iter(dict.values(state))), ...)) reads the subclass and calls it).
        "memmap_via_state_dict.joblib": (
            b"\x80\x04" + memmap_wrapper() + b"0"
            + G("builtins", "list") + G("itertools", "starmap")
            + G("builtins", "next") + G("builtins", "iter") + SG("builtins", "dict.values")
            + GET(1) + b"\x85R\x85R\x85R"
            + b"](" + U("pwned.dat") + U("uint8") + U("w+") + K(0) + K(1) + b"\x85ta"
            + b"\x86R\x85R.", True),
        # The wrapper reached again after the BUILD and handed to a call.
        "memmap_via_wrapper.joblib": (
            P2 + memmap_wrapper() + b"0" + G("builtins", "vars") + GET(0) + b"\x85R.", False),
        # A dict that holds it under 'subclass' given to a call, then overwritten.
        "memmap_overwritten.joblib": (
            P2 + memmap_wrapper() + b"0" + b"}" + PUT(9) + U("subclass") + GET(2) + b"s"
            + G("builtins", "len") + GET(9) + b"\x85R0"
            + GET(9) + U("subclass") + K(1) + b"s.", False),
        # In another slot of the wrapper's state.
        "memmap_in_order_slot.joblib": (P2 + memmap_wrapper(key="order") + b".", False),
        # As 'subclass' in the state of an object that is no wrapper.
        "memmap_state_of_other.joblib": (
            P2 + memmap_wrapper() + b"0" + G("argparse", "Namespace") + b")\x81"
            + state([("subclass", GET(2))], memo=9) + b"b.", False),
        # As the first argument of the wrapper's __init__ (the class called with it).
        "memmap_init_argument.joblib": (
            P2 + G("joblib.numpy_pickle", "NumpyArrayWrapper") + b"(" + MEMMAP + K(2) + b"\x85"
            + U("C") + U1 + b"\x89tR" + b"Nb" + b"\x00\x07\x07.", False),
        # In a plain pickle.load the wrapper stays on the stack, and the array's bytes are
        # opcodes (TUPLE1, POP) that use it.
        "memmap_plain_reading.joblib": (
            P2 + WRAPPER + state([("subclass", MEMMAP), ("shape", K(2) + b"\x85"),
                                  ("order", U("C")), ("dtype", U1), ("allow_mmap", b"\x89"),
                                  ("numpy_array_alignment_bytes", b"N")])
            + b"b" + b"\x850" + b".", False),
    }

    def sd_wrapper(dtype, allow_mmap=b"\x89", after=b"\x80\x02N.", tail=b"."):
        return (P2 + WRAPPER + state([("subclass", G("numpy", "ndarray")),
                                      ("shape", K(1) + b"\x85"), ("order", U("C")),
                                      ("dtype", dtype), ("allow_mmap", allow_mmap),
                                      ("numpy_array_alignment_bytes", K(16))])
                + b"b" + after + tail)

    def sd(args, module="numpy._core._internal", name="_convert_to_stringdtype_kwargs"):
        return G(module, name) + b"(" + args + b"tR"

    files.update({
        "stringdtype_coerce_2.joblib": (sd_wrapper(sd(K(2))), False),
        "stringdtype_extra_argument.joblib": (sd_wrapper(sd(K(1) + U("x") + K(3))), False),
        "stringdtype_na_object_global.joblib": (sd_wrapper(sd(K(1) + G("builtins", "print"))), False),
        "stringdtype_other_module.joblib": (
            sd_wrapper(sd(K(1), module="numpy.core._internal")), False),
        "stringdtype_other_function.joblib": (
            sd_wrapper(sd(K(1), name="_convert_to_stringdtype")), False),
        "stringdtype_given_state.joblib": (sd_wrapper(sd(K(1)) + b"Nb"), False),
        "stringdtype_keywords.joblib": (
            sd_wrapper(G("numpy._core._internal", "_convert_to_stringdtype_kwargs")
                       + b")}" + U("coerce") + K(1) + b"s\x92"), False),
    })

    # allow_mmap true on an array of objects: `joblib.load(f, mmap_mode="r")` maps
    # prod(shape) * itemsize raw bytes (after a padding byte) where the scanner read a nested
    # pickle, and runs what follows the mapped bytes. Real files write allow_mmap=False.
    def mmap_objects(dtype):
        itemsize = 16 if b"stringdtype" in dtype else 8
        nested = b"N."  # what the scanner (and joblib without mmap_mode) reads
        pad = nested[0]  # what read_mmap takes as the padding length
        resume = 1 + pad + itemsize  # where joblib goes on with mmap_mode
        hidden = b"0" + OS_SYSTEM + b"."
        cover = resume - len(nested) - 5
        tail = b"T" + struct.pack("<i", cover + len(hidden) - 1)
        region = nested + tail + b"\x00" * cover + hidden
        return sd_wrapper(dtype, allow_mmap=b"\x88", after=region, tail=b"")

    files["stringdtype_allow_mmap.joblib"] = (mmap_objects(sd(K(1))), True)
    files["objects_allow_mmap.joblib"] = (
        mmap_objects(G("numpy", "dtype") + U("O8") + b"\x89\x88\x87R"), True)

    # getattr(zoneinfo.ZoneInfo, '_unpickle')(...) is a walk the scanner accepts. Here joblib's
    # reading uses getattr (memo 5) for that walk only, but a plain pickle.load reads the array's
    # bytes as opcodes, which call it again as getattr(zoneinfo.ZoneInfo, '__dict__').
    walk = (G("builtins", "getattr") + PUT(5) + G("zoneinfo", "ZoneInfo") + PUT(6) + U("_unpickle")
            + b"\x86R" + U("UTC") + K(1) + b"\x86R0")
    plain_ops = GET(5) + GET(6) + U("__dict__") + b"\x86R0"
    files["getattr_plain_reading.joblib"] = (
        P2 + walk + WRAPPER + state([("subclass", G("numpy", "ndarray")),
                                     ("shape", K(len(plain_ops)) + b"\x85"), ("order", U("C")),
                                     ("dtype", U1), ("allow_mmap", b"\x89"),
                                     ("numpy_array_alignment_bytes", b"N")])
        + b"b" + plain_ops + b".", False)
    # A walk to os.system (posixpath.os is the os module), called after a real array.
    files["getattr_walk_os_system.joblib"] = (
        P2 + memmap_wrapper(subclass=G("numpy", "ndarray")) + b"0"
        + G("builtins", "getattr") + G("posixpath", "os") + U("system") + b"\x86R"
        + U("echo pwned") + b"\x85R.", True)

    for name, (data, _) in files.items():
        write("attacks", name, data)
    if VERIFY:
        for name, (_, does) in sorted(files.items()):
            if does:
                verify(name)


def verify(name):
    path = os.path.join(HERE, "attacks", name)
    mmap = "allow_mmap" in name
    code = f"import joblib; joblib.load({path!r}{', mmap_mode=chr(114)' if mmap else ''})"
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=tmp)
        made = os.path.exists(os.path.join(tmp, "pwned.dat"))
        ran = "pwned" in done.stdout
    print(f"{name}: {'payload ran' if made or ran else 'payload did NOT run: ' + done.stderr[-300:]}")


if __name__ == "__main__":
    safe_files()
    attack_files()
