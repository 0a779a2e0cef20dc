//! Scanner throughput: an opcode-dense pickle and a large numpy array pickle, in memory.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn dense_pickle(n: usize) -> Vec<u8> {
    // protocol 4: a list of n small dicts {"a": i, "b": "x"}
    let mut out = vec![0x80, 4, b']', b'('];
    for i in 0..n {
        out.extend_from_slice(b"}(");
        out.extend_from_slice(&[0x8c, 1, b'a', b'J']);
        out.extend_from_slice(&(i as i32).to_le_bytes());
        out.extend_from_slice(&[0x8c, 1, b'b', 0x8c, 1, b'x', b'u']);
    }
    out.extend_from_slice(b"e.");
    out
}

fn bench(c: &mut Criterion) {
    let dense = dense_pickle(300_000);
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(dense.len() as u64));
    group.bench_function("dense_300k_dicts", |b| {
        b.iter(|| pypickle::scan::scan_bytes(&dense, &pypickle::scan::ScanOptions::default()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
