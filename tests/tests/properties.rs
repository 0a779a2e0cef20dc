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
