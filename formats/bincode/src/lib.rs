//! bincode 2 (serde mode, standard configuration) for pypickle.
//!
//! bincode has no magic number and is not self-describing: a bare file needs an explicit
//! format, and it can only be decoded into the type that wrote it. Decoding runs with a byte
//! limit derived from the payload's length, so a length field can never make it allocate more
//! than a small multiple of the input (bincode alone would allocate whatever a length says).

use bincode::de::read::Reader;
use bincode::error::DecodeError;
use bincode::serde::OwnedSerdeDecoder;
use pypickle_core::format::DecodeSink;
use pypickle_core::{Error, Format, Policy, Registration, Result};

/// The bincode format (registered as `bincode`).
pub struct Bincode;

inventory::submit! { Registration(&Bincode) }

impl Format for Bincode {
    fn name(&self) -> &'static str {
        "bincode"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["bincode"]
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
            .map(|_| ())
            .map_err(|e| Error::encode("bincode", e))
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        let mut reader = SliceCursor { rest: bytes };
        decode_with_limit(&mut reader, limit_exponent(bytes.len()), sink)
            .map_err(|e| Error::decode("bincode", e))?;
        if !reader.rest.is_empty() {
            return Err(Error::decode(
                "bincode",
                format!(
                    "trailing bytes after the value ({} of {} bytes used)",
                    bytes.len() - reader.rest.len(),
                    bytes.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The power of two, at least 4x the input and at least 64 KiB, that bounds what bincode may
/// claim while decoding `len` bytes. Decoding claims each byte it reads and, for strings and
/// byte buffers, their length before reading them, so legitimate input stays under 2x.
fn limit_exponent(len: usize) -> u32 {
    let wanted = len.saturating_mul(4).max(1 << 16);
    wanted
        .next_power_of_two()
        .trailing_zeros()
        .min(MAX_LIMIT_EXPONENT)
}

const MAX_LIMIT_EXPONENT: u32 = 46;

/// bincode's limit is a const generic, so the limit for this input is chosen among powers of two.
fn decode_with_limit(
    reader: &mut SliceCursor<'_>,
    exponent: u32,
    sink: &mut DecodeSink<'_>,
) -> std::result::Result<(), erased_serde::Error> {
    macro_rules! dispatch {
        ($($e:literal)*) => {
            match exponent {
                $($e => run(reader, bincode::config::standard().with_limit::<{ 1usize << $e }>(), sink),)*
                _ => run(reader, bincode::config::standard().with_limit::<{ 1usize << MAX_LIMIT_EXPONENT }>(), sink),
            }
        };
    }
    dispatch!(16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45)
}

fn run<C: bincode::config::Config>(
    reader: &mut SliceCursor<'_>,
    config: C,
    sink: &mut DecodeSink<'_>,
) -> std::result::Result<(), erased_serde::Error> {
    let mut decoder = OwnedSerdeDecoder::from_reader(reader, config);
    let mut erased = <dyn erased_serde::Deserializer>::erase(decoder.as_deserializer());
    sink(&mut erased)
}

/// A reader over a slice that lets us see what is left once decoding stops.
struct SliceCursor<'a> {
    rest: &'a [u8],
}

impl Reader for SliceCursor<'_> {
    #[inline]
    fn read(&mut self, bytes: &mut [u8]) -> std::result::Result<(), DecodeError> {
        if bytes.len() > self.rest.len() {
            return Err(DecodeError::UnexpectedEnd {
                additional: bytes.len() - self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(bytes.len());
        bytes.copy_from_slice(head);
        self.rest = tail;
        Ok(())
    }

    #[inline]
    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.rest.get(..n)
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_grows_with_the_input_and_stays_bounded() {
        assert_eq!(limit_exponent(0), 16);
        assert_eq!(limit_exponent(1 << 20), 22);
        assert_eq!(limit_exponent(usize::MAX), MAX_LIMIT_EXPONENT);
    }
}
