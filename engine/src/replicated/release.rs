//! The primary's release rule: which of its inputs the log has agreed to.
//!
//! An input's outputs may leave only when its record is acknowledged and
//! every entry between the primary's own epoch entry and that record's
//! offset is the primary's own, or one every reader ignores. Kafka gives
//! each acknowledged entry its offset in the partition's total order, so a
//! hole in the primary's offsets is exactly "someone else wrote here". The
//! tracker then holds everything after the hole until the caller has read
//! the entries in it: a newer epoch's claim fences the primary, and nothing
//! after the claim is ever released; anything readers ignore lets it go on.
//!
//! No clock and no timing take part: the argument is in `docs/ha.md`. The
//! tracker does no I/O; the replicator thread feeds it acknowledgements and
//! the entries it reads, and publishes [`ReleaseTracker::released`].

use std::collections::VecDeque;

use thiserror::Error;

use super::entry::Entry;

/// The primary's view of its own entries in the journal topic.
#[derive(Debug)]
pub struct ReleaseTracker {
    epoch: u64,
    /// The offset the next entry must have for the run to stay unbroken.
    next_offset: i64,
    /// Entries sent and not yet acknowledged, oldest first: the sequence a
    /// record carries, or 0 for other entries.
    in_flight: VecDeque<u64>,
    /// Acknowledgements behind a hole, with their sequences, waiting for the
    /// hole to be read.
    held: VecDeque<(i64, u64)>,
    /// The hole being read: offsets `next_offset..hole_end`.
    hole_end: Option<i64>,
    released: u64,
    fenced: Option<u64>,
    handover: bool,
}

/// Why the tracker can no longer release anything.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ReleaseError {
    /// A newer epoch was claimed: this engine is no longer the leader.
    #[error("fenced: epoch {epoch} was claimed in the journal topic at offset {offset}")]
    Fenced {
        /// The newer epoch.
        epoch: u64,
        /// Where its claim is.
        offset: i64,
    },
    /// An acknowledgement came back with an offset at or before one already
    /// accounted for: the broker or client broke its ordering promise.
    #[error("the journal topic acknowledged offset {offset} after {after}: order broken")]
    Reordered {
        /// The offset acknowledged.
        offset: i64,
        /// The last one accounted for.
        after: i64,
    },
    /// More acknowledgements than entries sent.
    #[error("an acknowledgement for an entry that was not sent")]
    Unexpected,
}

impl ReleaseTracker {
    /// A leader of `epoch` whose epoch entry has offset `epoch_offset`, with
    /// everything through sequence `agreed_end` already agreed.
    pub fn new(epoch: u64, epoch_offset: i64, agreed_end: u64) -> ReleaseTracker {
        ReleaseTracker {
            epoch,
            next_offset: epoch_offset + 1,
            in_flight: VecDeque::with_capacity(1 << 16),
            held: VecDeque::with_capacity(1 << 10),
            hole_end: None,
            released: agreed_end,
            fenced: None,
            handover: false,
        }
    }

    /// This leader's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The highest sequence the log has agreed to: its outputs may go once
    /// the local journal holds it too.
    pub fn released(&self) -> u64 {
        self.released
    }

    /// An operator asked this leader to hand over.
    pub fn handover_requested(&self) -> bool {
        self.handover
    }

