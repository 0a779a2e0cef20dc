//! Input files as the loaders read them: small ones read into memory, large ones mapped, so
//! that a load can let go of the pages it has read and hold a window of the file rather than
//! all of it.

use std::fs;
use std::io::Read;
use std::path::Path;

use pypickle_core::{Error, ErrorKind};
use pypickle_pickle::reader::MappedFile;

/// Files at least this large are mapped rather than read (below it, mapping costs more than
/// it saves).
pub(crate) const MAP_FROM: u64 = 1 << 20;

pub(crate) enum Input {
    Read(Vec<u8>),
    Mapped(MappedFile),
}

impl Input {
    /// Opens `path`: mapped when it is a regular file of [`MAP_FROM`] bytes or more and the
    /// system maps it, read into memory otherwise. As with every mapped reader (the scanner
    /// maps its files too), another process truncating a mapped file while it is loaded would
    /// make the reads fault.
    pub(crate) fn open(path: &Path) -> Result<Input, Error> {
        let (file, len) = open(path)?;
        if len >= MAP_FROM && file.metadata().is_ok_and(|m| m.is_file()) {
            if let Ok(map) = MappedFile::map(&file) {
                return Ok(Input::Mapped(map));
            }
        }
        read_all(file, len, path).map(Input::Read)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Input::Read(bytes) => bytes,
            Input::Mapped(map) => map,
        }
    }

    /// Lets go of the pages of a mapped file before `offset` (see
    /// [`MappedFile::release_before`]); a file read into memory keeps its bytes.
    pub(crate) fn release_before(&self, offset: usize) {
        if let Input::Mapped(map) = self {
            map.release_before(offset);
        }
    }
}

/// The bytes of the file at `path`, read into memory.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let (file, len) = open(path)?;
    read_all(file, len, path)
}

fn open(path: &Path) -> Result<(fs::File, u64), Error> {
    if path.is_dir() {
        return Err(Error::new(ErrorKind::IsDirectory).at(path));
    }
    let fail = |e| Error::io("read it", e).at(path);
    let file = fs::File::open(path).map_err(fail)?;
    let len = file.metadata().map_err(fail)?.len();
    Ok((file, len))
}

fn read_all(mut file: fs::File, len: u64, path: &Path) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    // The length is a hint (the file may change while read): read_to_end grows past it.
    usize::try_from(len)
        .ok()
        .and_then(|len| bytes.try_reserve_exact(len).ok())
        .ok_or_else(|| {
            Error::invalid(format!("cannot hold the {len}-byte file in memory")).at(path)
        })?;
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("read it", e).at(path))?;
    Ok(bytes)
}
