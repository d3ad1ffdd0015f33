//! The operator tool for the journal: inspect it, verify it, query its
//! history, and re-run it, beside a running engine or after a crash.
//!
//! # Brief overview
//!
//! Each operation is a function over a journal directory that returns
//! plain data; the `replay` binary prints it as a table or as JSON lines.
//! All of them read through `engine::history` and re-execute through
//! `engine::sequenced`, the same code the server's recovery runs, so what the
//! tool shows is what the engine did.
//!
//! - [`info()`]: segments, snapshots, partitions, delivered mark, formats.
//! - [`verify()`]: CRCs and continuity, and with `deep`, re-execution
//!   checking every snapshot's state hash.
//! - [`Dump`]: records one by one, filtered, with their outputs.
//! - [`book_at`] and [`order_life`]: the book at a point in history, and
//!   one order's life.
//! - [`run()`], [`diff()`], [`bisect()`]: re-publish outputs, compare two
//!   journals, and find where other rules change the outcome.
//! - [`snapshot_at`] and [`truncate_after`]: the only two that write, and
//!   only with the journal's lock held.
//!
//! Read-only operations take no lock and read up to what a running engine
//! has published.
//!
//! # Example
//!
//! ```no_run
//! let info = replay::info(std::path::Path::new("/var/lib/engine/journal"))?;
//! println!("{} records in {} segments", info.records, info.segments.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod bisect;
mod book;
mod diff;
mod dump;
mod info;
mod order;
mod repair;
mod run;
mod start;
mod time;
mod verify;

pub use bisect::{BisectDifference, Bisected, Reference, bisect};
pub use book::{BookAt, Level, book_at};
pub use diff::{Differences, InputDifference, OutputDifference, diff};
pub use dump::{Dump, DumpFilter, DumpRecord};
pub use info::{Info, PartitionInfo, SegmentInfo, SnapshotInfo, info};
pub use order::{OrderEvent, OrderLife, order_life};
pub use repair::{SnapshotWritten, TruncatePlan, plan_truncate, snapshot_at, truncate_after};
pub use run::{RunSummary, run};
pub use start::RulesFrom;
pub use time::{first_at_or_after, format_ts, parse_time, ts_at};
pub use verify::{Damage, DeepCheck, Progress, Verified, verify};

use engine::history::HistoryError;
use engine::sequenced::ReplayError;

/// Why an operation stopped. [`Error::exit_code`] is the tool's exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The journal or a snapshot could not be read: damage, or I/O.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Replay did not reproduce what the journal and snapshots recorded.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The request cannot be met as asked: a sequence that is not there, a
    /// locked journal, a missing confirmation.
    #[error("{0}")]
    Usage(String),
    /// Writing results failed (output files, Kafka).
    #[error("{0}")]
    Output(String),
}

impl From<journal::Error> for Error {
    fn from(err: journal::Error) -> Error {
        Error::History(HistoryError::Journal(err))
    }
}

impl Error {
    /// 1 for damage or a difference found, 2 for a request that cannot be
    /// met as asked (as for a bad flag).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::History(HistoryError::Journal(
                journal::Error::Locked { .. }
                | journal::Error::SequenceRetired { .. }
                | journal::Error::SequenceBeyondEnd { .. },
            )) => 2,
            Error::History(HistoryError::Journal(journal::Error::Io { source, .. }))
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                2
            }
            _ => 1,
        }
    }
}
