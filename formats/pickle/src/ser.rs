//! serde -> pickle writer (placeholder).
