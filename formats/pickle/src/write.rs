//! Value -> pickle writer (placeholder).
