//! Host checks and settings for low latency (DESIGN.md §2, §10).
//!
//! Not built yet. This crate will hold the `tuning` binary: it will report
//! isolated cores, CPU frequency governor, transparent huge pages and IRQ
//! affinity, and say which settings a benchmark host is missing.
