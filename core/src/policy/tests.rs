use super::*;
use crate::global::Usage;

fn class(module: &str, name: &str) -> Classification {
    classify_name(module, name)
}

fn risk(module: &str, name: &str) -> Risk {
    class(module, name).risk
}

fn named(module: &str, name: &str) -> Target {
    Target::Named {
        module: module.into(),
        name: name.into(),
    }
}

fn global(module: &str, name: &str, offset: u64) -> GlobalRef {
    GlobalRef {
        target: named(module, name),
        offset,
        opcode: "GLOBAL",
        protocol: 2,
        pickle: 0,
        usage: Usage {
            called: true,
            built: false,
            attribute_walk: false,
        },
        member: None,
    }
}

fn ext(code: i32, offset: u64) -> GlobalRef {
    GlobalRef {
        target: Target::Extension(code),
        offset,
        opcode: "EXT1",
        protocol: 2,
        pickle: 0,
        usage: Usage::default(),
        member: None,
    }
}

/// Splits `a.b.c` as module `a.b`, name `c`.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('.').unwrap_or((path, "x"))
}

// ---------------------------------------------------------------- tables

#[test]
fn tables_are_sorted_and_unique() {
    for (label, table) in [
        ("DANGEROUS", &DANGEROUS[..]),
        ("SAFE", &SAFE[..]),
        ("REVIEWED", &REVIEWED[..]),
    ] {
        for w in table.windows(2) {
            assert!(
                w[0].path < w[1].path,
                "{label}: {} before {}",
                w[0].path,
                w[1].path
            );
        }
    }
    for (label, table) in [
        ("ATTRIBUTE_MODULES", &ATTRIBUTE_MODULES[..]),
        ("DANGEROUS_NAMES", &DANGEROUS_NAMES[..]),
        ("DANGEROUS_METHODS", &DANGEROUS_METHODS[..]),
    ] {
        for w in table.windows(2) {
            assert!(
                w[0].name < w[1].name,
                "{label}: {} before {}",
                w[0].name,
                w[1].name
            );
        }
    }
}

#[test]
fn tables_are_consistent() {
    for a in &ATTRIBUTE_MODULES {
        let e = find_entry(&DANGEROUS, a.module).unwrap_or_else(|| panic!("{}", a.module));
        assert_eq!(e.kind, Kind::Module, "{}", a.module);
    }
    for e in SAFE.iter().chain(REVIEWED.iter()) {
        assert!(find_entry(&DANGEROUS, e.path).is_none(), "{}", e.path);
        assert!(e.path.contains('.'), "{}", e.path);
        assert!(!e.reason.is_empty());
    }
    for e in SAFE.iter() {
        assert!(find_entry(&REVIEWED, e.path).is_none(), "{}", e.path);
    }
    for e in DANGEROUS.iter() {
        assert!(!e.reason.is_empty(), "{}", e.path);
        assert!(!malformed(e.path), "{}", e.path);
    }
    for n in DANGEROUS_NAMES.iter().chain(DANGEROUS_METHODS.iter()) {
        assert!(!n.reason.is_empty() && !n.name.contains('.'), "{}", n.name);
    }
}

#[test]
fn every_dangerous_entry_classifies_dangerous() {
    for e in &DANGEROUS {
        // The entry itself, split as CPython would see module + name.
        let (module, name) = split(e.path);
        let c = class(module, name);
        assert_eq!(c.risk, Risk::Dangerous, "{}", e.path);
        // Something under it: a submodule or an attribute walked from it.
        let c = class(e.path, "anything");
        assert_eq!(c.risk, Risk::Dangerous, "{}.anything", e.path);
        assert_eq!(c.rule, Rule::Dangerous(e), "{}.anything", e.path);
        let c = class(e.path, "Sub.thing");
        assert_eq!(c.risk, Risk::Dangerous, "{}.Sub.thing", e.path);
    }
}

#[test]
fn every_safe_and_reviewed_entry_classifies_as_listed() {
    for e in &SAFE {
        let (module, name) = split(e.path);
        let c = class(module, name);
        assert_eq!(
            (c.risk, &c.rule),
            (Risk::Safe, &Rule::Safe(e)),
            "{}",
            e.path
        );
        // Exact only: walking further is not safe.
        assert_ne!(risk(module, &format!("{name}.x")), Risk::Safe, "{}", e.path);
    }
    for e in &REVIEWED {
        let (module, name) = split(e.path);
        let c = class(module, name);
        assert_eq!(
            (c.risk, &c.rule),
            (Risk::Unknown, &Rule::Reviewed(e)),
            "{}",
            e.path
        );
        assert_eq!(risk(module, &format!("{name}.x")), Risk::Dangerous);
    }
}

#[test]
fn every_name_table_entry_applies() {
    for a in &ATTRIBUTE_MODULES {
        let c = class("mylib", a.name);
        assert_eq!(c.risk, Risk::Dangerous, "{}", a.name);
        assert!(matches!(c.rule, Rule::WalkInto { .. }), "{}", a.name);
        assert_eq!(
            risk("mylib", &format!("Outer.{}.x", a.name)),
            Risk::Dangerous
        );
    }
    for n in &DANGEROUS_NAMES {
        assert_eq!(class("mylib", n.name).rule, Rule::DangerousName(n));
        assert_eq!(risk("mylib", &format!("Foo.{}", n.name)), Risk::Dangerous);
    }
    for n in &DANGEROUS_METHODS {
        let c = class("mylib", &format!("Foo.{}", n.name));
        assert_eq!(c.risk, Risk::Dangerous, "{}", n.name);
        // A module-level function of that name is not judged by the method table.
        if find_name(&DANGEROUS_NAMES, n.name).is_none() {
            assert_eq!(risk("mylib", n.name), Risk::Unknown, "{}", n.name);
        }
    }
}

