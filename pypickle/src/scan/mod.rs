//! Scanning files and containers (placeholder: issue 4).
