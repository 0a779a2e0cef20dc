//! Options of `save` and `load`, as builders that take and return `Self`.

use pypickle_core::{Mode, Policy};

/// How [`crate::save`] and [`crate::to_vec`] write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveOptions {
    format: Option<String>,
    overwrite: bool,
    envelope: Option<bool>,
}

impl SaveOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes this format (a registered name: see [`crate::formats`]) whatever the file is called.
    pub fn format(mut self, name: &str) -> Self {
        self.format = Some(name.to_string());
        self
    }

    /// Replaces an existing file (default: refuse and leave it untouched).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Writes pypickle's envelope or, with `false`, the bare payload for other programs. By
    /// default the format decides: every format is enveloped but pickle, which is written bare so
    /// that Python's `pickle.load` opens it.
    pub fn envelope(mut self, envelope: bool) -> Self {
        self.envelope = Some(envelope);
        self
    }

    pub fn format_name(&self) -> Option<&str> {
        self.format.as_deref()
    }

    pub fn overwrite_enabled(&self) -> bool {
        self.overwrite
    }

    /// The envelope choice, if one was made (`None`: the format's default).
    pub fn envelope_choice(&self) -> Option<bool> {
        self.envelope
    }
}

/// How [`crate::load`] and [`crate::from_slice`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    format: Option<String>,
    policy: Policy,
}

impl LoadOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads bare (envelope-less) files as this format. An enveloped file of another format is refused.
    pub fn format(mut self, name: &str) -> Self {
        self.format = Some(name.to_string());
        self
    }

    /// Accepts these globals: an exact `module.qualname`, or a module or package name (matching at
    /// dot boundaries). A dangerous global is accepted only when named exactly.
    pub fn allow<I, S>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy = std::mem::take(&mut self.policy).with_allow(entries);
        self
    }

    /// Accepts only globals the policy knows to be safe, and those allowed explicitly.
    pub fn strict(mut self) -> Self {
        self.policy = std::mem::take(&mut self.policy).with_mode(Mode::Strict);
        self
    }

    /// Accepts every global: only for files you trust as much as your own code.
    pub fn no_validation(mut self) -> Self {
        self.policy = std::mem::take(&mut self.policy).with_mode(Mode::NoValidation);
        self
    }

    pub fn format_name(&self) -> Option<&str> {
        self.format.as_deref()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}
