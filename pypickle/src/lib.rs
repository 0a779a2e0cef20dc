//! pypickle: open Python pickles without running them, gate them by policy, and save Rust
//! state in CBOR, MessagePack, bincode or pickle with one API.
//!
//! ```no_run
//! use pypickle::{load, save, LoadOptions, SaveOptions};
//!
//! # fn main() -> Result<(), pypickle::Error> {
//! let scores = vec![("ada".to_string(), 36u32), ("alan".to_string(), 41)];
//! save("scores.cbor", &scores, &SaveOptions::new())?;            // format from the extension
//! let back: Vec<(String, u32)> = load("scores.cbor", &LoadOptions::new())?; // format from the header
//! assert_eq!(back, scores);
//! # Ok(()) }
//! ```
//!
//! Every format is a crate that registers itself; this crate names each of them so their
//! registrations are linked in.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use pypickle_core::envelope;
pub use pypickle_core::{Error, ErrorKind, Format, Mode, Policy, Value, Verdict};

// Naming the format crates links their `inventory` registrations into every program using us.
pub use pypickle_bincode as bincode_format;
pub use pypickle_cbor as cbor_format;
pub use pypickle_json as json_format;
pub use pypickle_msgpack as msgpack_format;
pub use pypickle_pickle as pickle_format;

pub mod convert;
mod input;
mod options;
pub mod scan;

pub use convert::{convert, ConvertOptions, Report};
use input::{read_file, Input};
pub use options::{LoadOptions, SaveOptions};

/// The format used when neither the options nor the file name say which.
pub const DEFAULT_FORMAT: &str = "cbor";

/// The names of every registered format, sorted.
pub fn formats() -> Vec<&'static str> {
    pypickle_core::format::names()
}

/// Serializes `value` into bytes: an envelope around the payload, or the bare payload with
/// `.envelope(false)` (pickle is bare unless `.envelope(true)`). The format is
/// `options.format(..)`'s, else CBOR.
pub fn to_vec<T: serde::Serialize + ?Sized>(
    value: &T,
    options: &SaveOptions,
) -> Result<Vec<u8>, Error> {
    let format = pypickle_core::format::by_name(options.format_name().unwrap_or(DEFAULT_FORMAT))?;
    encode(format, &value, envelope_for(format, options))
}

/// Deserializes a value from bytes written by [`to_vec`] or [`save`] (or a bare payload: see [`load`]).
pub fn from_slice<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    options: &LoadOptions,
) -> Result<T, Error> {
    let (format, payload) = identify(bytes, options)?;
    decode_payload(format, payload, options)
}

/// Saves `value` to `path`.
///
/// The format is `options.format(..)`'s, else the one the extension names (`.cbor`, `.msgpack`,
/// `.mpk`, `.bincode`, `.pkl`, …), else CBOR. The file is written to a temporary file in the same
/// folder, flushed to disk and renamed into place, so a crash or a full disk never leaves a
/// half-written file. Without `.overwrite(true)` an existing file is refused and left untouched;
/// the check and the rename are one atomic step (no window in between).
pub fn save<T: serde::Serialize + ?Sized>(
    path: impl AsRef<Path>,
    value: &T,
    options: &SaveOptions,
) -> Result<(), Error> {
    let path = path.as_ref();
    save_inner(path, &value, options).map_err(|e| e.at(path))
}

fn save_inner(
    path: &Path,
    value: &dyn erased_serde::Serialize,
    options: &SaveOptions,
) -> Result<(), Error> {
    let format = format_for_save(path, options)?;
    let folder = check_destination(path, options.overwrite_enabled())?;
    let bytes = encode(format, value, envelope_for(format, options))?;
    write_atomically(path, &folder, &bytes, options.overwrite_enabled())
}

