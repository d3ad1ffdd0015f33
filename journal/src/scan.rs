//! Frame validation and walking a segment: the one place that decides
//! whether bytes are a record, the end of the log, or damage.
//!
//! The reader, recovery and seeking all go through [`check_frame`], so a
//! frame the reader accepts is exactly a frame recovery keeps. Nothing here
//! writes or decides policy; callers choose what a stop means.

use crate::error::Corruption;
use crate::format::{
    END_OF_SEGMENT, FRAME_ALIGN, FRAME_HEADER_LEN, FrameHeader, RecordMeta, SegmentHeader,
    decode_frame_header, frame_crc, frame_length_for, frame_sequence,
};
use crate::map::FrameSource;

/// What sits at a frame position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A complete record holding the expected sequence.
    Valid(FrameHeader),
    /// `frame_length` is zero: nothing has been published here (yet).
    Blank,
    /// The segment is closed here: an end marker, or no room left.
    End,
    /// Something that is not a valid record for the expected sequence.
    Invalid(Corruption),
}

/// Classifies the frame at `pos`, which should hold `expected`.
pub(crate) fn check_frame(
    src: &impl FrameSource,
    header: &SegmentHeader,
    pos: usize,
    expected: u64,
) -> Frame {
    let segment_end = header.segment_size as usize;
    if pos >= segment_end {
        return Frame::End;
    }
    // A truncated file reads as zeros past its end.
    if pos + 4 > src.len() {
        return Frame::Blank;
    }
    let frame_length = match src.frame_length(pos) {
        0 => return Frame::Blank,
        END_OF_SEGMENT => return Frame::End,
        n => n,
    };
    let len = frame_length as usize;
    if len < FRAME_HEADER_LEN
        || !len.is_multiple_of(FRAME_ALIGN)
        || frame_length > header.max_frame_length
        || pos + len > segment_end.min(src.len())
    {
        return Frame::Invalid(Corruption::BadFrameLength {
            frame_length,
            expected_sequence: expected,
        });
    }
    let bytes = src.bytes(pos, len);
    let frame = decode_frame_header(frame_length, bytes);
    if frame_crc(frame_length, bytes) != frame.crc {
        return Frame::Invalid(Corruption::BadCrc {
            expected_sequence: expected,
        });
    }
    if frame_length_for(frame.payload_length as usize) != len {
        return Frame::Invalid(Corruption::BadFrameLength {
            frame_length,
            expected_sequence: expected,
        });
    }
    if frame.sequence != expected {
        return Frame::Invalid(Corruption::UnexpectedSequence {
            expected,
            found: frame.sequence,
        });
    }
    Frame::Valid(frame)
}

/// A frame that arrived as bytes from elsewhere (a replicated journal),
/// not from a segment.
struct Detached<'a>(&'a [u8]);

impl FrameSource for Detached<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn frame_length(&self, pos: usize) -> u32 {
        crate::format::get_u32(self.0, pos)
    }

    fn bytes(&self, pos: usize, len: usize) -> &[u8] {
        &self.0[pos..pos + len]
    }

    fn index_slot(&self, _pos: usize) -> u64 {
        0
    }
}

/// Checks one whole frame held in `bytes`, by the rules a segment's frames
/// meet (length, CRC, padding), and returns its sequence, meta and payload.
/// `max_frame` bounds its length as a segment header would.
pub fn check_frame_bytes(
    bytes: &[u8],
    max_frame: u32,
) -> Result<(u64, RecordMeta, &[u8]), Corruption> {
    let expected = if bytes.len() >= FRAME_HEADER_LEN {
        frame_sequence(bytes)
    } else {
        0
    };
    if bytes.len() < FRAME_HEADER_LEN || bytes.len() > max_frame as usize {
        return Err(Corruption::BadFrameLength {
            frame_length: bytes.len() as u32,
            expected_sequence: expected,
        });
    }
    let header = SegmentHeader::detached(bytes.len() as u64, max_frame);
    match check_frame(&Detached(bytes), &header, 0, expected) {
        Frame::Valid(frame) if frame.frame_length as usize == bytes.len() => Ok((
            frame.sequence,
            frame.meta,
            &bytes[FRAME_HEADER_LEN..FRAME_HEADER_LEN + frame.payload_length as usize],
        )),
        Frame::Invalid(problem) => Err(problem),
        _ => Err(Corruption::BadFrameLength {
            frame_length: crate::format::get_u32(bytes, 0),
            expected_sequence: expected,
        }),
    }
}

/// Where a walk over a segment stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Walk {
    /// Offset of the first frame that is not a valid record.
    pub(crate) pos: usize,
    /// The sequence that frame should have held.
    pub(crate) next_sequence: u64,
    /// What was found there.
    pub(crate) stop: Frame,
}

/// Walks valid records from `pos` (which should hold `expected`) to the
/// first frame that is not one.
pub(crate) fn walk(
    src: &impl FrameSource,
    header: &SegmentHeader,
    mut pos: usize,
    mut expected: u64,
) -> Walk {
    loop {
        match check_frame(src, header, pos, expected) {
            Frame::Valid(frame) => {
                pos += frame.frame_length as usize;
                expected += 1;
            }
            stop => {
                return Walk {
                    pos,
                    next_sequence: expected,
                    stop,
                };
            }
        }
    }
}

