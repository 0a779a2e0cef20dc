//! Scanner throughput, in memory: an opcode-dense pickle, a large payload, a zip of pickles.

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
    // A 128 MiB payload (what a numpy array pickle is, to a scanner): skipped, never read.
    let mut array = vec![0x80, 4, 0x8e];
    array.extend_from_slice(&(128u64 << 20).to_le_bytes());
    array.resize(array.len() + (128 << 20), 0);
    array.push(b'.');
    group.throughput(Throughput::Bytes(array.len() as u64));
    group.bench_function("array_128mib", |b| {
        b.iter(|| pypickle::scan::scan_bytes(&array, &pypickle::scan::ScanOptions::default()))
    });
    // A zip of 64 members, each a small pickle (the PyTorch layout, many times over).
    let zipped = zip_of(&dense_pickle(1_000), 64);
    let check = pypickle::scan::scan_bytes(&zipped, &pypickle::scan::ScanOptions::default());
    assert!(
        check.errors.is_empty() && check.findings.is_empty(),
        "{check:?}"
    );
    group.throughput(Throughput::Bytes(zipped.len() as u64));
    group.bench_function("zip_64_members", |b| {
        b.iter(|| pypickle::scan::scan_bytes(&zipped, &pypickle::scan::ScanOptions::default()))
    });
    group.finish();
}

/// A stored zip of `n` copies of `member`, with a central directory.
fn zip_of(member: &[u8], n: usize) -> Vec<u8> {
    let crc = crc32fast::hash(member);
    let mut out = Vec::new();
    let mut central = Vec::new();
    for i in 0..n {
        let name = format!("archive/data{i}.pkl");
        let offset = out.len() as u32;
        let fields = |sig: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(sig);
            out.extend_from_slice(&[20, 0]);
            if sig == b"PK\x01\x02" {
                out.extend_from_slice(&[20, 0]);
            }
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(member.len() as u32).to_le_bytes());
            out.extend_from_slice(&(member.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
        };
        fields(b"PK\x03\x04", &mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(member);
        fields(b"PK\x01\x02", &mut central);
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
