//! The checkpoint: what a snapshot file of the server holds, besides the
//! journal's own header. It ties the engine's state to the sequence it
//! describes, its state hash, and where each Kafka partition stood.
//!
//! ```text
//! 0         8         12        16                  24                  32
//! +---------+---------+---------+-------------------+-------------------+
//! | magic   | version | count   | sequence          | state_hash        |
//! +---------+---------+---------+-------------------+-------------------+
//! 32: count × position entries, 16 bytes each:
//!     0          4       5          8                    16
//!     +----------+-------+----------+--------------------+
//!     | partition| topic | reserved | offset             |
//!     | (i32)    | (u8)  | (zero)   | (i64)              |
//!     +----------+-------+----------+--------------------+
//! then: the engine snapshot (`Engine::snapshot`) to the end.
//! ```
//!
//! All integers are little-endian. `magic` is `MXCKPT\0\0`. Version 1
//! had no topic byte (it was zero, which is `orders`'s code, as every
//! position then was); version 2 names the topic, `0` orders and `1`
//! admin. A reader takes both and refuses any other version, naming it. `state_hash` is
//! XXH3-64 of the engine snapshot bytes, which is also
//! `Engine::state_hash()` of the state they restore to. This module only
//! encodes and decodes bytes; files are the journal's `SnapshotStore`.

use thiserror::Error;

use super::input::{SourcePosition, SourcePositions, SourceTopic};

/// The first eight bytes of every checkpoint.
pub(crate) const CHECKPOINT_MAGIC: [u8; 8] = *b"MXCKPT\0\0";
/// The checkpoint format this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 2;
/// The previous format, still read: positions without a topic.
const CHECKPOINT_V1: u32 = 1;

const CK_MAGIC: usize = 0;
const CK_VERSION: usize = 8;
const CK_COUNT: usize = 12;
const CK_SEQUENCE: usize = 16;
const CK_STATE_HASH: usize = 24;
/// Bytes before the first position entry.
const CK_HEADER_LEN: usize = 32;

const PO_PARTITION: usize = 0;
const PO_TOPIC: usize = 4;
const PO_OFFSET: usize = 8;
/// Bytes per position entry.
const PO_LEN: usize = 16;

/// A decoded checkpoint; the engine state is borrowed, not copied.
#[derive(Debug, Clone)]
pub struct Checkpoint<'a> {
    /// The last sequence the state includes.
    pub sequence: u64,
    /// XXH3-64 of `engine`: the state hash at `sequence`.
    pub state_hash: u64,
    /// The last journaled offset of each partition at `sequence`.
    pub positions: SourcePositions,
    /// The engine snapshot, for `Engine::restore`.
    pub engine: &'a [u8],
}

/// Why bytes are not a checkpoint this build reads.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// It does not start with `CHECKPOINT_MAGIC`.
    #[error("not a checkpoint (bad magic)")]
    BadMagic,
    /// Written by another checkpoint format.
    #[error("checkpoint format {found}; this build reads formats 1 to {CHECKPOINT_VERSION}")]
    Version {
        /// The version in the bytes.
        found: u32,
    },
    /// A position names a topic this build does not know.
    #[error("position {index} names topic code {code}, which is neither orders (0) nor admin (1)")]
    Topic {
        /// Which position entry.
        index: usize,
        /// The code it holds.
        code: u8,
    },
    /// It ends before its header or positions do.
    #[error("truncated: {len} bytes, and the header needs {needed}")]
    Truncated {
        /// Bytes there are.
        len: usize,
        /// Bytes the header and positions take.
        needed: usize,
    },
    /// The engine state does not match the hash recorded with it.
    #[error("the engine state does not match its recorded hash {recorded:016x}")]
    HashMismatch {
        /// The hash in the header.
        recorded: u64,
    },
}

/// Encodes a checkpoint of `engine` (an `Engine::snapshot`) at `sequence`;
/// returns the bytes and the state hash.
pub fn encode_checkpoint(
    sequence: u64,
    positions: &SourcePositions,
    engine: &[u8],
) -> (Vec<u8>, u64) {
    let state_hash = xxhash_rust::xxh3::xxh3_64(engine);
    let count = positions.iter().count();
    let mut out = vec![0u8; CK_HEADER_LEN + count * PO_LEN];
    out[CK_MAGIC..CK_MAGIC + 8].copy_from_slice(&CHECKPOINT_MAGIC);
    put(&mut out, CK_VERSION, &CHECKPOINT_VERSION.to_le_bytes());
    put(&mut out, CK_COUNT, &(count as u32).to_le_bytes());
    put(&mut out, CK_SEQUENCE, &sequence.to_le_bytes());
    put(&mut out, CK_STATE_HASH, &state_hash.to_le_bytes());
    for (i, p) in positions.iter().enumerate() {
        let at = CK_HEADER_LEN + i * PO_LEN;
        put(&mut out, at + PO_PARTITION, &p.partition.to_le_bytes());
        out[at + PO_TOPIC] = p.topic as u8;
        put(&mut out, at + PO_OFFSET, &p.offset.to_le_bytes());
    }
    out.extend_from_slice(engine);
    (out, state_hash)
}

