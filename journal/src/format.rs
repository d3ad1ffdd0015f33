//! The on-disk layout: segment header, frame header, sparse index and the
//! CRC rules, as constants and pure encode/decode functions.
//!
//! Everything that knows a byte offset lives here, so the layout diagram in
//! the crate doc and the code cannot drift apart. This module does no I/O
//! and never touches a memory map.

/// The first eight bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"MXJRNL\0\0";
/// The segment format this build writes and reads.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header proper (the rest of the header page is the
/// sparse index).
pub(crate) const SEGMENT_HEADER_LEN: usize = 64;

// Segment header field offsets.
const SH_MAGIC: usize = 0;
const SH_VERSION: usize = 8;
const SH_HEADER_CRC: usize = 12;
const SH_FIRST_SEQUENCE: usize = 16;
const SH_SEGMENT_SIZE: usize = 24;
const SH_DATA_OFFSET: usize = 32;
const SH_INDEX_STRIDE: usize = 40;
const SH_INDEX_SLOTS: usize = 44;
const SH_MAX_FRAME: usize = 48;
const SH_PAYLOAD_FORMAT: usize = 52;

/// Bytes of a frame header; the payload starts right after it.
pub const FRAME_HEADER_LEN: usize = 40;
/// Frames start and end on this boundary.
pub(crate) const FRAME_ALIGN: usize = 8;
/// `frame_length` of the marker that closes a segment before it is full.
pub(crate) const END_OF_SEGMENT: u32 = u32::MAX;

// Frame header field offsets; `frame_length` is at 0.
const FH_CRC: usize = 4;
const FH_SEQUENCE: usize = 8;
const FH_TIMESTAMP: usize = 16;
const FH_PARTITION: usize = 24;
const FH_PAYLOAD_LENGTH: usize = 28;
const FH_SOURCE_OFFSET: usize = 32;

/// Bytes per sparse-index slot (a little-endian u64 frame offset).
pub(crate) const INDEX_SLOT_LEN: usize = 8;
/// Records between sparse-index slots.
pub(crate) const DEFAULT_INDEX_STRIDE: u32 = 1024;
/// Page size the data region is aligned to.
pub(crate) const PAGE: usize = 4096;

/// The fixed facts of one segment, as stored in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// Sequence of the first record in the segment.
    pub first_sequence: u64,
    /// File length in bytes, header and index included.
    pub segment_size: u64,
    /// Offset of the first frame.
    pub data_offset: u64,
    /// Records between sparse-index slots.
    pub index_stride: u32,
    /// Number of sparse-index slots after the header.
    pub index_slots: u32,
    /// Largest frame the writer would write, header and padding included.
    pub max_frame_length: u32,
    /// The caller's tag for what its payloads are; 0 when it gave none.
    pub payload_format: u32,
}

/// Why a segment header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// The file does not start with [`SEGMENT_MAGIC`].
    BadMagic,
    /// Written by another format version.
    Version(u32),
    /// The header CRC does not match.
    BadCrc,
    /// The fields contradict each other or the file.
    Inconsistent,
}

impl SegmentHeader {
    /// The header a lone frame of `len` bytes is checked against: the
    /// frame is the whole "segment", and `max_frame` bounds it.
    pub(crate) fn detached(len: u64, max_frame: u32) -> SegmentHeader {
        SegmentHeader {
            first_sequence: 0,
            segment_size: len,
            data_offset: 0,
            index_stride: 1,
            index_slots: 0,
            max_frame_length: max_frame,
            payload_format: 0,
        }
    }

    /// Lays out a segment of `segment_size` bytes starting at `first_sequence`.
    /// Returns `None` when the size leaves no room for a frame of
    /// `max_frame_length`.
    pub fn plan(
        first_sequence: u64,
        segment_size: u64,
        index_stride: u32,
        max_frame_length: u32,
        payload_format: u32,
    ) -> Option<SegmentHeader> {
        // Enough slots for a segment full of empty-payload frames.
        let most_records = segment_size / FRAME_HEADER_LEN as u64;
        let index_slots = u32::try_from(most_records.div_ceil(u64::from(index_stride))).ok()?;
        let data_offset = align_up(
            SEGMENT_HEADER_LEN + index_slots as usize * INDEX_SLOT_LEN,
            PAGE,
        ) as u64;
        let header = SegmentHeader {
            first_sequence,
            segment_size,
            data_offset,
            index_stride,
            index_slots,
            max_frame_length,
            payload_format,
        };
        header.is_consistent().then_some(header)
    }

