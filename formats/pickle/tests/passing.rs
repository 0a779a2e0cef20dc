//! `load_passing`: a load that tells its caller how far it has read keeps nothing borrowed from
//! the bytes it has passed, so the facade can let those pages of a mapped file go.

use pypickle_pickle::{load, load_passing, Encoding, Limits, Options};

/// A protocol 5 pickle of a list holding every kind of payload a load could borrow (bytes and
/// bytearrays larger than a release step, long ints, strs, a Python 2 str), then many small
/// dicts, so that the machine passes release points between opcodes too, then memo reads of
/// objects made at the start.
fn sample() -> Vec<u8> {
    let mut p = vec![0x80, 5, b']', 0x94, b'(']; // PROTO 5, EMPTY_LIST, MEMOIZE, MARK
    let big: Vec<u8> = (0..3 * (1 << 20) + 12345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    p.push(0x8e); // BINBYTES8
    p.extend_from_slice(&(big.len() as u64).to_le_bytes());
    p.extend_from_slice(&big);
    p.push(0x94); // memo 1
    p.push(0x96); // BYTEARRAY8
    p.extend_from_slice(&((1u64 << 20) + 77).to_le_bytes());
    p.extend(big.iter().rev().take((1 << 20) + 77));
    p.push(0x8b); // LONG4
    p.extend_from_slice(&300u32.to_le_bytes());
    p.extend((0..300u32).map(|i| (i % 256) as u8));
    p.push(0x8a); // LONG1
    p.push(9);
    p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0x80]);
    p.push(0x8c); // SHORT_BINUNICODE
    p.push(3);
    p.extend_from_slice(b"abc");
    p.push(0x94); // memo 2
    let long_text = "é".repeat(400);
    p.push(b'X'); // BINUNICODE
    p.extend_from_slice(&(long_text.len() as u32).to_le_bytes());
    p.extend_from_slice(long_text.as_bytes());
    p.push(b'T'); // BINSTRING: a Python 2 str
    p.extend_from_slice(&5u32.to_le_bytes());
    p.extend_from_slice(b"py2st");
    p.push(b'C'); // SHORT_BINBYTES
    p.push(4);
    p.extend_from_slice(b"\x00\x01\x02\x03");
    for i in 0..60_000u32 {
        // EMPTY_DICT, MEMOIZE, MARK, 'id', BININT i, 'name', 'user..', SETITEMS
        p.extend_from_slice(b"}\x94(\x8c\x02idJ");
        p.extend_from_slice(&i.to_le_bytes());
        p.extend_from_slice(b"\x8c\x04name\x8c\x0a");
        p.extend_from_slice(format!("user{i:06}").as_bytes());
        p.push(b'u');
    }
    p.extend_from_slice(b"h\x01h\x02e."); // BINGET 1, BINGET 2, APPENDS, STOP
    p
}

fn options(encoding: Encoding) -> Options {
    Options {
        encoding,
        ..Options::default()
    }
}

#[test]
fn the_sample_loads() {
    let bytes = sample();
    let loaded = load(&bytes, &Limits::default());
    assert!(loaded.error.is_none(), "{:?}", loaded.error);
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
}

#[test]
fn passing_load_gives_the_same_value_and_says_how_far_it_read() {
    let bytes = sample();
    for encoding in [Encoding::Ascii, Encoding::Bytes] {
        let options = options(encoding);
        let calls = std::cell::RefCell::new(Vec::new());
        let passed = load_passing(&bytes, &options, &|n| calls.borrow_mut().push(n));
        let plain = pypickle_pickle::load_with(&bytes, &options);
        assert!(plain.error.is_none(), "{:?}", plain.error);
        assert_eq!(passed, plain);
        let calls = calls.into_inner();
        // 6 MiB of input, told every MiB or so (and within large payloads as they are copied).
        assert!(calls.len() >= 5, "{calls:?}");
        assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
        assert!(calls.iter().all(|&n| n <= bytes.len()), "{calls:?}");
    }
}

/// The strongest check: the bytes before each offset `passed` gives are overwritten in the file
/// (the map shows the change at once). A load that read any of them again, or kept a slice of
/// them to copy later, would give another value.
#[cfg(unix)]
#[test]
fn passed_bytes_are_never_read_again() {
    use pypickle_pickle::reader::MappedFile;
    use std::cell::Cell;
    use std::os::unix::fs::FileExt;

    let bytes = sample();
    for encoding in [Encoding::Ascii, Encoding::Bytes] {
        let options = options(encoding);
        let expected = pypickle_pickle::load_with(&bytes, &options);
        let path = std::env::temp_dir().join(format!(
            "pypickle-passing-{}-{encoding:?}.pkl",
            std::process::id()
        ));
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let map = MappedFile::map(&file).unwrap();
        let spoiled = Cell::new(0usize);
        let loaded = load_passing(&map, &options, &|n| {
            let from = spoiled.get();
            if n > from {
                file.write_all_at(&vec![0xee; n - from], from as u64)
                    .unwrap();
                spoiled.set(n);
            }
            map.release_before(n);
        });
        assert!(
            spoiled.get() > 5 << 20,
            "only {} bytes passed",
            spoiled.get()
        );
        assert_eq!(loaded, expected, "encoding {encoding:?}");
        drop(map);
        std::fs::remove_file(&path).unwrap();
    }
}
