//! Reading records back: seek by sequence, iterate, follow a live writer.
//!
//! A reader never writes and takes no lock, so any number can run beside
//! the writer, in this process or another. Every record it returns has had
//! its CRC and its sequence checked; damage is an error naming the file and
//! offset, never skipped.

use std::path::{Path, PathBuf};

use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;

use crate::error::{Corruption, Error, Result};
use crate::format::{FRAME_HEADER_LEN, RecordMeta, SegmentHeader};
use crate::map::{FrameSource, ReadMap};
use crate::scan::{Frame, check_frame, last_indexed, later_record, seek_hint, walk};
use crate::segment::{self, SegmentName, list_segments};

/// Read access to the journal in a directory.
#[derive(Clone, Debug)]
pub struct Reader {
    dir: PathBuf,
}

/// One record, borrowed from the map: the payload is not copied.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    sequence: u64,
    meta: RecordMeta,
    payload: &'a [u8],
    frame: &'a [u8],
    segment: &'a Path,
    offset: u64,
    payload_format: u32,
}

impl<'a> Record<'a> {
    /// The segment file the record is in.
    pub fn segment(&self) -> &'a Path {
        self.segment
    }

    /// The byte offset of the record's frame in its segment file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The payload format its segment was created with
    /// ([`JournalOptions::payload_format`](crate::JournalOptions::payload_format)).
    pub fn payload_format(&self) -> u32 {
        self.payload_format
    }

    /// The record's journal sequence.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Timestamp and Kafka source, as appended.
    pub fn meta(&self) -> RecordMeta {
        self.meta
    }

    /// The payload bytes, 8-byte aligned in the map.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The whole frame as it lies in the segment: header, CRC, payload and
    /// padding. A replica that appends these bytes' meta and payload at the
    /// same sequence writes the same bytes ([`crate::check_frame_bytes`]).
    pub fn frame(&self) -> &'a [u8] {
        self.frame
    }

    /// The payload as an `rkyv` archive of type `A`, validated and read in
    /// place. Archived types must need no more than 8-byte alignment.
    pub fn access<A>(&self) -> Result<&'a A, rancor::Error>
    where
        A: rkyv::Portable + for<'b> CheckBytes<HighValidator<'b, rancor::Error>>,
    {
        rkyv::access::<A, rancor::Error>(self.payload)
    }
}

/// A mapped segment the cursor is reading.
struct OpenSegment {
    path: PathBuf,
    header: SegmentHeader,
    map: ReadMap,
    /// A later segment existed when this one was opened, so a blank frame
    /// here ends the segment rather than marking the live end of the log.
    has_successor: bool,
}

/// A position in the journal that yields records in sequence order.
///
/// At the end of the log, [`next`](Cursor::next) returns `None`; call it
/// again later to follow a live writer.
pub struct Cursor {
    dir: PathBuf,
    /// Segments by name, oldest first, as last listed. Refreshed only when
    /// the segment the cursor needs is not in it, so reading N segments
    /// lists the directory O(1) times, not N.
    known: Vec<SegmentName>,
    current: Option<OpenSegment>,
    /// The first sequence of the segment the cursor last read to its end.
    finished: Option<u64>,
    position: usize,
    next_sequence: u64,
}

