//! pypickle-core: what every pypickle crate shares.
//!
//! - [`format`]: the object-safe [`Format`] trait and the registry format crates join with `inventory`;
//! - [`envelope`]: the header `save` writes before a payload;
//! - [`value`]: the Python object graph ([`Value`]) that pickles load into, and [`packed`]: the
//!   values of its records, packed into shared chunks;
//! - [`de`]: a [`Value`] as a serde deserializer; [`guard`]: bounded nesting and clean errors for
//!   any format's deserializer;
//! - [`tree`] and [`numpy`]: the conversion conventions every format shares (docs/conversion.md):
//!   a walk of a [`Value`] into a format's events and back, and numpy arrays recognised as typed arrays;
//! - [`policy`]: the risk-policy engine that decides which globals a file may reference;
//! - [`error`]: the one [`Error`] type.

pub mod de;
pub mod envelope;
pub mod error;
pub mod format;
pub mod global;
pub mod guard;
pub mod numpy;
pub mod packed;
pub mod policy;
pub mod tree;
pub mod value;

pub use compact_str::CompactString;
pub use error::{Error, ErrorKind, Result};
pub use format::{Format, Registration};
pub use global::{GlobalRef, Target, Usage};
pub use inventory;
pub use packed::{Chunk, Packed, PackedItems, PackedIter, Row, RowWriter, Rows};
pub use policy::{classify, Classification, Judged, Mode, Policy, Risk, Rule, Verdict};
pub use value::{
    CallKind, Dict, DictIter, GlobalName, Instance, Item, Object, ObjectId, SharedKeys, Value,
};
