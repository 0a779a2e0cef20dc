//! Tests of `pypickle_core::guard` over a small hand-written format.
//!
//! The format ("brackets") mimics what cbor4ii and bincode do: it recurses only through
//! the visitor, has an optional nesting limit of its own, and its error displays as `Debug`
//! (escaping quotes and backslashes), which is what makes messages grow exponentially
//! through `erased_serde` without the guard.
//!
//! Grammar (whitespace and commas between values are skipped):
//! `[v …]` sequence, `{k v …}` map, `S v` some, `N` none, `u` unit, `T`/`F` bools,
//! `123` unsigned, `-12` signed, `"text"` borrowed string, `'text'` borrowed bytes,
//! `<"Variant" content?>` enum.

use std::collections::BTreeMap;
use std::fmt;

use pypickle_core::guard::{decode_guarded, GuardError, GuardState, Guarded, DEFAULT_MAX_DEPTH};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
use serde::Deserialize;

// ---------------------------------------------------------------------------------------
// The format.

/// An error that displays as its `Debug`, like cbor4ii's `DecodeError`.
struct BadError(String);

impl fmt::Debug for BadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BadError({:?})", self.0)
    }
}

impl fmt::Display for BadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for BadError {}

impl de::Error for BadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        BadError(msg.to_string())
    }
}

struct Brackets<'de> {
    input: &'de [u8],
    pos: usize,
    depth: usize,
    limit: usize,
    human_readable: bool,
}

impl<'de> Brackets<'de> {
    fn new(input: &'de [u8]) -> Self {
        Brackets {
            input,
            pos: 0,
            depth: 0,
            limit: usize::MAX,
            human_readable: false,
        }
    }

    fn with_limit(input: &'de [u8], limit: usize) -> Self {
        Brackets {
            limit,
            ..Brackets::new(input)
        }
    }

    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.input.get(self.pos) {
            if c == b' ' || c == b',' || c == b'\n' {
                self.pos += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    fn unexpected(&self) -> BadError {
        let rest = String::from_utf8_lossy(&self.input[self.pos.min(self.input.len())..]);
        if rest.is_empty() {
            BadError("unexpected end of input".into())
        } else {
            BadError(format!("unexpected input at byte {}: {rest}", self.pos))
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), BadError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn enter(&mut self) -> Result<(), BadError> {
        if self.depth >= self.limit {
            return Err(BadError(format!("depth limit {} exceeded", self.limit)));
        }
        self.depth += 1;
        Ok(())
    }

    fn digits(&mut self) -> &'de str {
        let start = self.pos;
        while self.input.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.input[start..self.pos]).unwrap()
    }

    fn quoted(&mut self, quote: u8) -> Result<&'de [u8], BadError> {
        self.pos += 1;
        let start = self.pos;
        while let Some(&c) = self.input.get(self.pos) {
            self.pos += 1;
            if c == quote {
                return Ok(&self.input[start..self.pos - 1]);
            }
        }
        Err(BadError("unterminated string".into()))
    }

    /// Skips one value without recursing (what `deserialize_ignored_any` does).
    fn skip(&mut self) -> Result<(), BadError> {
        let mut level = 0usize;
        loop {
            let c = self.peek().ok_or_else(|| self.unexpected())?;
            match c {
                b'[' | b'{' | b'<' => {
                    self.pos += 1;
                    level += 1;
                    continue;
                }
                b']' | b'}' | b'>' => {
                    if level == 0 {
                        return Err(self.unexpected());
                    }
                    self.pos += 1;
                    level -= 1;
                }
                b'S' => {
                    self.pos += 1;
                    continue;
                }
                b'"' | b'\'' => {
                    self.quoted(c)?;
                }
                b'-' => {
                    self.pos += 1;
                    self.digits();
                }
                b'0'..=b'9' => {
                    self.digits();
                }
                b'N' | b'u' | b'T' | b'F' => self.pos += 1,
                _ => return Err(self.unexpected()),
            }
            if level == 0 {
                return Ok(());
            }
        }
    }
}

