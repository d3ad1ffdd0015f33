//! What must hold for any damage to a journal's files: the fuzz target
//! `journal/fuzz/fuzz_targets/recover.rs` and the CI slice in
//! `journal/tests/fuzz_journal.rs` both call [`check`].
//!
//! A small journal (three 64 KiB segments, two snapshots) is built once.
//! Each input is read as a list of mutations (flips, writes, zeroed runs,
//! truncations, copied ranges) applied to copies of its files, and then:
//!
//! 1. **Reading without recovery** (what `replay` does beside an engine)
//!    never panics; every record it returns is the original, or sits on
//!    mutated bytes and is a valid frame by the documented layout; it stops
//!    early without an error only in the last segment (a reader cannot
//!    tell a live end from a hole there); every error names a mutated file
//!    (or, for a gap, the file after one).
//! 2. **Snapshots** load as the original bytes or fail naming their file,
//!    and `latest_valid` picks the newest that loads.
//! 3. **Recovery** (`Journal::open`) does exactly what an independent model
//!    of the crate doc's rules R1-R6 says: open cleanly, cut a torn tail at
//!    the model's offset, or fail naming the model's file and offset. No
//!    valid record after a cut survives the cut (no silent loss). After a
//!    successful open the log reads back and takes a new record.
//!
//! The model reads the files by the documented layout, independently of
//! the crate's code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use journal::{Corruption, Error, Journal, JournalOptions, Reader, RecordMeta, SnapshotStore};

const SEGMENT_SIZE: u64 = 64 * 1024;
const MAX_PAYLOAD: usize = 512;
const RECORDS: u64 = 700;
const SNAPSHOTS: [u64; 2] = [300, 600];
/// At most this many mutations per input.
const MOST_MUTATIONS: usize = 12;

fn options() -> JournalOptions {
    JournalOptions::new()
        .segment_size(SEGMENT_SIZE)
        .max_payload(MAX_PAYLOAD)
        .index_stride(16)
        .use_io_uring(false)
        .prefault(false)
}

fn payload(sequence: u64) -> Vec<u8> {
    let len = (sequence.wrapping_mul(2_654_435_761) % 301) as usize;
    (0..len)
        .map(|i| (sequence as usize).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

fn meta(sequence: u64) -> RecordMeta {
    RecordMeta {
        timestamp_ns: 1_700_000_000_000_000_000 + sequence,
        source_partition: (sequence % 7) as i32,
        source_offset: sequence as i64 * 3,
    }
}

/// The undamaged journal, in memory: file name to bytes, in name order.
struct Base {
    files: BTreeMap<String, Vec<u8>>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut writer = Journal::open(dir.path(), options())
            .and_then(|j| j.into_writer())
            .expect("a new journal");
        for sequence in 1..=RECORDS {
            writer
                .append(&meta(sequence), &payload(sequence))
                .expect("append");
            if SNAPSHOTS.contains(&sequence) {
                let state = format!("state after {sequence}").repeat(40);
                SnapshotStore::new(dir.path())
                    .write(sequence, state.as_bytes())
                    .expect("snapshot");
            }
        }
        writer.close().expect("close");
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir.path()).expect("list") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if name.ends_with(".seg") || name.ends_with(".snap") {
                files.insert(name, std::fs::read(&path).expect("read"));
            }
        }
        assert_eq!(files.keys().filter(|n| n.ends_with(".seg")).count(), 3);
        Base { files }
    })
}

/// Damaged copies of the files, and which byte ranges each mutation hit.
struct Damaged {
    files: BTreeMap<String, Vec<u8>>,
    touched: BTreeMap<String, Vec<(usize, usize)>>,
}

impl Damaged {
    fn touched(&self, name: &str, from: usize, to: usize) -> bool {
        self.touched
            .get(name)
            .is_some_and(|ranges| ranges.iter().any(|&(a, b)| a < to && from < b))
    }
}

