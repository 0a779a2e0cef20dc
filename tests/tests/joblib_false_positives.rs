//! Real files that `pypickle scan` once refused (`tests/joblib_fp/make.py` writes them): a
//! dump of a `numpy.memmap`, whose wrapper names the class `numpy.memmap` that joblib only
//! compares, and arrays of numpy 2's `StringDType`, whose dtype numpy rebuilds with
//! `_convert_to_stringdtype_kwargs`. Each must scan safe. Beside them, files that look like
//! them but use what the scanner now accepts anywhere else (`tests/joblib_fp/attacks/`):
//! none may scan safe.

use std::path::{Path, PathBuf};

use pypickle::scan::{scan_file, FileReport, FileVerdict, ScanOptions};
use pypickle_core::{Mode, Policy, Target};
use rstest::rstest;

fn folder(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("joblib_fp")
        .join(sub)
}

fn scan(sub: &str, name: &str) -> FileReport {
    scan_file(folder(sub).join(name), &ScanOptions::default())
}

fn files(sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder(sub))
        .expect("the fixture folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".joblib") || n.ends_with(".pkl"))
        .collect();
    names.sort();
    names
}

fn is_memmap(target: &Target) -> bool {
    matches!(target, Target::Named { module, name } if module == "numpy" && name == "memmap")
}

#[rstest]
#[case::memmap_protocol_0("memmap_p0.joblib")]
#[case::memmap_protocol_2("memmap_p2.joblib")]
#[case::memmap_protocol_3("memmap_p3.joblib")]
#[case::memmap_protocol_4("memmap_p4.joblib")]
#[case::memmap_protocol_5("memmap_p5.joblib")]
#[case::memmaps_in_a_dict("memmap_dict.joblib")]
#[case::memmaps_in_a_dict_zlib("memmap_dict_zlib.joblib")]
#[case::memmaps_in_a_dict_xz("memmap_dict_xz.joblib")]
#[case::memmap_in_an_estimator("memmap_in_estimator.joblib")]
#[case::memmap_in_an_estimator_zlib("memmap_in_estimator_zlib.joblib")]
#[case::memmap_in_an_object_protocol_2("memmap_in_object_p2.joblib")]
#[case::stringdtype_protocol_2("stringdtype_p2.joblib")]
#[case::stringdtype_protocol_3("stringdtype_p3.joblib")]
#[case::stringdtype_protocol_4("stringdtype_p4.joblib")]
#[case::stringdtype_protocol_5("stringdtype_p5.joblib")]
#[case::stringdtype_pickle_protocol_2("stringdtype_p2.pkl")]
#[case::stringdtype_pickle_protocol_3("stringdtype_p3.pkl")]
#[case::stringdtype_pickle_protocol_4("stringdtype_p4.pkl")]
#[case::stringdtype_pickle_protocol_5("stringdtype_p5.pkl")]
#[case::stringdtypes_of_every_kind("stringdtype_dict.joblib")]
#[case::stringdtypes_of_every_kind_zlib("stringdtype_dict_zlib.joblib")]
#[case::pandas_tz_protocol_2("pandas_tz_p2.joblib")]
#[case::pandas_tz_protocol_4("pandas_tz_p4.joblib")]
#[case::pandas_tz_protocol_5("pandas_tz_p5.joblib")]
#[case::pandas_tz_zlib("pandas_tz_zlib.joblib")]
#[case::pandas_tz_pickle_protocol_4("pandas_tz_p4.pkl")]
fn a_real_file_is_safe(#[case] name: &str) {
    let report = scan("safe", name);
    assert_eq!(report.verdict, FileVerdict::Safe, "{name}: {report:#?}");
}

/// The memmap references stay what they are: listed, rated dangerous, and accepted with a
/// note saying why.
#[test]
fn an_accepted_memmap_is_reported_as_only_compared() {
    let report = scan("safe", "memmap_p4.joblib");
    let memmap: Vec<_> = report
        .globals
        .iter()
        .filter(|g| is_memmap(&g.global.target))
        .collect();
    assert_eq!(memmap.len(), 1, "{report:#?}");
    assert!(memmap[0].accepted);
    assert!(
        report.findings.iter().any(|f| f.contains("only compares")),
        "{report:#?}"
    );
}

