//! A CI-sized slice of the journal fuzzing campaign (`docs/fuzzing.md`): every input
//! in the committed corpus, then seeded random damage, through the same
//! checks as the `cargo fuzz` target (`journal/tests/fuzz/mutations.rs`).
//! The full campaign is in `docs/fuzzing.md`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "fuzz/mutations.rs"]
mod mutations;

use std::path::Path;

/// Random inputs after the corpus; a few seconds in the `ci` profile.
const RANDOM_INPUTS: usize = 3_000;

/// Checks one input; on failure, says what the input was, so it can join
/// the corpus once fixed.
fn run(input: &[u8]) {
    let caught = std::panic::catch_unwind(|| mutations::check(input));
    if let Err(cause) = caught {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        let cause = cause
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| cause.downcast_ref::<&str>().copied())
            .unwrap_or("?");
        panic!("failing input (hex) {hex}: {cause}");
    }
}

#[test]
fn damaged_journals_are_recovered_or_refused_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/recover");
    let mut corpus: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    corpus.sort();
    assert!(corpus.len() >= 20, "the committed corpus is missing");
    for path in &corpus {
        run(&std::fs::read(path).unwrap());
    }
    let seed: u64 = std::env::var("FUZZ_SEED").map_or(1, |s| s.parse().unwrap());
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    for _ in 0..RANDOM_INPUTS {
        let mutations = 1 + rng.rand_range(0..4) as usize;
        let input: Vec<u8> = (0..mutations * 8)
            .map(|_| rng.rand_range(0..256) as u8)
            .collect();
        run(&input);
    }
}
