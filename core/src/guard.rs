//! A guard around a format's serde deserializer: bounded nesting and linear error messages.
//!
//! [`Guarded`] proxies every `serde` deserializer trait (`Deserializer`, `Visitor`,
//! `DeserializeSeed`, `SeqAccess`, `MapAccess`, `EnumAccess`, `VariantAccess`). The inner
//! format's access objects call our wrapped seeds, which wrap the inner format's nested
//! deserializer again, so every level of a document passes through the proxy. It fixes two
//! problems of decoding through `erased_serde`:
//!
//! - **Depth.** Formats without a recursion limit (bincode) let a recursive type fed
//!   deeply nested input overflow the stack. The guard counts nesting (sequences, maps,
//!   enums, `Some` and newtypes) and fails with `nesting deeper than {max} levels` *before*
//!   descending further, so no input can overflow the stack.
//! - **Exponential messages.** `erased_serde` converts an error between the format's type
//!   and its own at every level, and some formats (cbor4ii, ciborium, bincode) display
//!   their errors as `Debug`, escaping quotes and backslashes each time: a message at
//!   depth N is N times re-escaped and grows geometrically (8x per level measured). The guard only ever hands the format a short constant
//!   placeholder; the real [`GuardError`] waits in a slot the proxies share and is taken
//!   back when the format's error comes out. A format's own error is converted to text
//!   once (at most [`MAX_INNER_MESSAGE`] bytes) where it first leaves the format.
//!
//! Format crates call [`decode_guarded`] instead of erasing their deserializer themselves.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use crate::format::DecodeSink;

/// The nesting depth [`decode_guarded`] callers should use unless they have a reason not to.
///
/// A level is a sequence, map, enum, `Some` or newtype (so `struct Tree(Vec<Tree>)` spends two
/// per node). Each level costs several stack frames between the format, the guard,
/// `erased_serde` and the target type's visitor, and they are large in debug builds.
/// Measured in a debug build on a 2 MiB thread (the default for spawned and test threads),
/// decoding through this guard and `erased_serde`, the stack overflowed at:
///
/// | type, per level                                  | rmp-serde | bincode   |
/// |--------------------------------------------------|-----------|-----------|
/// | 20-field struct holding a `Vec` of itself        | 224–240   | 320–384   |
/// | `enum E { A(Vec<E>), B }`                        | 480–496   | 512–768   |
/// | `struct Tree(Vec<Tree>)`                         | 512–768   | 768–1024  |
///
/// (cbor4ii stops itself at 256 levels first.) 128 keeps a margin of at least 1.75x over
/// the worst of these; only types with much larger frames per level (structs of many dozens
/// of fields, each level recursing) get less. Release builds use a fraction of that stack.
/// The guard itself adds about a quarter to what `erased_serde` alone uses per level.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// How much of a format's own error message is kept (in bytes); longer messages end in `…`.
pub const MAX_INNER_MESSAGE: usize = 1024;

/// What the format sees in place of an error from the guard's side.
const PLACEHOLDER: &str = "pypickle-guard: see stashed error";

/// Runs `sink` over `de` behind the guard; errors come out as one clean message.
///
/// Nesting deeper than `max_depth` levels fails with `nesting deeper than {max_depth} levels`.
pub fn decode_guarded<'de, D: Deserializer<'de>>(
    de: D,
    max_depth: usize,
    sink: &mut DecodeSink<'_>,
) -> Result<(), String> {
    let state = GuardState::new(max_depth);
    let mut erased = <dyn erased_serde::Deserializer>::erase(Guarded::new(de, &state));
    // The error reaching the sink has already been made clean by the outermost `Guarded`.
    sink(&mut erased).map_err(|e| e.to_string())
}

/// The guard's error: one message, kept and displayed verbatim.
#[derive(Clone, PartialEq, Eq)]
pub struct GuardError(Box<str>);