/// Every name in `dir(builtins)` of CPython 3.11 is decided by an explicit entry (or is a dunder),
/// never by the `builtins` module fallback alone.
#[test]
fn builtins_are_all_reviewed() {
    const BUILTINS_311: &str = "ArithmeticError AssertionError AttributeError BaseException \
        BaseExceptionGroup BlockingIOError BrokenPipeError BufferError BytesWarning \
        ChildProcessError ConnectionAbortedError ConnectionError ConnectionRefusedError \
        ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning \
        EnvironmentError Exception ExceptionGroup False FileExistsError FileNotFoundError \
        FloatingPointError FutureWarning GeneratorExit IOError ImportError ImportWarning \
        IndentationError IndexError InterruptedError IsADirectoryError KeyError \
        KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError None \
        NotADirectoryError NotImplemented NotImplementedError OSError OverflowError \
        PendingDeprecationWarning PermissionError ProcessLookupError RecursionError \
        ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration \
        StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError \
        True TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError \
        UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError \
        __build_class__ __debug__ __doc__ __import__ __loader__ __name__ __package__ __spec__ \
        abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr \
        classmethod compile complex copyright credits delattr dict dir divmod enumerate eval \
        exec exit filter float format frozenset getattr globals hasattr hash help hex id input \
        int isinstance issubclass iter len license list locals map max memoryview min next \
        object oct open ord pow print property quit range repr reversed round set setattr \
        slice sorted staticmethod str sum super tuple type vars zip";
    for name in BUILTINS_311.split_whitespace() {
        let c = class("builtins", name);
        let explicit = match &c.rule {
            Rule::Safe(_) | Rule::Reviewed(_) => true,
            Rule::Dangerous(e) => e.path != "builtins",
            Rule::Dunder(_) => true,
            _ => false,
        };
        assert!(
            explicit || name.starts_with("__"),
            "builtins.{name}: {}",
            c.rule
        );
    }
}

// ---------------------------------------------------------------- classes