/// Reads mutations from the fuzzer's bytes: 8 bytes each, `[kind, file,
/// at (3 bytes), value (3 bytes)]`, little-endian.
fn damage(data: &[u8]) -> Damaged {
    let mut files = base().files.clone();
    let names: Vec<String> = files.keys().cloned().collect();
    let mut touched: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for chunk in data.chunks_exact(8).take(MOST_MUTATIONS) {
        let name = &names[usize::from(chunk[1]) % names.len()];
        let bytes = files.get_mut(name).expect("a file");
        if bytes.is_empty() {
            continue;
        }
        let len = bytes.len();
        let word = |b: &[u8]| usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16;
        let at = word(&chunk[2..5]) % len;
        let value = word(&chunk[5..8]);
        let hit = match chunk[0] % 7 {
            0 => {
                bytes[at] ^= (value as u8).max(1);
                (at, at + 1)
            }
            1 => {
                let end = (at + 4).min(len);
                bytes[at..end].copy_from_slice(&(value as u32).to_le_bytes()[..end - at]);
                (at, end)
            }
            2 => {
                let end = (at + value % 4096 + 1).min(len);
                bytes[at..end].fill(0);
                (at, end)
            }
            3 => {
                // Frame fields sit on 4- and 8-byte boundaries.
                let at = at & !7;
                let end = (at + 8).min(len);
                let word = (value as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                bytes[at..end].copy_from_slice(&word.to_le_bytes()[..end - at]);
                (at, end)
            }
            4 => {
                bytes.truncate(at);
                (at, len)
            }
            5 => {
                // Copy a run of this file over another place in it: a frame
                // that is valid, but in the wrong place.
                let from = (value * 8) % len;
                let run = (value % 512 + 8).min(len - at).min(len - from);
                bytes.copy_within(from..from + run, at);
                (at, at + run)
            }
            _ => {
                bytes[at] = value as u8;
                (at, at + 1)
            }
        };
        touched.entry(name.clone()).or_default().push(hit);
    }
    Damaged { files, touched }
}

/// Checks one input: the mutations it describes, applied and read back.
pub fn check(data: &[u8]) {
    let damaged = damage(data);
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, bytes) in &damaged.files {
        std::fs::write(dir.path().join(name), bytes).expect("write a damaged file");
    }
    check_reader(dir.path(), &damaged);
    check_snapshots(dir.path(), &damaged);
    check_recovery(dir.path(), &damaged);
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string()
}

fn segment_names(damaged: &Damaged) -> Vec<String> {
    damaged
        .files
        .keys()
        .filter(|n| n.ends_with(".seg"))
        .cloned()
        .collect()
}

/// An error from reading must name a file that was damaged, or the
/// segment after a damaged one (a gap is reported where it shows).
fn assert_names_damage(err: &Error, damaged: &Damaged) {
    let path: Option<&PathBuf> = match err {
        Error::Corrupt { path, .. }
        | Error::BadSegmentHeader { path, .. }
        | Error::BadSnapshot { path, .. }
        | Error::Io { path, .. } => Some(path),
        _ => None,
    };
    let Some(path) = path else {
        panic!("an error that names no file: {err}");
    };
    let name = name_of(path);
    let segments = segment_names(damaged);
    let previous = segments
        .iter()
        .position(|s| *s == name)
        .and_then(|i| i.checked_sub(1))
        .map(|i| segments[i].clone());
    let gap = matches!(
        err,
        Error::Corrupt {
            problem: Corruption::SegmentGap { .. },
            ..
        }
    );
    assert!(
        damaged.touched.contains_key(&name)
            || (gap && previous.is_some_and(|p| damaged.touched.contains_key(&p))),
        "an error names {name}, which was not damaged: {err}"
    );
    if let Error::Corrupt { offset, .. } = err {
        let len = damaged.files.get(&name).map_or(0, Vec::len) as u64;
        assert!(
            *offset <= len.max(SEGMENT_SIZE),
            "offset {offset} beyond {name}"
        );
    }
}

/// A record handed out: the original, or a frame made by the damage that
/// is valid by the documented rules.
fn assert_record_is_honest(record: &journal::Record<'_>, damaged: &Damaged) {
    let name = name_of(record.segment());
    let offset = record.offset() as usize;
    let length = frame_length(record.payload().len());
    let original =
        record.meta() == meta(record.sequence()) && record.payload() == payload(record.sequence());
    if original && !damaged.touched(&name, offset, offset + length) {
        return;
    }
    assert!(
        damaged.touched(&name, offset, offset + length),
        "record {} in {name} at {offset} differs from what was written, on bytes no mutation touched",
        record.sequence()
    );
    let bytes = &damaged.files[&name];
    assert!(
        model::valid_frame(bytes, offset, record.sequence()).is_some(),
        "record {} at {offset} in {name} is not a valid frame by the documented layout",
        record.sequence()
    );
}

fn frame_length(payload: usize) -> usize {
    (40 + payload).div_ceil(8) * 8
}

fn check_reader(dir: &Path, damaged: &Damaged) {
    let Ok(reader) = Reader::open(dir) else {
        panic!("the directory exists");
    };
    let mut cursor = match reader.read_all() {
        Ok(cursor) => cursor,
        Err(err) => return assert_names_damage(&err, damaged),
    };
    let newest = segment_names(damaged)
        .last()
        .and_then(|name| name.trim_end_matches(".seg").parse::<u64>().ok())
        .unwrap_or(1);
    loop {
        match cursor.next() {
            Ok(Some(record)) => assert_record_is_honest(&record, damaged),
            Ok(None) => {
                // Only the last segment may end early: it might be live.
                assert!(
                    cursor.next_sequence() >= newest,
                    "the reader stopped at {} before the last segment, which starts at {newest}",
                    cursor.next_sequence()
                );
                return;
            }
            Err(err) => return assert_names_damage(&err, damaged),
        }
    }
}