impl Reader {
    /// A reader over the journal in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Reader> {
        let dir = segment::existing_dir(dir.as_ref())?;
        Ok(Reader { dir })
    }

    /// The segment files, oldest first, each with the first sequence its
    /// name says it holds.
    pub fn segment_files(&self) -> Result<Vec<(u64, PathBuf)>> {
        Ok(list_segments(&self.dir)?
            .into_iter()
            .map(|s| (s.first_sequence, s.path))
            .collect())
    }

    /// The oldest sequence on disk, by segment name; `None` with no segments.
    pub fn first_sequence(&self) -> Result<Option<u64>> {
        Ok(list_segments(&self.dir)?.first().map(|s| s.first_sequence))
    }

    /// A cursor at the oldest record on disk.
    pub fn read_all(&self) -> Result<Cursor> {
        match self.first_sequence()? {
            Some(first) => self.read_from(first),
            None => Ok(Cursor::waiting_for(&self.dir, Vec::new(), 1)),
        }
    }

    /// A cursor whose first record is `sequence`. The position may be the
    /// end of the log (the next sequence to be written), to follow a writer.
    /// Uses the segment names and the sparse index, so it reads at most one
    /// index stride of records.
    pub fn read_from(&self, sequence: u64) -> Result<Cursor> {
        let segments = list_segments(&self.dir)?;
        let Some(oldest) = segments.first() else {
            return Ok(Cursor::waiting_for(&self.dir, segments, sequence));
        };
        if sequence < oldest.first_sequence {
            return Err(Error::SequenceRetired {
                requested: sequence,
                oldest: oldest.first_sequence,
            });
        }
        let index = segments.partition_point(|s| s.first_sequence <= sequence) - 1;
        let named = &segments[index];
        let open = OpenSegment::open(
            &named.path,
            named.first_sequence,
            index + 1 < segments.len(),
        )?;
        let (position, at) = seek_hint(&open.map, &open.header, sequence);
        let mut cursor = Cursor {
            dir: self.dir.clone(),
            known: segments,
            finished: None,
            current: Some(open),
            position,
            next_sequence: at,
        };
        while cursor.next_sequence < sequence {
            if cursor.next()?.is_none() {
                return Err(Error::SequenceBeyondEnd {
                    requested: sequence,
                    next: cursor.next_sequence,
                });
            }
        }
        Ok(cursor)
    }

    /// Reads every record from the oldest to the end, checking CRCs,
    /// sequence continuity and segment continuity, and that no valid
    /// record lies past the end ([`Reader::check_end`]). Returns how many
    /// records there are and the last sequence.
    pub fn verify(&self) -> Result<(u64, Option<u64>)> {
        let mut cursor = self.read_all()?;
        let (mut count, mut last) = (0u64, None);
        loop {
            while let Some(record) = cursor.next()? {
                count += 1;
                last = Some(record.sequence());
            }
            // A writer may have appended meanwhile; only a hole that stays
            // a hole is damage.
            match self.check_end(cursor.next_sequence()) {
                Ok(()) => return Ok((count, last)),
                Err(err) if cursor.next()?.is_none() => return Err(err),
                Err(_) => {
                    count += 1;
                    last = Some(cursor.next_sequence() - 1);
                }
            }
        }
    }

    /// The sequence the next record will have, found from the last
    /// segment's sparse index: it reads at most one index stride of
    /// records, whatever the journal's size. 1 for an empty journal.
    pub fn end_sequence(&self) -> Result<u64> {
        let segments = list_segments(&self.dir)?;
        let Some(last) = segments.last() else {
            return Ok(1);
        };
        let open = OpenSegment::open(&last.path, last.first_sequence, false)?;
        let (pos, sequence) = last_indexed(&open.map, &open.header);
        let end = walk(&open.map, &open.header, pos, sequence);
        Ok(end.next_sequence)
    }

    /// Checks that where a reader stopped in the last segment, at
    /// `next_sequence`, the log really ends: no valid record with a later
    /// sequence lies past it (recovery rule 5). Damage there is an error
    /// naming the segment, the byte offset and the later record.
    pub fn check_end(&self, next_sequence: u64) -> Result<()> {
        let segments = list_segments(&self.dir)?;
        let Some(last) = segments.last() else {
            return Ok(());
        };
        if next_sequence < last.first_sequence {
            return Ok(()); // it stopped before the last segment: not an end
        }
        let open = OpenSegment::open(&last.path, last.first_sequence, false)?;
        let (pos, sequence) = seek_hint(&open.map, &open.header, next_sequence);
        let end = walk(&open.map, &open.header, pos, sequence);
        if end.next_sequence != next_sequence || matches!(end.stop, Frame::End | Frame::Valid(_)) {
            return Ok(());
        }
        match later_record(&open.map, &open.header, end.pos, end.next_sequence) {
            None => Ok(()),
            Some((next_offset, later)) => Err(Error::Corrupt {
                path: last.path.clone(),
                offset: end.pos as u64,
                problem: match end.stop {
                    Frame::Invalid(problem) => problem,
                    _ => Corruption::HoleBeforeValidRecords {
                        expected_sequence: end.next_sequence,
                        next_sequence: later,
                        next_offset: next_offset as u64,
                    },
                },
            }),
        }
    }
}

