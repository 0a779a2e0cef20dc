//! Property tests: random values round-trip through every data format, and random bytes never
//! make a decoder panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use pypickle::{from_slice, to_vec, LoadOptions, SaveOptions};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Data {
    Null,
    Flag(bool),
    Signed(i64),
    Unsigned(u64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    List(Vec<Data>),
    Map(BTreeMap<String, Data>),
    Pair {
        left: Box<Data>,
        right: Option<Box<Data>>,
    },
}

fn data() -> impl Strategy<Value = Data> {
    let leaf = prop_oneof![
        Just(Data::Null),
        any::<bool>().prop_map(Data::Flag),
        any::<i64>().prop_map(Data::Signed),
        any::<u64>().prop_map(Data::Unsigned),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Data::Real),
        any::<String>().prop_map(Data::Text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Data::Blob),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Data::List),
            proptest::collection::btree_map(any::<String>(), inner.clone(), 0..8)
                .prop_map(Data::Map),
            (inner.clone(), proptest::option::of(inner)).prop_map(|(l, r)| Data::Pair {
                left: Box::new(l),
                right: r.map(Box::new)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_values_round_trip(value in data(), format in prop::sample::select(vec!["bincode", "cbor", "msgpack"]), envelope in any::<bool>()) {
        let bytes = to_vec(&value, &SaveOptions::new().format(format).envelope(envelope)).unwrap();
        let options = if envelope { LoadOptions::new() } else { LoadOptions::new().format(format) };
        let back: Data = from_slice(&bytes, &options).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), format in prop::sample::select(vec!["bincode", "cbor", "msgpack"])) {
        let _ = from_slice::<Data>(&bytes, &LoadOptions::new().format(format));
        let _ = from_slice::<Data>(&bytes, &LoadOptions::new());
    }

    #[test]
    fn mutated_valid_files_never_panic(value in data(), format in prop::sample::select(vec!["bincode", "cbor", "msgpack"]), position in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = to_vec(&value, &SaveOptions::new().format(format).envelope(false)).unwrap();
        let i = position % bytes.len();
        bytes[i] = byte;
        let _ = from_slice::<Data>(&bytes, &LoadOptions::new().format(format));
    }
}

/// Plain data as CBOR and MessagePack hold it (no enum tags; no null, which serde's untagged
/// enums read back as an empty list): maps' keys are from two
/// letters, lists hold up to 12 items, so that maps next to each other (at the same depth, or
/// one inside another) often have the same keys. Read as Python values they share key tables,
/// and written back the keys of a table are copied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Plain {
    Flag(bool),
    Int(i64),
    Text(String),
    List(Vec<Plain>),
    Map(BTreeMap<String, Plain>),
}

fn records() -> impl Strategy<Value = Plain> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Plain::Flag),
        any::<i64>().prop_map(Plain::Int),
        "[a-c]{0,3}".prop_map(Plain::Text),
    ];
    leaf.prop_recursive(4, 128, 6, |inner| {
        let keys = prop::sample::select(vec![vec!["a"], vec!["a", "b"], vec!["b", "c", "d"]]);
        let rows = proptest::collection::vec(proptest::collection::vec(inner.clone(), 3), 1..5);
        prop_oneof![
            // A list of rows with the same keys: records.
            (keys, rows).prop_map(|(keys, rows)| {
                Plain::List(
                    rows.into_iter()
                        .map(|values| {
                            Plain::Map(keys.iter().map(|k| k.to_string()).zip(values).collect())
                        })
                        .collect(),
                )
            }),
            proptest::collection::btree_map("[ab]", inner, 0..3).prop_map(Plain::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// CBOR and MessagePack read as a Python value (maps with the keys of the last map at
    /// their depth sharing its key table) and written from it (a shared table's keys written
    /// once and copied) give back the same data.
    #[test]
    fn records_round_trip_through_values(value in records(), format in prop::sample::select(vec!["cbor", "msgpack"])) {
        let codec = pypickle_core::format::by_name(format).unwrap();
        let bytes = to_vec(&value, &SaveOptions::new().format(format).envelope(false)).unwrap();
        let read = codec.decode_value(&bytes, &pypickle::Policy::default()).unwrap();
        let mut written = Vec::new();
        codec.encode_value(&read, &mut written).unwrap();
        let back: Plain = from_slice(&written, &LoadOptions::new().format(format)).unwrap();
        prop_assert_eq!(back, value);
    }
}
