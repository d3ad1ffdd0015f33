//! Opening a journal for writing: lock, find the true end, cut a torn tail.
//!
//! This is the only code that changes bytes a previous writer wrote, and it
//! only ever changes bytes past the last valid record of the last segment.
//! The numbered rules it applies are in the crate documentation; they are
//! referred to here as R1..R6.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Corruption, Error, Result};
use crate::format::{INDEX_SLOT_LEN, SEGMENT_HEADER_LEN, SegmentHeader};
use crate::map::{FrameSource, WriteMap};
use crate::options::JournalOptions;
use crate::reader::Reader;
use crate::scan::{Frame, last_indexed, later_record, walk};
use crate::segment::{self, list_segments};
use crate::snapshot::SnapshotStore;
use crate::writer::{ActiveSegment, Writer};

/// Entry point: opens journals for writing.
pub struct Journal;

/// A torn tail that recovery cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was in.
    pub segment: PathBuf,
    /// Byte offset where the log now ends.
    pub offset: u64,
    /// The sequence the torn frame would have had (the next one to write).
    pub sequence: u64,
}

/// What recovery found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files in the journal.
    pub segments: usize,
    /// Oldest sequence still on disk, if any record is.
    pub first_sequence: Option<u64>,
    /// Newest valid sequence, if any record is on disk.
    pub last_sequence: Option<u64>,
    /// The torn tail that was cut off, if there was one.
    pub torn_tail: Option<TornTail>,
    /// Half-written temporary files that were removed.
    pub removed_temp_files: Vec<PathBuf>,
}

/// A journal that has been recovered and locked, not yet appended to.
///
/// Read it (for example, replay from a snapshot) with [`Recovered::reader`],
/// then turn it into the [`Writer`].
pub struct Recovered {
    dir: PathBuf,
    options: JournalOptions,
    lock: File,
    active: Option<ActiveSegment>,
    next_sequence: u64,
    report: RecoveryReport,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` for writing and
    /// recovers it: takes the writer lock, removes half-written temporary
    /// files, finds the last valid record and cuts off a torn tail after
    /// it. Damage after the last record the segment's index knows is an
    /// error naming the file and offset; everything before it is checked as
    /// it is read. The walk covers at most one index stride of records, so
    /// opening costs the same for a full 1 GiB segment as for an empty one.
    pub fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Recovered> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let lock = segment::lock(&dir)?;
        let removed_temp_files = segment::remove_temp_files(&dir)?;
        let segments = list_segments(&dir)?;

        // R1: every named segment has a valid header that matches its name.
        for named in &segments[..segments.len().saturating_sub(1)] {
            segment::open_read(&named.path, named.first_sequence)?;
        }
        let mut report = RecoveryReport {
            segments: segments.len(),
            first_sequence: None,
            last_sequence: None,
            torn_tail: None,
            removed_temp_files,
        };
        let Some(last) = segments.last() else {
            let next_sequence = options.first_sequence;
            return Ok(Recovered {
                dir,
                options,
                lock,
                active: None,
                next_sequence,
                report,
            });
        };
        let (file, header) = segment::open_write(&last.path, last.first_sequence)?;
        let mut map = WriteMap::new(&file).map_err(|e| Error::io("map", &last.path, e))?;

        // R2: walk the last segment from the last frame its index knows.
        let (from, sequence) = last_indexed(&map, &header);
        let end = walk(&map, &header, from, sequence);
        let corrupt = |problem| Error::Corrupt {
            path: last.path.clone(),
            offset: end.pos as u64,
            problem,
        };
        let closed = match end.stop {
            // R3: an end marker or a full segment is a clean end. (A walk
            // never stops at a valid frame.)
            Frame::End | Frame::Valid(_) => true,
            // R4: a valid UnexpectedSequence frame cannot be torn.
            Frame::Invalid(problem @ Corruption::UnexpectedSequence { .. }) => {
                return Err(corrupt(problem));
            }
            // R5: a blank or damaged frame followed by a valid record is a hole.
            Frame::Blank | Frame::Invalid(_)
                if let Some((next_offset, next_sequence)) =
                    later_record(&map, &header, end.pos, end.next_sequence) =>
            {
                return Err(corrupt(match end.stop {
                    Frame::Invalid(problem) => problem,
                    _ => Corruption::HoleBeforeValidRecords {
                        expected_sequence: end.next_sequence,
                        next_sequence,
                        next_offset: next_offset as u64,
                    },
                }));
            }
            // R6: otherwise this is the torn tail: cut it off.
            Frame::Blank | Frame::Invalid(_) => {
                let torn = matches!(end.stop, Frame::Invalid(_))
                    || map
                        .bytes(
                            end.pos,
                            (header.max_frame_length as usize).min(map.len() - end.pos),
                        )
                        .iter()
                        .any(|&b| b != 0);
                segment::zero_tail(&file, &mut map, end.pos);
                clear_index_from(&mut map, &header, end.next_sequence);
                if torn {
                    tracing::warn!(
                        segment = %last.path.display(),
                        offset = end.pos,
                        sequence = end.next_sequence,
                        "cut off a torn record at the end of the journal"
                    );
                    report.torn_tail = Some(TornTail {
                        segment: last.path.clone(),
                        offset: end.pos as u64,
                        sequence: end.next_sequence,
                    });
                }
                false
            }
        };
        if end.next_sequence > segments[0].first_sequence {
            report.first_sequence = Some(segments[0].first_sequence);
            report.last_sequence = Some(end.next_sequence - 1);
        }
        tracing::info!(
            journal = %dir.display(),
            segments = segments.len(),
            next_sequence = end.next_sequence,
            "journal recovered"
        );
        let active = ActiveSegment {
            path: last.path.clone(),
            file,
            header,
            map,
            position: end.pos,
            closed,
        };
        Ok(Recovered {
            dir,
            options,
            lock,
            active: Some(active),
            next_sequence: end.next_sequence,
            report,
        })
    }
}

/// Zeroes sparse-index slots that point at or past `next_sequence`: they
/// can only name frames that were just cut off.
pub(crate) fn clear_index_from(map: &mut WriteMap, header: &SegmentHeader, next_sequence: u64) {
    let stride = u64::from(header.index_stride);
    let first_stale = next_sequence
        .saturating_sub(header.first_sequence)
        .div_ceil(stride)
        .min(u64::from(header.index_slots)) as usize;
    for slot in first_stale..header.index_slots as usize {
        let pos = SEGMENT_HEADER_LEN + slot * INDEX_SLOT_LEN;
        // Only write where needed: most slots are already zero, and writing
        // them would dirty every index page on every open.
        if map.index_slot(pos) != 0 {
            map.store_index_slot(pos, 0);
        }
    }
}

impl Recovered {
    /// What recovery found and did.
    pub fn report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The sequence the next append will get.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A reader over the recovered journal, for replay before appending.
    pub fn reader(&self) -> Result<Reader> {
        Reader::open(&self.dir)
    }

    /// The journal's snapshot files.
    pub fn snapshots(&self) -> SnapshotStore {
        SnapshotStore::new(&self.dir)
    }

    /// Starts appending. In `batch` and `sync` modes the recovered records
    /// are synced first, so they count as durable from the start.
    pub fn into_writer(self) -> Result<Writer> {
        Writer::start(
            self.dir,
            self.options,
            self.lock,
            self.active,
            self.next_sequence,
        )
    }
}
