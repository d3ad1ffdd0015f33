//! The operator tool for the journal (DESIGN.md §1, §6).
//!
//! Not built yet. This crate will hold the `replay` binary: list segments,
//! verify CRCs and sequence continuity, print records, and replay a journal
//! into a fresh engine to check its state hash.