    fn is_consistent(&self) -> bool {
        self.index_stride > 0
            && self.max_frame_length as usize >= FRAME_HEADER_LEN
            && (self.max_frame_length as usize).is_multiple_of(FRAME_ALIGN)
            && self.max_frame_length != END_OF_SEGMENT
            && (self.data_offset as usize).is_multiple_of(PAGE)
            && self.data_offset
                >= (SEGMENT_HEADER_LEN + self.index_slots as usize * INDEX_SLOT_LEN) as u64
            && self.segment_size.is_multiple_of(FRAME_ALIGN as u64)
            && self.segment_size >= self.data_offset + u64::from(self.max_frame_length)
    }

    /// The header's byte form.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[SH_MAGIC..SH_MAGIC + 8].copy_from_slice(&SEGMENT_MAGIC);
        put_u32(&mut b, SH_VERSION, SEGMENT_FORMAT_VERSION);
        put_u64(&mut b, SH_FIRST_SEQUENCE, self.first_sequence);
        put_u64(&mut b, SH_SEGMENT_SIZE, self.segment_size);
        put_u64(&mut b, SH_DATA_OFFSET, self.data_offset);
        put_u32(&mut b, SH_INDEX_STRIDE, self.index_stride);
        put_u32(&mut b, SH_INDEX_SLOTS, self.index_slots);
        put_u32(&mut b, SH_MAX_FRAME, self.max_frame_length);
        put_u32(&mut b, SH_PAYLOAD_FORMAT, self.payload_format);
        let crc = header_crc(&b);
        put_u32(&mut b, SH_HEADER_CRC, crc);
        b
    }

    /// Parses and checks a header.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        if b.len() < SEGMENT_HEADER_LEN || b[SH_MAGIC..SH_MAGIC + 8] != SEGMENT_MAGIC {
            return Err(HeaderProblem::BadMagic);
        }
        let version = get_u32(b, SH_VERSION);
        if version != SEGMENT_FORMAT_VERSION {
            return Err(HeaderProblem::Version(version));
        }
        if get_u32(b, SH_HEADER_CRC) != header_crc(b) {
            return Err(HeaderProblem::BadCrc);
        }
        let header = SegmentHeader {
            first_sequence: get_u64(b, SH_FIRST_SEQUENCE),
            segment_size: get_u64(b, SH_SEGMENT_SIZE),
            data_offset: get_u64(b, SH_DATA_OFFSET),
            index_stride: get_u32(b, SH_INDEX_STRIDE),
            index_slots: get_u32(b, SH_INDEX_SLOTS),
            max_frame_length: get_u32(b, SH_MAX_FRAME),
            payload_format: get_u32(b, SH_PAYLOAD_FORMAT),
        };
        if header.is_consistent() {
            Ok(header)
        } else {
            Err(HeaderProblem::Inconsistent)
        }
    }

    /// File offset of the sparse-index slot for `sequence`, if it has one.
    pub(crate) fn index_slot_offset(&self, sequence: u64) -> Option<usize> {
        let delta = sequence.checked_sub(self.first_sequence)?;
        if delta % u64::from(self.index_stride) != 0 {
            return None;
        }
        let slot = delta / u64::from(self.index_stride);
        (slot < u64::from(self.index_slots))
            .then(|| SEGMENT_HEADER_LEN + slot as usize * INDEX_SLOT_LEN)
    }
}

/// CRC of a segment header: every byte but the CRC field itself.
fn header_crc(b: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&b[..SH_HEADER_CRC]);
    crc32c::crc32c_append(crc, &b[SH_HEADER_CRC + 4..SEGMENT_HEADER_LEN])
}

/// The per-record facts the caller supplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordMeta {
    /// When the input reached the process, in nanoseconds since the Unix
    /// epoch. The journal stores it; it never reads a clock itself.
    pub timestamp_ns: u64,
    /// Kafka partition the input came from, or `RecordMeta::NO_SOURCE`.
    pub source_partition: i32,
    /// Kafka offset the input came from, or `RecordMeta::NO_SOURCE`.
    pub source_offset: i64,
}

impl RecordMeta {
    /// Partition and offset of a record that did not come from Kafka.
    pub(crate) const NO_SOURCE: i32 = -1;

    /// Meta for a record with no Kafka source.
    pub fn unsourced(timestamp_ns: u64) -> RecordMeta {
        RecordMeta {
            timestamp_ns,
            source_partition: RecordMeta::NO_SOURCE,
            source_offset: i64::from(RecordMeta::NO_SOURCE),
        }
    }
}

