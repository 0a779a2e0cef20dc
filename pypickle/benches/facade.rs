//! The facade's cost over calling each serialization crate directly, on a ~10 MB structure.
//!
//! `cargo bench -p pypickle --bench facade`. Each group compares `pypickle::to_vec`/`from_slice`
//! (with and without the envelope) with the crate's own functions; ciborium is measured beside
//! cbor4ii (the CBOR crate pypickle uses) to show why.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pypickle::{from_slice, to_vec, LoadOptions, SaveOptions};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
    samples: Vec<i32>,
    parent: Option<u32>,
}

fn dataset() -> Vec<Record> {
    (0..60_000u64)
        .map(|i| Record {
            id: i * 7919,
            name: format!("record-{i:06}-élan"),
            score: i as f64 / 3.0,
            active: i % 3 == 0,
            tags: (0..(i % 4)).map(|t| format!("tag{t}")).collect(),
            samples: (0..24).map(|s| (i as i32).wrapping_mul(s) - 1000).collect(),
            parent: (i % 5 != 0).then_some(i as u32 / 2),
        })
        .collect()
}

fn bench_format(c: &mut Criterion, format: &str, data: &Vec<Record>) {
    let direct_encode: fn(&Vec<Record>) -> Vec<u8> = match format {
        "cbor" => |d| cbor4ii::serde::to_vec(Vec::new(), d).unwrap(),
        "msgpack" => |d| rmp_serde::to_vec_named(d).unwrap(),
        _ => |d| bincode::serde::encode_to_vec(d, bincode::config::standard()).unwrap(),
    };
    let direct_decode: fn(&[u8]) -> Vec<Record> = match format {
        "cbor" => |b| cbor4ii::serde::from_slice(b).unwrap(),
        "msgpack" => |b| rmp_serde::from_slice(b).unwrap(),
        _ => |b| {
            bincode::serde::decode_from_slice(b, bincode::config::standard())
                .unwrap()
                .0
        },
    };
    let encoded = direct_encode(data);
    let mut group = c.benchmark_group(format!("{format}/encode"));
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.sample_size(20);
    group.bench_function("direct", |b| b.iter(|| direct_encode(black_box(data))));
    for envelope in [true, false] {
        let options = SaveOptions::new().format(format).envelope(envelope);
        let name = if envelope { "facade" } else { "facade-bare" };
        group.bench_function(name, |b| {
            b.iter(|| to_vec(black_box(data), &options).unwrap())
        });
    }
    if format == "cbor" {
        group.bench_function("ciborium", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                ciborium::into_writer(black_box(data), &mut out).unwrap();
                out
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("{format}/decode"));
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.sample_size(20);
    group.bench_function("direct", |b| b.iter(|| direct_decode(black_box(&encoded))));
    let enveloped = to_vec(data, &SaveOptions::new().format(format)).unwrap();
    group.bench_function("facade", |b| {
        b.iter(|| from_slice::<Vec<Record>>(black_box(&enveloped), &LoadOptions::new()).unwrap())
    });
    let bare = to_vec(data, &SaveOptions::new().format(format).envelope(false)).unwrap();
    let bare_options = LoadOptions::new().format(format);
    group.bench_function("facade-bare", |b| {
        b.iter(|| from_slice::<Vec<Record>>(black_box(&bare), &bare_options).unwrap())
    });
    if format == "cbor" {
        group.bench_function("ciborium", |b| {
            b.iter(|| ciborium::from_reader::<Vec<Record>, _>(black_box(&encoded[..])).unwrap())
        });
    }
    group.finish();
}

fn facade(c: &mut Criterion) {
    let data = dataset();
    for format in ["bincode", "cbor", "msgpack"] {
        bench_format(c, format, &data);
    }
}

criterion_group!(benches, facade);
criterion_main!(benches);
