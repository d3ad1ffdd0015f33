#![allow(clippy::unwrap_used)] // tests fail loudly by design

//! What goes in comes out: across roll-overs, reopens, seeks, durability
//! modes and a live writer.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{check_record, meta_for, payload_for, small_segments};
use journal::{
    Durability, Error, Journal, Reader, RecordMeta, Retire, Retired, SnapshotStore, SyncPath,
    retire_segments,
};

fn append_range(writer: &mut journal::Writer, from: u64, to: u64) {
    for sequence in from..=to {
        assert_eq!(
            writer
                .append(&meta_for(sequence), &payload_for(sequence))
                .unwrap(),
            sequence
        );
    }
}

fn segment_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count()
}

#[test]
fn records_of_varying_sizes_survive_many_roll_overs_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    append_range(&mut writer, 1, 5_000);
    writer.close().unwrap();
    assert!(
        segment_count(dir.path()) > 10,
        "the test should cross many roll-overs"
    );

    let recovered = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(recovered.report().last_sequence, Some(5_000));
    assert_eq!(recovered.report().torn_tail, None);
    let mut writer = recovered.into_writer().unwrap();
    append_range(&mut writer, 5_001, 6_000);
    drop(writer);

    let mut cursor = Reader::open(dir.path()).unwrap().read_all().unwrap();
    let mut expected = 1;
    while let Some(record) = cursor.next().unwrap() {
        assert_eq!(record.sequence(), expected);
        check_record(&record);
        expected += 1;
    }
    assert_eq!(expected, 6_001);
    assert_eq!(
        Reader::open(dir.path()).unwrap().verify().unwrap(),
        (6_000, Some(6_000))
    );
}

#[test]
fn read_from_lands_on_every_sequence_including_the_live_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    append_range(&mut writer, 1, 1_500);
    let reader = Reader::open(dir.path()).unwrap();
    for start in 1..=1_500 {
        let mut cursor = reader.read_from(start).unwrap();
        let record = cursor.next().unwrap().unwrap();
        assert_eq!(record.sequence(), start);
        check_record(&record);
    }
    // The end of the log is a valid place to wait for the writer.
    let mut cursor = reader.read_from(1_501).unwrap();
    assert!(cursor.next().unwrap().is_none());
    append_range(&mut writer, 1_501, 1_501);
    assert_eq!(cursor.next().unwrap().unwrap().sequence(), 1_501);
    match reader.read_from(1_503) {
        Err(Error::SequenceBeyondEnd {
            requested: 1_503,
            next: 1_502,
        }) => {}
        other => panic!("expected SequenceBeyondEnd, got {:?}", other.err()),
    }
}

#[test]
fn a_tailing_reader_sees_every_record_of_a_live_writer_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let recovered = Journal::open(dir.path(), small_segments()).unwrap();
    let reader = recovered.reader().unwrap();
    let mut writer = recovered.into_writer().unwrap();
    let total = 20_000;
    let producer = thread::spawn(move || {
        for sequence in 1..=total {
            writer
                .append(&meta_for(sequence), &payload_for(sequence))
                .unwrap();
            if sequence % 97 == 0 {
                thread::yield_now();
            }
        }
    });
    let mut cursor = reader.read_all().unwrap();
    let mut expected = 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while expected <= total {
        assert!(Instant::now() < deadline, "reader stalled at {expected}");
        match cursor.next().unwrap() {
            Some(record) => {
                assert_eq!(record.sequence(), expected);
                check_record(&record);
                expected += 1;
            }
            None => thread::yield_now(),
        }
    }
    producer.join().unwrap();
}

#[test]
fn payloads_are_rkyv_archives_readable_in_place() {
    #[derive(rkyv::Archive, rkyv::Serialize, Debug, PartialEq)]
    struct Order {
        price: u64,
        qty: u64,
        id: [u8; 32],
    }
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    for i in 0..100u64 {
        let order = Order {
            price: 1_000 + i,
            qty: i,
            id: [i as u8; 32],
        };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&order).unwrap();
        writer.append(&RecordMeta::unsourced(i), &bytes).unwrap();
    }
    let mut cursor = Reader::open(dir.path()).unwrap().read_all().unwrap();
    let mut i = 0u64;
    while let Some(record) = cursor.next().unwrap() {
        let order = record.access::<ArchivedOrder>().unwrap();
        assert_eq!(
            (order.price.to_native(), order.qty.to_native()),
            (1_000 + i, i)
        );
        assert_eq!(order.id, [i as u8; 32]);
        // Zero copy: the archive lives inside the map.
        let address = std::ptr::from_ref(order).cast::<u8>();
        assert!(record.payload().as_ptr_range().contains(&address));
        i += 1;
    }
    assert_eq!(i, 100);
}

