//! Restore, apply, number, verify: re-running journaled inputs on an
//! engine, exactly as the server first ran them.
//!
//! The server's recovery and the `replay` tool both go through
//! [`Replayer`], so a replayed input produces the same messages, numbered
//! `(seq, idx)` the same way, and the same state hash, as the first run.
//! It holds no thread, reads no clock and does no I/O: records come in
//! decoded, messages go out through a callback.

use std::collections::BTreeMap;

use thiserror::Error;

use super::checkpoint::Checkpoint;
use super::input::{Input, SourcePosition, SourcePositions};
use super::output::{Message, Numbering, Output};
use crate::{Engine, Event, EventSink, MemoryConfig, SnapshotError};

/// One journaled input, as replay needs it: the record's sequence, its
/// ingress stamp and source, and what it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Journaled {
    /// The engine (and journal) sequence.
    pub sequence: u64,
    /// The ingress timestamp, in ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// The Kafka partition and offset (or file line) it came from.
    pub source: SourcePosition,
    /// The input.
    pub input: Input,
}

/// Why replay stopped.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// Records must come in sequence order, without gaps.
    #[error("replay expected sequence {expected} and was given {found}")]
    OutOfOrder {
        /// The next sequence.
        expected: u64,
        /// What came.
        found: u64,
    },
    /// Replay did not reproduce a snapshot's state: the run is not
    /// deterministic, or the snapshot or journal was altered.
    #[error(
        "replay reached sequence {sequence} with state hash {replayed:016x}, but the snapshot \
         there recorded {recorded:016x}"
    )]
    HashMismatch {
        /// Where they differ.
        sequence: u64,
        /// The snapshot's hash.
        recorded: u64,
        /// What replay produced.
        replayed: u64,
    },
}

/// Applies one input, journaled from `source`, to `engine`, handing each
/// outcome to `each`, in the order the matcher reports them. The server's
/// matcher thread and replay both apply inputs through this.
#[inline]
pub fn apply_input(
    engine: &mut Engine,
    input: &Input,
    source: SourcePosition,
    each: &mut impl FnMut(Output),
) {
    struct Forward<'a, F>(&'a mut F);
    impl<F: FnMut(Output)> EventSink for Forward<'_, F> {
        #[inline]
        fn on_event(&mut self, event: &Event) {
            (self.0)(Output::Event(*event));
        }
    }
    match input {
        Input::Command(command) => engine.apply_from(command, source.partition, &mut Forward(each)),
        Input::Malformed(malformed) => each(Output::Undecodable(*malformed)),
        Input::Admin(command) => engine.apply_admin(command, &mut Forward(each)),
        Input::MalformedAdmin(malformed) => each(Output::UndecodableAdmin(*malformed)),
        Input::Handover(step) => engine.apply_handover(step, &mut Forward(each)),
    }
}

/// An engine being replayed, with the state hashes it must reproduce.
pub struct Replayer {
    engine: Engine,
    last: u64,
    positions: SourcePositions,
    /// Hashes to reproduce by sequence, and whether each is of an older
    /// snapshot format, which lacks books' partitions.
    expected: BTreeMap<u64, (u64, bool)>,
    verified: u64,
    numbering: Numbering,
}

impl Replayer {
    /// Replays onto `engine`, whose state includes every input up to
    /// `after` (0 for an empty engine), read from `positions`.
    pub fn new(engine: Engine, after: u64, positions: SourcePositions) -> Replayer {
        Replayer {
            engine,
            last: after,
            positions,
            expected: BTreeMap::new(),
            verified: 0,
            numbering: Numbering::default(),
        }
    }

    /// Replays from a snapshot: restores the checkpoint's engine.
    pub fn from_checkpoint(
        checkpoint: &Checkpoint<'_>,
        memory: MemoryConfig,
    ) -> Result<Replayer, SnapshotError> {
        let engine = Engine::restore(checkpoint.engine, memory)?;
        Ok(Replayer::new(
            engine,
            checkpoint.sequence,
            checkpoint.positions.clone(),
        ))
    }

    /// Requires the state after `sequence` to hash to `state_hash`; a
    /// snapshot recorded it.
    pub fn expect_hash(&mut self, sequence: u64, state_hash: u64) {
        if sequence > self.last {
            self.expected.insert(sequence, (state_hash, false));
        }
    }

