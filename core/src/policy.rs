//! The risk-policy engine. (Placeholder: being written; see issue 3.)

/// The policy's decision about a file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the risk policy")
    }
}