/// How far past a stop recovery scans for a later valid record (rule R5).
/// Bounded so that opening stays cheap: the normal end of a log is a blank
/// frame followed by zeros, and this much of them is read on every open.
pub(crate) const HOLE_SCAN: usize = 1 << 20;

/// A valid record with a sequence after `expected` that starts after `pos`,
/// where a frame for `expected` stopped being valid: proof that `pos` is a
/// hole in the log rather than its torn end (rule R5). Looks, in order:
/// 1. where the next record would start if the frame at `pos` had any
///    length up to `max frame`;
/// 2. at every 8-byte boundary in the next [`HOLE_SCAN`] bytes, so the
///    nearest later record is the one named;
/// 3. at every sparse-index slot for a later sequence (each names a record
///    the writer had finished), for damage longer than the scan.
///
/// Returns the record's offset and sequence.
pub(crate) fn later_record(
    src: &impl FrameSource,
    header: &SegmentHeader,
    pos: usize,
    expected: u64,
) -> Option<(usize, u64)> {
    let limit = (header.segment_size as usize).min(src.len());
    let valid_at = |q: usize, sequence: u64| {
        q + FRAME_HEADER_LEN <= limit
            && matches!(check_frame(src, header, q, sequence), Frame::Valid(_))
    };
    let next_start = (pos + FRAME_ALIGN..=pos + header.max_frame_length as usize)
        .step_by(FRAME_ALIGN)
        .take_while(|q| q + FRAME_HEADER_LEN <= limit)
        .find(|&q| {
            frame_sequence(src.bytes(q, FRAME_HEADER_LEN)) == expected + 1
                && valid_at(q, expected + 1)
        });
    if let Some(q) = next_start {
        return Some((q, expected + 1));
    }
    // Zeros, the normal content past the end, fail the first comparison.
    let scanned = (pos + FRAME_ALIGN..limit.min(pos + HOLE_SCAN))
        .step_by(FRAME_ALIGN)
        .take_while(|q| q + FRAME_HEADER_LEN <= limit)
        .find_map(|q| {
            let sequence = frame_sequence(src.bytes(q, FRAME_HEADER_LEN));
            (sequence > expected && valid_at(q, sequence)).then_some((q, sequence))
        });
    if scanned.is_some() {
        return scanned;
    }
    let stride = u64::from(header.index_stride);
    let first_slot = (expected - header.first_sequence) / stride + 1;
    for slot in first_slot..u64::from(header.index_slots) {
        let sequence = header.first_sequence + slot * stride;
        let Some(at) = header.index_slot_offset(sequence) else {
            break;
        };
        let offset = src.index_slot(at) as usize;
        if offset > pos && offset.is_multiple_of(FRAME_ALIGN) && valid_at(offset, sequence) {
            return Some((offset, sequence));
        }
    }
    None
}

/// The closest known frame at or before `target`: the highest sparse-index
/// slot that points at a valid record, or the segment's first frame.
/// Returns `(offset, sequence at that offset)`.
pub(crate) fn seek_hint(
    src: &impl FrameSource,
    header: &SegmentHeader,
    target: u64,
) -> (usize, u64) {
    let first = header.first_sequence;
    let stride = u64::from(header.index_stride);
    let mut slot_sequence = first + (target.saturating_sub(first) / stride) * stride;
    while slot_sequence > first {
        if let Some(slot) = header.index_slot_offset(slot_sequence) {
            let offset = src.index_slot(slot);
            // Slots are hints: a crash can leave one unwritten or stale, so
            // each is trusted only if it points at the record it names.
            if offset >= header.data_offset
                && offset < header.segment_size
                && (offset as usize).is_multiple_of(FRAME_ALIGN)
                && matches!(
                    check_frame(src, header, offset as usize, slot_sequence),
                    Frame::Valid(_)
                )
            {
                return (offset as usize, slot_sequence);
            }
        }
        slot_sequence -= stride;
    }
    (header.data_offset as usize, first)
}

/// The last frame the sparse index knows: the highest slot that points at a
/// valid record holding its sequence, or the segment's first frame. A walk
/// from there to the end reads at most one index stride of records.
/// Returns `(offset, sequence at that offset)`.
pub(crate) fn last_indexed(src: &impl FrameSource, header: &SegmentHeader) -> (usize, u64) {
    let stride = u64::from(header.index_stride);
    (1..u64::from(header.index_slots))
        .rev()
        .find_map(|slot| {
            let sequence = header.first_sequence + slot * stride;
            let offset = src.index_slot(header.index_slot_offset(sequence)?) as usize;
            (offset >= header.data_offset as usize
                && offset < header.segment_size as usize
                && offset.is_multiple_of(FRAME_ALIGN)
                && matches!(check_frame(src, header, offset, sequence), Frame::Valid(_)))
            .then_some((offset, sequence))
        })
        .unwrap_or((header.data_offset as usize, header.first_sequence))
}
