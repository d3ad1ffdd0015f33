//! What the source, the sink and the mover say to each other during a
//! partition's move, and the `handover` topic's message format.
//!
//! A move (`docs/shards.md#moving-a-partition`) needs the source to stop
//! and start reading a partition and to journal a move's records, and the
//! mover (`super::mover`, which talks to `handover` and `assignments`) to
//! learn when the engine has journaled a step. The source and the sink stay
//! on their own threads and never block on the mover: they talk through
//! channels, and the mover does every slow thing.
//!
//! A `handover` message is one chunk of an export: a little-endian `u32`
//! header length, a JSON [`ChunkHeader`], then the chunk's bytes. Chunks
//! are at most [`CHUNK_BYTES`], well under a broker's default message
//! limit (1 MB). Nothing here does I/O.

use std::sync::mpsc::{Receiver, Sender};

use engine::endpoint::SourceItem;
use engine::sequenced::{Input, InputField, Malformed, Problem};
use engine::{AdminCommand, MoveState, MoveStep, RejectReason};
use serde::{Deserialize, Serialize};

/// The most export bytes one `handover` message carries.
pub const CHUNK_BYTES: usize = 48 * 1024;

/// What one `handover` message says of itself and of its export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkHeader {
    /// The move: the `MOVE` request's id.
    pub move_id: String,
    /// The giving engine.
    pub from: String,
    /// The taking engine.
    pub to: String,
    /// The `orders` partition.
    pub partition: i32,
    /// The giver's last journaled offset of it.
    pub after_offset: i64,
    /// This chunk's place, from 0.
    pub index: u32,
    /// How many chunks the export has.
    pub count: u32,
    /// The export's length in bytes.
    pub len: u32,
    /// XXH3-64 of the whole export.
    pub digest: u64,
}

/// One `handover` message: `header` and its chunk of the export.
pub fn encode_chunk(header: &ChunkHeader, bytes: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + json.len() + bytes.len());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(bytes);
    out
}

/// A `handover` message's header and chunk; `None` for anything else.
pub fn decode_chunk(payload: &[u8]) -> Option<(ChunkHeader, &[u8])> {
    let len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let header = serde_json::from_slice(payload.get(4..4 + len)?).ok()?;
    Some((header, payload.get(4 + len..)?))
}

/// The journaled refusal of a `MOVE` this source cannot carry out: a
/// partition it does not read, a move under way, or a source that takes
/// part in no moves (files).
pub fn refused_move(command: &AdminCommand) -> Input {
    Input::MalformedAdmin(Malformed {
        order_id: Some(command.request_id),
        ..Malformed::new(
            RejectReason::MoveRefused,
            InputField::Partition,
            Problem::NotHeld,
        )
    })
}

/// What the mover asks of the source.
#[derive(Debug)]
pub enum ToSource {
    /// Journal these, in order, before anything else: an export's pieces
    /// and acquire, or an outcome.
    Journal(Vec<SourceItem>),
    /// Read `orders` partition `partition` from the offset after `after`:
    /// it moved here, or its move was rolled back.
    Read {
        /// The partition.
        partition: i32,
        /// The last offset already journaled (by this engine or the giver).
        after: i64,
    },
    /// The export taken in could not be used; the move is over here.
    Forget,
}

/// What the source and the sink tell the mover.
#[derive(Debug)]
pub enum ToMover {
    /// The moves under way in the recovered state, at start.
    Recovered(MoveState),
    /// The engine journaled and answered a move's step (the sink saw its
    /// `admin_status` message go out, which it only does once the input
    /// is journaled).
    Stepped {
        /// The move.
        move_id: String,
        /// The `orders` partition.
        partition: i32,
        /// What the engine did.
        step: MoveStep,
    },
}

/// The source's ends of the mover's channels.
pub struct SourceLink {
    /// To the mover.
    pub to_mover: Sender<ToMover>,
    /// From the mover.
    pub from_mover: Receiver<ToSource>,
}

/// The sink's end: it reports the move steps it delivers.
#[derive(Clone)]
pub struct SinkLink {
    /// To the mover.
    pub to_mover: Sender<ToMover>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_round_trips_and_other_bytes_are_not_one() {
        let header = ChunkHeader {
            move_id: "mv-1".into(),
            from: "a".into(),
            to: "b".into(),
            partition: 7,
            after_offset: 41,
            index: 0,
            count: 1,
            len: 3,
            digest: 9,
        };
        let message = encode_chunk(&header, b"abc");
        assert_eq!(decode_chunk(&message), Some((header, &b"abc"[..])));
        assert_eq!(decode_chunk(b"{}"), None);
        assert_eq!(decode_chunk(&[200, 0, 0, 0, b'{']), None);
    }
}
