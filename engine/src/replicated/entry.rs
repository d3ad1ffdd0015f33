//! The journal topic's entries: what one Kafka message of
//! `journal.<engine id>` holds, and its byte layout.
//!
//! Every entry starts with the same 16 bytes, so a reader can judge any
//! entry by its epoch before it looks further:
//!
//! ```text
//! 0      1        2            8             16
//! +------+--------+------------+-------------+------------------------------+
//! | kind | format | zero       | epoch (u64) | body, by kind                |
//! +------+--------+------------+-------------+------------------------------+
//! ```
//!
//! | kind | body |
//! |---|---|
//! | 1 record | the journal frame, byte for byte as the local journal holds it |
//! | 2 epoch | claimant (u64): the promoting process's instance id |
//! | 3 mark | last sequence (u64), delivered through (u64), wall clock ns (u64) |
//! | 4 handover | requested at, wall clock ns (u64) |
//! | 5 step-down | last sequence (u64), delivered through (u64) |
//!
//! All integers are little-endian. This module only encodes and decodes; it
//! decides nothing (`super::agreed` and `super::release` do).

use thiserror::Error;

/// The entry layout version this build writes and reads.
pub const ENTRY_FORMAT: u8 = 1;
/// Bytes before an entry's body.
pub const ENTRY_HEADER_LEN: usize = 16;

/// One entry of the journal topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A journal record, written by the leader of `epoch`.
    Record {
        /// The writer's epoch.
        epoch: u64,
        /// The whole journal frame (header, CRC, payload, padding).
        frame: &'a [u8],
    },
    /// A claim to lead from `epoch` on. The first claim of a newer epoch in
    /// log order wins; everything before it is the agreed history.
    Epoch {
        /// The epoch claimed.
        epoch: u64,
        /// The claiming process's instance id, so it can tell its own
        /// claim from a rival's.
        claimant: u64,
    },
    /// The leader's progress: written when the delivered mark moves, and
    /// as the heartbeat when idle.
    Mark {
        /// The writer's epoch.
        epoch: u64,
        /// The last sequence it had journaled when it wrote this.
        last_sequence: u64,
        /// The highest input all of whose outputs were delivered.
        delivered: u64,
        /// Its wall clock, in ns since the Unix epoch.
        wall_ns: u64,
    },
    /// An operator asks the leader of `epoch` to hand over to a standby.
    Handover {
        /// The epoch whose leader should step down.
        epoch: u64,
        /// When it was asked, by the asking tool's wall clock.
        requested_ns: u64,
    },
    /// The leader of `epoch` stopped cleanly: every input through
    /// `last_sequence` is in the log before this entry, and it will write
    /// nothing more.
    StepDown {
        /// The writer's epoch.
        epoch: u64,
        /// Its last sequence.
        last_sequence: u64,
        /// Delivered through, at the end.
        delivered: u64,
    },
}

/// Why bytes are not an entry.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EntryError {
    /// Shorter than its kind needs.
    #[error("a journal-topic entry of {len} bytes is too short for kind {kind}")]
    Short {
        /// The kind byte (0 if even that was missing).
        kind: u8,
        /// Bytes present.
        len: usize,
    },
    /// A kind this build does not know.
    #[error("unknown journal-topic entry kind {0}")]
    Kind(u8),
    /// Written in another layout version.
    #[error("journal-topic entry format {found}, but this build reads {ENTRY_FORMAT}")]
    Format {
        /// The version found.
        found: u8,
    },
}

const RECORD: u8 = 1;
const EPOCH: u8 = 2;
const MARK: u8 = 3;
const HANDOVER: u8 = 4;
const STEP_DOWN: u8 = 5;

impl<'a> Entry<'a> {
    /// The epoch the entry carries.
    pub fn epoch(&self) -> u64 {
        match *self {
            Entry::Record { epoch, .. }
            | Entry::Epoch { epoch, .. }
            | Entry::Mark { epoch, .. }
            | Entry::Handover { epoch, .. }
            | Entry::StepDown { epoch, .. } => epoch,
        }
    }

