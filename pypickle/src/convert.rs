//! Conversion between pickle and the safe formats (placeholder: issue 5).
