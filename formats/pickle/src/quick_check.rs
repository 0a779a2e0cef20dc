//! The machine's quick loop ([`Machine::quick_run`](crate::machine)) against its general step:
//! every fixture, thousands of damaged copies of them, and tight limits, run both ways, must
//! give the same value, globals, findings, errors and opcode counts, and let go of the same
//! input offsets.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use crate::analysis::{exported, Analysis, Loaded};
use crate::machine::{Limits, Machine, Options};

fn fixture_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let mut files = Vec::new();
    let mut dirs = vec![
        root.join("fixtures/pickles"),
        root.join("joblib_fp"),
        root.join("joblib_bypasses"),
    ];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e != "py" && e != "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 300, "the fixtures are there: {}", files.len());
    files
}

/// Loads `bytes` both ways (and lets go of the input as `load_passing` does), and analyzes it
/// both ways; panics with `what` where they differ.
fn both_ways(bytes: &[u8], options: &Options, what: &str) {
    let load = |quick: bool| -> (Loaded, Vec<usize>) {
        let released = RefCell::new(Vec::new());
        let release = |n: usize| released.borrow_mut().push(n);
        let machine = Machine::new(bytes, options, true).releasing(&release);
        let machine = if quick {
            machine
        } else {
            machine.step_by_step()
        };
        let loaded = exported(machine.run(), options);
        (loaded, released.into_inner())
    };
    let (quick, quick_released) = load(true);
    let (step, step_released) = load(false);
    same(&quick, &step, &format!("load of {what}"));
    assert_eq!(quick_released, step_released, "released offsets of {what}");
    let analyze = |quick: bool| -> Analysis {
        let machine = Machine::new(bytes, options, false);
        let machine = if quick {
            machine
        } else {
            machine.step_by_step()
        };
        Analysis::of(machine.run())
    };
    same(
        &analyze(true),
        &analyze(false),
        &format!("analysis of {what}"),
    );
}

/// Equal as printed (a NaN is not equal to itself, but prints the same).
fn same<T: std::fmt::Debug>(quick: &T, step: &T, what: &str) {
    let (quick, step) = (format!("{quick:?}"), format!("{step:?}"));
    if quick != step {
        let at = quick
            .bytes()
            .zip(step.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(quick.len().min(step.len()));
        let from = at.saturating_sub(200);
        panic!(
            "{what} differs at {at}:\n quick: ...{}\n  step: ...{}",
            &quick[from..(at + 200).min(quick.len())],
            &step[from..(at + 200).min(step.len())]
        );
    }
}

#[test]
fn every_fixture_runs_the_same_both_ways() {
    let options = Options::default();
    for file in fixture_files() {
        let bytes = std::fs::read(&file).expect("readable fixture");
        both_ways(&bytes, &options, &file.display().to_string());
    }
}

/// Limits small enough to be reached inside runs of quick opcodes.
fn tight_limits() -> Vec<Limits> {
    let mut all = Vec::new();
    for n in [1u64, 2, 3, 5, 8, 13, 40, 100] {
        all.push(Limits {
            max_opcodes: n,
            ..Limits::default()
        });
    }
    for n in [1usize, 2, 3, 6] {
        all.push(Limits {
            max_stack: n,
            ..Limits::default()
        });
        all.push(Limits {
            max_memo: n,
            ..Limits::default()
        });
        all.push(Limits {
            max_depth: n,
            ..Limits::default()
        });
        all.push(Limits {
            max_findings: n,
            ..Limits::default()
        });
    }
    for n in [1u64, 10, 50, 200] {
        all.push(Limits {
            max_value_size: n,
            ..Limits::default()
        });
    }
    all
}

#[test]
fn small_fixtures_run_the_same_both_ways_under_tight_limits() {
    let files: Vec<PathBuf> = fixture_files()
        .into_iter()
        .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() < 4096))
        .collect();
    assert!(files.len() > 100, "small fixtures: {}", files.len());
    for limits in tight_limits() {
        let options = Options {
            limits: limits.clone(),
            ..Options::default()
        };
        for file in &files {
            let bytes = std::fs::read(file).expect("readable fixture");
            both_ways(
                &bytes,
                &options,
                &format!("{} under {limits:?}", file.display()),
            );
        }
    }
}