impl<'de> Deserializer<'de> for &mut Brackets<'de> {
    type Error = BadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BadError> {
        let c = self.peek().ok_or_else(|| self.unexpected())?;
        match c {
            b'[' => {
                self.enter()?;
                self.pos += 1;
                let value = visitor.visit_seq(Access { de: &mut *self })?;
                self.expect(b']')?;
                self.depth -= 1;
                Ok(value)
            }
            b'{' => {
                self.enter()?;
                self.pos += 1;
                let value = visitor.visit_map(Access { de: &mut *self })?;
                self.expect(b'}')?;
                self.depth -= 1;
                Ok(value)
            }
            b'<' => {
                self.enter()?;
                self.pos += 1;
                let value = visitor.visit_enum(Access { de: &mut *self })?;
                self.expect(b'>')?;
                self.depth -= 1;
                Ok(value)
            }
            b'S' => {
                self.enter()?;
                self.pos += 1;
                let value = visitor.visit_some(&mut *self)?;
                self.depth -= 1;
                Ok(value)
            }
            b'N' => {
                self.pos += 1;
                visitor.visit_none()
            }
            b'u' => {
                self.pos += 1;
                visitor.visit_unit()
            }
            b'T' | b'F' => {
                self.pos += 1;
                visitor.visit_bool(c == b'T')
            }
            b'0'..=b'9' => visitor.visit_u64(self.digits().parse().map_err(de::Error::custom)?),
            b'-' => {
                self.pos += 1;
                let n: i64 = self.digits().parse().map_err(de::Error::custom)?;
                visitor.visit_i64(-n)
            }
            b'"' => {
                let text = self.quoted(b'"')?;
                visitor.visit_borrowed_str(std::str::from_utf8(text).map_err(de::Error::custom)?)
            }
            b'\'' => visitor.visit_borrowed_bytes(self.quoted(b'\'')?),
            _ => Err(self.unexpected()),
        }
    }

    /// Like bincode: newtypes are transparent.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BadError> {
        visitor.visit_newtype_struct(self)
    }

    /// Only this hint reads integers wider than 64 bits.
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BadError> {
        self.peek();
        visitor.visit_u128(self.digits().parse().map_err(de::Error::custom)?)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BadError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        self.digits();
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap();
        visitor.visit_i128(text.trim_start().parse().map_err(de::Error::custom)?)
    }

    /// Skips without recursing, like cbor4ii does.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BadError> {
        self.skip()?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.human_readable
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf option unit
        unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

struct Access<'a, 'de> {
    de: &'a mut Brackets<'de>,
}

impl<'de> de::SeqAccess<'de> for Access<'_, 'de> {
    type Error = BadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, BadError> {
        match self.de.peek() {
            Some(b']') => Ok(None),
            _ => seed.deserialize(&mut *self.de).map(Some),
        }
    }
}

