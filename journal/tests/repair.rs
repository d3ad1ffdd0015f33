#![allow(clippy::unwrap_used)] // tests fail loudly by design

//! Finding the end from the sparse index, checking that the end is an end,
//! the lock held without recovery, and cutting the log after a sequence
//! into a quarantine that loses nothing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{check_record, meta_for, payload_for, small_segments};
use journal::{Corruption, DirLock, Error, Journal, Reader, SnapshotStore};

fn write(dir: &Path, records: u64) {
    let mut writer = Journal::open(dir, small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    for sequence in 1..=records {
        writer
            .append(&meta_for(sequence), &payload_for(sequence))
            .unwrap();
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    found.sort();
    found
}

#[test]
fn the_end_comes_from_the_sparse_index() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Reader::open(dir.path()).unwrap().end_sequence().unwrap(), 1);
    for records in [1, 15, 16, 17, 999, 3_000] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), records);
        let reader = Reader::open(dir.path()).unwrap();
        assert_eq!(reader.end_sequence().unwrap(), records + 1, "{records}");
        assert_eq!(reader.verify().unwrap(), (records, Some(records)));
    }
}

/// A reader stops at zeros in the last segment as at a live end; only
/// `check_end` (and `verify`) look past them for later records.
#[test]
fn a_hole_at_the_end_is_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 3_000);
    let last = files(dir.path(), "seg").pop().unwrap();
    let first: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    // Zero the frames of the last segment's records first+5 .. first+20.
    let mut cursor = Reader::open(dir.path())
        .unwrap()
        .read_from(first + 5)
        .unwrap();
    let from = cursor.next().unwrap().unwrap().offset() as usize;
    let mut cursor = Reader::open(dir.path())
        .unwrap()
        .read_from(first + 20)
        .unwrap();
    let to = cursor.next().unwrap().unwrap().offset() as usize;
    let mut bytes = fs::read(&last).unwrap();
    bytes[from..to].fill(0);
    fs::write(&last, bytes).unwrap();

    let reader = Reader::open(dir.path()).unwrap();
    let Err(Error::Corrupt {
        path,
        offset,
        problem,
    }) = reader.verify()
    else {
        panic!("verify passed over a hole");
    };
    assert_eq!((path, offset), (last, from as u64));
    assert_eq!(
        problem,
        Corruption::HoleBeforeValidRecords {
            expected_sequence: first + 5,
            next_sequence: first + 20,
            next_offset: to as u64,
        }
    );
}

#[test]
fn the_lock_keeps_engines_and_tools_apart() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 10);
    let writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    assert!(matches!(
        DirLock::acquire(dir.path()),
        Err(Error::Locked { .. })
    ));
    drop(writer);
    let lock = DirLock::acquire(dir.path()).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), small_segments()),
        Err(Error::Locked { .. })
    ));
    drop(lock);
    assert!(Journal::open(dir.path(), small_segments()).is_ok());
}

#[test]
fn truncating_moves_everything_after_into_quarantine_and_the_log_continues() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 3_000);
    let store = SnapshotStore::new(dir.path());
    for sequence in [1_000, 2_000, 2_900] {
        store.write(sequence, b"state").unwrap();
    }
    let before: Vec<Vec<u8>> = files(dir.path(), "seg")
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    let total_before: usize = before.iter().map(Vec::len).sum();
    let quarantine = dir.path().join("quarantine-test");

    let lock = DirLock::acquire(dir.path()).unwrap();
    let done = lock.truncate_after(1_500, &quarantine).unwrap();
    drop(lock);

    // The log ends at 1,500, and takes 1,501 next.
    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(reader.verify().unwrap().1, Some(1_500));
    assert_eq!(reader.end_sequence().unwrap(), 1_501);
    let recovered = Journal::open(dir.path(), small_segments()).unwrap();
    assert!(recovered.report().torn_tail.is_none());
    assert_eq!(recovered.next_sequence(), 1_501);
    let mut writer = recovered.into_writer().unwrap();
    assert_eq!(
        writer
            .append(&meta_for(1_501), &payload_for(1_501))
            .unwrap(),
        1_501
    );
    drop(writer);
    let mut cursor = Reader::open(dir.path()).unwrap().read_all().unwrap();
    while let Some(record) = cursor.next().unwrap() {
        check_record(&record);
    }

    // Nothing was deleted: the quarantine holds every later segment and
    // snapshot, and a whole copy of the segment that was cut.
    assert_eq!(store.list().unwrap(), vec![1_000]);
    let cut = done.cut.clone().unwrap();
    assert!(quarantine.join(cut.0.file_name().unwrap()).exists());
    let in_quarantine = files(&quarantine, "seg");
    let quarantined: usize = in_quarantine
        .iter()
        .map(|p| fs::metadata(p).unwrap().len() as usize)
        .sum();
    let kept_whole = files(dir.path(), "seg").len() - 1; // the cut one is also copied
    assert_eq!(quarantined, total_before - kept_whole * before[0].len());
    assert_eq!(files(&quarantine, "snap").len(), 2);
    assert_eq!(done.moved.len(), in_quarantine.len() - 1 + 2);
}

/// The repair for a hole: recovery refuses the journal, truncating just
/// before the hole makes it open, and the damaged part is kept aside.
#[test]
fn truncating_before_a_hole_makes_the_journal_open() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 3_000);
    let last = files(dir.path(), "seg").pop().unwrap();
    // Records 2995..2999 lost (zeroed), 3000 intact: whatever the last
    // index slot names in there is gone too, so open walks into the hole
    // from an earlier slot (rule 2) and finds record 3000 after it.
    let hole_at = 2_995;
    let offset_of = |sequence| {
        let mut cursor = Reader::open(dir.path())
            .unwrap()
            .read_from(sequence)
            .unwrap();
        cursor.next().unwrap().unwrap().offset() as usize
    };
    let (hole, kept) = (offset_of(hole_at), offset_of(3_000));
    let mut bytes = fs::read(&last).unwrap();
    bytes[hole..kept].fill(0);
    fs::write(&last, &bytes).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), small_segments()),
        Err(Error::Corrupt { .. })
    ));

    let quarantine = dir.path().join("q");
    DirLock::acquire(dir.path())
        .unwrap()
        .truncate_after(hole_at - 1, &quarantine)
        .unwrap();
    let recovered = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(recovered.next_sequence(), hole_at);
    assert_eq!(
        fs::read(quarantine.join(last.file_name().unwrap())).unwrap(),
        bytes
    );
}
