//! Disassembler (placeholder while it is written).
