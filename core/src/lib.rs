//! pypickle-core: what every pypickle crate shares.
//!
//! - [`format`]: the object-safe [`Format`] trait and the registry format crates join with `inventory`;
//! - [`envelope`]: the header `save` writes before a payload;
//! - [`value`]: the Python object graph ([`Value`]) that pickles load into;
//! - [`policy`]: the risk-policy engine that decides which globals a file may reference;
//! - [`error`]: the one [`Error`] type.

pub mod de;
pub mod envelope;
pub mod error;
pub mod format;
pub mod global;
pub mod guard;
pub mod policy;
pub mod value;

pub use error::{Error, ErrorKind, Result};
pub use format::{Format, Registration};
pub use global::{GlobalRef, Target, Usage};
pub use inventory;
pub use policy::{classify, Classification, Judged, Mode, Policy, Risk, Rule, Verdict};
pub use value::{CallKind, Instance, Item, Object, ObjectId, Value};