/// Strict mode accepts it as it would an unknown global: when an allow entry covers it.
#[test]
fn strict_mode_judges_it_as_an_unknown_global() {
    let path = folder("safe").join("memmap_dict.joblib");
    let strict = |allow: &[&str]| {
        let options = ScanOptions {
            policy: Policy::allowing(allow.iter().copied()).with_mode(Mode::Strict),
            ..ScanOptions::default()
        };
        scan_file(&path, &options)
    };
    let bare = strict(&[]);
    assert_eq!(bare.verdict, FileVerdict::Unsafe);
    assert!(bare.refused().any(|g| is_memmap(&g.global.target)));
    let allowed = strict(&["numpy", "joblib", "builtins"]);
    assert!(
        !allowed.refused().any(|g| is_memmap(&g.global.target)),
        "{allowed:#?}"
    );
}

/// numpy.memmap used (or reachable) anywhere but the subclass slot of a wrapper the scanner
/// laid out: it is judged as the policy rates it. The first three create a file under
/// `joblib.load` (make.py --verify).
#[rstest]
#[case::called_after_the_array("memmap_called_after.joblib")]
#[case::called_before_the_array("memmap_called_before.joblib")]
#[case::read_back_from_the_state_dict("memmap_via_state_dict.joblib")]
#[case::the_wrapper_given_to_a_call("memmap_via_wrapper.joblib")]
#[case::a_dict_given_to_a_call_then_overwritten("memmap_overwritten.joblib")]
#[case::in_the_order_slot("memmap_in_order_slot.joblib")]
#[case::state_of_an_object_that_is_no_wrapper("memmap_state_of_other.joblib")]
#[case::an_argument_of_the_wrappers_init("memmap_init_argument.joblib")]
#[case::used_by_the_plain_reading("memmap_plain_reading.joblib")]
fn a_memmap_used_elsewhere_is_unsafe(#[case] name: &str) {
    let report = scan("attacks", name);
    assert_eq!(report.verdict, FileVerdict::Unsafe, "{name}: {report:#?}");
    assert!(
        report.refused().any(|g| is_memmap(&g.global.target)),
        "{name}: {report:#?}"
    );
}

/// A dtype that is not numpy's own StringDType pickle is not laid out, and an array of
/// objects whose wrapper allows a memmap is not either (`joblib.load(f, mmap_mode="r")` maps
/// raw bytes where the scanner reads a nested pickle: the last two run `echo pwned` so).
#[rstest]
#[case::coerce_not_0_or_1("stringdtype_coerce_2.joblib")]
#[case::an_extra_argument("stringdtype_extra_argument.joblib")]
#[case::na_object_a_global("stringdtype_na_object_global.joblib")]
#[case::another_module("stringdtype_other_module.joblib")]
#[case::another_function("stringdtype_other_function.joblib")]
#[case::given_a_state("stringdtype_given_state.joblib")]
#[case::keyword_arguments("stringdtype_keywords.joblib")]
#[case::stringdtype_allow_mmap("stringdtype_allow_mmap.joblib")]
#[case::objects_allow_mmap("objects_allow_mmap.joblib")]
fn a_stringdtype_lookalike_is_never_safe(#[case] name: &str) {
    let report = scan("attacks", name);
    assert_ne!(report.verdict, FileVerdict::Safe, "{name}: {report:#?}");
    assert!(!report.unrecognised(), "{name}: {report:#?}");
}

