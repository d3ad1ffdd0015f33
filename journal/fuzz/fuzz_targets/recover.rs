//! Damaged segment and snapshot files: recovered or refused as the crate
//! documents, never a panic, a hang or a silently lost record. The checks
//! are shared with the CI slice (`journal/tests/fuzz_journal.rs`).

#![no_main]

#[path = "../../tests/fuzz/mutations.rs"]
mod mutations;

libfuzzer_sys::fuzz_target!(|data: &[u8]| mutations::check(data));