impl GuardError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        GuardError(message.into().into_boxed_str())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// A format's own error, as text, at most [`MAX_INNER_MESSAGE`] bytes.
    #[cold]
    fn from_inner(error: &dyn fmt::Display) -> Self {
        let mut text = error.to_string();
        if text.len() > MAX_INNER_MESSAGE {
            let mut end = MAX_INNER_MESSAGE;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        GuardError(text.into_boxed_str())
    }

    #[cold]
    fn too_deep(max_depth: usize) -> Self {
        GuardError::new(format!("nesting deeper than {max_depth} levels"))
    }
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GuardError").field(&self.0).finish()
    }
}

impl std::error::Error for GuardError {}

impl de::Error for GuardError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        GuardError(msg.to_string().into_boxed_str())
    }
}

/// What the proxies of one decode share: the depth and the stashed error.
pub struct GuardState {
    depth: Cell<usize>,
    max_depth: usize,
    stash: Cell<Option<GuardError>>,
}

impl GuardState {
    /// A fresh state allowing `max_depth` levels of nesting.
    pub fn new(max_depth: usize) -> Self {
        GuardState {
            depth: Cell::new(0),
            max_depth,
            stash: Cell::new(None),
        }
    }

    /// The current nesting depth.
    pub fn depth(&self) -> usize {
        self.depth.get()
    }

    /// Runs `f` one level deeper, refusing to go past the limit.
    #[inline]
    fn nested<T>(&self, f: impl FnOnce() -> Result<T, GuardError>) -> Result<T, GuardError> {
        let depth = self.depth.get();
        if depth >= self.max_depth {
            return Err(GuardError::too_deep(self.max_depth));
        }
        self.depth.set(depth + 1);
        let result = f();
        self.depth.set(depth);
        result
    }

    /// Hands the format a placeholder for `error`, keeping the real one here.
    #[cold]
    fn smuggle<E: de::Error>(&self, error: GuardError) -> E {
        self.stash.set(Some(error));
        E::custom(PLACEHOLDER)
    }

    /// Turns a format's error back into ours: the stashed one if the format is passing ours
    /// on, else the format's own message, converted once.
    #[cold]
    fn recover<E: fmt::Display>(&self, error: E) -> GuardError {
        match self.stash.take() {
            Some(ours) => ours,
            None => GuardError::from_inner(&error),
        }
    }
}

/// The guarding proxy around a format's deserializer `D`.
pub struct Guarded<'s, D> {
    de: D,
    state: &'s GuardState,
}

impl<'s, D> Guarded<'s, D> {
    /// Guards `de` with `state` (use one state per document).
    #[inline]
    pub fn new(de: D, state: &'s GuardState) -> Self {
        Guarded { de, state }
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self $(, $arg: $ty)*, visitor: V) -> Result<V::Value, GuardError> {
            let state = self.state;
            self.de
                .$method($($arg,)* GuardedVisitor { inner: visitor, state })
                .map_err(|e| state.recover(e))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guarded<'_, D> {
    type Error = GuardError;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Wraps the target's visitor: counts nesting, wraps access objects, smuggles errors.
struct GuardedVisitor<'s, V> {
    inner: V,
    state: &'s GuardState,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            let state = self.state;
            self.inner.$method::<GuardError>(v).map_err(|e| state.smuggle(e))
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for GuardedVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        let state = self.state;
        self.inner
            .visit_none::<GuardError>()
            .map_err(|e| state.smuggle(e))
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        let state = self.state;
        self.inner
            .visit_unit::<GuardError>()
            .map_err(|e| state.smuggle(e))
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        let state = self.state;
        let inner = self.inner;
        state
            .nested(|| inner.visit_some(Guarded { de, state }))
            .map_err(|e| state.smuggle(e))
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        let state = self.state;
        let inner = self.inner;
        state
            .nested(|| inner.visit_newtype_struct(Guarded { de, state }))
            .map_err(|e| state.smuggle(e))
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let state = self.state;
        let inner = self.inner;
        state
            .nested(|| inner.visit_seq(GuardedSeq { inner: seq, state }))
            .map_err(|e| state.smuggle(e))
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let state = self.state;
        let inner = self.inner;
        state
            .nested(|| inner.visit_map(GuardedMap { inner: map, state }))
            .map_err(|e| state.smuggle(e))
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let state = self.state;
        let inner = self.inner;
        state
            .nested(|| inner.visit_enum(GuardedEnum { inner: data, state }))
            .map_err(|e| state.smuggle(e))
    }
}

