#![allow(clippy::unwrap_used)] // tests fail loudly by design

//! Damaged files, built by hand: every kind of damage is either cut off as
//! a torn tail (and only at the tail) or reported with the file and byte
//! offset. Offsets are found by walking frames with the layout in the crate
//! documentation, independently of the crate's own code.

mod common;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use common::{check_record, meta_for, payload_for, small_segments};
use journal::{Corruption, Error, Journal, JournalOptions, Reader, SnapshotStore};

/// One segment big enough for every record these tests write.
fn one_segment() -> JournalOptions {
    JournalOptions::new()
        .segment_size(4 << 20)
        .max_payload(1024)
        .index_stride(16)
}

fn write_journal(dir: &Path, options: JournalOptions, records: u64) {
    let mut writer = Journal::open(dir, options).unwrap().into_writer().unwrap();
    for sequence in 1..=records {
        writer
            .append(&meta_for(sequence), &payload_for(sequence))
            .unwrap();
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    paths.sort();
    paths
}

/// File offsets of every frame in a segment, read by the documented layout:
/// `data_offset` is the u64 at byte 32; each frame starts with its u32
/// length; 0 or 0xFFFF_FFFF ends the walk.
fn frame_offsets(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).unwrap();
    let mut pos = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let mut offsets = Vec::new();
    while pos + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        if len == 0 || len == u32::MAX {
            break;
        }
        offsets.push(pos as u64);
        pos += len as usize;
    }
    offsets
}

fn patch(path: &Path, offset: u64, f: impl FnOnce(&mut u8)) {
    let mut bytes = fs::read(path).unwrap();
    f(&mut bytes[offset as usize]);
    fs::write(path, bytes).unwrap();
}

fn expect_corrupt(result: Result<impl Sized, Error>, path: &Path, offset: u64) -> Corruption {
    match result {
        Err(err @ Error::Corrupt { .. }) => {
            let message = err.to_string();
            let Error::Corrupt {
                path: p,
                offset: o,
                problem,
            } = err
            else {
                unreachable!()
            };
            assert_eq!((p.as_path(), o), (path, offset), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(
                message.contains(&format!("byte offset {offset}")),
                "{message}"
            );
            problem
        }
        Err(other) => panic!("expected Corrupt at {offset}, got {other}"),
        Ok(_) => panic!("expected Corrupt at {offset}, got success"),
    }
}

fn read_all(dir: &Path) -> Result<u64, Error> {
    let mut cursor = Reader::open(dir)?.read_all()?;
    let mut last = 0;
    while let Some(record) = cursor.next()? {
        check_record(&record);
        last = record.sequence();
    }
    Ok(last)
}

/// With the index stride of 16 these tests use, the last slot of a
/// 2,000-record segment names sequence 1,985: open walks from there.
const LAST_INDEXED: u64 = 1_985;

#[test]
fn a_flipped_payload_byte_after_the_last_index_slot_fails_open_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), one_segment(), 2_000);
    let segment = &segments(dir.path())[0];
    let frame = frame_offsets(segment)[1_994]; // sequence 1995
    patch(segment, frame + 40 + 3, |b| *b ^= 0xff);

    let problem = expect_corrupt(Journal::open(dir.path(), one_segment()), segment, frame);
    assert_eq!(
        problem,
        Corruption::BadCrc {
            expected_sequence: 1_995
        }
    );
    // Readers stop at the same place, after handing out everything before it.
    let mut cursor = Reader::open(dir.path()).unwrap().read_all().unwrap();
    for expected in 1..1_995 {
        assert_eq!(cursor.next().unwrap().unwrap().sequence(), expected);
    }
    expect_corrupt(cursor.next(), segment, frame);
}

/// Open reads only what follows the last frame the index knows (rule 2),
/// so damage before it is found by whoever reads it: nothing is cut, and
/// every reader names the file and offset.
#[test]
fn damage_before_the_last_index_slot_is_reported_when_read_and_nothing_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), one_segment(), 2_000);
    let segment = &segments(dir.path())[0];
    let frame = frame_offsets(segment)[999]; // sequence 1000
    patch(segment, frame + 40 + 3, |b| *b ^= 0xff);
    let damaged = fs::read(segment).unwrap();

    let recovered = Journal::open(dir.path(), one_segment()).unwrap();
    assert_eq!(recovered.next_sequence(), 2_001);
    assert_eq!(recovered.report().torn_tail, None);
    drop(recovered);
    assert!(fs::read(segment).unwrap() == damaged, "nothing was changed");
    expect_corrupt(Reader::open(dir.path()).unwrap().verify(), segment, frame);
    expect_corrupt(read_all(dir.path()), segment, frame);
}

