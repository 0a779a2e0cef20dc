//! joblib files that `joblib.load` loads while running a payload hidden from a scanner that
//! misreads where the array bytes end (see `tests/joblib_bypasses/make.py`, which
//! writes them and, with `--verify`, checks each against the installed joblib). The scanner
//! must never call one safe: it either finds the payload or reports an error.

use std::path::{Path, PathBuf};

use pypickle::scan::{scan_bytes_report, scan_file, FileVerdict, ScanOptions};
use rstest::rstest;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("joblib_bypasses")
}

/// Fails naming every file of `names` in `dir` that scans safe or as no pickle at all.
fn assert_none_safe_or_skipped(dir: &Path, names: &[String]) {
    let failures: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let report = scan_file(dir.join(name), &ScanOptions::default());
            let bad = report.verdict == FileVerdict::Safe || report.unrecognised();
            bad.then(|| format!("{name}: {:?} {:?}", report.verdict, report.content))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The names of the `.joblib` files in `dir`, sorted.
fn joblib_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the fixture folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".joblib"))
        .collect();
    names.sort();
    names
}

#[rstest]
#[case::init_default_alignment("x1.joblib")]
#[case::comma_dtype("x2.joblib")]
#[case::frame_past_the_build("x3.joblib")]
#[case::class_set_by_slot_state("x4_Namespace.joblib")]
#[case::class_set_on_a_pickler("x4_NumpyPickler.joblib")]
#[case::wrapper_class_unset_by_slot_state("x5.joblib")]
#[case::dict_replaced_by_slot_state("x6.joblib")]
#[case::key_made_by_a_call("x7.joblib")]
#[case::frame_past_a_nested_stop("x8.joblib")]
#[case::alignment_none_from_a_call("x9.joblib")]
#[case::alignment_none_from_a_global("x9b.joblib")]
#[case::legacy_wrapper_reads_a_named_file("x10.joblib")]
#[case::old_dtype_state_elsize("x11.joblib")]
#[case::field_named_o("x12.joblib")]
#[case::plain_code_flagged_as_objects("x13.joblib")]
#[case::object_code_flagged_plain("x14.joblib")]
fn a_joblib_bypass_is_never_safe(#[case] name: &str) {
    let report = scan_file(folder().join(name), &ScanOptions::default());
    assert_ne!(report.verdict, FileVerdict::Safe, "{name}: {report:#?}");
}

/// Every file make.py writes has its case above.
#[test]
fn every_bypass_file_is_tested() {
    let names = joblib_files(&folder());
    assert_eq!(names.len(), 16, "{names:?}");
}

/// The third, fifth and sixth rounds (`joblib_bypasses/round3/`, `round5/`, `round6/`). Round
/// 3: dtype states of old versions, calls that change a state's containers, attributes that
/// shadow the wrapper's methods, BUILDs on the class, its module or what a call returns,
/// wrappers hidden in global state or returned by an object array's pickle, a FRAME past the
/// end, a legacy-torch magic number, a zlib header that is also opcodes, joblib's old ZF
/// files and FLOAT arguments only Python's `float()` reads. Round 5: an object given a
/// `__setstate__` attribute, which its next BUILD calls on a state list; an object's
/// `__dict__` made the dict the wrapper's state is; pickle's unpickler table rewritten
/// through a joblib alias of the unpickler class. Round 6: `numpy.dtype(w)` is the dtype `w`
/// itself, and a BUILD on it sets the state of the dtype a wrapper uses. Round 7 (against
/// the `numpy.memmap` and StringDType rules): `builtins.exec`, `numpy.memmap` and `io.open`
/// under other names (`six.exec_`, `mpmath.libmp.backend.exec_`, `numpy.matlib.memmap`, the
/// array API shims of scikit-learn and SciPy, `joblib.numpy_pickle.make_memmap`,
/// `tokenize._builtin_open`), and nine attempts on the new rules that were already refused.
/// None is safe, and none is skipped as no pickle (a folder scan skips those).
#[rstest]
#[case::round3("round3", 40)]
#[case::round5("round5", 9)]
#[case::round6("round6", 4)]
#[case::round7("round7", 18)]
fn no_later_round_bypass_is_safe_or_skipped(#[case] round: &str, #[case] count: usize) {
    let dir = folder().join(round);
    let names = joblib_files(&dir);
    assert_eq!(names.len(), count, "{names:?}");
    assert_none_safe_or_skipped(&dir, &names);
}

/// The fourth round (`joblib_bypasses/round4/make.py`): an LZMA header joblib takes and the
/// scanner did not, items put into imported objects or into containers a call was given, a
/// `UserList`'s `append` on a state list, a wrapper stashed in global state without a call,
/// the plain reading cut short by the machine's stack bound (c5, c7: 2^24 + 16 DUPs, put
/// together here from the ends kept on disk), a zlib polyglot around a joblib stream, and an
/// unpickler's dispatch table rewritten through SETITEM. None is safe or skipped.
#[test]
fn no_fourth_round_bypass_is_safe_or_skipped() {
    let dir = folder().join("round4");
    let mut files: Vec<(String, Vec<u8>)> = joblib_files(&dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    assert_eq!(files.len(), 9, "{files:?}");
    let part = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let mut c5 = part("c5_plain_stack_limit.head");
    c5.resize(c5.len() + (1 << 24) + 16, b'2');
    c5.extend(part("c5_plain_stack_limit.tail"));
    files.push(("c5_plain_stack_limit.joblib".into(), c5));
    let mut c7 = part("c7_zf_compat_stack.head");
    c7.resize(c7.len() + 300_000, 0);
    files.push(("c7_zf_compat_stack.joblib".into(), c7));
    let mut failures = Vec::new();
    for (name, bytes) in &files {
        let report = scan_bytes_report(name, bytes, &ScanOptions::default());
        if report.verdict == FileVerdict::Safe || report.unrecognised() {
            failures.push(format!("{name}: {:?} {:?}", report.verdict, report.content));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
