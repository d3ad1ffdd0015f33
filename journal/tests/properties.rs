#![allow(clippy::unwrap_used)] // tests fail loudly by design

//! For any sequence of appends, batch ends, syncs and reopens, in any
//! durability mode, reading returns exactly what was appended: from the
//! start, and from any sequence.

use std::path::Path;

use journal::{Durability, Journal, JournalOptions, Reader, RecordMeta, Writer};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append {
        len: usize,
        fill: u8,
        partition: i32,
    },
    EndBatch,
    Sync,
    Reopen,
    /// Read from the record at this fraction of the log.
    ReadFrom(f64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..700, any::<u8>(), -1i32..4)
            .prop_map(|(len, fill, partition)| Op::Append { len, fill, partition }),
        2 => Just(Op::EndBatch),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => (0.0f64..1.0).prop_map(Op::ReadFrom),
    ]
}

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![
        Just(Durability::None),
        Just(Durability::Batch),
        Just(Durability::Sync)
    ]
}

fn options(durability: Durability) -> JournalOptions {
    JournalOptions::new()
        .segment_size(64 * 1024)
        .max_payload(1024)
        .index_stride(8)
        .durability(durability)
        .prefault(false)
}

fn open(dir: &Path, durability: Durability) -> Writer {
    Journal::open(dir, options(durability))
        .unwrap()
        .into_writer()
        .unwrap()
}

/// The model: record `i` has sequence `i + 1`. The reader must return
/// the model from `from`, all of it, or in `batch` mode at least up to the
/// durable sequence: there, records in a segment whose roll-over is still
/// being committed become readable when it is named.
fn check_from(dir: &Path, model: &[(RecordMeta, Vec<u8>)], from: usize, durable: Option<u64>) {
    let reader = Reader::open(dir).unwrap();
    let first = from as u64 + 1;
    if durable.is_some_and(|durable| durable < first) {
        return;
    }
    let mut cursor = if model.is_empty() {
        reader.read_all().unwrap()
    } else {
        reader.read_from(first).unwrap()
    };
    for (i, (meta, payload)) in model.iter().enumerate().skip(from) {
        let Some(record) = cursor.next().unwrap() else {
            let durable = durable.expect("a record appended is readable at once");
            assert!(
                i as u64 >= durable,
                "durable record {} is not readable",
                i + 1
            );
            return;
        };
        assert_eq!(record.sequence(), i as u64 + 1);
        assert_eq!(&record.meta(), meta);
        assert_eq!(record.payload(), payload.as_slice());
    }
    assert!(cursor.next().unwrap().is_none(), "records beyond the model");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reading_returns_exactly_what_was_appended(
        durability in durability(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = open(dir.path(), durability);
        let mut model: Vec<(RecordMeta, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append { len, fill, partition } => {
                    let meta = RecordMeta {
                        timestamp_ns: model.len() as u64 * 1_000,
                        source_partition: partition,
                        source_offset: model.len() as i64,
                    };
                    let payload: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                    let sequence = writer.append(&meta, &payload).unwrap();
                    model.push((meta, payload));
                    prop_assert_eq!(sequence, model.len() as u64);
                }
                Op::EndBatch => writer.end_batch().unwrap(),
                Op::Sync => {
                    writer.sync().unwrap();
                    prop_assert_eq!(writer.durable().load_acquire(), model.len() as u64);
                }
                Op::Reopen => {
                    drop(writer);
                    writer = open(dir.path(), durability);
                    prop_assert_eq!(writer.next_sequence(), model.len() as u64 + 1);
                }
                Op::ReadFrom(fraction) => {
                    let durable = (durability == Durability::Batch).then(|| writer.durable().load_acquire());
                    check_from(dir.path(), &model, (fraction * model.len() as f64) as usize, durable);
                }
            }
        }
        drop(writer);
        check_from(dir.path(), &model, 0, None);
    }
}
