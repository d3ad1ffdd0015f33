//! Any bytes on `orders`: one command or one rejection, never a panic.
//! The checks are shared with the CI slice (`gateway/tests/fuzz_decode.rs`).

#![no_main]

#[path = "../../tests/fuzz/decode.rs"]
mod decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decode::check(data));