#[test]
fn a_damaged_length_field_mid_segment_is_an_error_not_an_end() {
    // Flipped: an impossible length. Zeroed: a blank frame with records
    // after it, which must not pass for the end of the log.
    for zeroed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_journal(dir.path(), one_segment(), 500);
        let segment = &segments(dir.path())[0];
        let frames = frame_offsets(segment);
        // Sequence 499: after 497, the last one the index names.
        let frame = frames[498];
        let mut bytes = fs::read(segment).unwrap();
        let field = &mut bytes[frame as usize..frame as usize + 4];
        if zeroed {
            field.fill(0);
        } else {
            field[0] ^= 0xff;
        }
        fs::write(segment, bytes).unwrap();

        let problem = expect_corrupt(Journal::open(dir.path(), one_segment()), segment, frame);
        if zeroed {
            assert_eq!(
                problem,
                Corruption::HoleBeforeValidRecords {
                    expected_sequence: 499,
                    next_sequence: 500,
                    next_offset: frames[499],
                }
            );
        } else {
            assert!(
                matches!(
                    problem,
                    Corruption::BadFrameLength { .. } | Corruption::BadCrc { .. }
                ),
                "{problem:?}"
            );
        }
    }
}

#[test]
fn damage_in_an_older_segment_is_reported_when_read() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), small_segments(), 3_000);
    let segment = &segments(dir.path())[1];
    let frame = frame_offsets(segment)[10];
    patch(segment, frame + 20, |b| *b ^= 0x01); // the timestamp field

    // Open walks only the last segment, so it succeeds...
    Journal::open(dir.path(), small_segments()).unwrap();
    // ...and every read through the damage fails at the right place.
    expect_corrupt(Reader::open(dir.path()).unwrap().verify(), segment, frame);
    expect_corrupt(read_all(dir.path()), segment, frame);
}

#[test]
fn a_missing_segment_is_a_gap_naming_the_segment_after_it() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), small_segments(), 3_000);
    let all = segments(dir.path());
    fs::remove_file(&all[2]).unwrap();
    let problem = expect_corrupt(read_all(dir.path()), &all[3], 0);
    assert!(
        matches!(problem, Corruption::SegmentGap { .. }),
        "{problem:?}"
    );
}

#[test]
fn truncating_the_file_inside_the_last_record_recovers_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), one_segment(), 300);
    let segment = &segments(dir.path())[0];
    let last = *frame_offsets(segment).last().unwrap();
    OpenOptions::new()
        .write(true)
        .open(segment)
        .unwrap()
        .set_len(last + 41)
        .unwrap();

    let recovered = Journal::open(dir.path(), one_segment()).unwrap();
    let torn = recovered.report().torn_tail.clone().unwrap();
    assert_eq!(
        (torn.segment.as_path(), torn.offset, torn.sequence),
        (segment.as_path(), last, 300)
    );
    assert_eq!(recovered.report().last_sequence, Some(299));
    let mut writer = recovered.into_writer().unwrap();
    for sequence in 300..=400 {
        writer
            .append(&meta_for(sequence), &payload_for(sequence))
            .unwrap();
    }
    drop(writer);
    assert_eq!(read_all(dir.path()).unwrap(), 400);
}