/// xorshift64*: damaged copies that are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A copy of `bytes` with a few bytes changed, inserted, removed, or the end cut off. Changed
/// bytes are often opcode bytes of the quick loop, so that damage lands where it runs.
fn damaged(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    const QUICK: &[u8] = b"KMJGh\x88\x89Nj\x94qr\x8cX(}]ue.\x95\x80";
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.below(3) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        let byte = match rng.below(3) {
            0 => QUICK[rng.below(QUICK.len())],
            _ => rng.next() as u8,
        };
        match rng.below(5) {
            0 | 1 => out[at] = byte,
            2 => out.insert(at, byte),
            3 => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
    }
    out
}

#[test]
fn damaged_fixtures_run_the_same_both_ways() {
    let files: Vec<Vec<u8>> = fixture_files()
        .iter()
        .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() < 2048))
        .map(|f| std::fs::read(f).expect("readable fixture"))
        .collect();
    let limits = tight_limits();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..6000 {
        let original = &files[rng.below(files.len())];
        let bytes = damaged(original, &mut rng);
        let options = Options {
            limits: match round % 4 {
                0 => limits[rng.below(limits.len())].clone(),
                _ => Limits::default(),
            },
            ..Options::default()
        };
        both_ways(
            &bytes,
            &options,
            &format!("damaged copy {round}: {bytes:?}"),
        );
    }
}

/// Every opcode of the quick loop, in a list of dicts (protocol 4 shapes, no PROTO or FRAME).
fn every_quick_opcode() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"]\x94(");
    body.extend_from_slice(b"}\x94(\x8c\x01a\x94K\x01\x8c\x01b\x94M\x02\x01");
    body.extend_from_slice(b"X\x01\x00\x00\x00c\x94J\xfd\xff\xff\xff");
    body.extend_from_slice(b"\x8c\x01d\x94G?\xf0\x00\x00\x00\x00\x00\x00u");
    body.extend_from_slice(b"}\x94(h\x02K\x07h\x04\x88h\x06\x89j\x08\x00\x00\x00Nq\x20u");
    body.extend_from_slice(b"}r\x00\x01\x00\x00(h\x02]\x94(K\x01K\x02eh\x20Nue.");
    body
}

/// Pickles whose first opcode above protocol 0 is each opcode of the quick loop in turn
/// (the finding is made once per pickle, at the first).
const FIRST_ABOVE: &[&[u8]] = &[
    b"K\x01.",
    b"M\x01\x02.",
    b"J\x01\x00\x00\x00.",
    b"G?\xf0\x00\x00\x00\x00\x00\x00.",
    b"\x88.",
    b"\x89.",
    b"N.",
    b"\x8c\x01a.",
    b"X\x01\x00\x00\x00a.",
    b"N\x94.",
    b"Nq\x00.",
    b"Nr\x00\x00\x00\x00.",
    b"Np0\nh\x00.",
    b"Np0\nj\x00\x00\x00\x00.",
    b"(N.",
    b"}.",
    b"].",
    b"(dp0\n(S'a'\nI1\nu.",
    b"(lp0\n(I1\ne.",
];

#[test]
fn opcodes_above_the_declared_protocol_run_the_same_both_ways() {
    let options = Options::default();
    let body = every_quick_opcode();
    both_ways(&body, &options, "no PROTO");
    for proto in 0..=5u8 {
        let mut bytes = vec![0x80, proto];
        bytes.extend_from_slice(&body);
        both_ways(&bytes, &options, &format!("PROTO {proto}"));
        for first in FIRST_ABOVE {
            let mut bytes = vec![0x80, proto];
            bytes.extend_from_slice(first);
            both_ways(&bytes, &options, &format!("PROTO {proto}, then {first:?}"));
        }
    }
}

