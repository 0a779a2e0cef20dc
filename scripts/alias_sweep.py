#!/usr/bin/env python3
"""Find re-exports of dangerous callables that the pypickle policy does not refuse.

A dangerous function or class is often reachable under another name: ``six.exec_`` is
``builtins.exec``, ``numpy.matlib.memmap`` is ``numpy.memmap``, ``tokenize._builtin_open`` is
``io.open``. A pickle that says ``GLOBAL six exec_`` gets ``exec`` although no denylist entry
spells ``builtins.exec``. This script looks for such aliases by *identity* in every installed
module and asks the scanner about each one.

What it does:

1. Builds a set of dangerous objects: a curated list (``CURATED`` below: code execution, processes,
   files, network, native code, importers, attribute walkers) plus every ``g("...")`` entry of
   ``DANGEROUS`` in ``core/src/policy/tables.rs`` that can be resolved by importing it.
2. Imports every top-level module installed (``pkgutil.iter_modules`` over ``sys.path``, builtin
   modules included) and all of its submodules, one subprocess per top-level module with a
   timeout, so an import that crashes or hangs costs only that package (the worker is restarted
   past the module it was importing). Modules whose import has known side effects are skipped
   (``SKIP_MODULES``, and every ``__main__``).
3. Records every module attribute that *is* one of the dangerous objects
   (``module.attr -> target``), every attribute of a class defined in the module that is one
   (``module Class.attr``, reachable with protocol 4), and every attribute that is a dangerous
   module under a name the policy does not know (``module alias.member``, probed with the
   dangerous members of that module).
4. Writes one tiny pickle per finding (protocol 2 ``GLOBAL`` for plain names, protocol 4
   ``STACK_GLOBAL`` for dotted ones), runs ``pypickle scan --json`` on the folder and keeps the
   findings the policy does not rate unsafe.
5. Prints the uncovered aliases grouped by target (``--json`` for machine-readable output) and
   exits 1 if there are any, 0 if there are none, 2 if the sweep itself failed.

WARNING: this script IMPORTS every installed module (that is the only way to see what they
re-export). Importing runs code. Run it in a throwaway environment (a container or a disposable
virtualenv), never on a machine whose packages you do not trust.

Usage::

    python3 scripts/alias_sweep.py                      # sweep everything installed
    python3 scripts/alias_sweep.py --packages six,numpy,tokenize
    python3 scripts/alias_sweep.py --json > aliases.json
    python3 scripts/alias_sweep.py --pypickle target/release/pypickle   # skip the build

Without ``--pypickle`` the scanner is built with
``cargo build --release -p pypickle`` into ``--target-dir`` (default ``/tmp/sweep_target``).

Limits: only module attributes listed by ``dir()`` and class attributes one level deep are
seen; aliases made by wrappers (``functools.partial``, lambdas, bound methods created on access)
are not identical to their target and are missed; members reachable only through a module's
``__getattr__`` are missed. Test packages are swept too (they ship in wheels: ``joblib.test``
re-exports ``joblib.load``); ``--skip-tests`` leaves them out.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TABLES = REPO / "core" / "src" / "policy" / "tables.rs"

# Dangerous objects, by dotted path (module path, then attributes). Paths that do not resolve on
# this interpreter (Windows-only functions, missing packages) are ignored. Chosen because they run
# code, start processes, touch files, sockets or native memory, import by name, or walk
# attributes: never plain data constructors. Deliberately left out: pathlib's path classes and
# types.MethodType/ModuleType (constructing them touches nothing; the policy reviews the former),
# os.path helpers (they only read metadata), pickle.dumps and friends (pure).
CURATED = [
    # builtins
    "builtins.exec", "builtins.eval", "builtins.compile", "builtins.open", "builtins.__import__",
    "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.breakpoint",
    "builtins.input", "builtins.globals", "builtins.locals", "builtins.vars",
    # os: processes
    "os.system", "os.popen", "os.execl", "os.execle", "os.execlp", "os.execlpe", "os.execv",
    "os.execve", "os.execvp", "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp",
    "os.spawnlpe", "os.spawnv", "os.spawnve", "os.spawnvp", "os.spawnvpe", "os.posix_spawn",
    "os.posix_spawnp", "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.startfile",
    "os.register_at_fork", "os.putenv", "os.unsetenv", "os.abort", "os._exit",
    # os: files
    "os.open", "os.fdopen", "os.remove", "os.unlink", "os.rename", "os.renames", "os.replace",
    "os.rmdir", "os.removedirs", "os.makedirs", "os.mkdir", "os.mkfifo", "os.mknod", "os.chmod",
    "os.lchmod", "os.fchmod", "os.chown", "os.lchown", "os.fchown", "os.truncate",
    "os.ftruncate", "os.symlink", "os.link", "os.utime", "os.chdir", "os.chroot", "os.write",
    "os.setxattr", "os.removexattr", "os.add_dll_directory",
    # processes
    "subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
    "subprocess.check_output", "subprocess.getoutput", "subprocess.getstatusoutput",
    "pty.spawn", "pty.fork", "_posixsubprocess.fork_exec",
    "webbrowser.open", "webbrowser.open_new", "webbrowser.open_new_tab", "webbrowser.get",
    "pydoc.pager", "pydoc.pipepager", "pydoc.tempfilepager",
    "ctypes.util.find_library",
    # files
    "shutil.rmtree", "shutil.move", "shutil.copy", "shutil.copy2", "shutil.copyfile",
    "shutil.copytree", "shutil.copymode", "shutil.copystat", "shutil.chown",
    "shutil.make_archive", "shutil.unpack_archive", "shutil.register_archive_format",
    "shutil.register_unpack_format",
    "io.open", "io.open_code", "io.FileIO", "_io.open", "_io.FileIO", "codecs.open",
    "tempfile.mkstemp", "tempfile.mkdtemp", "tempfile.NamedTemporaryFile",
    "tempfile.TemporaryFile", "tempfile.SpooledTemporaryFile", "tempfile.TemporaryDirectory",
    "glob.glob", "glob.iglob", "fileinput.input", "fileinput.FileInput",
    "linecache.getline", "linecache.getlines", "linecache.updatecache",
    "zipfile.ZipFile", "tarfile.open", "tarfile.TarFile", "gzip.open", "gzip.GzipFile",
    "bz2.open", "bz2.BZ2File", "lzma.open", "lzma.LZMAFile", "shelve.open", "dbm.open",
    "sqlite3.connect", "mmap.mmap", "zipimport.zipimporter",
    "logging.FileHandler", "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler", "logging.handlers.WatchedFileHandler",
    "logging.handlers.SocketHandler", "logging.handlers.SysLogHandler",
    "logging.config.dictConfig", "logging.config.fileConfig", "logging.config.listen",
    "py_compile.compile", "compileall.compile_file", "compileall.compile_dir",
    "site.addsitedir", "ensurepip.bootstrap", "venv.create",
    # loaders of nested streams
    "pickle.loads", "pickle.load", "pickle.Unpickler", "pickle._loads", "pickle._load",
    "pickle._Unpickler", "_pickle.loads", "_pickle.load", "_pickle.Unpickler",
    "marshal.loads", "marshal.load", "shelve.Shelf", "shelve.DbfilenameShelf",
    # code execution
    "runpy.run_path", "runpy.run_module", "runpy._run_code", "runpy._run_module_code",
    "runpy._run_module_as_main",
    "code.interact", "code.InteractiveInterpreter", "code.InteractiveConsole",
    "code.compile_command", "codeop.compile_command", "codeop.Compile",
    "codeop.CommandCompiler",
    "pdb.run", "pdb.runeval", "pdb.runctx", "pdb.runcall", "pdb.set_trace", "pdb.post_mortem",
    "pdb.Pdb", "bdb.Bdb",
    "timeit.timeit", "timeit.repeat", "timeit.Timer", "cProfile.run", "cProfile.runctx",
    "profile.run", "profile.runctx", "trace.Trace",
    "types.FunctionType", "types.CodeType", "types.LambdaType",
    # imports by name
    "importlib.import_module", "importlib.__import__", "importlib.reload",
    "importlib.util.module_from_spec", "importlib.util.spec_from_file_location",
    "importlib.machinery.SourceFileLoader", "importlib.machinery.SourcelessFileLoader",
    "importlib.machinery.ExtensionFileLoader", "importlib._bootstrap._gcd_import",
    "pkgutil.resolve_name", "pkgutil.get_data", "pydoc.locate",
    # attribute walkers and callable builders
    "operator.attrgetter", "operator.methodcaller", "operator.itemgetter",
    "_operator.attrgetter", "_operator.methodcaller", "_operator.itemgetter",
    "functools.partial", "functools.reduce", "_functools.partial", "_functools.reduce",
    "string.Formatter",
    # interpreter internals and process-wide hooks
    "sys._getframe", "sys.settrace", "sys.setprofile", "sys.addaudithook", "sys.call_tracing",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "atexit.register", "signal.signal", "threading.Thread", "threading.Timer",
    "_thread.start_new_thread", "multiprocessing.Process", "multiprocessing.Pool",
    "copyreg.add_extension", "copyreg.pickle",
    # network
    "socket.socket", "socket.create_connection", "socket.create_server", "socket.fromfd",
    "socket.socketpair", "socket.getaddrinfo", "socket.gethostbyname", "_socket.socket",
    "urllib.request.urlopen", "urllib.request.urlretrieve", "urllib.request.build_opener",
    "http.client.HTTPConnection", "http.client.HTTPSConnection", "ftplib.FTP", "smtplib.SMTP",
    # native code
    "ctypes.CDLL", "ctypes.cdll", "ctypes.PyDLL", "ctypes.pydll", "ctypes.LibraryLoader",
    "ctypes.pythonapi", "ctypes.CFUNCTYPE", "ctypes.PYFUNCTYPE", "ctypes.cast",
    "ctypes.memmove", "ctypes.memset", "ctypes.string_at", "ctypes.wstring_at",
    "ctypes.WinDLL", "ctypes.OleDLL", "ctypes.windll", "ctypes.oledll", "_ctypes.dlopen",
    # numpy
    "numpy.memmap", "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed",
    "numpy.savetxt", "numpy.loadtxt", "numpy.fromfile", "numpy.fromregex", "numpy.genfromtxt",
    "numpy.DataSource", "numpy.lib.format.open_memmap", "numpy.lib.format.read_array",
    "numpy.ctypeslib.load_library", "numpy.rec.fromfile",
]

# Modules (and everything under them) whose import has side effects we do not want, or which
# cannot be imported outside their intended context.
SKIP_MODULES = {
    "antigravity",  # opens a web browser
    "this",  # prints the Zen of Python
    "idlelib",  # IDLE: GUI, some modules start it
    "tkinter", "_tkinter", "turtle", "turtledemo",  # GUIs
    "test",  # CPython's own test suite: slow, changes process state
    "__hello__", "__phello__",  # frozen demo modules that print
    "pip._vendor.distlib._backport",  # imports that rewrite sys.path
    "lib2to3.tests", "lib2to3.pgen2.conv",
    "xxlimited", "xxlimited_35", "xxsubtype",
    "sitecustomize", "usercustomize",
}
# Module name components that are never imported: `pkg.__main__` runs the package's CLI.
SKIP_COMPONENTS = {"__main__"}
TEST_COMPONENTS = {"tests", "test", "testing", "_testing", "conftest"}


# --------------------------------------------------------------------------------------------
# policy tables


def parse_policy(path: Path = TABLES):
    """The DANGEROUS entries (modules, globals) and the name tables of core/src/policy/tables.rs."""
    text = path.read_text(encoding="utf-8")

    def block(name):
        m = re.search(r"pub static %s\s*:[^=]*=\s*\[(.*?)\n\];" % name, text, re.S)
        if not m:
            raise SystemExit(f"alias_sweep: cannot find {name} in {path}")
        return m.group(1)

    dangerous = block("DANGEROUS")
    modules = re.findall(r'\bm\(\s*"([^"]+)"', dangerous)
    globs = re.findall(r'\bg\(\s*"([^"]+)"', dangerous)
    names = re.findall(r'\bn\(\s*"([^"]+)"', block("DANGEROUS_NAMES"))
    methods = re.findall(r'\bn\(\s*"([^"]+)"', block("DANGEROUS_METHODS"))
    attr_modules = re.findall(r'\ba\(\s*"([^"]+)"', block("ATTRIBUTE_MODULES"))
    return {
        "modules": modules,
        "globals": globs,
        "names": names,
        "methods": methods,
        "attribute_modules": attr_modules,
    }


def skipped(name: str, include_tests: bool, extra=()) -> bool:
    parts = name.split(".")
    if any(p in SKIP_COMPONENTS for p in parts):
        return True
    if not include_tests and any(p in TEST_COMPONENTS for p in parts):
        return True
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in SKIP_MODULES or prefix in extra:
            return True
    return False


# --------------------------------------------------------------------------------------------
# worker: runs in a subprocess, imports one top-level module tree and records aliases


def worker_main(config_path: str) -> int:
    import importlib
    import pkgutil
    import types
    import warnings

    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    top = cfg["top"]
    include_tests = cfg["include_tests"]
    extra_skip = set(cfg["skip"])
    policy = cfg["policy"]
    out = open(cfg["out"], "a", encoding="utf-8", buffering=1)
    stdlib = set(sys.stdlib_module_names)

    def emit(**rec):
        out.write(json.dumps(rec) + "\n")
        out.flush()

    warnings.simplefilter("ignore")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))

    # ---- the dangerous set, resolved lazily: a path is resolved once its top-level module is
    # loaded (an alias of an object implies the object's module was imported), except stdlib
    # paths, which are imported right away.
    pending = {}
    for p in CURATED + policy["globals"]:
        pending.setdefault(p.split(".")[0], []).append(p)
    # id -> (object, canonical name, set of its own paths). The canonical name is the first path
    # of CURATED + policy globals that resolves to the object (`os.chmod`, not `posix.chmod`):
    # stdlib paths all resolve in the first refresh, in list order.
    by_id = {}

    def resolve(path):
        parts = path.split(".")
        obj = importlib.import_module(parts[0])
        for i, part in enumerate(parts[1:], 1):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                if not isinstance(obj, types.ModuleType):
                    raise
                obj = importlib.import_module(".".join(parts[: i + 1]))
        return obj

    def refresh():
        for t in list(pending):
            if t in sys.modules or (t in stdlib and not skipped(t, True)):
                for path in pending.pop(t):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            obj = resolve(path)
                    except BaseException:
                        continue
                    if isinstance(obj, types.ModuleType) or obj is None:
                        continue
                    entry = by_id.get(id(obj))
                    if entry is None:
                        entry = by_id[id(obj)] = (obj, path, set())
                        entry[2].add(entry[1])
                    entry[2].add(path)

    dangerous_modules = set(policy["modules"])  # the policy's m(...) entries
    attr_modules = set(policy["attribute_modules"])

    def is_dangerous_module(name):
        parts = name.split(".")
        return any(".".join(parts[:i]) in dangerous_modules for i in range(1, len(parts) + 1))

    def lookup(value):
        try:
            entry = by_id.get(id(value))
        except BaseException:
            return None
        if entry is not None and entry[0] is value:
            return entry
        return None

    def module_probes(mod):
        """Members to walk to through an alias of a dangerous module: its dangerous objects, or,
        when it holds none, up to three public callables it defines (the policy refuses the
        whole module, so any member reached through the alias should be refused too)."""
        probes, fallback = [], []
        try:
            names = sorted(dir(mod))
            modname = mod.__name__
        except BaseException:
            return probes
        for n in names:
            if n.startswith("_"):
                continue
            try:
                v = getattr(mod, n)
                e = lookup(v)
                if e is not None:
                    probes.append([n, e[1]])
                elif (len(fallback) < 3 and callable(v)
                        and getattr(v, "__module__", None) == modname):
                    fallback.append([n, f"{modname}.{n}"])
            except BaseException:
                continue
        return probes or fallback

    def sweep(modname, mod, how):
        refresh()
        try:
            names = sorted(dir(mod))
        except BaseException:
            return
        for attr in names:
            if attr.startswith("__") and attr.endswith("__"):
                continue  # dunder steps are refused by the policy whatever they hold
            try:
                value = getattr(mod, attr)
                check_attr(modname, attr, value, how)
            except BaseException:
                continue

    def check_attr(modname, attr, value, how):
        e = lookup(value)
        if e is not None:
            emit(kind="alias", module=modname, name=attr, target=e[1],
                 original=f"{modname}.{attr}" in e[2], how=how)
            return
        if isinstance(value, types.ModuleType):
            vname = getattr(value, "__name__", None)
            # `foo.os` and `foo._os` are refused by name (ATTRIBUTE_MODULES, or the walk read as
            # a top-level path); other names for a dangerous module are probed.
            # `pkg.sub` reached from `pkg` has the same full path as the module itself.
            if (isinstance(vname, str) and is_dangerous_module(vname) and attr != vname
                    and f"{modname}.{attr}" != vname and attr not in attr_modules):
                probes = module_probes(value)
                if probes:
                    emit(kind="module", module=modname, name=attr, target=vname,
                         probes=probes, how=how)
            return
        if isinstance(value, type) and getattr(value, "__module__", None) == modname:
            for k, raw in list(vars(value).items()):
                if k.startswith("__") and k.endswith("__"):
                    continue
                if isinstance(raw, (staticmethod, classmethod)):
                    raw = raw.__func__
                e = lookup(raw)
                if e is not None:
                    emit(kind="alias", module=modname, name=f"{attr}.{k}", target=e[1],
                         original=f"{modname}.{attr}.{k}" in e[2], how=how)

    def guarded_import(name):
        emit(kind="start", module=name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(name)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt from odd modules too
            emit(kind="import_error", module=name, error=f"{type(exc).__name__}: {exc}"[:300])
            return None
        return mod

    refresh()
    seen = set()

    def walk(name):
        if name in seen or skipped(name, include_tests, extra_skip):
            return
        seen.add(name)
        mod = guarded_import(name)
        if mod is None:
            return
        sweep(name, mod, "import")
        path = getattr(mod, "__path__", None)
        if path is None:
            return
        try:
            children = sorted({m.name for m in pkgutil.iter_modules(list(path))})
        except BaseException:
            return
        for child in children:
            walk(f"{name}.{child}")

    walk(top)
    # Modules put in sys.modules under this package's name without a file of their own
    # (six.moves.builtins, lazily registered aliases): the unpickler finds them there too.
    for key in sorted(k for k in list(sys.modules) if k.startswith(top + ".") and k not in seen):
        if skipped(key, include_tests, extra_skip):
            continue
        mod = sys.modules.get(key)
        if isinstance(mod, types.ModuleType):
            seen.add(key)
            sweep(key, mod, "sys.modules")
    emit(kind="done", modules=len(seen))
    out.close()
    os._exit(0)  # skip interpreter teardown: some extension modules hang or crash in it


# --------------------------------------------------------------------------------------------
# parent


def top_level_modules(script_dir: Path):
    import pkgutil

    excluded = {"", ".", str(script_dir), os.getcwd()}
    paths = [p for p in sys.path if p not in excluded and os.path.abspath(p or ".") not in excluded]
    names = {m.name for m in pkgutil.iter_modules(paths)}
    names |= set(sys.builtin_module_names)
    return sorted(n for n in names if n.isidentifier())


def run_worker(top, args, policy, workdir: Path):
    """Run the worker for one top-level module, restarting past a module that crashes or hangs."""
    out = workdir / f"{top}.jsonl"
    log = workdir / f"{top}.log"
    extra_skip = []
    problems = []
    deadline = time.monotonic() + args.timeout
    for attempt in range(args.retries + 1):
        cfg = workdir / f"{top}.{attempt}.json"
        cfg.write_text(json.dumps({
            "top": top, "include_tests": args.include_tests, "skip": extra_skip,
            "policy": policy, "out": str(out),
        }))
        env = dict(os.environ, MPLBACKEND="Agg", BROWSER="true", PAGER="cat",
                   PYTHONWARNINGS="ignore", PYTHONNOUSERSITE="1")
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        with open(log, "ab") as logf:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(cfg)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd=str(workdir / "cwd"),
                env=env, start_new_session=True,
            )
            # Kill the worker when one module takes longer than --module-timeout (no new
            # output line) or the whole package exceeds --timeout.
            last_size, last_change, reason = -1, time.monotonic(), None
            while reason is None:
                try:
                    rc = proc.wait(timeout=0.2)
                    reason = f"exit status {rc}"
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                size = out.stat().st_size if out.exists() else 0
                if size != last_size:
                    last_size, last_change = size, now
                if now - last_change > args.module_timeout or now > deadline:
                    os.killpg(proc.pid, 9)
                    proc.wait()
                    reason = "timeout"
        lines = read_jsonl(out)
        if any(r["kind"] == "done" for r in lines):
            break
        starts = [r["module"] for r in lines if r["kind"] == "start"]
        culprit = starts[-1] if starts else top
        problems.append(f"{culprit}: {reason}")
        if culprit == top or culprit in extra_skip or time.monotonic() >= deadline:
            break
        extra_skip.append(culprit)
    return top, read_jsonl(out), problems


def read_jsonl(path: Path):
    recs = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
    return recs


def pickle_bytes(module: str, name: str) -> bytes:
    if "." not in name and "\n" not in module + name:
        return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n."
    m, n = module.encode("utf-8"), name.encode("utf-8")
    return (b"\x80\x04\x8c" + bytes([len(m)]) + m + b"\x8c" + bytes([len(n)]) + n
            + b"\x93.")


def build_scanner(target_dir: str) -> Path:
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
    print(f"alias_sweep: building pypickle into {target_dir}", file=sys.stderr)
    res = subprocess.run(["cargo", "build", "--release", "-p", "pypickle"], cwd=REPO, env=env)
    if res.returncode != 0:
        raise SystemExit(2)
    return Path(target_dir) / "release" / "pypickle"


def scan(binary: Path, probes, workdir: Path):
    """Scan one pickle per (module, name); return {(module, name): global judgement}."""
    folder = workdir / "pickles"
    folder.mkdir()
    index = {}
    for i, (module, name) in enumerate(probes):
        p = folder / f"{i:06d}.pkl"
        p.write_bytes(pickle_bytes(module, name))
        index[p.name] = (module, name)
    res = subprocess.run([str(binary), "scan", "--json", str(folder)], capture_output=True,
                         text=True)
    if res.returncode not in (0, 1, 2):
        raise SystemExit(f"alias_sweep: pypickle scan failed ({res.returncode}): {res.stderr}")
    report = json.loads(res.stdout)
    results = {}
    for f in report["files"]:
        key = index.get(Path(f["path"]).name)
        if key is None:
            continue
        g = (f.get("globals") or [{}])[0]
        results[key] = {
            "verdict": f["verdict"],
            "risk": g.get("risk"),
            "reason": g.get("reason") or f.get("error"),
        }
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", help="comma-separated top-level modules to sweep (default: all)")
    ap.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    ap.add_argument("--pypickle", help="scanner binary to use (default: build it)")
    ap.add_argument("--target-dir", default="/tmp/sweep_target",
                    help="CARGO_TARGET_DIR for the build (default: /tmp/sweep_target)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds per top-level module, restarts included (default: 300)")
    ap.add_argument("--module-timeout", type=float, default=30.0,
                    help="seconds one import may take before the worker is restarted past it "
                         "(default: 30)")
    ap.add_argument("--retries", type=int, default=3,
                    help="restarts past a crashing or hanging module (default: 3)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-tests", dest="include_tests", action="store_false",
                    help="do not import test packages (tests, test, testing components); "
                         "they ship in wheels and are importable, so they are swept by default")
    ap.add_argument("--show-covered", action="store_true",
                    help="list the aliases the policy refuses too")
    ap.add_argument("--keep-temp", action="store_true", help="keep the work folder")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)

    policy = parse_policy()
    binary = Path(args.pypickle) if args.pypickle else build_scanner(args.target_dir)
    if not binary.exists():
        print(f"alias_sweep: no scanner at {binary}", file=sys.stderr)
        return 2

    script_dir = Path(__file__).resolve().parent
    if args.packages:
        tops = sorted({p.strip() for p in args.packages.split(",") if p.strip()})
    else:
        tops = [t for t in top_level_modules(script_dir) if not skipped(t, args.include_tests)]

    workdir = Path(tempfile.mkdtemp(prefix="alias_sweep."))
    (workdir / "cwd").mkdir()
    started = time.monotonic()
    try:
        records, problems, import_errors, modules_swept = [], [], 0, 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(run_worker, t, args, policy, workdir) for t in tops]
            for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                top, recs, probs = fut.result()
                problems += [f"[{top}] {p}" for p in probs]
                for r in recs:
                    if r["kind"] in ("alias", "module"):
                        records.append(r)
                    elif r["kind"] == "import_error":
                        import_errors += 1
                    elif r["kind"] == "done":
                        modules_swept += r["modules"]
                if not args.json and sys.stderr.isatty():
                    print(f"\ralias_sweep: {n}/{len(tops)} top-level modules", end="",
                          file=sys.stderr)
        if not args.json and sys.stderr.isatty():
            print(file=sys.stderr)

        # dedupe (a module can be reached by import and through sys.modules)
        uniq = {}
        for r in records:
            uniq.setdefault((r["kind"], r["module"], r["name"]), r)
        records = sorted(uniq.values(), key=lambda r: (r["kind"], r["module"], r["name"]))

        probes = set()
        for r in records:
            if r["kind"] == "alias":
                probes.add((r["module"], r["name"]))
            else:
                for member, _ in r["probes"]:
                    probes.add((r["module"], f"{r['name']}.{member}"))
        results = scan(binary, sorted(probes), workdir) if probes else {}

        aliases, uncovered, originals_uncovered, module_aliases, errors = [], [], [], [], []
        for r in records:
            if r["kind"] == "alias":
                res = results.get((r["module"], r["name"]), {"verdict": "error",
                                                             "reason": "not scanned"})
                item = {"alias": f"{r['module']}.{r['name']}", "module": r["module"],
                        "name": r["name"], "target": r["target"], "verdict": res["verdict"],
                        "risk": res.get("risk"), "reason": res.get("reason"),
                        "via": r["how"]}
                if res["verdict"] == "error":
                    errors.append(item)
                if r["original"]:
                    if res["verdict"] != "unsafe":
                        originals_uncovered.append(item)
                    continue
                aliases.append(item)
                if res["verdict"] != "unsafe":
                    uncovered.append(item)
            else:
                open_probes = []
                for member, target in r["probes"]:
                    res = results.get((r["module"], f"{r['name']}.{member}"), {})
                    if res.get("verdict") != "unsafe":
                        open_probes.append({"member": member, "target": target,
                                            "verdict": res.get("verdict"),
                                            "risk": res.get("risk")})
                module_aliases.append({"alias": f"{r['module']}.{r['name']}",
                                       "module": r["module"], "name": r["name"],
                                       "target": r["target"], "via": r["how"],
                                       "uncovered_members": open_probes})

        uncovered_modules = [m for m in module_aliases if m["uncovered_members"]]
        summary = {
            "top_level_modules": len(tops),
            "modules_swept": modules_swept,
            "import_errors": import_errors,
            "aliases": len(aliases),
            "uncovered_aliases": len(uncovered),
            "module_aliases": len(module_aliases),
            "uncovered_module_aliases": len(uncovered_modules),
            "uncovered_originals": len(originals_uncovered),
            "scan_errors": len(errors),
            "seconds": round(time.monotonic() - started, 1),
        }
        if args.json:
            json.dump({"summary": summary, "uncovered": uncovered,
                       "uncovered_module_aliases": uncovered_modules,
                       "uncovered_originals": originals_uncovered,
                       "covered": [a for a in aliases if a["verdict"] == "unsafe"],
                       "problems": problems}, sys.stdout, indent=1, sort_keys=True)
            print()
        else:
            print_report(summary, aliases, uncovered, uncovered_modules, originals_uncovered,
                         problems, args.show_covered)
        bad = uncovered or uncovered_modules or originals_uncovered
        return 1 if bad else 0
    finally:
        if args.keep_temp:
            print(f"alias_sweep: work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def print_report(summary, aliases, uncovered, uncovered_modules, originals, problems,
                 show_covered):
    def grouped(items):
        groups = {}
        for it in items:
            groups.setdefault(it["target"], []).append(it)
        return sorted(groups.items())

    print(f"swept {summary['modules_swept']} modules under {summary['top_level_modules']} "
          f"top-level names ({summary['import_errors']} imports failed) "
          f"in {summary['seconds']} s")
    print(f"{summary['aliases']} aliases of dangerous objects found, "
          f"{summary['uncovered_aliases']} not rated unsafe by the policy")
    if uncovered:
        print("\nUncovered aliases (module.name -> target):")
        for target, items in grouped(uncovered):
            print(f"  {target}")
            for it in sorted(items, key=lambda i: i["alias"]):
                print(f"    {it['alias']} -> {target}  [{it['risk']}"
                      f"{', ' + it['via'] if it['via'] != 'import' else ''}]")
    if uncovered_modules:
        print("\nDangerous modules re-exported under another name, members the policy "
              "does not refuse through the alias:")
        for m in uncovered_modules:
            members = ", ".join(p["member"] for p in m["uncovered_members"])
            print(f"  {m['alias']} -> {m['target']}: {members}")
    if originals:
        print("\nCurated dangerous objects the policy does not refuse at their own path:")
        for it in sorted(originals, key=lambda i: i["alias"]):
            print(f"  {it['alias']} [{it['risk']}]")
    if show_covered:
        print("\nCovered aliases:")
        for it in sorted((a for a in aliases if a["verdict"] == "unsafe"),
                         key=lambda i: i["alias"]):
            print(f"  {it['alias']} -> {it['target']}  ({it['reason']})")
    if problems:
        print("\nModules that crashed or hung (skipped on restart):")
        for p in problems:
            print(f"  {p}")


if __name__ == "__main__":
    sys.exit(main())
