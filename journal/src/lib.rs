//! The memory-mapped, segmented journal (DESIGN.md §6).
//!
//! Not built yet. This crate will hold the record framing (8-byte aligned,
//! length and CRC32C), the writer with its three durability modes, the
//! reader with seek and tail-follow, torn-tail recovery, and snapshot files.
//! It stores opaque payloads and will never depend on `engine`.