fn check_snapshots(dir: &Path, damaged: &Damaged) {
    let store = SnapshotStore::new(dir);
    let mut newest_good = None;
    for sequence in store.list().expect("list snapshots") {
        let name = format!("{sequence:020}.snap");
        match store.load(sequence) {
            Ok(snapshot) => {
                let original = &base().files[&name][64..];
                if snapshot.payload() != original {
                    assert!(
                        damaged.touched.contains_key(&name),
                        "{name} changed untouched"
                    );
                }
                newest_good = newest_good.max(Some(sequence));
            }
            Err(err) => assert_names_damage(&err, damaged),
        }
    }
    let latest = store
        .latest_valid()
        .expect("no I/O error")
        .map(|s| s.sequence());
    assert_eq!(latest, newest_good, "latest_valid is the newest that loads");
}

fn check_recovery(dir: &Path, damaged: &Damaged) {
    let expected = model::recover(damaged);
    let result = Journal::open(dir, options());
    match (&expected, result) {
        (model::Outcome::Fails { file, offset }, Err(err)) => {
            assert_names_damage(&err, damaged);
            let (name, at) = match &err {
                Error::Corrupt { path, offset, .. } => (name_of(path), Some(*offset)),
                Error::BadSegmentHeader { path, .. } | Error::Io { path, .. } => {
                    (name_of(path), None)
                }
                other => panic!("unexpected error {other}"),
            };
            assert_eq!(&name, file, "{err}");
            if let Some(offset) = offset {
                assert_eq!(at, Some(*offset as u64), "{err}");
            }
        }
        (model::Outcome::Opens { next, torn_at }, Ok(recovered)) => {
            assert_eq!(recovered.next_sequence(), *next, "where the log ends");
            let torn = recovered
                .report()
                .torn_tail
                .as_ref()
                .map(|t| t.offset as usize);
            assert_eq!(torn, *torn_at, "the torn tail");
            let mut writer = recovered.into_writer().expect("a writer after recovery");
            assert_eq!(writer.next_sequence(), *next);
            writer
                .append(&meta(*next), b"after recovery")
                .expect("append after recovery");
            drop(writer);
            // The log takes appends again, and they read back.
            let mut cursor = Reader::open(dir)
                .and_then(|r| r.read_from(*next))
                .expect("a seek to the new record");
            let record = cursor
                .next()
                .expect("no damage after recovery")
                .expect("the new record");
            assert_eq!(record.payload(), b"after recovery");
        }
        (expected, Err(err)) => panic!("the model expects {expected:?}, recovery failed: {err}"),
        (expected, Ok(recovered)) => panic!(
            "the model expects {expected:?}, recovery opened with next {} and torn tail {:?}",
            recovered.next_sequence(),
            recovered.report().torn_tail
        ),
    }
}

/// The crate doc's layout and recovery rules, written out again from the
/// documentation.
mod model {
    use super::{Damaged, SEGMENT_SIZE, segment_names};

    /// What recovery must do.
    #[derive(Debug)]
    pub enum Outcome {
        /// Open; `next` is the next sequence; a torn tail cut at `torn_at`.
        Opens { next: u64, torn_at: Option<usize> },
        /// Fail naming `file`, and `offset` for damage to records.
        Fails { file: String, offset: Option<usize> },
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(v)
    }

    /// The header fields the rules use, if the 64-byte header is intact
    /// (magic, version 1, CRC of bytes 0..12 and 16..64) and matches the
    /// file's name.
    struct Header {
        first_sequence: u64,
        data_offset: usize,
        index_stride: u64,
        index_slots: usize,
        max_frame: u32,
    }

