//! The memory-mapped, segmented journal (`docs/design.md` §4).
//!
//! Every input the engine accepts is appended here before any of its
//! outputs may leave the process, and after a crash the engine is rebuilt
//! from it. The journal stores opaque payloads (the engine writes `rkyv`
//! archives) behind a small fixed header. It knows nothing of orders, never
//! reads a clock, and never skips a damaged record.
//!
//! ```text
//! Journal::open(dir, options) ──> Recovered ──into_writer()──> Writer ── append / end_batch / poll
//!        (lock, find the end,        │                            │
//!         cut a torn tail)           └── reader() ──> Reader ──> Cursor ── next() ──> Record
//! ```
//!
//! # Example
//!
//! ```
//! use journal::{Durability, Journal, JournalOptions, Reader, RecordMeta};
//!
//! let dir = tempfile::tempdir()?;
//! let options = JournalOptions::new().segment_size(1 << 20).durability(Durability::Batch);
//! let mut writer = Journal::open(dir.path(), options)?.into_writer()?;
//! let meta = RecordMeta { timestamp_ns: 1, source_partition: 0, source_offset: 41 };
//! let sequence = writer.append(&meta, b"an rkyv archive, usually")?;
//! writer.end_batch()?; // starts the batch's sync
//! writer.sync()?; // waits for it
//! assert_eq!(writer.durable().load_acquire(), sequence);
//!
//! let mut cursor = Reader::open(dir.path())?.read_from(sequence)?;
//! let record = cursor.next()?.expect("the record just appended");
//! assert_eq!((record.meta(), record.payload()), (meta, &b"an rkyv archive, usually"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Files
//!
//! A journal is one directory:
//!
//! | name | what |
//! |---|---|
//! | `{first_sequence:020}.seg` | a segment: records `first_sequence`, `first_sequence + 1`, … |
//! | `{sequence:020}.snap` | a snapshot of the state after `sequence` |
//! | `*.tmp` | a segment or snapshot being created; removed when a writer opens |
//! | `LOCK` | `flock`ed by the one writer |
//!
//! All integers are little-endian.
//!
//! ## Segment file
//!
//! A segment is created at its full size (1 GiB by default) and
//! pre-allocated, so writing through the map never meets a full disk.
//!
//! ```text
//! 0         8         12        16                  24                  32
//! +---------+---------+---------+-------------------+-------------------+
//! | magic   | version | hdr crc | first_sequence    | segment_size      |
//! +---------+---------+---------+-------------------+-------------------+
//! 32                  40        44        48        52        56        64
//! +-------------------+---------+---------+---------+---------+---------+
//! | data_offset       | idx     | idx     | max     | payload | zero    |
//! |                   | stride  | slots   | frame   | format  |         |
//! +-------------------+---------+---------+---------+---------+---------+
//! 64: index_slots × u64 sparse index, then zeros up to data_offset (a page
//!     boundary); data_offset: frames, back to back, until the end marker
//!     or the end of the file.
//! ```
//!
//! - `magic` is `MXJRNL\0\0`; `version` is 1 ([`SEGMENT_FORMAT_VERSION`]).
//!   A reader must reject any other version.
//! - `hdr crc` is CRC32C (Castagnoli) of bytes 0..12 followed by 16..64.
//! - Sparse-index slot `i` (at byte `64 + 8·i`) holds the file offset of the
//!   frame with sequence `first_sequence + i·idx_stride`, or 0 if unwritten.
//!   Slots are hints: use one only if the frame it points at is valid and
//!   holds that sequence.
//! - `max frame` bounds every `frame_length` in the segment.
//! - `payload format` is the writer's tag for what its payloads are
//!   ([`JournalOptions::payload_format`]); 0 in segments written before it
//!   existed. The journal stores it and never interprets it.
//!
//! ## Frame
//!
//! Each record is one frame, starting on an 8-byte boundary:
//!
//! ```text
//! 0         4         8                   16                  24        28        32                  40
//! +---------+---------+-------------------+-------------------+---------+---------+-------------------+---------------------+
//! | frame   | crc32c  | sequence          | timestamp_ns      | source  | payload | source_offset     | payload, then zero   |
//! | length  |         |                   |                   | part.   | length  | (i64)             | padding to the frame |
//! |         |         |                   |                   | (i32)   |         |                   | length               |
//! +---------+---------+-------------------+-------------------+---------+---------+-------------------+---------------------+
//! ```
//!
//! - `frame_length` (u32) is header + payload + padding, a multiple of 8.
//!   `0` means nothing has been written here; `0xFFFF_FFFF` is the end
//!   marker that closes a segment early. The next frame starts at
//!   `offset + frame_length`.
//! - `crc32c` covers the four `frame_length` bytes, then bytes 8 up to
//!   `frame_length`: everything in the frame except itself, padding
//!   included.
//! - `source partition`/`source_offset` are the Kafka position of the input,
//!   `-1`/`-1` when it did not come from Kafka.
//! - The payload starts 8-byte aligned, so `rkyv` archives can be read in
//!   place ([`Record::access`]).
//!
//! **Commit rule.** The writer fills the whole frame, CRC included, and
//! stores `frame_length` last with a release store. A reader that loads a
//! non-zero `frame_length` with acquire ordering sees a complete frame. A
//! process killed mid-append therefore leaves `frame_length == 0`.
//!
//! ## Snapshot file
//!
//! ```text
//! 0         8         12        16                  24                  32        36        64
//! +---------+---------+---------+-------------------+-------------------+---------+---------+---------+
//! | magic   | version | hdr crc | sequence          | payload_length    | payload | zero    | payload |
//! |         |         |         |                   |                   | crc32c  |         |         |
//! +---------+---------+---------+-------------------+-------------------+---------+---------+---------+
//! ```
//!
//! `magic` is `MXJSNAP\0`, `version` 1, `hdr crc` is CRC32C of bytes 0..12
//! and 16..64. The payload is opaque to the journal (the engine's snapshot).
//!
//! # Recovery
//!
//! [`Journal::open`] applies these rules, in order:
//!
//! 1. Every named segment must have a valid header whose `first_sequence`
//!    matches its name; otherwise the open fails naming the file.
//! 2. The last segment is walked from the newest sparse-index slot that
//!    points at a valid frame holding the sequence the slot names (from
//!    `data_offset` if none does), so at most `idx stride` records are
//!    read. Each frame must have a plausible length, a matching CRC and the
//!    next sequence. Frames before the starting one are not read on open;
//!    readers check them when they read them, as rule 5's operator tools
//!    do (`replay verify` reads everything).
//! 3. An end marker or a full segment ends the walk cleanly.
//! 4. A frame with a valid CRC but the wrong sequence (a gap, or a step
//!    backwards) is an error naming the segment and offset.
//! 5. A blank or damaged frame followed by any valid record with a later
//!    sequence is a hole in the log, not a torn tail: an error naming the
//!    segment and offset, and the later record. Later records are looked
//!    for where the next frame would start (within `max frame` bytes), at
//!    every sparse-index slot past the stop, and at every 8-byte boundary
//!    in the next 1 MiB. Damage longer than 1 MiB with fewer than
//!    `idx stride` records after it is the one shape this does not see.
//! 6. Otherwise the frame is the torn tail: everything from it to the end of
//!    the segment is zeroed (whole pages by `fallocate`), stale sparse-index
//!    slots are cleared, and a warning is logged. No acknowledged record is
//!    ever past this point, because the writer acknowledges a record only
//!    after storing its `frame_length`.
//!
//! Older segments are not walked on open; every [`Cursor`] checks CRCs, and
//! sequence continuity within and across segments, as it reads, and
//! [`Reader::verify`] reads everything. A journal that lost pages out of
//! order in a power failure (rule 5) needs an operator: the error names the
//! byte where the log stops being trustworthy.
//!
//! # Durability
//!
//! [`Durability::None`] publishes a record as durable as soon as it is in
//! the map. [`Durability::Batch`] syncs at each [`Writer::end_batch`]:
//! through an `io_uring` data-sync that runs while the next batch is
//! appended (completion is noticed by [`Writer::poll`] or the next
//! `end_batch`), or, where `io_uring_setup` is refused, a blocking `msync`.
//! [`Durability::Sync`] `msync`s each record before `append` returns. The
//! highest durable sequence is published through [`DurableSequence`].
//!
//! # Retention
//!
//! Nothing is deleted implicitly. [`retire_segments`] deletes or moves
//! segments whose records are all covered by a valid snapshot at or below
//! a limit the caller gives; it never touches the newest segment, so it
//! can run beside the writer.

mod error;
mod format;
mod helpers;
mod map;
mod options;
mod prefault;
mod reader;
mod recovery;
mod repair;
mod retention;
mod scan;
mod segment;
mod snapshot;
mod spare;
mod sync;
mod writer;

pub use error::{Corruption, Error, Result};
pub use format::{FRAME_HEADER_LEN, RecordMeta, SEGMENT_FORMAT_VERSION};
pub use options::{Durability, JournalOptions};
pub use reader::{Cursor, Reader, Record};
pub use recovery::{Journal, Recovered, RecoveryReport, TornTail};
pub use repair::{DirLock, Truncated};
pub use retention::{Retire, Retired, retire_segments};
pub use scan::check_frame_bytes;
pub use segment::free_space;
pub use snapshot::{SNAPSHOT_FILE_VERSION, Snapshot, SnapshotStore};
pub use sync::{DurableSequence, SyncPath};
pub use writer::Writer;
