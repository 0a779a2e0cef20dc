//! Criterion benchmarks of the engine on the files `make_bench_files.py` writes (skipped, with
//! a message, when they are absent).
//!
//!     python3 formats/pickle/benches/make_bench_files.py
//!     cargo bench -p pypickle-pickle --bench engine

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pypickle_pickle::reader::map_file;
use pypickle_pickle::{analyze, load, validate_modules, Limits};

fn bench_dir() -> PathBuf {
    match std::env::var_os("PYPICKLE_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data"),
    }
}

fn engine(c: &mut Criterion) {
    let mut found = false;
    for name in ["dense.pkl", "array.pkl", "sklearn.pkl"] {
        let path = bench_dir().join(name);
        let Ok(map) = map_file(&path) else {
            eprintln!("{} is absent: skipped", path.display());
            continue;
        };
        found = true;
        let bytes: &[u8] = &map;
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        if bytes.len() > 50 << 20 {
            group.sample_size(10);
        }
        group.bench_function("validate_modules", |b| b.iter(|| validate_modules(bytes)));
        group.bench_function("analyze", |b| b.iter(|| analyze(bytes)));
        group.bench_function("load", |b| {
            b.iter_with_large_drop(|| load(bytes, &Limits::default()))
        });
        group.finish();
    }
    if !found {
        eprintln!(
            "no benchmark files in {}: run python3 formats/pickle/benches/make_bench_files.py",
            bench_dir().display()
        );
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