#[test]
fn a_torn_tail_is_cut_and_its_leftover_bytes_never_resurface() {
    // A writer killed mid-append: payload written, length not (the commit
    // rule), or power lost with the length on disk but not the payload.
    for (name, keep_length) in [("length unwritten", false), ("payload lost", true)] {
        let dir = tempfile::tempdir().unwrap();
        write_journal(dir.path(), one_segment(), 300);
        let segment = &segments(dir.path())[0];
        let last = *frame_offsets(segment).last().unwrap();
        let mut bytes = fs::read(segment).unwrap();
        let len = u32::from_le_bytes(bytes[last as usize..last as usize + 4].try_into().unwrap());
        if keep_length {
            bytes[last as usize + 40..(last + u64::from(len)) as usize].fill(0xAB);
        } else {
            bytes[last as usize..last as usize + 4].fill(0);
        }
        fs::write(segment, bytes).unwrap();

        let recovered = Journal::open(dir.path(), one_segment()).unwrap();
        assert_eq!(
            recovered.report().torn_tail.as_ref().map(|t| t.offset),
            Some(last),
            "{name}"
        );
        // Short records now land over the torn bytes; a later reopen must
        // find them, and nothing of the old frame after them.
        let mut writer = recovered.into_writer().unwrap();
        writer.append(&meta_for(300), &[]).unwrap();
        drop(writer);
        let reopened = Journal::open(dir.path(), one_segment()).unwrap();
        assert_eq!(reopened.report().torn_tail, None, "{name}");
        assert_eq!(reopened.next_sequence(), 301, "{name}");
    }
}

#[test]
fn a_valid_frame_with_the_wrong_sequence_at_the_tail_is_never_cut() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), one_segment(), 100);
    let segment = &segments(dir.path())[0];
    let offsets = frame_offsets(segment);
    let mut bytes = fs::read(segment).unwrap();
    // Copy record 50 to where record 101 would go: CRC-valid, wrong place.
    let (from, to) = (offsets[49] as usize, offsets[99] as usize);
    let end = to + u32::from_le_bytes(bytes[to..to + 4].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(bytes[from..from + 4].try_into().unwrap()) as usize;
    let copy = bytes[from..from + len].to_vec();
    bytes[end..end + len].copy_from_slice(&copy);
    fs::write(segment, bytes).unwrap();

    let problem = expect_corrupt(
        Journal::open(dir.path(), one_segment()),
        segment,
        end as u64,
    );
    assert_eq!(
        problem,
        Corruption::UnexpectedSequence {
            expected: 101,
            found: 50
        }
    );
}

#[test]
fn a_bad_segment_header_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), small_segments(), 1_000);
    let segment = segments(dir.path())[0].clone();
    patch(&segment, 20, |b| *b ^= 0x10); // first_sequence
    match Journal::open(dir.path(), small_segments()) {
        Err(err @ Error::BadSegmentHeader { .. }) => {
            assert!(
                err.to_string().contains(&segment.display().to_string()),
                "{err}"
            )
        }
        other => panic!("expected BadSegmentHeader, got {:?}", other.err()),
    }
}

#[test]
fn torn_and_corrupt_snapshots_are_never_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::new(dir.path());
    assert!(store.latest_valid().unwrap().is_none());
    store.write(100, b"state at 100").unwrap();
    let at_200 = store.write(200, b"state at 200").unwrap();
    let at_300 = store.write(300, b"state at 300").unwrap();

    // A crash before the rename leaves only a temporary file.
    fs::write(
        dir.path().join(format!("{:020}.tmp", 400)),
        b"MXJSNAP\0 half",
    )
    .unwrap();
    // Bit rot in the newest real one, truncation in the next.
    patch(&at_300, 70, |b| *b ^= 0x04);
    let len = fs::metadata(&at_200).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&at_200)
        .unwrap()
        .set_len(len - 1)
        .unwrap();

    let chosen = store.latest_valid().unwrap().unwrap();
    assert_eq!(
        (chosen.sequence(), chosen.payload()),
        (100, &b"state at 100"[..])
    );
    assert!(matches!(store.load(300), Err(Error::BadSnapshot { .. })));

    // Opening the journal for writing clears the temporary file.
    let recovered = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(recovered.report().removed_temp_files.len(), 1);
}

