//! The envelope `save` writes around a payload: it says which format the payload is in,
//! how long it is, and carries checksums so that truncation, trailing bytes and any
//! single-bit flip are refused. Specified byte for byte in `docs/file-format.md`.
//!
//! ```text
//! offset size field
//!  0      8   magic        b5 50 59 50 4b 4c 0d 0a  ("\xb5PYPKL\r\n")
//!  8      1   version      1
//!  9      1   name_len     length of the format name, 1..=16
//! 10      2   flags        u16 little-endian; version 1 defines none and refuses any set bit
//! 12      4   payload_crc  CRC-32 (zlib.crc32) of the payload, u32 little-endian
//! 16      8   payload_len  u64 little-endian
//! 24     16   name         the format name, ASCII, zero-padded
//! 40      4   header_crc   CRC-32 of bytes 0..40, u32 little-endian
//! 44      …   payload      exactly payload_len bytes, then end of file
//! ```

use crate::error::{Error, Result};

pub const MAGIC: [u8; 8] = *b"\xb5PYPKL\r\n";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 44;
pub const NAME_FIELD_LEN: usize = 16;
/// The flag bits this version understands (none yet: compression and signatures will take bits).
pub const KNOWN_FLAGS: u16 = 0;

/// What an envelope header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub format: String,
    pub flags: u16,
    pub payload_len: u64,
    pub payload_crc: u32,
}

/// Whether `bytes` start with the envelope's magic number (the rest may still be damaged).
pub fn is_enveloped(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Reserves room for a header at the start of `out`; the payload is then appended
/// and [`seal`] fills the header in, so the payload is never copied.
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    start
}

/// Fills in the header reserved by [`begin`] at `start`, for the payload that follows it.
pub fn seal(out: &mut [u8], start: usize, format: &str) -> Result<()> {
    let (header, payload) = out[start..].split_at_mut(HEADER_LEN);
    let crc = crc32fast::hash(payload);
    header.copy_from_slice(&header_for(format, crc, payload.len() as u64)?);
    Ok(())
}

/// The header of a payload of `len` bytes whose CRC-32 is `crc`, for a writer that streams
/// the payload and writes its header last.
pub fn header_for(format: &str, crc: u32, len: u64) -> Result<[u8; HEADER_LEN]> {
    let name = format.as_bytes();
    if name.is_empty() || name.len() > NAME_FIELD_LEN || !format.is_ascii() {
        return Err(Error::invalid(format!(
            "format name {format:?} must be 1 to {NAME_FIELD_LEN} ASCII bytes"
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    header[0..8].copy_from_slice(&MAGIC);
    header[8] = VERSION;
    header[9] = name.len() as u8;
    header[10..12].copy_from_slice(&0u16.to_le_bytes());
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header[16..24].copy_from_slice(&len.to_le_bytes());
    header[24..24 + name.len()].copy_from_slice(name);
    let header_crc = crc32fast::hash(&header[..40]);
    header[40..44].copy_from_slice(&header_crc.to_le_bytes());
    Ok(header)
}

/// Wraps a payload in an envelope (copies it; `begin`/`seal` avoid the copy).
pub fn wrap(format: &str, payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    let start = begin(&mut out);
    out.extend_from_slice(payload);
    seal(&mut out, start, format)?;
    Ok(out)
}

/// Reads and checks an envelope; returns its header and payload.
///
/// Refuses a wrong magic, an unknown version or flag, a damaged header, a payload of
/// another length than recorded (truncation, trailing bytes) and a payload checksum mismatch.
pub fn open(bytes: &[u8]) -> Result<(Header, &[u8])> {
    let header = read_header(bytes)?;
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != header.payload_len {
        return Err(Error::envelope(format!(
            "the header records a {}-byte payload but {} bytes follow it ({})",
            header.payload_len,
            payload.len(),
            if (payload.len() as u64) < header.payload_len {
                "truncated"
            } else {
                "trailing bytes"
            }
        )));
    }
    let crc = crc32fast::hash(payload);
    if crc != header.payload_crc {
        return Err(Error::envelope(format!(
            "payload checksum mismatch (recorded {:08x}, computed {crc:08x})",
            header.payload_crc
        )));
    }
    Ok((header, payload))
}

/// Reads and checks the header only (its own checksum included), not the payload.
pub fn read_header(bytes: &[u8]) -> Result<Header> {
    if !is_enveloped(bytes) {
        return Err(Error::envelope("missing magic number"));
    }
    if bytes.len() < HEADER_LEN {
        return Err(Error::envelope(format!(
            "the header is cut short ({} of {HEADER_LEN} bytes)",
            bytes.len()
        )));
    }
    let h = &bytes[..HEADER_LEN];
    let recorded = u32::from_le_bytes(h[40..44].try_into().unwrap());
    let computed = crc32fast::hash(&h[..40]);
    if recorded != computed {
        return Err(Error::envelope(format!(
            "header checksum mismatch (recorded {recorded:08x}, computed {computed:08x})"
        )));
    }
    let version = h[8];
    if version != VERSION {
        return Err(Error::envelope(format!(
            "envelope version {version} is not supported (this build reads version {VERSION})"
        )));
    }
    let flags = u16::from_le_bytes([h[10], h[11]]);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Error::envelope(format!(
            "unknown flags {flags:#06x}: written by a newer pypickle"
        )));
    }
    let name_len = h[9] as usize;
    let name_field = &h[24..40];
    if name_len == 0
        || name_len > NAME_FIELD_LEN
        || name_field[name_len..].iter().any(|&b| b != 0)
        || !name_field[..name_len].iter().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::envelope("malformed format name"));
    }
    Ok(Header {
        version,
        format: String::from_utf8_lossy(&name_field[..name_len]).into_owned(),
        flags,
        payload_len: u64::from_le_bytes(h[16..24].try_into().unwrap()),
        payload_crc: u32::from_le_bytes(h[12..16].try_into().unwrap()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_then_open_gives_the_payload_back() {
        let bytes = wrap("cbor", b"hello").unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        let (header, payload) = open(&bytes).unwrap();
        assert_eq!(header.format, "cbor");
        assert_eq!(header.payload_len, 5);
        assert_eq!(payload, b"hello");
    }

    #[test]
    fn every_single_bit_flip_is_refused() {
        let bytes = wrap("msgpack", b"some payload bytes").unwrap();
        for i in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[i / 8] ^= 1 << (i % 8);
            assert!(open(&damaged).is_err(), "flip of bit {i} was accepted");
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_refused() {
        let bytes = wrap("cbor", b"0123456789").unwrap();
        for len in 0..bytes.len() {
            assert!(open(&bytes[..len]).is_err(), "truncation to {len} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let err = open(&longer).unwrap_err().to_string();
        assert!(err.contains("trailing bytes"), "{err}");
    }

    #[test]
    fn bad_names_are_refused_on_write() {
        assert!(wrap("", b"").is_err());
        assert!(wrap("a-name-longer-than-16", b"").is_err());
    }
}
