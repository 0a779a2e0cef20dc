//! bincode 2 (serde mode, standard configuration) for pypickle.
//!
//! bincode has no magic number and is not self-describing: a bare file needs an explicit
//! format, and it can only be decoded into the type that wrote it. Decoding runs with a byte
//! limit derived from the payload's length, so a length field can never make it allocate more
//! than a small multiple of the input (bincode alone would allocate whatever a length says), and
//! behind pypickle's guard, which bounds nesting (bincode has no recursion limit of its own).
//!
//! [`encode`] and [`decode`] are the typed entry points; the registered [`Bincode`] format runs the
//! same code through erased-serde.

use pypickle_core::format::DecodeSink;
use pypickle_core::guard::{decode_guarded, GuardError, GuardState, Guarded, DEFAULT_MAX_DEPTH};
use pypickle_core::{Error, Format, Policy, Registration, Result};

const NAME: &str = "bincode";

/// The bincode format (registered as `bincode`).
pub struct Bincode;

inventory::submit! { Registration(&Bincode) }

/// Appends `value` as bincode (standard configuration) to `out`.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    bincode::serde::encode_into_writer(value, VecWriter(out), bincode::config::standard())
        .map_err(|e| Error::encode(NAME, e))
}

/// Appends to a vector without `io::Write`'s per-call overhead (bincode writes field by field).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Decodes one value of type `T` filling all of `bytes`.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let mut slot = None;
    run_with_limit(bytes, &mut TypedRun(&mut slot))?;
    slot.ok_or_else(|| Error::decode(NAME, "the decoder produced no value"))
}

impl Format for Bincode {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["bincode"]
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        encode(value, out)
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        run_with_limit(bytes, &mut ErasedRun(sink))
    }
}

/// What to do with the limited deserializer: generic, because bincode's limit is a const
/// generic and the typed and erased paths must both be instantiated for each limit.
trait Run {
    fn run<'de, D: serde::Deserializer<'de>>(&mut self, de: D) -> std::result::Result<(), String>;
}

struct TypedRun<'a, T>(&'a mut Option<T>);

impl<T: serde::de::DeserializeOwned> Run for TypedRun<'_, T> {
    fn run<'de, D: serde::Deserializer<'de>>(&mut self, de: D) -> std::result::Result<(), String> {
        let state = GuardState::new(DEFAULT_MAX_DEPTH);
        let value =
            T::deserialize(Guarded::new(de, &state)).map_err(|e: GuardError| e.to_string())?;
        *self.0 = Some(value);
        Ok(())
    }
}

struct ErasedRun<'a, 's>(&'a mut DecodeSink<'s>);

impl Run for ErasedRun<'_, '_> {
    fn run<'de, D: serde::Deserializer<'de>>(&mut self, de: D) -> std::result::Result<(), String> {
        decode_guarded(de, DEFAULT_MAX_DEPTH, self.0)
    }
}

fn run_with_limit(bytes: &[u8], run: &mut impl Run) -> Result<()> {
    let used = decode_with_limit(bytes, limit_exponent(bytes.len()), run)
        .map_err(|e| Error::decode(NAME, e))?;
    if used != bytes.len() {
        return Err(Error::decode(
            NAME,
            format!(
                "trailing bytes after the value ({used} of {} bytes used)",
                bytes.len()
            ),
        ));
    }
    Ok(())
}

/// The even power of two, at least 4x the input and at least 64 KiB (so at most 16x the input
/// beyond that), that bounds what bincode may claim while decoding `len` bytes. Decoding claims
/// each byte it reads and, for strings and byte buffers, their length before reading them, so
/// legitimate input stays under 2x. Even exponents only: each one instantiates the decoder.
fn limit_exponent(len: usize) -> u32 {
    let wanted = len.saturating_mul(4).max(1 << 16);
    let Some(power) = wanted.checked_next_power_of_two() else {
        return MAX_LIMIT_EXPONENT;
    };
    let exponent = power.trailing_zeros();
    (exponent + exponent % 2).min(MAX_LIMIT_EXPONENT)
}

const MAX_LIMIT_EXPONENT: u32 = 46;

/// bincode's limit is a const generic, so the limit for this input is chosen among powers of two.
/// Returns how many bytes the value used.
fn decode_with_limit(
    bytes: &[u8],
    exponent: u32,
    run: &mut impl Run,
) -> std::result::Result<usize, String> {
    macro_rules! dispatch {
        ($($e:literal)*) => {
            match exponent {
                $($e => run_limited(bytes, bincode::config::standard().with_limit::<{ 1usize << $e }>(), run),)*
                _ => run_limited(bytes, bincode::config::standard().with_limit::<{ 1usize << MAX_LIMIT_EXPONENT }>(), run),
            }
        };
    }
    dispatch!(16 18 20 22 24 26 28 30 32 34 36 38 40 42 44)
}

/// Decodes from the slice itself (strings and bytes are read in place, not through a buffer);
/// bincode reports how many bytes the value used.
fn run_limited<C: bincode::config::Config>(
    bytes: &[u8],
    config: C,
    run: &mut impl Run,
) -> std::result::Result<usize, String> {
    bincode::serde::seed_decode_from_slice(RunSeed(run), bytes, config)
        .map(|((), used)| used)
        .map_err(|e| e.to_string())
}

/// Hands bincode's deserializer to a [`Run`].
struct RunSeed<'r, R>(&'r mut R);

impl<'de, R: Run> serde::de::DeserializeSeed<'de> for RunSeed<'_, R> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        self.0.run(de).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_grows_with_the_input_and_stays_bounded() {
        assert_eq!(limit_exponent(0), 16);
        assert_eq!(limit_exponent(1 << 20), 22);
        assert_eq!(limit_exponent(1 << 21), 24);
        assert_eq!(limit_exponent(usize::MAX), MAX_LIMIT_EXPONENT);
        // Every exponent it picks has its own arm in `decode_with_limit`, none falls through.
        for shift in 0..63 {
            let e = limit_exponent(1usize << shift);
            assert!(
                e.is_multiple_of(2) && (16..=MAX_LIMIT_EXPONENT).contains(&e),
                "{shift}: {e}"
            );
        }
    }
}
