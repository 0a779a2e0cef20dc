//! JSON export (placeholder: issue 5).
