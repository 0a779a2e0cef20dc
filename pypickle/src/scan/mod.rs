//! Scanning files for the globals their pickles would import, without running anything.
//!
//! What a file is comes from its content, never its name: pickles (plain, stacked, legacy
//! PyTorch, joblib), zip archives (PyTorch, `.npz`, any zip; every member sniffed by content and
//! every copy of its data scanned, local headers included), `.npy` object arrays, files written
//! by `pypickle::save`, and gzip, bz2, xz/lzma, zlib, zstd and lz4 streams (decompression
//! bounded), nested up to [`ScanOptions::max_depth`] levels.
//!
//! ```no_run
//! use pypickle::scan::{scan_file, ScanOptions, FileVerdict};
//! let report = scan_file("model.pt", &ScanOptions::default());
//! assert_eq!(report.verdict, FileVerdict::Safe);
//! ```
//!
//! The verdict fails closed: a global the policy refuses anywhere (dangerous, unresolvable, or
//! unknown in strict mode) makes the file unsafe even when the stream breaks after it; a file
//! that cannot be read fully with nothing refused is an error, never safe.

mod compared;
mod containers;
pub mod report;

use std::fmt;
use std::path::Path;

use pypickle_core::{GlobalRef, Judged, Mode, Policy};

pub use containers::Content;

/// How a scan reads files.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// The policy judging globals (default mode unless `--strict`; `--allow` entries).
    pub policy: Policy,
    /// How many containers deep a pickle may sit (zip in gzip in zip ... ).
    pub max_depth: usize,
    /// A decompressed stream may be at most this many times larger than its input ...
    pub max_ratio: u64,
    /// ... and never larger than this many bytes.
    pub max_decompressed: u64,
    /// Keep every pickle stream found (for `inspect` and `show`).
    pub keep_pickles: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            policy: Policy::default(),
            max_depth: 8,
            max_ratio: 64,
            max_decompressed: 2 << 30,
            keep_pickles: false,
        }
    }
}

/// The verdict on one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileVerdict {
    /// Every global accepted and every stream read to its end.
    Safe,
    /// At least one global refused by the policy.
    Unsafe,
    /// Unreadable or unparseable, with nothing refused seen.
    Error,
}

impl FileVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            FileVerdict::Safe => "safe",
            FileVerdict::Unsafe => "unsafe",
            FileVerdict::Error => "error",
        }
    }
}

impl fmt::Display for FileVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One pickle stream found in a file, kept when [`ScanOptions::keep_pickles`] is set.
#[derive(Clone, Debug)]
pub struct PickleStream {
    /// Where it sits: the member path inside a container, `None` for the file itself.
    pub member: Option<String>,
    /// What held it (`pickle`, `joblib`, `torch legacy`, `npy`, ...).
    pub kind: &'static str,
    /// The pickle bytes (for joblib: with the raw array bytes cut out).
    pub bytes: Vec<u8>,
}

/// What scanning some bytes found, before the policy is applied.
#[derive(Clone, Debug, Default)]
pub struct Scanned {
    /// What the outermost content is; `None` when it is no pickle and no container.
    pub content: Option<Content>,
    /// Every global of every pickle, with its member path.
    pub globals: Vec<GlobalRef>,
    /// Anomalies worth knowing (zip tricks, stream findings), prefixed by the member path.
    pub findings: Vec<String>,
    /// Why part of the file could not be read.
    pub errors: Vec<String>,
    /// The pickle streams, when kept.
    pub pickles: Vec<PickleStream>,
    /// Envelope information for files written by `pypickle::save`.
    pub envelope: Option<String>,
    /// Indices in `globals` of references joblib only compares, never calls: `numpy.memmap`
    /// as the `subclass` of a memmap's `NumpyArrayWrapper`, proven to be used nowhere else
    /// in the stream (read as joblib and as a plain `pickle.load` read it). They are judged
    /// as unknown globals, not as the dangerous class the policy rates them.
    pub compared: Vec<usize>,
}