impl OpenSegment {
    fn open(path: &Path, first_sequence: u64, has_successor: bool) -> Result<OpenSegment> {
        let (file, header) = segment::open_read(path, first_sequence)?;
        let map = ReadMap::new(&file).map_err(|e| Error::io("map", path, e))?;
        Ok(OpenSegment {
            path: path.to_path_buf(),
            header,
            map,
            has_successor,
        })
    }
}

impl Cursor {
    fn waiting_for(dir: &Path, known: Vec<SegmentName>, sequence: u64) -> Cursor {
        Cursor {
            dir: dir.to_path_buf(),
            known,
            current: None,
            finished: None,
            position: 0,
            next_sequence: sequence,
        }
    }

    /// The sequence the next record will have.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The next record, `None` at the (current) end of the log, or an error
    /// naming the segment and offset of a damaged record.
    #[allow(clippy::should_implement_trait)] // records borrow the cursor
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        let (pos, frame) = loop {
            let Some(segment) = &self.current else {
                if self.open_next_segment()? {
                    continue;
                }
                return Ok(None);
            };
            match check_frame(
                &segment.map,
                &segment.header,
                self.position,
                self.next_sequence,
            ) {
                Frame::Valid(frame) => break (self.position, frame),
                Frame::End => self.finish_segment(),
                Frame::Blank if segment.has_successor => self.finish_segment(),
                Frame::Blank => return Ok(None),
                Frame::Invalid(problem) => {
                    return Err(Error::Corrupt {
                        path: segment.path.clone(),
                        offset: self.position as u64,
                        problem,
                    });
                }
            }
        };
        self.position = pos + frame.frame_length as usize;
        self.next_sequence = frame.sequence + 1;
        let Some(segment) = &self.current else {
            return Ok(None);
        };
        Ok(Some(Record {
            sequence: frame.sequence,
            meta: frame.meta,
            payload: segment
                .map
                .bytes(pos + FRAME_HEADER_LEN, frame.payload_length as usize),
            frame: segment.map.bytes(pos, frame.frame_length as usize),
            segment: &segment.path,
            offset: pos as u64,
            payload_format: segment.header.payload_format,
        }))
    }

    /// Leaves the current segment at its end.
    fn finish_segment(&mut self) {
        self.finished = self.current.take().map(|s| s.header.first_sequence);
    }

    /// Moves to the segment that must start at `next_sequence`. Returns
    /// false if it does not exist yet (a writer may be rolling over); fails
    /// if a later segment exists instead, which is a gap in the log.
    fn open_next_segment(&mut self) -> Result<bool> {
        let find = |known: &[SegmentName], sequence: u64| {
            known.binary_search_by_key(&sequence, |s| s.first_sequence)
        };
        if find(&self.known, self.next_sequence).is_err() {
            self.known = list_segments(&self.dir)?;
        }
        match find(&self.known, self.next_sequence) {
            // The segment that should hold `next_sequence` just ended
            // without a record: only damage does that (a writer rolls only
            // to put a record in the new segment). Reading it again would
            // loop forever.
            Ok(index) if Some(self.known[index].first_sequence) == self.finished => {
                let Some(after) = self.known.get(index + 1) else {
                    return Ok(false);
                };
                let empty = &self.known[index];
                let (_, header) = segment::open_read(&empty.path, empty.first_sequence)?;
                Err(Error::Corrupt {
                    path: empty.path.clone(),
                    offset: header.data_offset,
                    problem: Corruption::SegmentGap {
                        last: self.next_sequence - 1,
                        next_first: after.first_sequence,
                    },
                })
            }
            Ok(index) => {
                let named = &self.known[index];
                let segment = OpenSegment::open(
                    &named.path,
                    named.first_sequence,
                    index + 1 < self.known.len(),
                )?;
                self.position = segment.header.data_offset as usize;
                self.current = Some(segment);
                Ok(true)
            }
            // A later segment but not this one: records are missing.
            Err(index) if index < self.known.len() => {
                let after = &self.known[index];
                Err(Error::Corrupt {
                    path: after.path.clone(),
                    offset: 0,
                    problem: Corruption::SegmentGap {
                        last: self.next_sequence - 1,
                        next_first: after.first_sequence,
                    },
                })
            }
            // Not there yet: a writer may be rolling over.
            Err(_) => Ok(false),
        }
    }
}