    fn header(bytes: &[u8], name: &str) -> Option<Header> {
        if bytes.len() < 64 || bytes[..8] != *b"MXJRNL\0\0" || u32_at(bytes, 8) != 1 {
            return None;
        }
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..12]), &bytes[16..64]);
        if crc != u32_at(bytes, 12) {
            return None;
        }
        let first_sequence = u64_at(bytes, 16);
        if format!("{first_sequence:020}.seg") != name || u64_at(bytes, 24) != SEGMENT_SIZE {
            return None;
        }
        Some(Header {
            first_sequence,
            data_offset: u64_at(bytes, 32) as usize,
            index_stride: u64::from(u32_at(bytes, 40)),
            index_slots: u32_at(bytes, 44) as usize,
            max_frame: u32_at(bytes, 48),
        })
    }

    /// Byte `at`, reading a short file as zeros (recovery extends it).
    fn byte(bytes: &[u8], at: usize) -> u8 {
        bytes.get(at).copied().unwrap_or(0)
    }

    fn slice(bytes: &[u8], at: usize, len: usize) -> Vec<u8> {
        (at..at + len).map(|i| byte(bytes, i)).collect()
    }

    /// The frame at `at`, if valid by the layout: a length that is a
    /// multiple of 8, at least 40, at most `max frame` and inside the
    /// segment; a CRC32C of the length bytes and bytes 8.. matching; a
    /// payload length that fills it; and the sequence `sequence`.
    pub fn valid_frame(bytes: &[u8], at: usize, sequence: u64) -> Option<usize> {
        let max_frame = if bytes.len() >= 64 {
            u32_at(bytes, 48)
        } else {
            0
        };
        let length = u32::from_le_bytes(slice(bytes, at, 4).try_into().ok()?);
        let len = length as usize;
        if len < 40
            || !len.is_multiple_of(8)
            || length > max_frame
            || at + len > SEGMENT_SIZE as usize
            || length == u32::MAX
        {
            return None;
        }
        let frame = slice(bytes, at, len);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&frame[..4]), &frame[8..]);
        let payload = u32_at(&frame, 28) as usize;
        let ok = crc == u32_at(&frame, 4)
            && (40 + payload).div_ceil(8) * 8 == len
            && u64_at(&frame, 8) == sequence;
        ok.then_some(len)
    }

    /// Any valid frame with a sequence above `expected` after `from`.
    fn later_record(bytes: &[u8], from: usize, expected: u64) -> bool {
        (from + 8..=SEGMENT_SIZE as usize - 40).step_by(8).any(|q| {
            let sequence = u64::from_le_bytes(slice(bytes, q + 8, 8).try_into().unwrap_or([0; 8]));
            sequence > expected && valid_frame(bytes, q, sequence).is_some()
        })
    }

    /// R1-R6 on the damaged files.
    pub fn recover(damaged: &Damaged) -> Outcome {
        let names = segment_names(damaged);
        // R1: every segment's header is valid and matches its name.
        let mut headers = Vec::new();
        for name in &names {
            match header(&damaged.files[name], name) {
                Some(h) => headers.push(h),
                None => {
                    return Outcome::Fails {
                        file: name.clone(),
                        offset: None,
                    };
                }
            }
        }
        let name = names.last().expect("segments");
        let last = headers.last().expect("headers");
        let bytes = &damaged.files[name];
        // R2: walk the last segment from the newest index slot (8 bytes
        // each, from byte 64; slot k names sequence first + k * stride)
        // that points at a valid frame holding that sequence.
        let indexed = (1..last.index_slots).rev().find_map(|k| {
            let sequence = last.first_sequence + k as u64 * last.index_stride;
            let at = u64_at(&slice(bytes, 64 + k * 8, 8), 0) as usize;
            (at >= last.data_offset
                && at.is_multiple_of(8)
                && valid_frame(bytes, at, sequence).is_some())
            .then_some((at, sequence))
        });
        let (mut pos, mut expected) = indexed.unwrap_or((last.data_offset, last.first_sequence));
        loop {
            if pos >= SEGMENT_SIZE as usize {
                // R3: a full segment ends cleanly.
                return Outcome::Opens {
                    next: expected,
                    torn_at: None,
                };
            }
            let length = u32::from_le_bytes(slice(bytes, pos, 4).try_into().unwrap_or([0; 4]));
            if length == u32::MAX {
                return Outcome::Opens {
                    next: expected,
                    torn_at: None,
                }; // R3
            }
            if let Some(len) = valid_frame(bytes, pos, expected) {
                pos += len;
                expected += 1;
                continue;
            }
            // R4: a frame valid but for its sequence is never cut.
            let found = u64::from_le_bytes(slice(bytes, pos + 8, 8).try_into().unwrap_or([0; 8]));
            if length != 0 && valid_frame(bytes, pos, found).is_some() {
                return Outcome::Fails {
                    file: name.clone(),
                    offset: Some(pos),
                };
            }
            // R5: a later valid record makes this a hole. (The segments here
            // are smaller than the 1 MiB the rule scans, so it sees all.)
            if later_record(bytes, pos, expected) {
                return Outcome::Fails {
                    file: name.clone(),
                    offset: Some(pos),
                };
            }
            // R6: the torn tail. It is reported when anything was there.
            let window = (last.max_frame as usize).min(SEGMENT_SIZE as usize - pos);
            let torn = length != 0 || slice(bytes, pos, window).iter().any(|&b| b != 0);
            return Outcome::Opens {
                next: expected,
                torn_at: torn.then_some(pos),
            };
        }
    }
}