/// The report on one file.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The path as given or found.
    pub path: String,
    pub verdict: FileVerdict,
    /// What the file is (`None`: no pickle and no container).
    pub content: Option<Content>,
    /// Every global judged, in file order (all members).
    pub globals: Vec<Judged>,
    pub findings: Vec<String>,
    /// The first error, when the verdict is `error` (also set for unsafe files that broke).
    pub error: Option<String>,
    /// Kept pickle streams (see [`ScanOptions::keep_pickles`]).
    pub pickles: Vec<PickleStream>,
    pub envelope: Option<String>,
}

impl FileReport {
    /// The refused globals.
    pub fn refused(&self) -> impl Iterator<Item = &Judged> {
        self.globals.iter().filter(|g| !g.accepted)
    }

    /// Whether the file is no pickle and no container (a folder scan skips it).
    pub fn unrecognised(&self) -> bool {
        self.content.is_none() && self.globals.is_empty()
    }
}

/// Scans bytes (the content of one file).
pub fn scan_bytes(bytes: &[u8], options: &ScanOptions) -> Scanned {
    containers::scan(bytes, options)
}

/// Scans bytes and judges them: the report of a file with these contents.
pub fn scan_bytes_report(path: &str, bytes: &[u8], options: &ScanOptions) -> FileReport {
    judge(path, scan_bytes(bytes, options), options)
}

/// Reads and scans one file.
pub fn scan_file(path: impl AsRef<Path>, options: &ScanOptions) -> FileReport {
    let path = path.as_ref();
    let shown = path.display().to_string();
    if path.is_dir() {
        return error_report(shown, "is a folder".to_string());
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return error_report(shown, format!("cannot read it: {e}")),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return judge(&shown, scan_bytes(&[], options), options);
    }
    // A concurrent truncation by another process is the only hazard, as with every mapped
    // reader.
    match pypickle_pickle::reader::MappedFile::map(&file) {
        Ok(map) => judge(&shown, scan_bytes(&map, options), options),
        Err(_) => match std::fs::read(path) {
            Ok(bytes) => judge(&shown, scan_bytes(&bytes, options), options),
            Err(e) => error_report(shown, format!("cannot read it: {e}")),
        },
    }
}

fn error_report(path: String, error: String) -> FileReport {
    FileReport {
        path,
        verdict: FileVerdict::Error,
        content: None,
        globals: Vec::new(),
        findings: Vec::new(),
        error: Some(error),
        pickles: Vec::new(),
        envelope: None,
    }
}

fn judge(path: &str, mut scanned: Scanned, options: &ScanOptions) -> FileReport {
    let verdict = options.policy.judge(&scanned.globals);
    let mut globals = verdict.globals;
    for &i in &scanned.compared {
        let Some(g) = globals.get_mut(i) else {
            continue;
        };
        if g.accepted || !accepts_as_unknown(&options.policy, &g.global.target) {
            continue;
        }
        g.accepted = true;
        let p = match &g.global.member {
            Some(m) => format!("{m}: "),
            None => String::new(),
        };
        scanned.findings.push(format!(
            "{p}offset {}: {} accepted: joblib only compares it (the subclass of an array \
             wrapper) and the file uses it nowhere else",
            g.global.offset, g.global.target
        ));
    }
    let refused = globals.iter().any(|g| !g.accepted);
    let mut error = scanned.errors.first().cloned();
    let file_verdict = if refused {
        FileVerdict::Unsafe
    } else if error.is_some() {
        FileVerdict::Error
    } else if scanned.content.is_none() {
        error = Some("not a pickle and no container of pickles".to_string());
        FileVerdict::Error
    } else {
        FileVerdict::Safe
    };
    FileReport {
        path: path.to_string(),
        verdict: file_verdict,
        content: scanned.content,
        globals,
        findings: scanned.findings,
        error,
        pickles: scanned.pickles,
        envelope: scanned.envelope,
    }
}

/// Whether the policy accepts `target` as it would an unknown global: always in the default
/// mode, in strict mode when an allow entry names it or a module it is in (`numpy`).
fn accepts_as_unknown(policy: &Policy, target: &pypickle_core::Target) -> bool {
    match policy.mode {
        Mode::Default | Mode::NoValidation => true,
        Mode::Strict => {
            let path = target.to_string();
            policy.allow.iter().any(|entry| {
                !entry.is_empty()
                    && (path == *entry
                        || (path.starts_with(entry.as_str())
                            && path[entry.len()..].starts_with('.')))
            })
        }
    }
}