/// A frame header as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// Header, payload and padding, a multiple of [`FRAME_ALIGN`].
    pub frame_length: u32,
    /// Stored CRC32C.
    pub crc: u32,
    /// Journal sequence.
    pub sequence: u64,
    /// Caller-supplied facts.
    pub meta: RecordMeta,
    /// Payload bytes, without padding.
    pub payload_length: u32,
}

/// Frame length for a payload: header plus payload, rounded up to
/// [`FRAME_ALIGN`].
pub(crate) fn frame_length_for(payload_length: usize) -> usize {
    align_up(FRAME_HEADER_LEN + payload_length, FRAME_ALIGN)
}

/// Fills everything in `frame` except `frame_length`, which the writer
/// publishes last (see the commit rule in the crate doc). `frame` is the
/// whole frame, payload already in place after the header; the padding is
/// zeroed here. Returns the `frame_length` to publish.
pub(crate) fn seal_frame(
    frame: &mut [u8],
    sequence: u64,
    meta: &RecordMeta,
    payload_length: u32,
) -> u32 {
    let frame_length = frame.len() as u32;
    put_u64(frame, FH_SEQUENCE, sequence);
    put_u64(frame, FH_TIMESTAMP, meta.timestamp_ns);
    put_u32(frame, FH_PARTITION, meta.source_partition as u32);
    put_u32(frame, FH_PAYLOAD_LENGTH, payload_length);
    put_u64(frame, FH_SOURCE_OFFSET, meta.source_offset as u64);
    frame[FRAME_HEADER_LEN + payload_length as usize..].fill(0);
    let crc = frame_crc(frame_length, frame);
    put_u32(frame, FH_CRC, crc);
    frame_length
}

/// CRC32C over the `frame_length` value and bytes 8.. of the frame: the
/// whole frame except the CRC field itself.
pub(crate) fn frame_crc(frame_length: u32, frame: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&frame_length.to_le_bytes());
    crc32c::crc32c_append(crc, &frame[FH_SEQUENCE..])
}

/// Reads the fixed fields of a frame header from its first
/// [`FRAME_HEADER_LEN`] bytes.
pub(crate) fn decode_frame_header(frame_length: u32, b: &[u8]) -> FrameHeader {
    FrameHeader {
        frame_length,
        crc: get_u32(b, FH_CRC),
        sequence: get_u64(b, FH_SEQUENCE),
        meta: RecordMeta {
            timestamp_ns: get_u64(b, FH_TIMESTAMP),
            source_partition: get_u32(b, FH_PARTITION) as i32,
            source_offset: get_u64(b, FH_SOURCE_OFFSET) as i64,
        },
        payload_length: get_u32(b, FH_PAYLOAD_LENGTH),
    }
}

/// Reads only the sequence field of a frame header.
pub(crate) fn frame_sequence(b: &[u8]) -> u64 {
    get_u64(b, FH_SEQUENCE)
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub(crate) fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Little-endian u32 at `at`.
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// Little-endian u64 at `at`.
pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_every_single_byte_flip() {
        let header = SegmentHeader::plan(42, 1 << 20, DEFAULT_INDEX_STRIDE, 4096, 7).unwrap();
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for i in 0..SEGMENT_HEADER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x5a;
            assert!(SegmentHeader::decode(&bad).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn plan_puts_the_data_region_on_a_page_after_the_index() {
        let header = SegmentHeader::plan(1, 1 << 30, DEFAULT_INDEX_STRIDE, 1 << 16, 0).unwrap();
        // 1 GiB / 40-byte frames / 1024 per slot = 26,215 slots of 8 bytes.
        assert_eq!(header.index_slots, 26_215);
        assert_eq!(header.data_offset, 52 * 4096);
        assert!(SegmentHeader::plan(1, 8192, DEFAULT_INDEX_STRIDE, 1 << 16, 0).is_none());
    }

    #[test]
    fn frame_crc_covers_the_length_and_everything_after_the_crc_field() {
        let mut frame = vec![0u8; frame_length_for(5)];
        frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + 5].copy_from_slice(b"hello");
        let meta = RecordMeta {
            timestamp_ns: 7,
            source_partition: 3,
            source_offset: 99,
        };
        let len = seal_frame(&mut frame, 11, &meta, 5);
        assert_eq!(len, 48);
        let header = decode_frame_header(len, &frame);
        assert_eq!(header.crc, frame_crc(len, &frame));
        assert_eq!(
            (header.sequence, header.meta, header.payload_length),
            (11, meta, 5)
        );
        assert_ne!(frame_crc(len + 8, &frame), header.crc);
        for i in FH_SEQUENCE..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 1;
            assert_ne!(frame_crc(len, &bad), header.crc, "flip at {i} not covered");
        }
    }
}
