//! Reading the journal topic as every reader must: the agreed history.
//!
//! The rules, the same for a standby, a promoting engine and a rejoining
//! one, so that all of them read one history from one log:
//! - an epoch entry with a newer epoch than any seen before starts that
//!   epoch; the first one in log order wins, and later claims of the same
//!   or an older epoch are ignored;
//! - a record, mark, handover or step-down of an older epoch than the
//!   current one is ignored: it was written by a leader that had already
//!   lost, and no output of it was released;
//! - records of the current epoch must continue the sequence without a gap.
//!
//! This module judges entries one at a time and keeps the position; it does
//! no I/O and reads no clock.

use thiserror::Error;

use super::entry::Entry;

/// The longest frame a journal-topic record may hold (a sanity bound; the
/// journal's own limit is lower).
const MAX_FRAME: u32 = 16 << 20;

/// Where the agreed history stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreedLog {
    epoch: u64,
    claimant: Option<u64>,
    next_sequence: u64,
    delivered: u64,
    stepped_down: bool,
}

/// What one entry means to a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// The next agreed record: append it.
    Append {
        /// Its sequence.
        sequence: u64,
        /// Its frame.
        frame: &'a [u8],
    },
    /// An agreed record at a sequence the reader already passed (a rejoining
    /// engine reading over its own log): compare it with the local one.
    Repeat {
        /// Its sequence.
        sequence: u64,
        /// Its frame.
        frame: &'a [u8],
    },
    /// A new epoch begins; everything through `agreed_end` is agreed.
    NewEpoch {
        /// The epoch.
        epoch: u64,
        /// Who claimed it.
        claimant: u64,
        /// The last agreed sequence before it.
        agreed_end: u64,
    },
    /// The current leader's progress.
    Progress {
        /// Its delivered mark.
        delivered: u64,
    },
    /// An operator asked the current leader to hand over.
    Handover,
    /// The current leader stopped cleanly after `last_sequence`.
    StepDown {
        /// Its last sequence.
        last_sequence: u64,
    },
    /// An entry every reader ignores.
    Ignored,
}

/// An entry that no reading of the log can accept.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AgreedError {
    /// The current epoch's records skip sequences: the log lost records
    /// (retention cut them), and this reader needs a snapshot past them.
    #[error(
        "the journal topic holds sequence {found} where {expected} comes next: its records \
         before {found} are gone (retention); bootstrap this engine from a snapshot"
    )]
    Gap {
        /// The sequence expected.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// A record's frame fails its checks.
    #[error("a journal-topic record is damaged: {0}")]
    Frame(journal::Corruption),
}

impl AgreedLog {
    /// A reader that has `next_sequence` next, in `epoch`.
    pub fn new(next_sequence: u64, epoch: u64) -> AgreedLog {
        AgreedLog {
            epoch,
            claimant: None,
            next_sequence,
            delivered: 0,
            stepped_down: false,
        }
    }

    /// The current epoch (0: no leader ever).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The current epoch's claimant, if its claim was read.
    pub fn claimant(&self) -> Option<u64> {
        self.claimant
    }

    /// The next sequence the agreed log will hold.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The highest delivered mark the current and earlier leaders wrote.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The current leader stepped down and has written its last entry.
    pub fn stepped_down(&self) -> bool {
        self.stepped_down
    }