    /// As [`Replayer::expect_hash`], for a snapshot of a format before
    /// books recorded their partition: the state is compared without them.
    pub fn expect_old_format_hash(&mut self, sequence: u64, state_hash: u64) {
        if sequence > self.last {
            self.expected.insert(sequence, (state_hash, true));
        }
    }

    /// Applies the next record, handing each of its messages, numbered, to
    /// `emit`; the last one has `last` set. Checks the state hash if a
    /// snapshot recorded one at this sequence.
    pub fn apply(
        &mut self,
        record: &Journaled,
        mut emit: impl FnMut(&Message),
    ) -> Result<(), ReplayError> {
        self.check_next(record)?;
        let Replayer {
            engine, numbering, ..
        } = self;
        // One outcome is held back until the next arrives, so the last
        // message of the input can be marked without buffering them all.
        let mut pending: Option<Output> = None;
        let mut send = |output: Output, last_output: bool| {
            output.bodies(|body, final_body| {
                emit(&Message {
                    seq: record.sequence,
                    idx: numbering.next(record.sequence),
                    source: record.source,
                    origin_ns: record.timestamp_ns,
                    last: last_output && final_body,
                    body,
                });
            });
        };
        apply_input(engine, &record.input, record.source, &mut |output| {
            if let Some(previous) = pending.replace(output) {
                send(previous, false);
            }
        });
        if let Some(last) = pending {
            send(last, true);
        }
        self.applied(record)
    }

    /// Applies the next record like [`Replayer::apply`], appending its
    /// messages to `out`. For callers that keep the messages: each is
    /// written once, straight into `out`, with no look-ahead copy.
    pub fn apply_into(
        &mut self,
        record: &Journaled,
        out: &mut Vec<Message>,
    ) -> Result<(), ReplayError> {
        self.check_next(record)?;
        let first = out.len();
        let Replayer {
            engine, numbering, ..
        } = self;
        apply_input(engine, &record.input, record.source, &mut |output| {
            output.bodies(|body, _| {
                out.push(Message {
                    seq: record.sequence,
                    idx: numbering.next(record.sequence),
                    source: record.source,
                    origin_ns: record.timestamp_ns,
                    last: false,
                    body,
                });
            });
        });
        if let Some(last) = out[first..].last_mut() {
            last.last = true;
        }
        self.applied(record)
    }

    /// Applies the next record and drops its outputs: for a follower that
    /// only needs the state, such as the pipeline's snapshot replica.
    pub fn advance(&mut self, record: &Journaled) -> Result<(), ReplayError> {
        self.check_next(record)?;
        apply_input(&mut self.engine, &record.input, record.source, &mut |_| {});
        self.applied(record)
    }

    fn check_next(&self, record: &Journaled) -> Result<(), ReplayError> {
        if record.sequence == self.last + 1 {
            return Ok(());
        }
        Err(ReplayError::OutOfOrder {
            expected: self.last + 1,
            found: record.sequence,
        })
    }

    /// Moves past `record`, checking the state hash if a snapshot recorded
    /// one at its sequence.
    fn applied(&mut self, record: &Journaled) -> Result<(), ReplayError> {
        self.positions.advance(record.source);
        self.last = record.sequence;
        if let Some((recorded, old)) = self.expected.remove(&record.sequence) {
            let replayed = if old {
                self.engine.state_hash_without_partitions()
            } else {
                self.engine.state_hash()
            };
            if replayed != recorded {
                return Err(ReplayError::HashMismatch {
                    sequence: record.sequence,
                    recorded,
                    replayed,
                });
            }
            self.verified += 1;
        }
        Ok(())
    }

    /// The engine as replayed so far.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The last sequence applied (or restored).
    pub fn last_sequence(&self) -> u64 {
        self.last
    }

    /// Where each partition stood after the last sequence.
    pub fn positions(&self) -> &SourcePositions {
        &self.positions
    }

    /// State hashes checked and found equal so far.
    pub fn hashes_verified(&self) -> u64 {
        self.verified
    }