#[test]
fn samples_of_each_class() {
    let dangerous = [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("subprocess", "Popen"),
        ("_posixsubprocess", "fork_exec"),
        ("pty", "spawn"),
        ("commands", "getoutput"),
        ("sys", "modules"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "open"),
        ("builtins", "__import__"),
        ("builtins", "getattr"),
        ("builtins", "setattr"),
        ("builtins", "globals"),
        ("builtins", "breakpoint"),
        ("builtins", "compile"),
        ("builtins", "type"),
        ("builtins", "input"),
        ("builtins", "help"),
        ("__builtin__", "eval"),
        ("importlib", "import_module"),
        ("imp", "load_source"),
        ("zipimport", "zipimporter"),
        ("pkgutil", "resolve_name"),
        ("runpy", "_run_code"),
        ("pickle", "loads"),
        ("_pickle", "loads"),
        ("cPickle", "loads"),
        ("marshal", "loads"),
        ("dill", "loads"),
        ("cloudpickle", "loads"),
        ("joblib", "load"),
        ("numpy", "load"),
        ("torch", "load"),
        ("torch.serialization", "load"),
        ("shelve", "open"),
        ("types", "CodeType"),
        ("types", "FunctionType"),
        ("code", "InteractiveInterpreter"),
        ("codeop", "compile_command"),
        ("timeit", "timeit"),
        ("trace", "Trace"),
        ("doctest", "debug_script"),
        ("pdb", "run"),
        ("bdb", "Bdb"),
        ("cProfile", "run"),
        ("profile", "run"),
        ("pydoc", "pipepager"),
        ("idlelib", "run"),
        ("lib2to3", "main"),
        ("ensurepip", "_run_pip"),
        ("pip", "main"),
        ("venv", "create"),
        ("distutils.file_util", "write_file"),
        ("setuptools", "setup"),
        ("numpy.f2py", "compile"),
        ("numpy.testing", "assert_equal"),
        ("numpy.distutils", "exec_command"),
        ("io", "open"),
        ("io", "FileIO"),
        ("io", "open_code"),
        ("_io", "FileIO"),
        ("shutil", "rmtree"),
        ("tempfile", "mkstemp"),
        ("glob", "glob"),
        ("pathlib", "Path.write_text"),
        ("fileinput", "input"),
        ("tarfile", "open"),
        ("zipfile", "ZipFile"),
        ("mmap", "mmap"),
        ("sqlite3", "connect"),
        ("logging", "FileHandler"),
        ("socket", "socket"),
        ("ssl", "wrap_socket"),
        ("http.client", "HTTPConnection"),
        ("urllib.request", "urlopen"),
        ("urllib2", "urlopen"),
        ("httplib", "HTTPConnection"),
        ("ftplib", "FTP"),
        ("smtplib", "SMTP"),
        ("imaplib", "IMAP4_stream"),
        ("poplib", "POP3"),
        ("telnetlib", "Telnet"),
        ("xmlrpc.client", "ServerProxy"),
        ("requests", "get"),
        ("requests.api", "get"),
        ("aiohttp", "ClientSession"),
        ("asyncio", "create_subprocess_shell"),
        ("selectors", "DefaultSelector"),
        ("select", "select"),
        ("webbrowser", "open"),
        ("operator", "attrgetter"),
        ("operator", "itemgetter"),
        ("operator", "methodcaller"),
        ("_operator", "attrgetter"),
        ("_operator", "methodcaller"),
        ("functools", "partial"),
        ("functools", "reduce"),
        ("copyreg", "add_extension"),
        ("signal", "signal"),
        ("gc", "get_objects"),
        ("atexit", "register"),
        ("ctypes", "CDLL"),
        ("threading", "Thread"),
        ("_thread", "start_new_thread"),
        ("multiprocessing", "Process"),
        ("inspect", "currentframe"),
        ("site", "addsitedir"),
        ("sysconfig", "get_paths"),
        ("platform", "popen"),
        ("codecs", "open"),
        ("_codecs", "register"),
        ("uuid", "_get_command_stdout"),
        ("uuid", "getnode"),
        ("uuid", "uuid1"),
        ("torch._inductor.codecache", "compile_file"),
        ("torch.jit.unsupported_tensor_ops", "execWrapper"),
        ("torch.utils.collect_env", "run"),
        ("torch.fx.graph_module", "reduce_graph_module"),
        ("_osx_support", "_read_output"),
        ("_aix_support", "_aix_bos_rte"),
        ("test.support.script_helper", "assert_python_ok"),
        ("typing", "get_type_hints"),
        ("string", "Formatter"),
        ("unittest.mock", "patch"),
        ("pandas", "read_pickle"),
        ("pandas", "eval"),
        ("yaml", "unsafe_load"),
    ];
    for (m, n) in dangerous {
        assert_eq!(risk(m, n), Risk::Dangerous, "{m}.{n}: {}", class(m, n).rule);
    }
    let safe = [
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "bytes"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "tuple"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "str"),
        ("builtins", "bool"),
        ("builtins", "object"),
        ("builtins", "Ellipsis"),
        ("builtins", "NotImplemented"),
        ("builtins", "ValueError"),
        ("builtins", "KeyError"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("collections", "Counter"),
        ("copyreg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("copyreg", "__newobj_ex__"),
        ("_codecs", "encode"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "datetime"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
        ("fractions", "Fraction"),
        ("uuid", "UUID"),
        ("types", "SimpleNamespace"),
        ("io", "BytesIO"),
    ];
    for (m, n) in safe {
        assert_eq!(risk(m, n), Risk::Safe, "{m}.{n}: {}", class(m, n).rule);
    }
    let unknown = [
        ("numpy", "ndarray"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("__main__", "MyClass"),
        ("builtins", "len"),
        ("builtins", "print"),
        ("builtins", "memoryview"),
        ("operator", "add"),
        ("operator", "getitem"),
        ("logging", "getLogger"),
        ("pathlib", "PosixPath"),
        ("uuid", "uuid4"),
        ("collections", "namedtuple"),
        ("urllib.parse", "SplitResult"),
        ("torch.serialization", "_get_layout"),
    ];
    for (m, n) in unknown {
        assert_eq!(risk(m, n), Risk::Unknown, "{m}.{n}: {}", class(m, n).rule);
    }
}

#[test]
fn rule_texts() {
    let text = |m: &str, n: &str| class(m, n).rule.to_string();
    assert_eq!(text("posix", "system"), "dangerous module posix");
    assert_eq!(text("os", "system"), "dangerous module os");
    assert_eq!(text("builtins", "eval"), "dangerous global builtins.eval");
    assert_eq!(text("builtins", "set"), "safe constructor builtins.set");
    assert_eq!(text("numpy", "ndarray"), "unknown (not in any table)");
    assert_eq!(text("builtins", "len"), "reviewed global builtins.len");
    assert_eq!(text("logging", "os.system"), "dotted name walks into os");
    assert_eq!(
        text("random", "_os.system"),
        "dotted name walks into os (attribute _os)"
    );
    assert_eq!(
        text("mylib", "f.__globals__"),
        "dotted name walks through __globals__"
    );
    assert_eq!(text("mylib", "system"), "dangerous name system");
    assert_eq!(
        text("numpy", "ndarray.tofile"),
        "dotted name walks to method tofile"
    );
    assert_eq!(text("", "x"), "malformed name");
    assert_eq!(
        classify(&Target::Extension(7)).rule.to_string(),
        "extension codes cannot be resolved"
    );
    assert_eq!(
        class("os", "system").reason,
        "runs processes or shell commands"
    );
}

#[test]
fn submodules_inherit() {
    for (m, n) in [
        ("asyncio.unix_events", "_UnixSelectorEventLoop"),
        ("os.path", "join"),
        ("multiprocessing.popen_fork", "Popen"),
        ("importlib._bootstrap", "_load"),
        ("http.server", "HTTPServer"),
        ("xmlrpc.server", "SimpleXMLRPCServer"),
        ("numpy.testing._private.utils", "runstring"),
        ("numpy.f2py.f2py2e", "run_main"),
        ("torch._inductor.codecache", "compile_file"),
        ("distutils.file_util", "write_file"),
        ("logging.config", "listen"),
        ("concurrent.futures", "ProcessPoolExecutor"),
    ] {
        assert_eq!(risk(m, n), Risk::Dangerous, "{m}.{n}");
    }
    // Only at dot boundaries.
    for (m, n) in [
        ("osmosis", "x"),
        ("numpyx", "testing"),
        ("typesetting", "Doc"),
    ] {
        assert_eq!(risk(m, n), Risk::Unknown, "{m}.{n}");
    }
    // A dangerous global covers what is walked from it.
    assert_eq!(
        class("code", "InteractiveInterpreter.runcode").rule,
        Rule::Dangerous(find_entry(&DANGEROUS, "code").unwrap())
    );
    assert_eq!(risk("builtins", "getattr.__self__"), Risk::Dangerous);
    assert_eq!(risk("typing", "ForwardRef._evaluate"), Risk::Dangerous);
}

#[test]
fn dotted_walks() {
    let dangerous = [
        ("logging", "os.system"),
        ("pathlib", "os.system"),
        ("posixpath", "os.system"),
        ("builtins", "getattr"),
        ("numpy", "testing._private.utils.runstring"),
        ("numpy", "os.system"),
        ("random", "_os.system"),
        ("tempfile", "_os.system"),
        ("logging", "os"),
        ("mylib", "sys"),
        ("mylib", "Helper.subprocess.Popen"),
        ("mylib", "Foo.types.FunctionType"),
        ("mylib", "Foo.code.InteractiveInterpreter"),
        ("mylib", "helpers.pickle.loads"),
        ("mylib", "f.__globals__"),
        ("mylib", "__builtins__"),
        ("mylib", "Foo.__class__.__subclasses__"),
        ("mylib", "Foo.__init__"),
        ("mylib", "Foo.__private"),
        ("collections", "OrderedDict.__reduce__"),
        ("mylib", "system"),
        ("mylib", "Cfg.popen"),
        ("mylib", "eval"),
        ("numpy", "ndarray.tofile"),
        ("numpy", "ndarray.dump"),
        ("pandas", "DataFrame.to_pickle"),
        ("pandas", "DataFrame.query"),
        ("mylib", "Model.load"),
        ("torch", "ops.load_library"),
    ];
    for (m, n) in dangerous {
        assert_eq!(risk(m, n), Risk::Dangerous, "{m}.{n}: {}", class(m, n).rule);
    }
    let fine = [
        ("mylib", "Outer.Inner"),
        ("mylib", "Outer.Inner.Deeper"),
        ("mylib", "load"),
        ("mylib", "save_config"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("mylib", "_private_helper"),
        ("mylib", "Model.Params"),
    ];
    for (m, n) in fine {
        assert_eq!(risk(m, n), Risk::Unknown, "{m}.{n}: {}", class(m, n).rule);
    }
}

#[test]
fn malformed_names() {
    for (m, n) in [
        ("", "x"),
        ("os", ""),
        ("a..b", "c"),
        (".os", "system"),
        ("mylib", "Foo..Bar"),
        ("mylib", "Foo."),
        ("mylib", "f.<locals>.g"),
    ] {
        let c = class(m, n);
        assert_eq!(
            (c.risk, c.rule),
            (Risk::Dangerous, Rule::Malformed),
            "{m}.{n}"
        );
    }
}

#[test]
fn python2_names_not_remapped() {
    // fix_imports remaps these at protocol < 3; unremapped they only import a planted module.
    assert_eq!(risk("__builtin__", "eval"), Risk::Dangerous);
    assert_eq!(risk("__builtin__", "set"), Risk::Dangerous);
    assert_eq!(risk("copy_reg", "_reconstructor"), Risk::Dangerous);
    assert_eq!(risk("cPickle", "loads"), Risk::Dangerous);
    assert_eq!(risk("urllib", "urlopen"), Risk::Dangerous);
    // The remapped names of ordinary Python 2 data are fine.
    assert_eq!(risk("builtins", "set"), Risk::Safe);
    assert_eq!(risk("copyreg", "_reconstructor"), Risk::Safe);
    assert_eq!(risk("urllib.parse", "quote"), Risk::Unknown);
}

#[test]
fn extension_codes_fail_closed() {
    let c = classify(&Target::Extension(1));
    assert_eq!((c.risk, &c.rule), (Risk::Dangerous, &Rule::Extension));
    let file = [ext(1, 3)];
    assert!(!Policy::default().judge(&file).accepted());
    assert!(!Policy::strict().judge(&file).accepted());
    assert!(!Policy::allowing(["<extension code 1>", "1"])
        .judge(&file)
        .accepted());
    assert!(Policy::no_validation().judge(&file).accepted());
}

/// Real names from numpy, scikit-learn, pandas and PyTorch pickles: never dangerous.
#[test]
fn no_false_alarms_on_real_files() {
    let real = [
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.dtypes", "Float64DType"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._mt19937", "MT19937"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("sklearn.utils._bunch", "Bunch"),
        ("sklearn.pipeline", "Pipeline"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch", "FloatStorage"),
        ("torch.storage", "UntypedStorage"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch.nn.modules.linear", "Linear"),
        ("torch.serialization", "_get_layout"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("collections", "OrderedDict"),
        ("uuid", "UUID"),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),
        ("argparse", "Namespace"),
        ("re", "_compile"),
        ("builtins", "slice"),
        ("__main__", "Config"),
    ];
    for (m, n) in real {
        assert_ne!(risk(m, n), Risk::Dangerous, "{m}.{n}: {}", class(m, n).rule);
    }
}

/// picklescan's denylist (1.0.5) and fickling's unsafe-import modules (0.1.12), from
/// /work/shared/notes/scanners.md, are dangerous here, but for the documented narrowing.
#[test]
fn scanner_lists_are_covered() {
    // picklescan: `*` modules (and their submodules).
    for m in [
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "socket",
        "ssl",
        "shutil",
        "asyncio",
        "aiohttp",
        "bdb",
        "pdb",
        "commands",
        "ctypes",
        "cProfile",
        "profile",
        "pickle",
        "_pickle",
        "pip",
        "pty",
        "pydoc",
        "runpy",
        "timeit",
        "venv",
        "webbrowser",
        "urllib.request",
        "httplib",
        "requests.api",
        "numpy.f2py",
        "numpy.testing._private.utils",
        "distutils.file_util",
        "_osx_support",
        "_aix_support",
        "_pyrepl",
    ] {
        assert_eq!(risk(m, "anything"), Risk::Dangerous, "{m}");
    }
    // picklescan: named globals.
    for (m, n) in [
        ("builtins", "eval"),
        ("builtins", "compile"),
        ("builtins", "getattr"),
        ("builtins", "apply"),
        ("builtins", "exec"),
        ("builtins", "open"),
        ("builtins", "breakpoint"),
        ("__builtin__", "apply"),
        ("functools", "partial"),
        ("operator", "attrgetter"),
        ("operator", "itemgetter"),
        ("operator", "methodcaller"),
        ("_operator", "attrgetter"),
        ("_operator", "itemgetter"),
        ("_operator", "methodcaller"),
        ("types", "CodeType"),
        ("logging", "FileHandler"),
        ("_io", "FileIO"),
        ("pkgutil", "resolve_name"),
        ("code", "InteractiveInterpreter.runcode"),
        ("doctest", "debug_script"),
        ("ensurepip", "_run_pip"),
        ("imaplib", "IMAP4_stream"),
        ("trace", "Trace.run"),
        ("trace", "Trace.runctx"),
        ("idlelib.pyshell", "ModifiedInterpreter.runcode"),
        ("lib2to3.pgen2.grammar", "Grammar.loads"),
        ("cloudpickle.cloudpickle", "_make_function"),
        ("torch.serialization", "load"),
        ("torch._inductor.codecache", "compile_file"),
        ("torch.jit.unsupported_tensor_ops", "execWrapper"),
        ("torch.utils.collect_env", "run"),
        ("uuid", "_get_command_stdout"),
        ("test.support.script_helper", "assert_python_ok"),
    ] {
        assert_eq!(risk(m, n), Risk::Dangerous, "{m}.{n}");
    }
    // fickling's unsafe-import modules, but operator, logging, urllib, joblib and uuid (narrowed).
    for m in [
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "pty",
        "multiprocessing",
        "_posixsubprocess",
        "code",
        "codeop",
        "runpy",
        "marshal",
        "types",
        "importlib",
        "pkgutil",
        "zipimport",
        "gc",
        "site",
        "inspect",
        "functools",
        "cProfile",
        "profile",
        "pdb",
        "bdb",
        "timeit",
        "trace",
        "socket",
        "ssl",
        "http",
        "requests",
        "asyncio",
        "webbrowser",
        "smtplib",
        "ctypes",
        "pickle",
        "_pickle",
        "dill",
        "cloudpickle",
        "shutil",
        "tempfile",
        "glob",
        "platform",
        "pydoc",
        "venv",
        "ensurepip",
        "pip",
        "idlelib",
        "signal",
        "threading",
        "_thread",
        "atexit",
        "sqlite3",
        "mmap",
        "select",
        "selectors",
        "tarfile",
        "zipfile",
        "shelve",
    ] {
        assert_eq!(risk(m, "anything"), Risk::Dangerous, "{m}");
    }
    // The Python library's default list (seed-pypickle.md), exact names and modules.
    for (m, n) in [
        ("os", "system"),
        ("os", "popen"),
        ("os", "execve"),
        ("os", "remove"),
        ("os", "rmdir"),
        ("os", "makedirs"),
        ("subprocess", "Popen"),
        ("subprocess", "call"),
        ("sys", "exit"),
        ("sys", "modules"),
        ("sys", "path"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "open"),
        ("builtins", "__import__"),
    ] {
        assert_eq!(risk(m, n), Risk::Dangerous, "{m}.{n}");
    }
    for m in [
        "subprocess",
        "nt",
        "posix",
        "importlib",
        "socket",
        "selectors",
        "multiprocessing",
        "threading",
        "asyncio",
        "ctypes",
        "platform",
        "webbrowser",
        "shutil",
        "tempfile",
        "glob",
        "pathlib",
        "codecs",
    ] {
        assert_eq!(risk(m, "anything"), Risk::Dangerous, "{m}");
    }
}

// ---------------------------------------------------------------- policies

#[test]
fn default_mode() {
    let file = [
        global("numpy.core.multiarray", "_reconstruct", 2),
        global("posix", "system", 12),
        global("builtins", "set", 30),
        global("builtins", "eval", 40),
    ];
    let v = Policy::default().judge(&file);
    assert_eq!(v.mode, Mode::Default);
    assert_eq!(v.globals.len(), 4);
    let accepted: Vec<bool> = v.globals.iter().map(|g| g.accepted).collect();
    assert_eq!(accepted, [true, false, true, false]);
    assert!(!v.accepted());
    let offsets: Vec<u64> = v.refused().map(|g| g.global.offset).collect();
    assert_eq!(offsets, [12, 40]);
    assert_eq!(v.worst_risk(), Some(Risk::Dangerous));
    // File order and the reference details are kept.
    assert_eq!(v.globals[1].global, file[1]);
    assert_eq!(v.globals[1].risk, Risk::Dangerous);
    assert_eq!(
        v.globals[2].rule.to_string(),
        "safe constructor builtins.set"
    );
}

#[test]
fn strict_mode() {
    let p = Policy::strict();
    let file = [
        global("builtins", "set", 1),
        global("numpy", "ndarray", 2),
        global("builtins", "len", 3),
        global("os", "system", 4),
    ];
    let v = p.judge(&file);
    let accepted: Vec<bool> = v.globals.iter().map(|g| g.accepted).collect();
    assert_eq!(accepted, [true, false, false, false]);
    let shown = v.to_string();
    assert!(shown.contains("strict mode accepts only safe globals and allow entries"));

    let p = Policy::strict().with_allow(["numpy._core.multiarray._reconstruct", "numpy.dtype"]);
    let file = [
        global("numpy._core.multiarray", "_reconstruct", 1),
        global("numpy", "dtype", 2),
        global("numpy._core.multiarray", "scalar", 3),
        global("collections", "OrderedDict", 4),
    ];
    let v = p.judge(&file);
    let accepted: Vec<bool> = v.globals.iter().map(|g| g.accepted).collect();
    assert_eq!(accepted, [true, true, false, true]);
    assert_eq!(
        v.globals[0].rule,
        Rule::Allowed("numpy._core.multiarray._reconstruct".into())
    );
}

#[test]
fn no_validation_mode() {
    let file = [
        global("os", "system", 1),
        ext(3, 5),
        global("numpy", "ndarray", 9),
    ];
    let v = Policy::no_validation().judge(&file);
    assert!(v.accepted());
    assert_eq!(v.refused().count(), 0);
    // Risks are still reported.
    assert_eq!(v.globals[0].risk, Risk::Dangerous);
    assert_eq!(v.globals[0].rule.to_string(), "dangerous module os");
    assert_eq!(v.to_string(), "accepted 3 globals (no-validation mode)");
}

#[test]
fn allow_entries_exact_and_prefix() {
    let p = Policy::allowing(["numpy"]).with_mode(Mode::Strict);
    let file = [
        global("numpy", "ndarray", 1),
        global("numpy.core.multiarray", "_reconstruct", 2),
        global("numpyx", "thing", 3),
        global("numpy", "testing._private.utils.runstring", 4),
        global("numpy.testing._private.utils", "runstring", 5),
        global("numpy", "load", 6),
    ];
    let v = p.judge(&file);
    let accepted: Vec<bool> = v.globals.iter().map(|g| g.accepted).collect();
    assert_eq!(accepted, [true, true, false, false, false, false]);
    assert_eq!(v.globals[0].rule, Rule::Allowed("numpy".into()));
    assert_eq!(v.globals[0].rule.to_string(), "allow entry numpy");
    assert_eq!(v.globals[3].unused_allow.as_deref(), Some("numpy"));
    assert!(v
        .to_string()
        .contains("allow entry numpy covers only safe and unknown globals"));

    // Dangerous globals need an entry equal to their full path.
    let file = [global("os", "system", 1)];
    assert!(!Policy::allowing(["os"]).judge(&file).accepted());
    assert!(!Policy::allowing(["os.sys"]).judge(&file).accepted());
    let v = Policy::allowing(["os.system"]).judge(&file);
    assert!(v.accepted());
    assert_eq!(v.globals[0].risk, Risk::Dangerous);
    assert_eq!(v.globals[0].rule, Rule::Allowed("os.system".into()));
    assert!(Policy::strict()
        .with_allow(["builtins.getattr"])
        .judge(&[global("builtins", "getattr", 1)])
        .accepted());
    // ... and an exact entry does not extend to what is walked from it.
    assert!(!Policy::allowing(["builtins.getattr"])
        .judge(&[global("builtins", "getattr.__self__", 1)])
        .accepted());

    // The entry is matched against module + "." + name, however the pair is split.
    let entry = ["numpy.core.multiarray._reconstruct"];
    for (m, n) in [
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core", "multiarray._reconstruct"),
        ("numpy", "core.multiarray._reconstruct"),
    ] {
        assert!(
            Policy::strict()
                .with_allow(entry)
                .judge(&[global(m, n, 0)])
                .accepted(),
            "{m}.{n}"
        );
    }
    // A prefix entry matches only at a dot boundary; the most specific entry is reported.
    let p = Policy::strict().with_allow(["sklearn", "sklearn.linear_model"]);
    let v = p.judge(&[
        global("sklearn.linear_model._logistic", "LogisticRegression", 0),
        global("sklearnx", "Thing", 1),
    ]);
    assert_eq!(
        v.globals[0].rule,
        Rule::Allowed("sklearn.linear_model".into())
    );
    assert!(!v.globals[1].accepted);
}

#[test]
fn invalid_allow_entries_match_nothing() {
    let p = Policy::strict().with_allow(["", ".", "numpy.", ".numpy", "a..b", "nu mpy", "ok.x"]);
    let invalid: Vec<&str> = p.invalid_allow_entries().collect();
    assert_eq!(invalid, ["", ".", "numpy.", ".numpy", "a..b", "nu mpy"]);
    let v = p.judge(&[global("numpy", "ndarray", 0), global("a", "b.c", 1)]);
    assert_eq!(v.refused().count(), 2);
    // An empty list is not "no validation" (the Python library's defect 4).
    assert!(!Policy::allowing(Vec::<String>::new())
        .judge(&[global("os", "system", 0)])
        .accepted());
}

#[test]
fn display_names_every_refused_global() {
    let mut in_zip = global("builtins", "eval", 40);
    in_zip.member = Some("archive/data.pkl".into());
    in_zip.pickle = 1;
    let file = [
        global("posix", "system", 12),
        global("numpy", "ndarray", 20),
        in_zip,
        ext(9, 50),
    ];
    let v = Policy::default().judge(&file);
    let shown = v.to_string();
    assert_eq!(
        shown,
        "refused 3 globals of 4 (default mode):\n  \
         posix.system at offset 12 (dangerous module posix: runs processes or shell commands);\n  \
         builtins.eval at offset 40 in archive/data.pkl, pickle 2 (dangerous global \
         builtins.eval: evaluates, compiles or executes code);\n  \
         <extension code 9> at offset 50 (extension codes cannot be resolved: the copyreg \
         extension registry lives in the loading process, so the global cannot be known)"
    );
    let one = Policy::default()
        .judge(&[global("os", "system", 1)])
        .to_string();
    assert!(one.starts_with("refused 1 global (default mode):\n  os.system at offset 1"));
    assert_eq!(
        Policy::default().judge(&[]).to_string(),
        "accepted 0 globals (default mode)"
    );
    // The error carries the verdict.
    let err = v.clone().into_result().unwrap_err();
    assert!(err.is_unsafe());
    assert_eq!(err.verdict(), Some(&v));
    assert!(err.to_string().contains("posix.system at offset 12"));
}

#[test]
fn compiled_policy_matches_judge() {
    let p = Policy::allowing(["numpy", "os.system", "numpy"]);
    let compiled = p.compile();
    assert_eq!(compiled.mode(), Mode::Default);
    let file = [
        global("os", "system", 1),
        global("numpy", "ndarray", 2),
        global("subprocess", "Popen", 3),
    ];
    assert_eq!(compiled.judge(&file), p.judge(&file));
    let (class, accepted) = p.judge_target(&named("os", "system"));
    assert_eq!(class.risk, Risk::Dangerous);
    assert!(accepted);
}

#[test]
fn mode_names_round_trip() {
    for mode in [Mode::Default, Mode::Strict, Mode::NoValidation] {
        assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
    }
    assert!("lenient".parse::<Mode>().is_err());
}

/// Throughput check: `cargo test -p pypickle-core --release -- --ignored judge_throughput --nocapture`.
#[test]
#[ignore]
fn judge_throughput() {
    let names = [
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("builtins", "set"),
        ("logging", "os.system"),
    ];
    let file: Vec<GlobalRef> = (0..200_000)
        .map(|i| {
            let (m, n) = names[i % names.len()];
            global(m, n, i as u64)
        })
        .collect();
    let policy = Policy::allowing(["numpy", "sklearn", "torch._utils"]).compile();
    let start = std::time::Instant::now();
    let v = policy.judge(&file);
    let took = start.elapsed();
    assert_eq!(v.refused().count(), 200_000 / names.len());
    let targets: Vec<Target> = file.iter().map(|g| g.target.clone()).collect();
    let mut buf = String::new();
    let start = std::time::Instant::now();
    let dangerous = targets
        .iter()
        .filter(|t| classify_with(&mut buf, t).risk == Risk::Dangerous)
        .count();
    let classify_took = start.elapsed();
    assert_eq!(dangerous, 200_000 / names.len());
    println!(
        "classify alone: {:.0} ns each",
        classify_took.as_nanos() as f64 / targets.len() as f64
    );
    println!(
        "{} globals in {took:?} ({:.0} ns each, clone of each GlobalRef included)",
        file.len(),
        took.as_nanos() as f64 / file.len() as f64
    );
}

// ---------------------------------------------------------------- docs

/// `docs/security.md` lists the tables exactly (between its markers). Run with
/// `PYPICKLE_BLESS=1` to rewrite that section after changing a table.
#[test]
fn security_doc_lists_the_tables() {
    const BEGIN: &str = "<!-- BEGIN GENERATED TABLES (cargo test -p pypickle-core; PYPICKLE_BLESS=1 rewrites) -->\n";
    const END: &str = "<!-- END GENERATED TABLES -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/security.md");
    let doc = std::fs::read_to_string(&path).expect("docs/security.md");
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let want = format!("\n{}\n\n", tables_markdown());
    if doc[start..end] != want {
        if std::env::var_os("PYPICKLE_BLESS").is_some() {
            let new = format!("{}{}{}", &doc[..start], want, &doc[end..]);
            std::fs::write(&path, new).expect("write docs/security.md");
        } else {
            panic!("docs/security.md is out of date with the policy tables: run PYPICKLE_BLESS=1 cargo test -p pypickle-core");
        }
    }
    // And every entry appears in it, by construction of the section.
    for e in DANGEROUS.iter().chain(SAFE.iter()).chain(REVIEWED.iter()) {
        assert!(want.contains(&format!("`{}`", e.path)), "{}", e.path);
    }
}

/// Dangerous objects re-exported under other names, as `scripts/alias_sweep.py` and the seventh
/// red-team round found them (each path is a real re-export of the object in the comment).
#[test]
fn re_exports_found_by_the_alias_sweep_are_dangerous() {
    let aliases = [
        ("six", "exec_"),                                        // builtins.exec
        ("mpmath.libmp.backend", "exec_"),                       // builtins.exec
        ("botocore.vendored.six", "exec_"),                      // builtins.exec
        ("numpy.matlib", "memmap"),                              // numpy.memmap
        ("numpy.matlib", "load"),                                // numpy.load
        ("sklearn.externals.array_api_compat.numpy", "memmap"),  // numpy.memmap
        ("scipy._lib.array_api_compat.numpy", "load"),           // numpy.load
        ("joblib.numpy_pickle", "make_memmap"),                  // numpy.memmap
        ("tokenize", "_builtin_open"),                           // io.open
        ("numpy._core", "fromfile"),                             // numpy.fromfile
        ("joblib.backports", "concurrency_safe_rename"),         // os.replace
        ("s3transfer.utils", "rename_file"),                     // os.rename
        ("docker.context.context", "rmtree"),                    // shutil.rmtree
        ("dataclasses", "FunctionType"),                         // types.FunctionType
        ("jinja2.utils", "CodeType"),                            // types.CodeType
        ("werkzeug.local", "attrgetter"),                        // operator.attrgetter
        ("jsonschema.validators", "methodcaller"),               // operator.methodcaller
        ("collections", "_itemgetter"),                          // operator.itemgetter
        ("flask.cli", "itemgetter"),                             // operator.itemgetter
        ("awscli.compat", "urlopen"),                            // urllib.request.urlopen
        ("cfnlint.helpers", "urlretrieve"),                      // urllib.request.urlretrieve
        ("traitlets.config", "dictConfig"),                      // logging.config.dictConfig
        ("awscli.customizations.commands", "_open"),             // builtins.open
        ("joblib._store_backends", "FileSystemStoreBackend"),    // open, os.replace
        ("joblib.numpy_pickle_compat", "Unpickler"),             // pickle._Unpickler
        ("joblib.test.test_init", "load"),                       // joblib.load
        ("yaml.loader", "UnsafeLoader"),                         // yaml.UnsafeLoader
        ("yaml", "CUnsafeLoader"),                               // libyaml's loader
        ("jsonschema_path.handlers.file", "load"),               // yaml.load
        ("scipy.datasets._fetchers", "load"),                    // numpy.load
        ("_pyio", "open_code"),                                  // io.open_code
        ("pandas._typing", "type_t"),                            // builtins.type
        ("typing_extensions", "GenericMeta"),                    // builtins.type
        ("pydantic.v1.typing", "ForwardRef"),                    // typing.ForwardRef
        ("pydantic._internal._typing_extra", "get_type_hints"),  // typing.get_type_hints
        ("botocore.compress", "GzipFile"),                       // gzip.GzipFile
        ("dateutil.zoneinfo", "TarFile"),                        // tarfile.TarFile
        ("dateutil.zoneinfo", "get_data"),                       // pkgutil.get_data
        ("scipy._lib._testutils", "spec_from_file_location"),    // importlib.util
        ("colorama.win32", "LibraryLoader"),                     // ctypes.LibraryLoader
        ("botocore.endpoint_provider", "Formatter.get_field"),   // string.Formatter
        ("enum", "bltns.compile"),                               // builtins.compile
        ("pandas.core.frame", "fmt.save_to_buffer"),             // writes a file
        ("trio._socket", "_stdlib_socket.socket"),               // socket.socket
        ("docker.utils.socket", "pysocket.socket"),              // socket.socket
        ("rsa.parallel", "mp.Process"),                          // multiprocessing
        ("click", "launch"),                                     // starts a process
        ("click.testing", "termui.edit"),                        // starts an editor
        ("pandas.tests.frame.test_api", "tm.round_trip_pickle"), // loads a pickle
    ];
    for (module, name) in aliases {
        assert_eq!(risk(module, name), Risk::Dangerous, "{module}.{name}");
    }
}

// ---------------------------------------------------------------- getattr walks

fn walked(module: &str, name: &str) -> GlobalRef {
    let mut g = global(module, name, 7);
    g.usage.attribute_walk = true;
    g
}

/// A `builtins.getattr` the pickle machine proved used only as `getattr(G, 'name')` walks is
/// accepted in every mode; each walk is a global of its own, judged as usual.
#[test]
fn a_getattr_used_only_for_walks_is_accepted() {
    let file = [
        walked("builtins", "getattr"),
        global("zoneinfo", "ZoneInfo", 9),
        global("zoneinfo", "ZoneInfo._unpickle", 20),
    ];
    let default = Policy::default().judge(&file);
    assert!(default.accepted(), "{default:?}");
    assert_eq!(default.globals[0].rule, Rule::AttributeWalk);
    assert_eq!(default.globals[0].risk, Risk::Dangerous);
    assert!(default.globals[0].to_string().contains("accepted"));
    // Strict mode: the walk's global needs an allow entry, getattr does not.
    let strict = Policy::strict().judge(&file);
    let refused: Vec<String> = strict
        .refused()
        .map(|g| g.global.target.to_string())
        .collect();
    assert_eq!(
        refused,
        ["zoneinfo.ZoneInfo", "zoneinfo.ZoneInfo._unpickle"]
    );
    let allowed = Policy::allowing(["zoneinfo.ZoneInfo"])
        .with_mode(Mode::Strict)
        .judge(&file);
    assert!(allowed.accepted(), "{allowed:?}");
    // An exact allow entry still names itself; no validation keeps the table rule.
    let exact = Policy::allowing(["builtins.getattr"]).judge(&file);
    assert_eq!(
        exact.globals[0].rule,
        Rule::Allowed(Arc::from("builtins.getattr"))
    );
    let none = Policy::no_validation().judge(&file);
    assert!(matches!(none.globals[0].rule, Rule::Dangerous(_)));
}

/// The flag means nothing on anything but `builtins.getattr` itself, and without it getattr
/// is refused as before.
#[test]
fn the_walk_flag_accepts_nothing_else() {
    for (module, name) in [
        ("os", "system"),
        ("__builtin__", "getattr"),
        ("builtins", "getattr.__self__"),
        ("builtins", "eval"),
        ("operator", "attrgetter"),
    ] {
        let v = Policy::default().judge(&[walked(module, name)]);
        assert!(!v.accepted(), "{module}.{name}");
    }
    let plain = Policy::default().judge(&[global("builtins", "getattr", 1)]);
    assert!(!plain.accepted());
}

/// What walks reach is judged attribute by attribute: dangerous modules, names and dunders
/// anywhere on the way are refused.
#[test]
fn walks_are_judged_as_dotted_globals() {
    assert_eq!(risk("zoneinfo", "ZoneInfo._unpickle"), Risk::Unknown);
    assert_eq!(risk("fixture_classes", "Outer.Inner"), Risk::Unknown);
    for (module, name) in [
        ("posixpath", "os.system"),
        ("logging", "os.system"),
        ("logging", "os"),
        ("os", "system"),
        ("enum", "bltns.eval"),
        ("builtins", "eval"),
        ("builtins", "getattr.x"),
        ("zoneinfo", "ZoneInfo.__dict__"),
        ("collections", "namedtuple.__globals__"),
        ("collections", "OrderedDict.__subclasses__"),
        ("numpy", "ndarray.tofile"),
    ] {
        assert_eq!(risk(module, name), Risk::Dangerous, "{module}.{name}");
    }
}