    /// Judges the next entry in log order.
    pub fn judge<'a>(&mut self, entry: &Entry<'a>) -> Result<Verdict<'a>, AgreedError> {
        let epoch = entry.epoch();
        if let Entry::Epoch { claimant, .. } = *entry {
            if epoch <= self.epoch {
                return Ok(Verdict::Ignored);
            }
            self.epoch = epoch;
            self.claimant = Some(claimant);
            self.stepped_down = false;
            return Ok(Verdict::NewEpoch {
                epoch,
                claimant,
                agreed_end: self.next_sequence - 1,
            });
        }
        if epoch < self.epoch {
            return Ok(Verdict::Ignored);
        }
        if epoch > self.epoch {
            // Its epoch entry is gone (retention): the record itself says a
            // newer leader wrote it.
            self.epoch = epoch;
            self.claimant = None;
            self.stepped_down = false;
        }
        Ok(match *entry {
            Entry::Record { frame, .. } => {
                let (sequence, _, _) =
                    journal::check_frame_bytes(frame, MAX_FRAME).map_err(AgreedError::Frame)?;
                if sequence > self.next_sequence {
                    return Err(AgreedError::Gap {
                        expected: self.next_sequence,
                        found: sequence,
                    });
                }
                if sequence < self.next_sequence {
                    Verdict::Repeat { sequence, frame }
                } else {
                    self.next_sequence += 1;
                    Verdict::Append { sequence, frame }
                }
            }
            Entry::Mark { delivered, .. } => {
                self.delivered = self.delivered.max(delivered);
                Verdict::Progress { delivered }
            }
            Entry::Handover { .. } => Verdict::Handover,
            Entry::StepDown {
                last_sequence,
                delivered,
                ..
            } => {
                self.delivered = self.delivered.max(delivered);
                self.stepped_down = true;
                Verdict::StepDown { last_sequence }
            }
            Entry::Epoch { .. } => Verdict::Ignored,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use journal::RecordMeta;

    /// A real journal frame for `sequence`, as the writer lays it out.
    pub(crate) fn frame(sequence: u64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let options = journal::JournalOptions::new()
            .segment_size(1 << 20)
            .first_sequence(sequence);
        let mut writer = journal::Journal::open(dir.path(), options)
            .unwrap()
            .into_writer()
            .unwrap();
        writer
            .append(&RecordMeta::unsourced(sequence), &sequence.to_le_bytes())
            .unwrap();
        let reader = journal::Reader::open(dir.path()).unwrap();
        let mut cursor = reader.read_from(sequence).unwrap();
        cursor.next().unwrap().unwrap().frame().to_vec()
    }

    #[test]
    fn the_first_newer_claim_wins_and_the_old_epochs_later_records_are_ignored() {
        let frames: Vec<Vec<u8>> = (1..=4).map(frame).collect();
        let mut log = AgreedLog::new(1, 0);
        let record = |epoch, i: usize| Entry::Record {
            epoch,
            frame: &frames[i],
        };
        assert!(matches!(
            log.judge(&Entry::Epoch {
                epoch: 1,
                claimant: 7
            }),
            Ok(Verdict::NewEpoch { agreed_end: 0, .. })
        ));
        assert!(matches!(
            log.judge(&record(1, 0)),
            Ok(Verdict::Append { sequence: 1, .. })
        ));
        assert!(matches!(
            log.judge(&record(1, 1)),
            Ok(Verdict::Append { sequence: 2, .. })
        ));
        // A standby claims epoch 2; a rival's later claim of 2 loses.
        assert_eq!(
            log.judge(&Entry::Epoch {
                epoch: 2,
                claimant: 8
            }),
            Ok(Verdict::NewEpoch {
                epoch: 2,
                claimant: 8,
                agreed_end: 2
            })
        );
        assert_eq!(
            log.judge(&Entry::Epoch {
                epoch: 2,
                claimant: 9
            }),
            Ok(Verdict::Ignored)
        );
        // The old leader's record 3 landed after the claim: not agreed.
        assert_eq!(log.judge(&record(1, 2)), Ok(Verdict::Ignored));
        assert!(matches!(
            log.judge(&record(2, 2)),
            Ok(Verdict::Append { sequence: 3, .. })
        ));
        assert_eq!(log.claimant(), Some(8));
        // A repeat, then a gap.
        assert!(matches!(
            log.judge(&record(2, 0)),
            Ok(Verdict::Repeat { sequence: 1, .. })
        ));
        let far = frame(9);
        let gap = log.judge(&Entry::Record {
            epoch: 2,
            frame: &far,
        });
        assert_eq!(
            gap,
            Err(AgreedError::Gap {
                expected: 4,
                found: 9
            })
        );
        let mut bad = frames[3].clone();
        bad[20] ^= 1;
        assert!(matches!(
            log.judge(&Entry::Record {
                epoch: 2,
                frame: &bad
            }),
            Err(AgreedError::Frame(_))
        ));
    }
}