#[test]
fn frames_ending_inside_every_opcode_run_the_same_both_ways() {
    let options = Options::default();
    let body = every_quick_opcode();
    for len in 0..=body.len() + 1 {
        let mut bytes = b"\x80\x04\x95".to_vec();
        bytes.extend_from_slice(&(len as u64).to_le_bytes());
        bytes.extend_from_slice(&body);
        both_ways(&bytes, &options, &format!("a frame of {len}"));
    }
}

/// A load lets go of the input every MiB, after the opcode that passes the mark: the quick
/// loop must leave that opcode to the general one, which does it.
#[test]
fn a_long_input_is_let_go_of_at_the_same_offsets() {
    let mut bytes = b"\x80\x04]\x94(".to_vec();
    let mut k = 0u32;
    while bytes.len() < 3 << 20 {
        // Opcodes of every length, so that one of them straddles each MiB mark.
        bytes.extend_from_slice(b"K\x07\x88G?\xf0\x00\x00\x00\x00\x00\x00");
        bytes.extend_from_slice(b"\x8c\x03abc\x94J");
        bytes.extend_from_slice(&k.to_le_bytes());
        k += 1;
    }
    bytes.extend_from_slice(b"e.");
    both_ways(&bytes, &Options::default(), "a 3 MiB list");
}

/// The memo's quick put (an object in the next dense slot) must not take a slot the sparse
/// part already holds: then MEMOIZE replaces that entry, as CPython's memo dict does, and the
/// count of entries (MEMOIZE's next index) does not grow. Both paths share `Memo::put`, so
/// this checks the result itself.
#[test]
fn memoize_over_a_sparse_entry_replaces_it() {
    let mut bytes = b"\x80\x04]".to_vec();
    bytes.extend_from_slice(b"q\x00q\x3f"); // dense slots 0 and 63: 64 long, 2 filled
    for far in 1000u32..1061 {
        // 61 entries far out: the sparse part
        bytes.push(b'r');
        bytes.extend_from_slice(&far.to_le_bytes());
    }
    // Slot 64, in the sparse part (None: not through the memo's quick put): 64 entries.
    bytes.extend_from_slice(b"Nq\x400");
    bytes.extend_from_slice(b"0}\x94"); // MEMOIZE at 64 replaces it: still 64 entries
    bytes.extend_from_slice(b"0}\x94"); // so this one is at 64 too
    bytes.extend_from_slice(b"0h\x40h\x41\x86."); // (the second dict, a miss at 65)
    both_ways(&bytes, &Options::default(), "MEMOIZE over a sparse slot");
    let loaded = crate::load_with(&bytes, &Options::default());
    let misses: Vec<&str> = loaded
        .findings
        .iter()
        .filter(|f| f.kind == crate::FindingKind::MemoMiss)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(misses.len(), 1, "{misses:?} {:?}", loaded.findings);
    assert!(misses[0].starts_with("BINGET 65"), "{misses:?}");
}

/// The quick loop remembers the value it pushed last for MEMOIZE: after SETITEMS or APPENDS
/// pop down to their mark, the top is the container again, and that is what is memoized.
#[test]
fn what_is_memoized_after_a_fill_is_the_container() {
    let cases: &[&[u8]] = &[
        b"\x80\x04]\x94(K\x01e\x94h\x01\x86.",
        b"\x80\x04}\x94(K\x01K\x02u\x94h\x01\x86.",
        b"\x80\x02]q\x00(K\x01eq\x01h\x01\x86.",
        b"\x80\x02}q\x00(K\x01K\x02ur\x01\x00\x00\x00j\x01\x00\x00\x00\x86.",
    ];
    for bytes in cases {
        both_ways(bytes, &Options::default(), &format!("{bytes:?}"));
        let loaded = crate::load_with(bytes, &Options::default());
        // (container, container): the same object twice.
        let root = loaded.value.root();
        let Some(pypickle_core::Object::Tuple(items)) = loaded.value.object(root) else {
            panic!("{bytes:?} loads a tuple: {:?}", loaded.value);
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], items[1], "{bytes:?}: {:?}", loaded.value);
        assert!(matches!(items[0], pypickle_core::Item::Ref(_)), "{bytes:?}");
    }
}