#[test]
fn durable_sequence_follows_each_mode() {
    for (durability, io_uring) in [
        (Durability::None, true),
        (Durability::Sync, true),
        (Durability::Batch, true),
        (Durability::Batch, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = small_segments()
            .durability(durability)
            .use_io_uring(io_uring);
        let mut writer = Journal::open(dir.path(), options)
            .unwrap()
            .into_writer()
            .unwrap();
        let durable = writer.durable();
        assert_eq!(durable.load_acquire(), 0);
        append_range(&mut writer, 1, 10);
        match durability {
            Durability::None | Durability::Sync => {
                assert_eq!(durable.load_acquire(), 10, "{durability}")
            }
            Durability::Batch => {
                // Nothing is synced until the batch ends.
                assert_eq!(durable.load_acquire(), 0, "batch before end_batch");
                writer.end_batch().unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                while durable.load_acquire() < 10 {
                    assert!(Instant::now() < deadline, "batch sync never completed");
                    writer.poll().unwrap();
                    thread::yield_now();
                }
                assert_eq!(durable.load_acquire(), 10);
            }
        }
        // Crossing a roll-over makes everything before it durable too.
        append_range(&mut writer, 11, 2_000);
        writer.end_batch().unwrap();
        writer.sync().unwrap();
        assert_eq!(durable.load_acquire(), 2_000, "{durability} after sync");
        let path = writer.sync_path();
        match (durability, io_uring) {
            (Durability::None, _) => assert_eq!(path, SyncPath::NotNeeded),
            // io_uring where the kernel allows it, msync where it refuses.
            (Durability::Batch, true) => {
                assert!(
                    matches!(path, SyncPath::IoUring | SyncPath::Msync),
                    "{path}"
                )
            }
            _ => assert_eq!(path, SyncPath::Msync, "{durability}"),
        }
    }
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    match Journal::open(dir.path(), small_segments()) {
        Err(Error::Locked { path }) => assert!(path.ends_with("LOCK")),
        other => panic!("expected Locked, got {:?}", other.err()),
    }
    drop(writer);
    Journal::open(dir.path(), small_segments()).unwrap();
}

#[test]
fn oversized_payloads_are_refused_without_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    match writer.append(&RecordMeta::unsourced(0), &[0u8; 1025]) {
        Err(Error::PayloadTooLarge {
            len: 1025,
            max: 1024,
        }) => {}
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(
        writer
            .append(&RecordMeta::unsourced(0), &[1u8; 1024])
            .unwrap(),
        1
    );
}

#[test]
fn a_new_journal_can_start_at_any_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_segments().first_sequence(1_000_001);
    let mut writer = Journal::open(dir.path(), options)
        .unwrap()
        .into_writer()
        .unwrap();
    append_range(&mut writer, 1_000_001, 1_000_300);
    let reader = Reader::open(dir.path()).unwrap();
    assert_eq!(reader.first_sequence().unwrap(), Some(1_000_001));
    assert_eq!(reader.verify().unwrap(), (300, Some(1_000_300)));
    match reader.read_from(5) {
        Err(Error::SequenceRetired {
            requested: 5,
            oldest: 1_000_001,
        }) => {}
        other => panic!("expected SequenceRetired, got {:?}", other.err()),
    }
}

#[test]
fn retiring_removes_only_segments_a_valid_snapshot_covers() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Journal::open(dir.path(), small_segments())
        .unwrap()
        .into_writer()
        .unwrap();
    append_range(&mut writer, 1, 3_000);
    // No snapshot: nothing is covered.
    assert!(
        retire_segments(dir.path(), &Retire::Delete, u64::MAX)
            .unwrap()
            .segments
            .is_empty()
    );

    let before = segment_count(dir.path());
    SnapshotStore::new(dir.path())
        .write(1_200, b"state at 1200")
        .unwrap();
    let archive = dir.path().join("archive");
    // A limit below the snapshot: it is not used, so nothing goes.
    assert_eq!(
        retire_segments(dir.path(), &Retire::Delete, 1_199).unwrap(),
        Retired::default()
    );
    let retired = retire_segments(dir.path(), &Retire::MoveTo(archive.clone()), 1_200).unwrap();
    assert_eq!(retired.covered_through, Some(1_200));
    assert!(!retired.segments.is_empty());
    assert_eq!(segment_count(dir.path()) + retired.segments.len(), before);
    assert_eq!(segment_count(&archive), retired.segments.len());

    // Everything after the snapshot is still readable, from the snapshot on.
    let reader = Reader::open(dir.path()).unwrap();
    let oldest = reader.first_sequence().unwrap().unwrap();
    assert!(
        oldest <= 1_201,
        "a segment holding 1201 was retired (oldest now {oldest})"
    );
    let mut cursor = reader.read_from(1_201).unwrap();
    let mut expected = 1_201;
    while let Some(record) = cursor.next().unwrap() {
        assert_eq!(record.sequence(), expected);
        expected += 1;
    }
    assert_eq!(expected, 3_001);
    assert!(matches!(
        reader.read_from(1),
        Err(Error::SequenceRetired { .. })
    ));
}

/// A segment holds payloads of one format: a writer whose payload format
/// differs from the last segment's starts a new one, and every record
/// reports the format it was written with.
#[test]
fn a_new_payload_format_starts_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Journal::open(dir.path(), small_segments().payload_format(1))
        .unwrap()
        .into_writer()
        .unwrap();
    append_range(&mut writer, 1, 10);
    drop(writer);
    let mut writer = Journal::open(dir.path(), small_segments().payload_format(2))
        .unwrap()
        .into_writer()
        .unwrap();
    append_range(&mut writer, 11, 20);
    drop(writer);
    let mut cursor = Reader::open(dir.path()).unwrap().read_all().unwrap();
    let mut formats = Vec::new();
    while let Some(record) = cursor.next().unwrap() {
        check_record(&record);
        formats.push((
            record.sequence(),
            record.payload_format(),
            record.segment().to_path_buf(),
        ));
    }
    assert_eq!(formats.len(), 20);
    assert!(formats[..10].iter().all(|f| f.1 == 1));
    assert!(formats[10..].iter().all(|f| f.1 == 2));
    assert_ne!(
        formats[9].2, formats[10].2,
        "format 2 starts its own segment"
    );
}
