//! Helpers shared by the journal's integration tests: deterministic
//! payloads that a reader can check without remembering what was written.

#![allow(dead_code)] // each test binary uses a different subset

use journal::{JournalOptions, RecordMeta};

/// Payload of `sequence`: 0..=300 bytes (sizes vary so frames straddle
/// pages and segment ends at every alignment), bytes derived from it.
pub fn payload_for(sequence: u64) -> Vec<u8> {
    let len = (sequence.wrapping_mul(2_654_435_761) % 301) as usize;
    (0..len)
        .map(|i| (sequence as usize).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

/// Meta of `sequence`: every field distinct and checkable.
pub fn meta_for(sequence: u64) -> RecordMeta {
    RecordMeta {
        timestamp_ns: 1_700_000_000_000_000_000 + sequence,
        source_partition: (sequence % 7) as i32,
        source_offset: sequence as i64 * 3,
    }
}

/// Small segments so tests cross many roll-overs.
pub fn small_segments() -> JournalOptions {
    JournalOptions::new()
        .segment_size(64 * 1024)
        .max_payload(1024)
        .index_stride(16)
}

/// Checks one record against what `payload_for`/`meta_for` wrote.
pub fn check_record(record: &journal::Record<'_>) {
    let sequence = record.sequence();
    assert_eq!(record.meta(), meta_for(sequence), "meta of {sequence}");
    assert_eq!(
        record.payload(),
        payload_for(sequence).as_slice(),
        "payload of {sequence}"
    );
}