    /// The offset after the last entry accounted for: every entry before
    /// it is this leader's own, acknowledged, or judged harmless.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Entries sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len() + self.held.len()
    }

    /// The offsets someone else wrote, which the caller must read and pass
    /// to [`foreign`](Self::foreign) in order, before anything after them
    /// can be released.
    pub fn hole(&self) -> Option<std::ops::Range<i64>> {
        self.hole_end.map(|end| self.next_offset..end)
    }

    /// An entry was sent: a record of `sequence`, or another entry (`None`).
    pub fn sent(&mut self, sequence: Option<u64>) {
        self.in_flight.push_back(sequence.unwrap_or(0));
    }

    /// The oldest entry in flight was acknowledged at `offset`.
    pub fn acknowledged(&mut self, offset: i64) -> Result<(), ReleaseError> {
        self.check_fenced()?;
        let sequence = self.in_flight.pop_front().ok_or(ReleaseError::Unexpected)?;
        if self.hole_end.is_some() {
            self.held.push_back((offset, sequence));
            return Ok(());
        }
        self.place(offset, sequence)
    }

    /// The entry someone else wrote at `offset`, the first offset of
    /// [`hole`](Self::hole).
    pub fn foreign(&mut self, offset: i64, entry: &Entry<'_>) -> Result<(), ReleaseError> {
        self.check_fenced()?;
        debug_assert_eq!(Some(offset), self.hole().map(|h| h.start));
        let epoch = entry.epoch();
        let harmless = match entry {
            // A losing or older claim: readers ignore it.
            Entry::Epoch { .. } => epoch <= self.epoch,
            // An operator's request to this leader, or to an older one.
            Entry::Handover { .. } => {
                self.handover |= epoch == self.epoch;
                epoch <= self.epoch
            }
            // A former leader's late entries: readers ignore them.
            _ => epoch < self.epoch,
        };
        if !harmless {
            self.fenced = Some(epoch);
            return Err(ReleaseError::Fenced { epoch, offset });
        }
        self.next_offset = offset + 1;
        if self.hole_end == Some(self.next_offset) {
            self.hole_end = None;
            while let Some((offset, sequence)) = self.held.pop_front() {
                self.place(offset, sequence)?;
                if self.hole_end.is_some() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn place(&mut self, offset: i64, sequence: u64) -> Result<(), ReleaseError> {
        if offset < self.next_offset {
            return Err(ReleaseError::Reordered {
                offset,
                after: self.next_offset - 1,
            });
        }
        if offset > self.next_offset {
            self.hole_end = Some(offset);
            self.held.push_front((offset, sequence));
            return Ok(());
        }
        self.next_offset = offset + 1;
        if sequence > 0 {
            self.released = self.released.max(sequence);
        }
        Ok(())
    }

    fn check_fenced(&self) -> Result<(), ReleaseError> {
        match self.fenced {
            Some(epoch) => Err(ReleaseError::Fenced {
                epoch,
                offset: self.next_offset,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::agreed::tests::frame;
    use super::super::agreed::{AgreedLog, Verdict};
    use super::*;

    /// One scripted partition: the primary (epoch 1, its claim at offset 0)
    /// sends records 1..=n; a rival's claim of epoch 2 lands at log
    /// position `k` among them. Acknowledgements return in order, with the
    /// offsets the log gave. What the primary releases must be exactly what
    /// every reader agrees to, whatever `k`, and acknowledgements may
    /// arrive in any number at a time.
    #[test]
    fn a_foreign_claim_at_every_position_fences_exactly_the_records_after_it() {
        let n = 12u64;
        let frames: Vec<Vec<u8>> = (1..=n).map(frame).collect();
        let mut buffer = Vec::new();
        for k in 0..=n as usize {
            for ack_batch in [1, 3, n as usize] {
                // The log: offset 0 the primary's claim, then the records
                // with the rival's claim after the first k of them.
                let mut log: Vec<Vec<u8>> = Vec::new();
                Entry::Epoch {
                    epoch: 1,
                    claimant: 1,
                }
                .encode(&mut buffer);
                log.push(buffer.clone());
                let mut own_offsets = Vec::new();
                for (i, frame) in frames.iter().enumerate() {
                    if i == k {
                        Entry::Epoch {
                            epoch: 2,
                            claimant: 2,
                        }
                        .encode(&mut buffer);
                        log.push(buffer.clone());
                    }
                    Entry::Record { epoch: 1, frame }.encode(&mut buffer);
                    own_offsets.push(log.len() as i64);
                    log.push(buffer.clone());
                }
                if k == n as usize {
                    Entry::Epoch {
                        epoch: 2,
                        claimant: 2,
                    }
                    .encode(&mut buffer);
                    log.push(buffer.clone());
                }

                // What every reader agrees to.
                let mut reader = AgreedLog::new(1, 0);
                let mut agreed = 0;
                for bytes in &log {
                    if let Verdict::Append { sequence, .. } =
                        reader.judge(&Entry::decode(bytes).unwrap()).unwrap()
                    {
                        agreed = sequence;
                    }
                }
                assert_eq!(
                    agreed, k as u64,
                    "readers agree to the records before the claim"
                );

                // What the primary releases.
                let mut tracker = ReleaseTracker::new(1, 0, 0);
                for seq in 1..=n {
                    tracker.sent(Some(seq));
                }
                let mut fenced = None;
                'acks: for chunk in own_offsets.chunks(ack_batch) {
                    for &offset in chunk {
                        if let Err(err) = tracker.acknowledged(offset) {
                            fenced = Some(err);
                            break 'acks;
                        }
                    }
                    while let Some(hole) = tracker.hole() {
                        let entry = Entry::decode(&log[hole.start as usize]).unwrap();
                        if let Err(err) = tracker.foreign(hole.start, &entry) {
                            fenced = Some(err);
                            break 'acks;
                        }
                    }
                    assert!(tracker.released() <= agreed, "released past the agreed end");
                }
                assert_eq!(tracker.released(), agreed, "k={k} batch={ack_batch}");
                if k < n as usize {
                    assert_eq!(
                        fenced,
                        Some(ReleaseError::Fenced {
                            epoch: 2,
                            offset: k as i64 + 1
                        })
                    );
                } else {
                    // The claim came after everything: nothing fenced yet.
                    assert_eq!(fenced, None);
                }
            }
        }
    }

    #[test]
    fn entries_readers_ignore_open_a_hole_that_closes_and_a_handover_is_noticed() {
        let f1 = frame(1);
        let f2 = frame(2);
        let mut tracker = ReleaseTracker::new(3, 10, 0);
        tracker.sent(Some(1));
        tracker.sent(Some(2));
        tracker.acknowledged(11).unwrap();
        assert_eq!(tracker.released(), 1);
        // Offsets 12 and 13: a zombie's record of epoch 2 and a handover.
        tracker.acknowledged(14).unwrap();
        assert_eq!(tracker.released(), 1, "held behind the hole");
        assert_eq!(tracker.hole(), Some(12..14));
        tracker
            .foreign(
                12,
                &Entry::Record {
                    epoch: 2,
                    frame: &f1,
                },
            )
            .unwrap();
        tracker
            .foreign(
                13,
                &Entry::Handover {
                    epoch: 3,
                    requested_ns: 0,
                },
            )
            .unwrap();
        assert_eq!((tracker.hole(), tracker.released()), (None, 2));
        assert!(tracker.handover_requested());
        // A record of this very epoch by someone else is a conflict.
        tracker.sent(Some(3));
        tracker.acknowledged(16).unwrap();
        let err = tracker.foreign(
            15,
            &Entry::Record {
                epoch: 3,
                frame: &f2,
            },
        );
        assert!(matches!(err, Err(ReleaseError::Fenced { epoch: 3, .. })));
        assert_eq!(tracker.released(), 2);
        assert_eq!(
            tracker.acknowledged(17),
            Err(ReleaseError::Fenced {
                epoch: 3,
                offset: 15
            })
        );
    }
}
