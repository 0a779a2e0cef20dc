//! The one error type of pypickle. Every message names the file (when there is one) and the problem.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::policy::Verdict;

/// What went wrong, without the file it happened to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("cannot {action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("already exists; pass overwrite(true) to replace it")]
    AlreadyExists,
    #[error("is a folder, not a file")]
    IsDirectory,
    #[error("its folder {0} does not exist")]
    MissingParent(PathBuf),
    #[error("unknown format {name:?}; registered formats: {known}")]
    UnknownFormat { name: String, known: String },
    #[error("not a pypickle file, and no registered format recognises its first bytes (tried: {tried}); \
             bare MessagePack and bincode files need LoadOptions::format")]
    Unrecognised { tried: String },
    #[error("damaged pypickle envelope: {0}")]
    Envelope(String),
    #[error("cannot encode as {format}: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
    #[error("cannot decode {format}: {message}")]
    Decode {
        format: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unsafe(Box<Verdict>),
    #[error("{0}")]
    Invalid(String),
}

/// An error with the file it concerns.
#[derive(Debug)]
pub struct Error {
    inner: Box<(Option<PathBuf>, ErrorKind)>,
}

impl Error {
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new((None, kind)),
        }
    }

    /// Names the file this error is about, unless it already names one.
    pub fn at(mut self, path: impl AsRef<Path>) -> Self {
        if self.inner.0.is_none() {
            self.inner.0 = Some(path.as_ref().to_path_buf());
        }
        self
    }

    pub fn io(action: &'static str, source: io::Error) -> Self {
        Self::new(ErrorKind::Io { action, source })
    }

    pub fn encode(format: &'static str, message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Encode {
            format,
            message: message.to_string(),
        })
    }

    pub fn decode(format: &'static str, message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Decode {
            format,
            message: message.to_string(),
        })
    }

    pub fn envelope(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Envelope(message.into()))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid(message.into()))
    }

    pub fn unsafe_content(verdict: Verdict) -> Self {
        Self::new(ErrorKind::Unsafe(Box::new(verdict)))
    }

    pub fn path(&self) -> Option<&Path> {
        self.inner.0.as_deref()
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.inner.1
    }

    /// True when the risk policy refused the content; [`Error::verdict`] says why.
    pub fn is_unsafe(&self) -> bool {
        matches!(self.inner.1, ErrorKind::Unsafe(_))
    }

    /// The policy's verdict, when the policy refused the content.
    pub fn verdict(&self) -> Option<&Verdict> {
        match &self.inner.1 {
            ErrorKind::Unsafe(v) => Some(v),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.0 {
            Some(path) => write!(f, "{}: {}", path.display(), self.inner.1),
            None => write!(f, "{}", self.inner.1),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.inner.1)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