/// Wraps a seed the target hands the format: the format's nested deserializer gets guarded.
struct GuardedSeed<'s, S> {
    inner: S,
    state: &'s GuardState,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for GuardedSeed<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        let state = self.state;
        self.inner
            .deserialize(Guarded { de, state })
            .map_err(|e| state.smuggle(e))
    }
}

struct GuardedSeq<'s, A> {
    inner: A,
    state: &'s GuardState,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for GuardedSeq<'_, A> {
    type Error = GuardError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GuardError> {
        let state = self.state;
        self.inner
            .next_element_seed(GuardedSeed { inner: seed, state })
            .map_err(|e| state.recover(e))
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct GuardedMap<'s, A> {
    inner: A,
    state: &'s GuardState,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for GuardedMap<'_, A> {
    type Error = GuardError;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GuardError> {
        let state = self.state;
        self.inner
            .next_key_seed(GuardedSeed { inner: seed, state })
            .map_err(|e| state.recover(e))
    }

    #[inline]
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, GuardError> {
        let state = self.state;
        self.inner
            .next_value_seed(GuardedSeed { inner: seed, state })
            .map_err(|e| state.recover(e))
    }

    #[inline]
    fn next_entry_seed<K: DeserializeSeed<'de>, T: DeserializeSeed<'de>>(
        &mut self,
        kseed: K,
        vseed: T,
    ) -> Result<Option<(K::Value, T::Value)>, GuardError> {
        let state = self.state;
        self.inner
            .next_entry_seed(
                GuardedSeed {
                    inner: kseed,
                    state,
                },
                GuardedSeed {
                    inner: vseed,
                    state,
                },
            )
            .map_err(|e| state.recover(e))
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct GuardedEnum<'s, A> {
    inner: A,
    state: &'s GuardState,
}

impl<'de, 's, A: EnumAccess<'de>> EnumAccess<'de> for GuardedEnum<'s, A> {
    type Error = GuardError;
    type Variant = GuardedVariant<'s, A::Variant>;

    #[inline]
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), GuardError> {
        let state = self.state;
        match self.inner.variant_seed(GuardedSeed { inner: seed, state }) {
            Ok((value, variant)) => Ok((
                value,
                GuardedVariant {
                    inner: variant,
                    state,
                },
            )),
            Err(e) => Err(state.recover(e)),
        }
    }
}

struct GuardedVariant<'s, A> {
    inner: A,
    state: &'s GuardState,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for GuardedVariant<'_, A> {
    type Error = GuardError;

    #[inline]
    fn unit_variant(self) -> Result<(), GuardError> {
        let state = self.state;
        self.inner.unit_variant().map_err(|e| state.recover(e))
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, GuardError> {
        let state = self.state;
        self.inner
            .newtype_variant_seed(GuardedSeed { inner: seed, state })
            .map_err(|e| state.recover(e))
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GuardError> {
        let state = self.state;
        self.inner
            .tuple_variant(
                len,
                GuardedVisitor {
                    inner: visitor,
                    state,
                },
            )
            .map_err(|e| state.recover(e))
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GuardError> {
        let state = self.state;
        self.inner
            .struct_variant(
                fields,
                GuardedVisitor {
                    inner: visitor,
                    state,
                },
            )
            .map_err(|e| state.recover(e))
    }
}
