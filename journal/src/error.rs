//! The journal's error type.
//!
//! Every error about the files names the file, and every error about a
//! record also names the byte offset, so an operator can go straight to
//! the damage with `xxd -s OFFSET FILE`. Nothing here decides policy.

use std::io;
use std::path::PathBuf;

/// Anything that can go wrong opening, writing or reading a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What the journal was doing, as a verb phrase ("map", "create").
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A record before the end of the log is damaged. The journal refuses to
    /// skip it: later records would replay on a state that never existed.
    #[error(
        "journal segment {} is corrupt at byte offset {offset}: {problem}. \
         Nothing was changed. Run `replay verify` on the journal directory to see the damage; \
         docs/replay.md says how to repair it (restore the file from a replica, or cut the log \
         before the damage with `replay truncate`)",
        path.display()
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged frame in that file.
        offset: u64,
        /// What is wrong there.
        problem: Corruption,
    },
    /// A segment file's header is unreadable or contradicts its name.
    #[error("journal segment {} has a bad header: {problem}", path.display())]
    BadSegmentHeader {
        /// The segment file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A snapshot file does not verify.
    #[error("snapshot {} is unusable: {problem}", path.display())]
    BadSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Another process holds the writer lock.
    #[error(
        "journal {} is already open for writing by another process (lock file held)",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The options cannot describe a working journal.
    #[error("invalid journal options: {0}")]
    InvalidOptions(String),
    /// The payload does not fit in one frame.
    #[error("payload of {len} bytes exceeds the journal's maximum of {max} bytes")]
    PayloadTooLarge {
        /// Bytes offered.
        len: usize,
        /// Largest payload the journal accepts.
        max: usize,
    },
    /// A sync failed earlier. The kernel may have dropped the dirty pages,
    /// so the writer cannot promise durability any more.
    #[error(
        "the journal writer stopped after a failed sync; reopen the journal to recover what is on disk"
    )]
    WriterFailed,
    /// The requested sequence was retired with its segment.
    #[error(
        "sequence {requested} is no longer in the journal: the oldest segment starts at {oldest}"
    )]
    SequenceRetired {
        /// Sequence asked for.
        requested: u64,
        /// First sequence still on disk.
        oldest: u64,
    },
    /// The requested sequence has not been written yet.
    #[error("sequence {requested} is past the end of the journal: the next sequence is {next}")]
    SequenceBeyondEnd {
        /// Sequence asked for.
        requested: u64,
        /// The sequence the writer will assign next.
        next: u64,
    },
}

/// What is wrong with a damaged record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The stored CRC32C does not match the frame.
    #[error("CRC32C mismatch in the frame expected to hold sequence {expected_sequence}")]
    BadCrc {
        /// Sequence the frame should hold.
        expected_sequence: u64,
    },
    /// The length field cannot be a frame of this segment.
    #[error(
        "impossible frame length {frame_length} where sequence {expected_sequence} should start"
    )]
    BadFrameLength {
        /// The length found.
        frame_length: u32,
        /// Sequence the frame should hold.
        expected_sequence: u64,
    },
    /// A valid frame holds the wrong sequence: a gap, or a step backwards.
    #[error("found sequence {found} where {expected} should be")]
    UnexpectedSequence {
        /// The next sequence by continuity.
        expected: u64,
        /// The sequence in the frame.
        found: u64,
    },
    /// Valid records follow a damaged or blank frame, so it is not a torn
    /// tail but a hole in the middle of the log.
    #[error(
        "sequence {expected_sequence} is unreadable but later records follow it \
         (sequence {next_sequence} at byte offset {next_offset})"
    )]
    HoleBeforeValidRecords {
        /// The unreadable sequence.
        expected_sequence: u64,
        /// A later valid record's sequence.
        next_sequence: u64,
        /// That record's byte offset in the same file.
        next_offset: u64,
    },
    /// A segment ends before the next one begins.
    #[error("the segment ends at sequence {last} but the next segment starts at {next_first}")]
    SegmentGap {
        /// Last sequence in this segment.
        last: u64,
        /// First sequence of the next segment.
        next_first: u64,
    },
}

impl Error {
    /// Whether this is the file system running out of space (or of the
    /// user's quota): freeing space and retrying will fix it.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The journal's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