    /// Writes the entry into `out`, replacing what it held. `out` keeps its
    /// capacity, so a reused buffer allocates nothing once grown.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let (kind, words): (u8, [u64; 3]) = match *self {
            Entry::Record { .. } => (RECORD, [0; 3]),
            Entry::Epoch { claimant, .. } => (EPOCH, [claimant, 0, 0]),
            Entry::Mark {
                last_sequence,
                delivered,
                wall_ns,
                ..
            } => (MARK, [last_sequence, delivered, wall_ns]),
            Entry::Handover { requested_ns, .. } => (HANDOVER, [requested_ns, 0, 0]),
            Entry::StepDown {
                last_sequence,
                delivered,
                ..
            } => (STEP_DOWN, [last_sequence, delivered, 0]),
        };
        out.extend_from_slice(&[kind, ENTRY_FORMAT, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&self.epoch().to_le_bytes());
        match self {
            Entry::Record { frame, .. } => out.extend_from_slice(frame),
            _ => {
                for word in &words[..body_words(kind)] {
                    out.extend_from_slice(&word.to_le_bytes());
                }
            }
        }
    }

    /// Reads an entry; a record's frame borrows from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Entry<'a>, EntryError> {
        let kind = bytes.first().copied().unwrap_or(0);
        if bytes.len() < ENTRY_HEADER_LEN {
            return Err(EntryError::Short {
                kind,
                len: bytes.len(),
            });
        }
        if !(RECORD..=STEP_DOWN).contains(&kind) {
            return Err(EntryError::Kind(kind));
        }
        if bytes[1] != ENTRY_FORMAT {
            return Err(EntryError::Format { found: bytes[1] });
        }
        let epoch = word(bytes, 8);
        let body = &bytes[ENTRY_HEADER_LEN..];
        if kind == RECORD {
            return Ok(Entry::Record { epoch, frame: body });
        }
        if body.len() < 8 * body_words(kind) {
            return Err(EntryError::Short {
                kind,
                len: bytes.len(),
            });
        }
        let at = |i: usize| word(body, 8 * i);
        Ok(match kind {
            EPOCH => Entry::Epoch {
                epoch,
                claimant: at(0),
            },
            MARK => Entry::Mark {
                epoch,
                last_sequence: at(0),
                delivered: at(1),
                wall_ns: at(2),
            },
            HANDOVER => Entry::Handover {
                epoch,
                requested_ns: at(0),
            },
            _ => Entry::StepDown {
                epoch,
                last_sequence: at(0),
                delivered: at(1),
            },
        })
    }
}

/// How many u64 words follow the header, for kinds other than a record.
fn body_words(kind: u8) -> usize {
    match kind {
        EPOCH | HANDOVER => 1,
        STEP_DOWN => 2,
        MARK => 3,
        _ => 0,
    }
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_short_or_foreign_bytes_are_refused() {
        let frame = [7u8; 48];
        let entries = [
            Entry::Record {
                epoch: 3,
                frame: &frame,
            },
            Entry::Epoch {
                epoch: 4,
                claimant: 99,
            },
            Entry::Mark {
                epoch: 4,
                last_sequence: 10,
                delivered: 9,
                wall_ns: 123,
            },
            Entry::Handover {
                epoch: 4,
                requested_ns: 5,
            },
            Entry::StepDown {
                epoch: 4,
                last_sequence: 10,
                delivered: 10,
            },
        ];
        let mut buffer = Vec::new();
        for entry in entries {
            entry.encode(&mut buffer);
            assert_eq!(Entry::decode(&buffer), Ok(entry));
            if !matches!(entry, Entry::Record { .. }) {
                assert!(Entry::decode(&buffer[..buffer.len() - 1]).is_err());
            }
            let mut other = buffer.clone();
            other[1] = ENTRY_FORMAT + 1;
            assert_eq!(
                Entry::decode(&other),
                Err(EntryError::Format {
                    found: ENTRY_FORMAT + 1
                })
            );
        }
        assert_eq!(Entry::decode(&[9; 16]), Err(EntryError::Kind(9)));
        assert!(matches!(
            Entry::decode(&[1, 1]),
            Err(EntryError::Short { kind: 1, len: 2 })
        ));
    }
}
