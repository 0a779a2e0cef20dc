//! A long-running random test loop of the pickle engine, for when cargo-fuzz (which needs a
//! nightly toolchain) is not at hand. It runs the fuzz target's checks on random bytes,
//! opcode soups built from the opcode table, and mutations of seed pickles, and saves every
//! input that panics.
//!
//!     cargo run --release --manifest-path fuzz/soak/Cargo.toml -- \
//!         --seconds 1800 --seeds tests/fixtures/pickles --out target/soak
//!
//! Prints executions, executions per second and failures every 10 seconds and at the end;
//! exits 1 if any input failed.

use std::panic;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pypickle_pickle::opcodes::{ArgKind, OPCODES};

#[path = "../../checks.rs"]
mod checks;

/// xorshift64*: small, fast, good enough to drive mutations; seeded from the clock or --seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Bytes that matter to the reader: opcodes, digits, quotes, newlines, escapes.
const INTERESTING: &[u8] = b"0123456789-+xXLl_ '\"\\\n\x00\xff\x80\x7fabcdefos.";

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(512);
    (0..len).map(|_| rng.byte()).collect()
}

/// A sequence of table opcodes with arguments of roughly the right shape.
fn opcode_soup(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.chance(2) {
        out.extend_from_slice(&[0x80, rng.below(7) as u8]);
    }
    let count = rng.below(64);
    for _ in 0..count {
        let info = &OPCODES[rng.below(OPCODES.len())];
        out.push(info.code);
        let small = |rng: &mut Rng| -> u64 {
            match rng.below(4) {
                0 => rng.below(4) as u64,
                1 => rng.below(300) as u64,
                2 => rng.next() & 0xffff_ffff,
                _ => rng.next(),
            }
        };
        match info.arg {
            ArgKind::None => {}
            ArgKind::Uint1 => out.push(small(rng) as u8),
            ArgKind::Uint2 => out.extend_from_slice(&(small(rng) as u16).to_le_bytes()),
            ArgKind::Int4 | ArgKind::Uint4 => {
                out.extend_from_slice(&(small(rng) as u32).to_le_bytes())
            }
            ArgKind::Uint8 => out.extend_from_slice(&small(rng).to_le_bytes()),
            ArgKind::Float8 => out.extend_from_slice(&rng.next().to_be_bytes()),
            ArgKind::DecimalNlShort | ArgKind::DecimalNlLong | ArgKind::FloatNl => {
                let text = match rng.below(6) {
                    0 => format!("{}", small(rng) as i64),
                    1 => format!("0x{:x}", small(rng)),
                    2 => "01".to_string(),
                    3 => format!("{}L", small(rng)),
                    4 => format!("{}.{}e{}", rng.below(100), rng.below(100), rng.below(400)),
                    _ => (0..rng.below(8))
                        .map(|_| INTERESTING[rng.below(INTERESTING.len())] as char)
                        .collect(),
                };
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            ArgKind::StringNl => {
                out.extend_from_slice(b"'");
                for _ in 0..rng.below(8) {
                    out.push(INTERESTING[rng.below(INTERESTING.len())]);
                }
                out.extend_from_slice(b"'\n");
            }
            ArgKind::StringNlNoEscape | ArgKind::UnicodeStringNl => {
                for _ in 0..rng.below(8) {
                    out.push(INTERESTING[rng.below(INTERESTING.len())]);
                }
                out.push(b'\n');
            }
            ArgKind::StringNlNoEscapePair => {
                let names = [
                    "os",
                    "system",
                    "builtins",
                    "eval",
                    "__builtin__",
                    "copy_reg",
                    "a.b",
                ];
                out.extend_from_slice(names[rng.below(names.len())].as_bytes());
                out.push(b'\n');
                out.extend_from_slice(names[rng.below(names.len())].as_bytes());
                out.push(b'\n');
            }
            ArgKind::String1 | ArgKind::Bytes1 | ArgKind::UnicodeString1 | ArgKind::Long1 => {
                let n = rng.below(12);
                out.push(n as u8);
                out.extend((0..n).map(|_| rng.byte()));
            }
            ArgKind::String4 | ArgKind::Bytes4 | ArgKind::UnicodeString4 | ArgKind::Long4 => {
                let n = rng.below(12);
                out.extend_from_slice(&(n as u32).to_le_bytes());
                out.extend((0..n).map(|_| rng.byte()));
            }
            ArgKind::Bytes8 | ArgKind::ByteArray8 | ArgKind::UnicodeString8 => {
                let n = rng.below(12);
                out.extend_from_slice(&(n as u64).to_le_bytes());
                out.extend((0..n).map(|_| rng.byte()));
            }
        }
    }
    if rng.chance(2) {
        out.push(b'.');
    }
    out
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = OPCODES[rng.below(OPCODES.len())].code;
            }
            2 => {
                let end = rng.below(data.len() + 1);
                data.truncate(end);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + rng.below(64)).min(data.len());
                let chunk = data[start..end].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, chunk);
            }
            5 => {
                let soup = opcode_soup(rng);
                let at = rng.below(data.len() + 1);
                data.splice(at..at, soup);
            }
            _ if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            _ => {}
        }
    }
    data
}