/// Loads a value from `path`.
///
/// The format comes from the file's envelope, never from its name. A bare file is recognised
/// by its magic number where its format has one (CBOR's self-describe tag, pickle's PROTO);
/// bare MessagePack and bincode need `options.format(..)`.
pub fn load<T: serde::de::DeserializeOwned>(
    path: impl AsRef<Path>,
    options: &LoadOptions,
) -> Result<T, Error> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    from_slice(&bytes, options).map_err(|e| e.at(path))
}

/// Loads a file as a Python object graph, judging the globals it references with the options'
/// policy first (default policy: dangerous globals refused). A pickle is never run: calls and
/// objects stay symbolic ([`pypickle_core::value::Instance`]) unless they are safe data
/// constructors, which are folded into plain values.
///
/// A file of 1 MiB or more is mapped, and the pages the decoder has read are let go as it goes:
/// a pickle's value is built holding a window of the file, not all of it.
pub fn load_value(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Value, Error> {
    let path = path.as_ref();
    let input = Input::open(path)?;
    let bytes = input.bytes();
    let loaded = identify(bytes, options).and_then(|(format, payload)| {
        let start = payload.as_ptr() as usize - bytes.as_ptr() as usize;
        let passed = |n: usize| input.release_before(start + n);
        format.decode_value_passing(payload, options.policy(), &passed)
    });
    loaded.map_err(|e| e.at(path))
}

/// The sorted, distinct `module.qualname` of every global a pickle file would import, as CPython
/// resolves them (after `fix_imports`), over every pickle in the file. Nothing is run. A file that
/// breaks part way gives the globals seen before the break; a file that is no pickle at all is an
/// error. Feeding the list to `LoadOptions::new().strict().allow(..)` loads the file.
///
/// A file of 1 MiB or more is mapped, not read: the payloads the analysis skips (a model's
/// arrays) are never read from disk, so a large bare pickle is validated in milliseconds (an
/// enveloped one is read whole once, for its checksum).
pub fn validate_modules(path: impl AsRef<Path>) -> Result<Vec<String>, Error> {
    let path = path.as_ref();
    let input = Input::open(path)?;
    validate_modules_of(input.bytes()).map_err(|e| e.at(path))
}

/// [`validate_modules`] over bytes (an enveloped pickle or a bare one).
pub fn validate_modules_of(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let payload = if envelope::is_enveloped(bytes) {
        envelope::open(bytes)?.1
    } else {
        bytes
    };
    let names = pypickle_pickle::validate_modules(payload);
    if names.is_empty() {
        // Nothing imported: tell a pickle of plain data from something that is no pickle at all
        // (analysed a second time only in this rare case).
        let analysis = pypickle_pickle::analyze(payload);
        if let (0, Some(error)) = (analysis.roots, analysis.error) {
            return Err(Error::decode(
                "pickle",
                format!(
                    "not a pickle: at offset {}: {}",
                    error.offset, error.message
                ),
            ));
        }
    }
    Ok(names)
}

fn envelope_for(format: &dyn Format, options: &SaveOptions) -> bool {
    options
        .envelope_choice()
        .unwrap_or_else(|| format.enveloped_by_default())
}

fn encode<T: serde::Serialize + ?Sized>(
    format: &'static dyn Format,
    value: &T,
    envelope: bool,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    if !envelope {
        encode_payload(format, value, &mut out)?;
        return Ok(out);
    }
    let start = envelope::begin(&mut out);
    encode_payload(format, value, &mut out)?;
    envelope::seal(&mut out, start, format.name())?;
    Ok(out)
}

// The formats this crate links get a monomorphic path: erased-serde's dynamic dispatch and
// per-value boxing cost 3-5x on fine-grained data (benches/facade.rs). Every other registered
// format works through the registry's `dyn Format`, unchanged; these arms are only a shortcut.

fn encode_payload<T: serde::Serialize + ?Sized>(
    format: &'static dyn Format,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match format.name() {
        "cbor" => pypickle_cbor::encode(value, out),
        "msgpack" => pypickle_msgpack::encode(value, out),
        "bincode" => pypickle_bincode::encode(value, out),
        _ => format.encode(&value, out),
    }
}

