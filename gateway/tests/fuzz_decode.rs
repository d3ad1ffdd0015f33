//! A CI-sized slice of the decoder fuzzing campaign (`docs/fuzzing.md`): every input
//! in the committed corpus, then seeded mutations of them, through the same
//! checks as the `cargo fuzz` target. The full campaign is in
//! `docs/fuzzing.md`; this keeps its findings from coming back.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "fuzz/decode.rs"]
mod decode;

use std::path::Path;

/// Mutations run after the corpus; under a second in the `ci` profile.
const MUTATIONS: usize = 200_000;

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// JSON-ish fragments a mutation may splice in.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"false",
    b"-",
    b".",
    b"e",
    b"E+",
    b"0",
    b"9",
    b"\\u0000",
    b"\\\"",
    b"\"price\":",
    b"\"orderId\":",
    b"\"action\":",
    b"\"MARKET\"",
    b"1e308",
    b"0.000000000000000000001",
    b"18446744073709551616",
];

fn mutate(rng: &mut oorandom::Rand64, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.rand_range(0..4) {
        let at = if input.is_empty() {
            0
        } else {
            rng.rand_range(0..input.len() as u64) as usize
        };
        match rng.rand_range(0..6) {
            0 if !input.is_empty() => input[at] ^= 1 << rng.rand_range(0..8),
            1 if !input.is_empty() => {
                let len = rng.rand_range(1..8) as usize;
                input.drain(at..(at + len).min(input.len()));
            }
            2 => {
                let token = TOKENS[rng.rand_range(0..TOKENS.len() as u64) as usize];
                input.splice(at..at, token.iter().copied());
            }
            3 if !other.is_empty() => {
                let from = rng.rand_range(0..other.len() as u64) as usize;
                let len = rng.rand_range(1..32).min((other.len() - from) as u64) as usize;
                input.splice(at..at, other[from..from + len].iter().copied());
            }
            4 => input.insert(at.min(input.len()), rng.rand_range(0..256) as u8),
            _ => input.truncate(at),
        }
    }
}

/// Checks one input; on failure, says what the input was, so it can join
/// the corpus once fixed.
fn run(input: &[u8]) {
    let caught = std::panic::catch_unwind(|| decode::check(input));
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
fn the_corpus_and_its_mutations_decode_to_one_command_or_one_rejection() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "the committed corpus is missing");
    for input in &corpus {
        run(input);
    }
    let seed: u64 = std::env::var("FUZZ_SEED").map_or(1, |s| s.parse().unwrap());
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    for _ in 0..MUTATIONS {
        let pick = |rng: &mut oorandom::Rand64| rng.rand_range(0..corpus.len() as u64) as usize;
        let mut input = corpus[pick(&mut rng)].clone();
        let other = &corpus[pick(&mut rng)];
        mutate(&mut rng, &mut input, other);
        run(&input);
    }
}