    /// The engine and the source positions, to go on from here.
    pub fn into_parts(self) -> (Engine, SourcePositions) {
        (self.engine, self.positions)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use crate::sequenced::{MessageBody, encode_checkpoint};
    use crate::{Command, EngineConfig, OrderId, OrderSpec, Side, Symbol, UserId};

    fn record(sequence: u64, user: &str, side: Side, price: u64) -> Journaled {
        let command = Command::add(
            sequence,
            Symbol::new("AAPL").unwrap(),
            UserId::new(user).unwrap(),
            OrderId::new(&format!("o{sequence}")).unwrap(),
            OrderSpec::limit(side, price, 10),
        );
        Journaled {
            sequence,
            timestamp_ns: sequence,
            source: SourcePosition::orders(0, sequence as i64),
            input: Input::Command(command),
        }
    }

    #[test]
    fn numbers_messages_and_marks_the_last() {
        let mut replayer = Replayer::new(
            Engine::new(EngineConfig::default()).unwrap(),
            0,
            SourcePositions::default(),
        );
        let mut got = Vec::new();
        for r in [
            record(1, "a", Side::Sell, 100),
            record(2, "b", Side::Buy, 100),
        ] {
            replayer.apply(&r, |m| got.push(*m)).unwrap();
        }
        let numbered: Vec<(u64, u32, bool)> = got.iter().map(|m| (m.seq, m.idx, m.last)).collect();
        // 1: ACCEPTED, depth. 2: ACCEPTED, trade + two fills, depth.
        assert_eq!(
            numbered,
            vec![
                (1, 0, false),
                (1, 1, true),
                (2, 0, false),
                (2, 1, false),
                (2, 2, false),
                (2, 3, false),
                (2, 4, true)
            ]
        );
        assert!(matches!(got[3].body, MessageBody::Trade(..)));
        assert!(matches!(got[4].body, MessageBody::Fill(..)));
        assert_eq!(replayer.positions().last_offset(0), Some(2));
        assert_eq!(
            replayer.apply(&record(9, "a", Side::Buy, 1), |_| {}),
            Err(ReplayError::OutOfOrder {
                expected: 3,
                found: 9
            })
        );
    }

    #[test]
    fn apply_into_appends_what_apply_emits() {
        let fresh = || {
            Replayer::new(
                Engine::new(EngineConfig::default()).unwrap(),
                0,
                SourcePositions::default(),
            )
        };
        let records = [
            record(1, "a", Side::Sell, 100),
            record(2, "b", Side::Sell, 101),
            record(3, "c", Side::Buy, 101),
            record(4, "d", Side::Buy, 99),
        ];
        let (mut streamed, mut collected) = (fresh(), fresh());
        let (mut one, mut other) = (Vec::new(), vec![]);
        for r in &records {
            streamed.apply(r, |m| one.push(*m)).unwrap();
            collected.apply_into(r, &mut other).unwrap();
        }
        assert_eq!(one, other);
        assert_eq!(
            streamed.engine().state_hash(),
            collected.engine().state_hash()
        );
        assert_eq!(
            collected.apply_into(&record(9, "a", Side::Buy, 1), &mut other),
            Err(ReplayError::OutOfOrder {
                expected: 5,
                found: 9
            })
        );
    }

    #[test]
    fn restores_from_a_checkpoint_and_checks_hashes() {
        let mut first = Replayer::new(
            Engine::new(EngineConfig::default()).unwrap(),
            0,
            SourcePositions::default(),
        );
        first
            .apply(&record(1, "a", Side::Sell, 100), |_| {})
            .unwrap();
        let (bytes, hash_at_1) =
            encode_checkpoint(1, first.positions(), &first.engine().snapshot());
        first.apply(&record(2, "b", Side::Buy, 99), |_| {}).unwrap();
        let hash_at_2 = first.engine().state_hash();

        let checkpoint = crate::sequenced::decode_checkpoint(&bytes).unwrap();
        assert_eq!(checkpoint.state_hash, hash_at_1);
        let mut again = Replayer::from_checkpoint(&checkpoint, MemoryConfig::default()).unwrap();
        again.expect_hash(2, hash_at_2);
        again.apply(&record(2, "b", Side::Buy, 99), |_| {}).unwrap();
        assert_eq!(again.hashes_verified(), 1);

        let mut wrong = Replayer::from_checkpoint(&checkpoint, MemoryConfig::default()).unwrap();
        wrong.expect_hash(2, hash_at_2 ^ 1);
        assert!(matches!(
            wrong.apply(&record(2, "b", Side::Buy, 99), |_| {}),
            Err(ReplayError::HashMismatch { sequence: 2, .. })
        ));
    }
}
