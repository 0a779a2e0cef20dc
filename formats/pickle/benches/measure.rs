//! Plain timings of the engine on the benchmark files, for `compare.py` (criterion's own
//! reports are in `benches/engine.rs`).
//!
//!     cargo bench -p pypickle-pickle --bench measure -- [--once MODE FILE] [--modes M,N] [FILE...]
//!
//! Without arguments it times every file of the bench directory (see `make_bench_files.py`)
//! and prints one JSON object per line: `{"file", "bytes", "mode", "seconds"}` (best of runs).
//! `--once MODE FILE` runs one mode once and prints its time to stderr: for measuring peak
//! memory. Mode `load-released` there loads as the facade's `load_value` loads a large file
//! (mapped, its pages let go as the machine passes them).

use std::path::{Path, PathBuf};
use std::time::Instant;

use pypickle_pickle::reader::map_file;
use pypickle_pickle::{analyze, load, load_passing, validate_modules, Limits, Options};

fn bench_dir() -> PathBuf {
    match std::env::var_os("PYPICKLE_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data"),
    }
}

fn run(mode: &str, bytes: &[u8]) -> Option<pypickle_pickle::Loaded> {
    match mode {
        "validate" => {
            std::hint::black_box(validate_modules(bytes));
        }
        // Decoding alone, for reference: the floor under everything else.
        "read" => {
            let mut n = 0u64;
            for ins in pypickle_pickle::reader::Reader::new(bytes) {
                n += ins.is_ok() as u64;
            }
            std::hint::black_box(n);
        }
        "analyze" => {
            std::hint::black_box(analyze(bytes));
        }
        "load" => {
            let loaded = load(bytes, &Limits::default());
            assert!(loaded.error.is_none(), "{:?}", loaded.error);
            // Freed after the clock stops, as CPython's timing never frees its result.
            return Some(loaded);
        }
        other => panic!("unknown mode {other}"),
    }
    None
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--once") {
        let (mode, file) = (&args[1], &args[2]);
        let t = Instant::now();
        if mode == "load-released" {
            // As the facade's `load_value` reads a large file: mapped, its pages let go as the
            // machine passes them.
            let map = map_file(file).expect("readable file");
            let loaded = load_passing(&map, &Options::default(), &|n| map.release_before(n));
            assert!(loaded.error.is_none(), "{:?}", loaded.error);
            eprintln!("{:.6}", t.elapsed().as_secs_f64());
            return;
        }
        let map = map_file(file).expect("readable file");
        let kept = run(mode, &map);
        // The time of this one run, in a fresh process (what a program loading a file once
        // sees: every page it touches is new).
        eprintln!("{:.6}", t.elapsed().as_secs_f64());
        drop(kept);
        return;
    }
    // `--modes a,b` times only those modes.
    let mut modes = vec!["validate", "analyze", "load"];
    let mut args = args;
    if args.first().map(String::as_str) == Some("--modes") && args.len() >= 2 {
        let list: Vec<&'static str> = args[1]
            .split(',')
            .map(|m| &*Box::leak(m.to_string().into_boxed_str()))
            .collect();
        modes = list;
        args.drain(..2);
    }
    let files: Vec<PathBuf> = if args.is_empty() {
        ["dense.pkl", "array.pkl", "sklearn.pkl"]
            .iter()
            .map(|f| bench_dir().join(f))
            .filter(|p| p.exists())
            .collect()
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    if files.is_empty() {
        eprintln!(
            "no benchmark files in {}: run formats/pickle/benches/make_bench_files.py",
            bench_dir().display()
        );
        return;
    }
    for file in files {
        let map = map_file(&file).expect("readable file");
        for &mode in &modes {
            // Best of several runs, at least 5 and about three seconds in all.
            let mut best = f64::INFINITY;
            let started = Instant::now();
            let mut runs = 0;
            while runs < 5 || (started.elapsed().as_secs_f64() < 3.0 && runs < 50) {
                let t = Instant::now();
                let kept = run(mode, &map);
                best = best.min(t.elapsed().as_secs_f64());
                drop(kept);
                runs += 1;
            }
            println!(
                "{{\"file\": {:?}, \"bytes\": {}, \"mode\": \"{mode}\", \"seconds\": {best:.6}}}",
                file.display().to_string(),
                map.len()
            );
        }
    }
}