fn decode_payload<T: serde::de::DeserializeOwned>(
    format: &'static dyn Format,
    payload: &[u8],
    options: &LoadOptions,
) -> Result<T, Error> {
    match format.name() {
        "cbor" => pypickle_cbor::decode(payload),
        "msgpack" => pypickle_msgpack::decode(payload),
        "bincode" => pypickle_bincode::decode(payload),
        _ => format.from_slice(payload, options.policy()),
    }
}

/// Which format `bytes` are in, and the payload to hand it.
fn identify<'b>(
    bytes: &'b [u8],
    options: &LoadOptions,
) -> Result<(&'static dyn Format, &'b [u8]), Error> {
    if envelope::is_enveloped(bytes) {
        let (header, payload) = envelope::open(bytes)?;
        let format = pypickle_core::format::by_name(&header.format)?;
        if let Some(forced) = options.format_name() {
            if forced != format.name() {
                return Err(Error::invalid(format!(
                    "the file is {}, not {forced} as the options say",
                    format.name()
                )));
            }
        }
        return Ok((format, payload));
    }
    if let Some(forced) = options.format_name() {
        return Ok((pypickle_core::format::by_name(forced)?, bytes));
    }
    match pypickle_core::format::sniff(bytes) {
        Some(format) => Ok((format, bytes)),
        None => Err(ErrorKind::Unrecognised {
            tried: format!(
                "the pypickle envelope, {}",
                pypickle_core::format::sniffed_description()
            ),
        }
        .into()),
    }
}

fn format_for_save(path: &Path, options: &SaveOptions) -> Result<&'static dyn Format, Error> {
    if let Some(name) = options.format_name() {
        return pypickle_core::format::by_name(name);
    }
    let by_extension = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(pypickle_core::format::by_extension);
    match by_extension {
        Some(format) => Ok(format),
        None => pypickle_core::format::by_name(DEFAULT_FORMAT),
    }
}

/// Checks the path can be written and returns its folder.
pub(crate) fn check_destination(path: &Path, overwrite: bool) -> Result<PathBuf, Error> {
    if path.file_name().is_none() {
        return Err(ErrorKind::IsDirectory.into());
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(ErrorKind::MissingParent(folder).into());
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(ErrorKind::IsDirectory.into()),
        // Checked again atomically by the rename; this early refusal just avoids encoding for nothing.
        Ok(_) if !overwrite => return Err(ErrorKind::AlreadyExists.into()),
        _ => {}
    }
    Ok(folder)
}

pub(crate) fn write_atomically(
    path: &Path,
    folder: &Path,
    bytes: &[u8],
    overwrite: bool,
) -> Result<(), Error> {
    write_atomically_with(path, folder, overwrite, |file| {
        file.write_all(bytes)
            .map_err(|e| Error::io("write the temporary file", e))
    })
}

/// [`write_atomically`], with `write` writing the temporary file (which it may also seek in):
/// when it fails, the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomically_with(
    path: &Path,
    folder: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut fs::File) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut temp = tempfile::Builder::new()
        .prefix(".pypickle-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(|e| Error::io("create a temporary file beside it", e))?;
    write(temp.as_file_mut())?;
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io("flush the temporary file to disk", e))?;
    let persisted = if overwrite {
        temp.persist(path).map(|_| ())
    } else {
        // link(2)-based: fails if the destination exists, with no window between check and write.
        temp.persist_noclobber(path).map(|_| ())
    };
    if let Err(e) = persisted {
        // Dropping the returned temporary file deletes it.
        return Err(match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists.into(),
            _ if path.is_dir() => ErrorKind::IsDirectory.into(),
            _ => Error::io("move the temporary file into place", e.error),
        });
    }
    sync_folder(folder);
    Ok(())
}

/// Makes the rename durable. Best effort: some file systems cannot sync a folder.
fn sync_folder(folder: &Path) {
    if let Ok(dir) = fs::File::open(folder) {
        let _ = dir.sync_all();
    }
}