/// A time-zone-aware pandas column pickles its `zoneinfo.ZoneInfo` as
/// `getattr(zoneinfo.ZoneInfo, '_unpickle')(key, 1)`: the scanner and the loader judge the
/// walk as `zoneinfo.ZoneInfo._unpickle`, and `validate_modules` lists that name, which strict
/// mode then accepts without `builtins.getattr`.
#[test]
fn a_pandas_tz_column_is_judged_by_the_global_its_getattr_reaches() {
    let pkl = folder("safe").join("pandas_tz_p4.pkl");
    let report = scan("safe", "pandas_tz_p4.pkl");
    let getattr: Vec<_> = report
        .globals
        .iter()
        .filter(|g| g.global.target.to_string() == "builtins.getattr")
        .collect();
    assert_eq!(getattr.len(), 1, "{report:#?}");
    assert!(getattr[0].accepted && getattr[0].global.usage.attribute_walk);
    assert!(report
        .globals
        .iter()
        .any(|g| g.global.target.to_string() == "zoneinfo.ZoneInfo._unpickle"));
    let modules = pypickle::validate_modules(&pkl).expect("modules");
    assert!(modules.contains(&"zoneinfo.ZoneInfo._unpickle".to_string()));
    assert!(!modules.contains(&"builtins.getattr".to_string()));
    pypickle::load_value(&pkl, &pypickle::LoadOptions::new()).expect("loads");
    pypickle::load_value(&pkl, &pypickle::LoadOptions::new().strict().allow(&modules))
        .expect("loads in strict mode with what validate_modules lists");
    // The scanner's list (what `pypickle modules` prints) likewise, joblib files included.
    for name in [
        "pandas_tz_p4.pkl",
        "pandas_tz_p2.joblib",
        "pandas_tz_zlib.joblib",
    ] {
        let path = folder("safe").join(name);
        let listed = ScanOptions {
            policy: Policy::no_validation(),
            ..ScanOptions::default()
        };
        let names: Vec<String> = scan_file(&path, &listed)
            .globals
            .iter()
            .filter(|g| !g.global.usage.attribute_walk)
            .map(|g| g.global.target.to_string())
            .collect();
        assert!(
            names.iter().any(|n| n == "zoneinfo.ZoneInfo._unpickle"),
            "{name}"
        );
        assert!(!names.iter().any(|n| n == "builtins.getattr"), "{name}");
        let strict = ScanOptions {
            policy: Policy::allowing(names.iter().map(String::as_str)).with_mode(Mode::Strict),
            ..ScanOptions::default()
        };
        let report = scan_file(&path, &strict);
        assert_eq!(report.verdict, FileVerdict::Safe, "{name}: {report:#?}");
    }
}

/// getattr used for a walk only in joblib's reading, and otherwise by a plain `pickle.load`
/// (which reads the array's bytes as opcodes); and a walk to `os.system` after a real array
/// (it runs `echo pwned` under `joblib.load`, make.py --verify).
/// `load_value` reads a joblib file as a plain pickle: it refuses the first (whose plain
/// reading calls getattr otherwise) and fails on the array bytes of the second.
#[rstest]
#[case::used_otherwise_by_the_plain_reading("getattr_plain_reading.joblib", "builtins.getattr")]
#[case::a_walk_to_os_system("getattr_walk_os_system.joblib", "posixpath.os.system")]
fn a_getattr_that_is_not_only_a_harmless_walk_is_unsafe(#[case] name: &str, #[case] refused: &str) {
    let report = scan("attacks", name);
    assert_eq!(report.verdict, FileVerdict::Unsafe, "{name}: {report:#?}");
    assert!(
        report
            .refused()
            .any(|g| g.global.target.to_string() == refused),
        "{name}: {report:#?}"
    );
    let loaded = pypickle::load_value(folder("attacks").join(name), &pypickle::LoadOptions::new());
    let plain_reading_refuses = name == "getattr_plain_reading.joblib";
    assert!(
        loaded
            .as_ref()
            .is_err_and(|e| e.is_unsafe() || !plain_reading_refuses),
        "{name}: {loaded:?}"
    );
}

/// Every file make.py writes has its case above.
#[test]
fn every_file_is_tested() {
    assert_eq!(files("safe").len(), 26, "{:?}", files("safe"));
    assert_eq!(files("attacks").len(), 20, "{:?}", files("attacks"));
}