impl<'de> de::MapAccess<'de> for Access<'_, 'de> {
    type Error = BadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, BadError> {
        match self.de.peek() {
            Some(b'}') => Ok(None),
            _ => seed.deserialize(&mut *self.de).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BadError> {
        seed.deserialize(&mut *self.de)
    }
}

impl<'de> de::EnumAccess<'de> for Access<'_, 'de> {
    type Error = BadError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), BadError> {
        let value = seed.deserialize(&mut *self.de)?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for Access<'_, 'de> {
    type Error = BadError;

    fn unit_variant(self) -> Result<(), BadError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, BadError> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, BadError> {
        self.de.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BadError> {
        self.de.deserialize_any(visitor)
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// Decodes `input` through `decode_guarded`, the way format crates do.
fn guarded<T: de::DeserializeOwned>(input: &[u8], max_depth: usize) -> Result<T, String> {
    let mut de = Brackets::new(input);
    let mut slot = None;
    decode_guarded(&mut de, max_depth, &mut |d| {
        slot = Some(erased_serde::deserialize::<T>(d)?);
        Ok(())
    })?;
    Ok(slot.expect("the sink ran"))
}

/// Decodes `input` through `erased_serde` without the guard (what the formats did before).
fn unguarded<T: de::DeserializeOwned>(de: &mut Brackets<'_>) -> Result<T, String> {
    let mut erased = <dyn erased_serde::Deserializer>::erase(de);
    erased_serde::deserialize::<T>(&mut erased).map_err(|e| e.to_string())
}

/// Runs `f` on a thread with `stack` bytes of stack.
fn on_stack<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn nested(open: &str, middle: &str, close: &str, levels: usize) -> Vec<u8> {
    let mut out = open.repeat(levels);
    out.push_str(middle);
    out.push_str(&close.repeat(levels));
    out.into_bytes()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Tree(Vec<Tree>);

#[derive(Debug, Deserialize, PartialEq)]
struct Chain(Option<Box<Chain>>);

#[derive(Debug, Deserialize, PartialEq)]
enum Nest {
    Leaf,
    Node(Box<Nest>),
}

#[derive(Debug, Deserialize, PartialEq)]
struct Plain(Vec<Plain>);

// ---------------------------------------------------------------------------------------
// Depth.

#[test]
fn a_million_levels_fail_cleanly_on_a_2_mib_thread() {
    on_stack(2 << 20, || {
        let levels = 1_000_000;
        let expected = format!("nesting deeper than {DEFAULT_MAX_DEPTH} levels");

        let input = nested("[", "", "]", levels);
        assert_eq!(
            guarded::<Tree>(&input, DEFAULT_MAX_DEPTH).unwrap_err(),
            expected
        );
        assert_eq!(
            guarded::<Vec<Plain>>(&input, DEFAULT_MAX_DEPTH).unwrap_err(),
            expected
        );

        let input = nested("S", "N", "", levels);
        assert_eq!(
            guarded::<Chain>(&input, DEFAULT_MAX_DEPTH).unwrap_err(),
            expected
        );

        let input = nested("<\"Node\" ", "<\"Leaf\">", ">", levels);
        assert_eq!(
            guarded::<Nest>(&input, DEFAULT_MAX_DEPTH).unwrap_err(),
            expected
        );

        let input = nested("{\"k\" ", "1", "}", levels);
        let err = guarded::<serde_value_like::Any>(&input, DEFAULT_MAX_DEPTH).unwrap_err();
        assert_eq!(err, expected);
    });
}

#[test]
fn the_default_depth_itself_fits_on_a_2_mib_thread() {
    on_stack(2 << 20, || {
        // `k` `Some`s are `k + 1` `Chain`s: `2k + 1` levels (newtypes and `Some`s).
        let k = (DEFAULT_MAX_DEPTH - 1) / 2;
        let input = nested("S", "N", "", k);
        let mut expected = Chain(None);
        for _ in 0..k {
            expected = Chain(Some(Box::new(expected)));
        }
        assert_eq!(
            guarded::<Chain>(&input, DEFAULT_MAX_DEPTH).unwrap(),
            expected
        );
        let input = nested("S", "N", "", k + 1);
        guarded::<Chain>(&input, DEFAULT_MAX_DEPTH).unwrap_err();

        // `n` `Node`s are `n + 1` enums.

        let input = nested("<\"Node\" ", "<\"Leaf\">", ">", DEFAULT_MAX_DEPTH - 1);
        guarded::<Nest>(&input, DEFAULT_MAX_DEPTH).unwrap();
        let input = nested("[", "", "]", DEFAULT_MAX_DEPTH);
        guarded::<serde_value_like::Any>(&input, DEFAULT_MAX_DEPTH).unwrap();
    });
}

#[test]
fn the_limit_is_exact() {
    // Three sequences deep.
    let input = b"[[[1 2] [3]]]";
    let value = guarded::<Vec<Vec<Vec<u8>>>>(input, 3).unwrap();
    assert_eq!(value, vec![vec![vec![1, 2], vec![3]]]);
    assert_eq!(
        guarded::<Vec<Vec<Vec<u8>>>>(input, 2).unwrap_err(),
        "nesting deeper than 2 levels"
    );
    // Newtypes and `Some` count too.
    assert_eq!(
        guarded::<Chain>(b"SN", 3).unwrap(),
        Chain(Some(Box::new(Chain(None))))
    );
    assert_eq!(
        guarded::<Chain>(b"SN", 2).unwrap_err(),
        "nesting deeper than 2 levels"
    );
}

#[test]
fn the_depth_is_released_between_siblings() {
    let input = nested("[", "", "]", 3).repeat(1000);
    let mut all = b"[".to_vec();
    all.extend_from_slice(&input);
    all.push(b']');
    let value = guarded::<Vec<Vec<Vec<Vec<u8>>>>>(&all, 4).unwrap();
    assert_eq!(value.len(), 1000);
}

#[test]
fn ignored_values_are_skipped_by_the_format_without_counting() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Small {
        keep: u8,
    }
    let mut input = b"{\"skip\" ".to_vec();
    input.extend(nested("[", "", "]", 100_000));
    input.extend_from_slice(b" \"keep\" 7}");
    on_stack(2 << 20, move || {
        assert_eq!(
            guarded::<Small>(&input, DEFAULT_MAX_DEPTH).unwrap(),
            Small { keep: 7 }
        );
    });
}

// ---------------------------------------------------------------------------------------
// Messages.

#[test]
fn without_the_guard_messages_grow_exponentially() {
    // The format's own limit trips at sequence `limit + 1`; each level multiplies the message.
    let mut lengths = Vec::new();
    for limit in 1..=6 {
        let input = nested("[", "", "]", limit + 1);
        let mut de = Brackets::with_limit(&input, limit);
        lengths.push(unguarded::<Tree>(&mut de).unwrap_err().len());
    }
    eprintln!("unguarded message lengths: {lengths:?}");
    for pair in lengths.windows(2) {
        assert!(pair[1] > 4 * pair[0], "{lengths:?}");
    }

    let input = nested("[", "", "]", 7);
    let mut de = Brackets::with_limit(&input, 6);
    let state = GuardState::new(usize::MAX);
    let direct = Tree::deserialize(Guarded::new(&mut de, &state)).unwrap_err();
    assert_eq!(direct.message(), "BadError(\"depth limit 6 exceeded\")");
}

#[test]
fn a_format_error_at_depth_1000_stays_short() {
    on_stack(256 << 20, || {
        let input = nested("[", "", "]", 2000);
        let mut de = Brackets::with_limit(&input, 1000);
        let mut message = None;
        let result = decode_guarded(&mut de, 100_000, &mut |d| {
            message = Some(
                erased_serde::deserialize::<Tree>(d)
                    .unwrap_err()
                    .to_string(),
            );
            Ok(())
        });
        result.unwrap();
        let message = message.unwrap();
        assert!(message.len() < 200, "{message}");
        assert_eq!(message, "BadError(\"depth limit 1000 exceeded\")");
    });
}

#[test]
fn a_type_error_at_depth_keeps_its_message() {
    on_stack(256 << 20, || {
        let input = nested("[", "\"x\\\"y\"", "]", 1000);
        let err = guarded::<Tree>(&input, 100_000).unwrap_err();
        assert_eq!(err, r#"invalid type: string "x\\", expected a sequence"#);

        // Unknown variants, missing fields and custom messages the same way.
        let input = nested("<\"Node\" ", "<\"Twig\">", ">", 1000);
        let err = guarded::<Nest>(&input, 100_000).unwrap_err();
        assert_eq!(err, "unknown variant `Twig`, expected `Leaf` or `Node`");
    });

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Point {
        x: u8,
        y: u8,
    }
    let err = guarded::<Vec<Vec<Point>>>(b"[[{\"x\" 1}]]", 10).unwrap_err();
    assert_eq!(err, "missing field `y`");
    let err = guarded::<Vec<Vec<Point>>>(b"[[{\"x\" 1 \"y\" 300}]]", 10).unwrap_err();
    assert_eq!(err, "invalid value: integer `300`, expected u8");
}

#[test]
fn a_format_error_is_converted_once_and_capped() {
    // Nested a little, the format's own message (Debug-escaped once) comes out as is.
    let err = guarded::<Vec<Vec<u8>>>(b"[[1 ?]]", 10).unwrap_err();
    assert_eq!(err, "BadError(\"unexpected input at byte 4: ?]]\")");

    // A long one is cut at 1 KiB.
    let mut input = b"[[?".to_vec();
    input.extend("é".repeat(5_000).bytes());
    let err = guarded::<Vec<Vec<u8>>>(&input, 10).unwrap_err();
    assert!(err.len() <= 1024 + '…'.len_utf8(), "{}", err.len());
    assert!(err.ends_with('…'));
    assert!(err.starts_with("BadError(\"unexpected input at byte 2: ?é"));
}

#[test]
fn guard_errors_are_verbatim() {
    let e = <GuardError as de::Error>::custom("a \"quoted\" \\ message");
    assert_eq!(e.to_string(), "a \"quoted\" \\ message");
    assert_eq!(e.message(), "a \"quoted\" \\ message");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert_eq!(boxed.to_string(), "a \"quoted\" \\ message");
}

// ---------------------------------------------------------------------------------------
// Faithful forwarding.

mod serde_value_like {
    use super::*;

    /// A self-describing value, deserialized with `deserialize_any`.
    #[derive(Debug, PartialEq)]
    pub enum Any {
        Bool(bool),
        U(u64),
        I(i64),
        Str(String),
        Bytes(Vec<u8>),
        Unit,
        Opt(Option<Box<Any>>),
        Seq(Vec<Any>),
        Map(Vec<(Any, Any)>),
    }

    impl<'de> Deserialize<'de> for Any {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Any, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Any;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any value")
                }
                fn visit_bool<E>(self, v: bool) -> Result<Any, E> {
                    Ok(Any::Bool(v))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Any, E> {
                    Ok(Any::U(v))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Any, E> {
                    Ok(Any::I(v))
                }
                fn visit_str<E>(self, v: &str) -> Result<Any, E> {
                    Ok(Any::Str(v.into()))
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Any, E> {
                    Ok(Any::Bytes(v.into()))
                }
                fn visit_unit<E>(self) -> Result<Any, E> {
                    Ok(Any::Unit)
                }
                fn visit_none<E>(self) -> Result<Any, E> {
                    Ok(Any::Opt(None))
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Any, D::Error> {
                    Ok(Any::Opt(Some(Box::new(Any::deserialize(d)?))))
                }
                fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Any, A::Error> {
                    let mut out = Vec::new();
                    while let Some(v) = a.next_element()? {
                        out.push(v);
                    }
                    Ok(Any::Seq(out))
                }
                fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Any, A::Error> {
                    let mut out = Vec::new();
                    while let Some(kv) = a.next_entry()? {
                        out.push(kv);
                    }
                    Ok(Any::Map(out))
                }
            }
            d.deserialize_any(V)
        }
    }
}

#[derive(Debug, Deserialize, PartialEq)]
enum Shape<'a> {
    Empty,
    Circle(u32),
    Line(i64, i64),
    Named {
        #[serde(borrow)]
        name: &'a str,
        #[serde(borrow)]
        raw: &'a [u8],
    },
}

#[derive(Debug, Deserialize, PartialEq)]
struct Doc<'a> {
    #[serde(borrow)]
    title: &'a str,
    big: u128,
    small: i128,
    shapes: Vec<Shape<'a>>,
    index: BTreeMap<String, Vec<Option<i64>>>,
    next: Option<Box<Doc<'a>>>,
    flag: bool,
    unit: (),
}

const DOC: &[u8] = br#"{
    "title" "hello" "big" 340282366920938463463374607431768211455 "small" -170141183460469231731687303715884105728
    "shapes" [<"Empty"> <"Circle" 7> <"Line" [-1 2]> <"Named" {"name" "n" "raw" 'xyz'}>]
    "index" {"a" [S1 N S-3] "b" []}
    "next" S{"title" "inner" "big" 0 "small" 0 "shapes" [] "index" {} "next" N "flag" F "unit" u "ignored" [[{"q" 1}]]}
    "flag" T "unit" u
}"#;

#[test]
fn guarded_decoding_equals_direct_decoding() {
    let direct = Doc::deserialize(&mut Brackets::new(DOC)).unwrap();
    assert_eq!(direct.big, u128::MAX);
    assert_eq!(direct.small, i128::MIN);

    let state = GuardState::new(DEFAULT_MAX_DEPTH);
    let through = Doc::deserialize(Guarded::new(&mut Brackets::new(DOC), &state)).unwrap();
    assert_eq!(through, direct);
    assert_eq!(state.depth(), 0);

    // Through erased_serde as well; borrowed strings and bytes stay borrowed.
    let state = GuardState::new(DEFAULT_MAX_DEPTH);
    let mut de = Brackets::new(DOC);
    let mut erased = <dyn erased_serde::Deserializer>::erase(Guarded::new(&mut de, &state));
    let erased: Doc<'_> = erased_serde::deserialize(&mut erased).unwrap();
    assert_eq!(erased, direct);
    let title_at = DOC.windows(5).position(|w| w == b"hello").unwrap();
    assert_eq!(erased.title.as_ptr(), DOC[title_at..].as_ptr());

    // Self-describing decoding sees the same values.
    let any = br#"{"a" [1 -2 "s" 'b' u T N S[S{}]] "m" {1 2 "k" {}}}"#;
    let direct = serde_value_like::Any::deserialize(&mut Brackets::new(any)).unwrap();
    let state = GuardState::new(DEFAULT_MAX_DEPTH);
    let through =
        serde_value_like::Any::deserialize(Guarded::new(&mut Brackets::new(any), &state)).unwrap();
    assert_eq!(through, direct);
}

#[test]
fn is_human_readable_is_forwarded() {
    struct Hr(bool);
    impl<'de> Deserialize<'de> for Hr {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hr, D::Error> {
            let hr = d.is_human_readable();
            de::IgnoredAny::deserialize(d)?;
            Ok(Hr(hr))
        }
    }
    for flag in [false, true] {
        let state = GuardState::new(4);
        let mut de = Brackets::new(b"u");
        de.human_readable = flag;
        let mut erased = <dyn erased_serde::Deserializer>::erase(Guarded::new(&mut de, &state));
        assert_eq!(
            erased_serde::deserialize::<Hr>(&mut erased).unwrap().0,
            flag
        );
    }
}

#[test]
fn works_over_serde_value_deserializers() {
    let state = GuardState::new(4);
    let de: de::value::StrDeserializer<'_, de::value::Error> = "text".into_deserializer();
    assert_eq!(
        String::deserialize(Guarded::new(de, &state)).unwrap(),
        "text"
    );

    let map: BTreeMap<String, Vec<u8>> = [("a".to_string(), vec![1, 2])].into();
    let de = de::value::MapDeserializer::<_, de::value::Error>::new(
        map.clone()
            .into_iter()
            .map(|(k, v)| (k, de::value::SeqDeserializer::new(v.into_iter()))),
    );
    let back = BTreeMap::<String, Vec<u8>>::deserialize(Guarded::new(de, &state)).unwrap();
    assert_eq!(back, map);

    let de: de::value::U32Deserializer<de::value::Error> = 7u32.into_deserializer();
    let err = String::deserialize(Guarded::new(de, &state)).unwrap_err();
    assert_eq!(
        err.message(),
        "invalid type: integer `7`, expected a string"
    );
}