#[test]
fn seeks_after_a_cut_never_land_on_stale_index_slots() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), one_segment(), 200);
    let segment = &segments(dir.path())[0];
    // Lose everything from sequence 41 on, as a crash before a sync could,
    // while the index still names records 48, 64, ... at their old offsets.
    let from = frame_offsets(segment)[40] as usize;
    let mut bytes = fs::read(segment).unwrap();
    bytes[from..].fill(0);
    fs::write(segment, bytes).unwrap();

    let recovered = Journal::open(dir.path(), one_segment()).unwrap();
    assert_eq!(recovered.next_sequence(), 41);
    let mut writer = recovered.into_writer().unwrap();
    // Different sizes than before, so the old offsets fall mid-frame.
    for sequence in 41..=200 {
        let payload = vec![sequence as u8; 700 - sequence as usize];
        writer.append(&meta_for(sequence), &payload).unwrap();
    }
    drop(writer);
    let reader = Reader::open(dir.path()).unwrap();
    for start in [41, 48, 64, 100, 144, 200] {
        let mut cursor = reader.read_from(start).unwrap();
        let record = cursor.next().unwrap().unwrap();
        assert_eq!(record.sequence(), start);
        assert_eq!(record.payload().len(), 700 - start as usize);
    }
}

/// Found by fuzzing `recover` (`docs/fuzzing.md`): rule 5 used to look only for
/// the very next record, so damage to two frames in a row in the middle of
/// the last segment was taken for a torn tail, and recovery cut off the
/// thousand acknowledged records after it with only a warning.
#[test]
fn damage_to_several_frames_mid_segment_is_a_hole_not_a_tail() {
    for damaged in [2, 7, 300] {
        let dir = tempfile::tempdir().unwrap();
        write_journal(dir.path(), one_segment(), 2_000);
        let segment = &segments(dir.path())[0];
        let frames = frame_offsets(segment);
        // Ending five records before the end, so valid records follow; a
        // long run also spoils the frames the last index slots name, and
        // open starts from an earlier slot.
        let first = 2_000 - 5 - damaged;
        // The CRC field of each: damage whatever the payload's length.
        for frame in &frames[first..first + damaged] {
            patch(segment, frame + 4, |b| *b ^= 0xff);
        }
        let damaged_bytes = fs::read(segment).unwrap();
        let problem = expect_corrupt(
            Journal::open(dir.path(), one_segment()),
            segment,
            frames[first],
        );
        assert_eq!(
            problem,
            Corruption::BadCrc {
                expected_sequence: first as u64 + 1
            },
            "{damaged} frames"
        );
        // Nothing was cut: the file is as the damage left it.
        assert!(
            fs::read(segment).unwrap() == damaged_bytes,
            "{damaged} frames"
        );
    }
}

/// A run of zeroed pages (lost in a power failure) in the middle of the
/// last segment is a hole, and the error points at the next good record.
#[test]
fn zeroed_pages_mid_segment_are_a_hole_that_names_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), one_segment(), 2_000);
    let segment = &segments(dir.path())[0];
    let frames = frame_offsets(segment);
    // Records 1701..1990, over the frames the last index slots name.
    let (from, to) = (frames[1_700], frames[1_990]);
    const { assert!(LAST_INDEXED > 1_701 && LAST_INDEXED < 1_991) };
    let mut bytes = fs::read(segment).unwrap();
    bytes[from as usize..to as usize].fill(0);
    fs::write(segment, bytes).unwrap();
    let problem = expect_corrupt(Journal::open(dir.path(), one_segment()), segment, from);
    assert_eq!(
        problem,
        Corruption::HoleBeforeValidRecords {
            expected_sequence: 1_701,
            next_sequence: 1_991,
            next_offset: to,
        }
    );
}

/// Found by fuzzing `recover` (`docs/fuzzing.md`): a segment whose first frame
/// is blank, with another segment after it, made every reader (and so
/// recovery's replay) reopen it forever. It is a gap, named.
#[test]
fn a_segment_without_records_before_another_is_a_gap_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), small_segments(), 3_000);
    let all = segments(dir.path());
    let middle = &all[1];
    let first_frame = frame_offsets(middle)[0];
    let mut bytes = fs::read(middle).unwrap();
    bytes[first_frame as usize..].fill(0);
    fs::write(middle, bytes).unwrap();

    let mut cursor = Reader::open(dir.path()).unwrap().read_all().unwrap();
    let err = loop {
        match cursor.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the reader ended instead of reporting the gap"),
            Err(err) => break err,
        }
    };
    let Error::Corrupt {
        path,
        offset,
        problem,
    } = err
    else {
        panic!("expected Corrupt, got {err}");
    };
    assert_eq!((&path, offset), (middle, first_frame));
    assert!(
        matches!(problem, Corruption::SegmentGap { .. }),
        "{problem:?}"
    );
}
