//! The Python object graph. (Placeholder: being written; see issue 3.)

/// A Python object graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Value {}