/// Decodes and checks a checkpoint: magic, version, length, and that the
/// engine state matches its hash.
pub fn decode_checkpoint(bytes: &[u8]) -> Result<Checkpoint<'_>, CheckpointError> {
    let checkpoint = parse_checkpoint(bytes)?;
    if xxhash_rust::xxh3::xxh3_64(checkpoint.engine) != checkpoint.state_hash {
        return Err(CheckpointError::HashMismatch {
            recorded: checkpoint.state_hash,
        });
    }
    Ok(checkpoint)
}

/// Decodes a checkpoint whose engine state was already checked against its
/// hash, as [`decode_checkpoint`] does minus that check: the hash covers
/// the whole state, which for a million orders is 18 ms a pass.
pub(crate) fn parse_checkpoint(bytes: &[u8]) -> Result<Checkpoint<'_>, CheckpointError> {
    let truncated = |needed| CheckpointError::Truncated {
        len: bytes.len(),
        needed,
    };
    if bytes.len() < CK_HEADER_LEN {
        return Err(if bytes.starts_with(&CHECKPOINT_MAGIC) || bytes.len() < 8 {
            truncated(CK_HEADER_LEN)
        } else {
            CheckpointError::BadMagic
        });
    }
    if bytes[CK_MAGIC..CK_MAGIC + 8] != CHECKPOINT_MAGIC {
        return Err(CheckpointError::BadMagic);
    }
    let version = u32_at(bytes, CK_VERSION);
    if version != CHECKPOINT_VERSION && version != CHECKPOINT_V1 {
        return Err(CheckpointError::Version { found: version });
    }
    let count = u32_at(bytes, CK_COUNT) as usize;
    let engine_at = count
        .checked_mul(PO_LEN)
        .and_then(|n| n.checked_add(CK_HEADER_LEN))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| truncated(CK_HEADER_LEN.saturating_add(count.saturating_mul(PO_LEN))))?;
    let mut positions = SourcePositions::default();
    for i in 0..count {
        let at = CK_HEADER_LEN + i * PO_LEN;
        let code = if version == CHECKPOINT_V1 {
            0
        } else {
            bytes[at + PO_TOPIC]
        };
        let topic =
            SourceTopic::from_code(code).ok_or(CheckpointError::Topic { index: i, code })?;
        positions.advance(SourcePosition {
            topic,
            partition: u32_at(bytes, at + PO_PARTITION) as i32,
            offset: u64_at(bytes, at + PO_OFFSET) as i64,
        });
    }
    Ok(Checkpoint {
        sequence: u64_at(bytes, CK_SEQUENCE),
        state_hash: u64_at(bytes, CK_STATE_HASH),
        positions,
        engine: &bytes[engine_at..],
    })
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    #[test]
    fn round_trips_and_catches_damage() {
        let mut positions = SourcePositions::default();
        positions.advance(SourcePosition::orders(0, 41));
        positions.advance(SourcePosition::orders(3, 7));
        positions.advance(SourcePosition {
            topic: SourceTopic::Admin,
            partition: 0,
            offset: 5,
        });
        let (mut bytes, hash) = encode_checkpoint(99, &positions, b"engine-state");
        let back = decode_checkpoint(&bytes).unwrap();
        assert_eq!((back.sequence, back.state_hash), (99, hash));
        assert_eq!(back.positions, positions);
        assert_eq!(back.engine, b"engine-state");
        // The layout is the documented one, field by field.
        assert_eq!(&bytes[..8], b"MXCKPT\0\0");
        assert_eq!(u32_at(&bytes, 8), 2);
        assert_eq!(u32_at(&bytes, 12), 3);
        assert_eq!(u64_at(&bytes, 16), 99);
        assert_eq!(u32_at(&bytes, 32 + 16), 3);
        assert_eq!(u64_at(&bytes, 32 + 16 + 8), 7);
        assert_eq!((u32_at(&bytes, 32 + 32), bytes[32 + 32 + 4]), (0, 1));

        // Version 1 had zero where the topic is, and every position was
        // on orders: the admin entry reads back as an orders one.
        let mut v1 = bytes.clone();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        let old = decode_checkpoint(&v1).unwrap();
        assert_eq!(old.positions.last_offset(0), Some(41));
        assert_eq!(old.positions.last_offset_of(SourceTopic::Admin, 0), None);
        let mut unknown = bytes.clone();
        unknown[32 + 32 + 4] = 7;
        assert_eq!(
            decode_checkpoint(&unknown).unwrap_err(),
            CheckpointError::Topic { index: 2, code: 7 }
        );

        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            decode_checkpoint(&bytes),
            Err(CheckpointError::HashMismatch { .. })
        ));
        assert!(matches!(
            decode_checkpoint(&bytes[..20]),
            Err(CheckpointError::Truncated { .. })
        ));
        bytes[8] = 9;
        assert_eq!(
            decode_checkpoint(&bytes).unwrap_err().to_string(),
            "checkpoint format 9; this build reads formats 1 to 2"
        );
        assert_eq!(
            decode_checkpoint(b"not a checkpoint at all, no, no, no").unwrap_err(),
            CheckpointError::BadMagic
        );
    }

    #[test]
    fn a_huge_count_is_truncation_not_a_panic() {
        let (mut bytes, _) = encode_checkpoint(1, &SourcePositions::default(), b"x");
        bytes[CK_COUNT..CK_COUNT + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_checkpoint(&bytes),
            Err(CheckpointError::Truncated { .. })
        ));
    }
}
