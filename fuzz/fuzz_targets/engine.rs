//! Runs the whole engine on arbitrary bytes: `analyze`, `load`, `validate_modules` and the
//! disassembler must never panic, and must agree with each other.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pypickle_fuzz_checks::check(data);
});

/// The checks, shared with the soak binary (`fuzz/soak`) by including this file there.
#[path = "../checks.rs"]
mod pypickle_fuzz_checks;