fn load_seeds(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut seeds = vec![
        b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02ls\x94\x85\x94R\x94.".to_vec(),
        b"ccopy_reg\n_reconstructor\np0\n(c__main__\nA\np1\nc__builtin__\nobject\np2\nNtp3\nRp4\n(dp5\nVx\np6\nI1\nsb.".to_vec(),
        b"\x80\x02]q\x00(K\x01G?\xf8\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00aq\x01h\x01}q\x02e.".to_vec(),
        b"(lp0\nI01\naL12L\naF1.5\naS'a\\x41'\naV\\u20ac\na(tp1\na.".to_vec(),
    ];
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.len() <= 1 << 20 {
                seeds.push(bytes);
            }
        }
    }
    seeds
}

fn save(out: &Path, data: &[u8]) -> PathBuf {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        hash = (hash ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let _ = std::fs::create_dir_all(out);
    let path = out.join(format!("failure-{hash:016x}.pkl"));
    let _ = std::fs::write(&path, data);
    path
}

fn main() {
    let mut seconds = 60u64;
    let mut seed_dirs = Vec::new();
    let mut out = PathBuf::from("target/soak");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ std::process::id() as u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(60),
            "--seeds" => seed_dirs.extend(args.next().map(PathBuf::from)),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let seeds = load_seeds(&seed_dirs);
    let mut rng = Rng(seed | 1);
    println!(
        "soak: {} seeds, {seconds} s, rng seed {seed}, failures saved to {}",
        seeds.len(),
        out.display()
    );
    // Report each distinct panic once, then only count.
    panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut last_report = Instant::now();
    let (mut execs, mut failures) = (0u64, 0u64);
    let mut bytes_run = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let data = match rng.below(10) {
            0 => random_bytes(&mut rng),
            1..=3 => opcode_soup(&mut rng),
            _ => mutate(&mut rng, &seeds),
        };
        bytes_run += data.len() as u64;
        let result = panic::catch_unwind(|| checks::check(&data));
        execs += 1;
        if let Err(payload) = result {
            failures += 1;
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let path = save(&out, &data);
            println!("FAILURE: {message} (input saved to {})", path.display());
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let t = started.elapsed().as_secs_f64();
            println!(
                "{t:.0} s: {execs} executions ({:.0}/s, {:.1} MB), {failures} failures",
                execs as f64 / t,
                bytes_run as f64 / 1e6
            );
        }
    }
    let t = started.elapsed().as_secs_f64();
    println!(
        "done: {execs} executions in {t:.0} s ({:.0}/s, {:.1} MB), {failures} failures",
        execs as f64 / t,
        bytes_run as f64 / 1e6
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
