//! The benchmark harness: workloads, runners and their reports.
//!
//! # Brief overview
//!
//! - [`Workload`] pre-generates the command streams of `docs/design.md` §8:
//!   `liquibook` (glibc `rand()` reimplemented bit for bit, see
//!   `GlibcRand`) and `ecore` ([`EcoreGenerator`]).
//! - [`run_once`] times `Engine::apply` over a stream and returns a
//!   [`MatcherReport`].
//! - [`run_journal_once`] times appends in each durability mode and a
//!   CRC-checked replay, returning a [`JournalReport`].
//! - `run_pipeline_once` (run through [`sweep`]) drives the whole engine
//!   pipeline, journal included, at a fixed rate and returns a
//!   [`PipelineReport`].
//! - [`run_snapshot_once`] times the snapshot copy (the matcher's stall),
//!   the serialisation and the restore for a book of N orders.
//! - `run_kafka_once` (run through [`sweep`]) sends orders through a Kafka
//!   broker (embedded or real) to the in-process engine and back, returning a
//!   [`KafkaReport`] of wire-to-wire latency and where it goes.
//! - [`run_replay`] writes a large journal in the server's format and
//!   times the `replay` tool's operations on it ([`ReplayReport`]).
//! - [`run_move`] moves a partition of N resting orders between two
//!   `engine` processes under steady input and reports the pause its
//!   symbols saw, step by step ([`MoveReport`]).
//! - [`pin_current_thread`] pins the timing thread.
//! - [`sweep`] runs the pipeline and Kafka over offered rates and writes
//!   their `.hgrm` files ([`hgrm`]) and PNG plots ([`plot`]); [`host`]
//!   says what machine they ran on.
//! - [`report`] runs the whole protocol for a host into one directory.
//!
//! The `bench` binary wraps these in a command line; the criterion benches
//! in `benches/` use the same generators.
//!
//! # Example
//!
//! ```
//! use bench::{Workload, WorkloadKind, run_once};
//!
//! let workload = Workload::generate(WorkloadKind::Liquibook, 1_000, 0);
//! let report = run_once(WorkloadKind::Liquibook, &workload)?;
//! assert_eq!(report.orders, 1_000);
//! assert!(report.trades > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Timings are only meaningful from `--release` builds on a quiet machine;
//! compare medians and ratios taken in one run.

#![deny(missing_docs)]

mod cores;
mod glibc_rand;
mod ha;
pub mod hgrm;
pub mod host;
mod inputs;
mod journal;
mod kafka;
mod mass_cancel;
mod matcher;
mod moves;
mod pipeline;
pub mod plot;
mod processes;
mod replay;
pub mod report;
mod snapshot;
pub mod sweep;
mod workload;

pub use cores::{Pinning, bench_wait, pin_current_thread};
pub use ha::{HaBenchConfig, HaReport, Spread, TakeoverSample, run_ha};
pub use journal::{JournalBenchConfig, JournalReport, median_journal, run_journal_once};
pub use kafka::{KafkaBenchConfig, KafkaReport, Percentiles};
pub use mass_cancel::{MassCancelConfig, MassCancelReport, run_mass_cancel};
pub use matcher::{MatcherReport, TradeTally, median, run_once};
pub use moves::{MoveBenchConfig, MoveReport, MoveSteps, run_move};
pub use pipeline::{CountingSink, PacedSource, PipelineReport};
pub use replay::{ReplayBenchConfig, ReplayReport, ReplayTimings, run_replay};
pub use snapshot::{SnapshotReport, run_snapshot_once};
pub use workload::{ECORE_MID, ECORE_RESTING, EcoreGenerator, Workload, WorkloadKind};
