//! Value -> serde deserializer (placeholder).
