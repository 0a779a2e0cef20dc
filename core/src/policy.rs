//! The risk-policy engine. (Skeleton: the tables and rules are being written; see issue 3.)

use crate::global::GlobalRef;

/// How strictly globals are judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Dangerous globals refused; safe and unknown accepted.
    #[default]
    Default,
    /// Only safe and explicitly allowed globals accepted.
    Strict,
    /// Everything accepted: for files you trust.
    NoValidation,
}

/// A policy: a mode and allow entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub allow: Vec<String>,
}

/// The policy's decision about a file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {}

impl Policy {
    pub fn judge(&self, _globals: &[GlobalRef]) -> Verdict {
        Verdict {}
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the risk policy")
    }
}
