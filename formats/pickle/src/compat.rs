//! CPython's `_compat_pickle` tables (placeholder).
