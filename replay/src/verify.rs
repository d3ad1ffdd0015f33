//! `replay verify`: prove the journal is intact.
//!
//! Every record's CRC and the sequence continuity within and across
//! segments are checked, and the end of the log is checked to be an end,
//! not a hole. With `deep`, the inputs are also re-executed from the
//! journal's start (or its oldest snapshot, if the start was retired) and
//! every snapshot's state hash is checked on the way. The first damage is
//! reported with its file, byte offset and sequence. Nothing is written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::EngineConfig;
use engine::history::{History, HistoryError};
use engine::sequenced::ReplayError;
use serde::Serialize;

use crate::Error;
use crate::start::{RulesFrom, genesis_rules, quiet};

/// Reports progress of long operations; the binary draws a bar.
pub trait Progress {
    /// A phase begins, over `total` records.
    fn start(&self, phase: &str, total: u64);
    /// `done` records of the phase are done.
    fn set(&self, done: u64);
    /// The phase ended.
    fn finish(&self);
}

/// No progress reporting.
impl Progress for () {
    fn start(&self, _: &str, _: u64) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
}

/// What verification found.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    /// Records whose CRC and sequence were checked.
    pub records: u64,
    /// The first and last sequence checked.
    pub first_seq: Option<u64>,
    /// The last sequence checked.
    pub last_seq: Option<u64>,
    /// Wall time of the check.
    pub seconds: f64,
    /// Records checked per second.
    pub records_per_sec: f64,
    /// The first damage, if any.
    pub damage: Option<Damage>,
    /// The re-execution, with `deep`.
    pub deep: Option<DeepCheck>,
}

impl Verified {
    /// Whether nothing is wrong.
    pub fn clean(&self) -> bool {
        self.damage.is_none() && self.deep.as_ref().is_none_or(|d| d.mismatch.is_none())
    }
}

/// Where the journal stops being trustworthy.
#[derive(Clone, Debug, Serialize)]
pub struct Damage {
    /// The file, when the damage is in one.
    pub file: Option<PathBuf>,
    /// The byte offset in it.
    pub offset: Option<u64>,
    /// The sequence that should be there.
    pub sequence: u64,
    /// What is wrong there (the file and offset are above).
    pub problem: String,
}

/// What re-execution found.
#[derive(Clone, Debug, Serialize)]
pub struct DeepCheck {
    /// The snapshot it started from; `None` for the journal's start.
    pub from_snapshot: Option<u64>,
    /// The rules it started under, for a start from the journal's start.
    pub rules: String,
    /// Records re-executed.
    pub replayed: u64,
    /// Snapshot state hashes that replay reproduced.
    pub hashes_verified: u64,
    /// The state hash at the end, as 16 hex digits.
    pub state_hash: String,
    /// Re-executed records per second.
    pub records_per_sec: f64,
    /// A state hash replay did not reproduce, or a record it could not use.
    pub mismatch: Option<String>,
}

/// Verifies the journal in `dir`; with `deep`, re-executes it under
/// `rules` (or those the oldest snapshot recorded) from its start.
pub fn verify(
    dir: &Path,
    deep: bool,
    rules: Option<&EngineConfig>,
    progress: &dyn Progress,
) -> Result<Verified, Error> {
    let history = History::open(dir)?;
    let reader = history.reader();
    let first = reader.first_sequence()?;
    let end = reader.end_sequence().unwrap_or(first.unwrap_or(1));
    let started = Instant::now();
    progress.start("verify", end.saturating_sub(first.unwrap_or(1)));
    let mut cursor = reader.read_all()?;
    let mut records = 0u64;
    let mut last = None;
    let mut damage = None;
    loop {
        match cursor.next() {
            Ok(Some(record)) => {
                records += 1;
                last = Some(record.sequence());
                if records & 0xFFFF == 0 {
                    progress.set(records);
                }
            }
            Ok(None) => {
                // A writer may have appended meanwhile; only a hole that
                // stays a hole is damage.
                if let Err(err) = reader.check_end(cursor.next_sequence()) {
                    if let Ok(Some(_)) = cursor.next() {
                        records += 1;
                        last = Some(cursor.next_sequence() - 1);
                        continue;
                    }
                    damage = Some(damage_of(&err, cursor.next_sequence()));
                }
                break;
            }
            Err(err) => {
                damage = Some(damage_of(&err, cursor.next_sequence()));
                break;
            }
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let mut verified = Verified {
        records,
        first_seq: first.filter(|_| records > 0),
        last_seq: last,
        seconds,
        records_per_sec: records as f64 / seconds.max(1e-9),
        damage,
        deep: None,
    };
    if deep && verified.damage.is_none() {
        verified.deep = Some(re_execute(&history, last.unwrap_or(0), rules, progress)?);
    }
    Ok(verified)
}

fn damage_of(err: &journal::Error, sequence: u64) -> Damage {
    // The journal's own message also says to run this tool; here the
    // problem alone is the news.
    let (file, offset, problem) = match err {
        journal::Error::Corrupt {
            path,
            offset,
            problem,
        } => (Some(path.clone()), Some(*offset), problem.to_string()),
        journal::Error::BadSegmentHeader { path, .. } | journal::Error::Io { path, .. } => {
            (Some(path.clone()), None, err.to_string())
        }
        _ => (None, None, err.to_string()),
    };
    Damage {
        file,
        offset,
        sequence,
        problem,
    }
}

/// Re-executes every record from the journal's start (or its oldest usable
/// snapshot) to `last`, checking each snapshot's state hash.
fn re_execute(
    history: &History,
    last: u64,
    rules: Option<&EngineConfig>,
    progress: &dyn Progress,
) -> Result<DeepCheck, Error> {
    let (genesis, rules_from) = genesis_rules(history, rules)?;
    let start = match history.replayer_at(0, &quiet(genesis)) {
        Err(HistoryError::NoStart { .. }) => {
            history.replayer_after(0, last, &quiet(EngineConfig::default()))?
        }
        start => start?,
    };
    let rules_from = match start.snapshot {
        Some(seq) => RulesFrom::Snapshot(seq),
        None => rules_from,
    };
    let from_snapshot = start.snapshot;
    let mut replayer = start.replayer;
    let began = replayer.last_sequence();
    let started = Instant::now();
    progress.start("re-execute", last.saturating_sub(began));
    let mut mismatch = None;
    if began < last {
        let mut records = history.records(began + 1)?;
        loop {
            let record = match records.next() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(err) => {
                    mismatch = Some(err.to_string());
                    break;
                }
            };
            match replayer.apply(&record, |_| {}) {
                Ok(()) => {}
                Err(err @ ReplayError::HashMismatch { .. }) => {
                    mismatch = Some(err.to_string());
                    break;
                }
                Err(err) => return Err(err.into()),
            }
            let done = record.sequence - began;
            if done & 0xFFFF == 0 {
                progress.set(done);
            }
            if record.sequence >= last {
                break;
            }
        }
    }
    progress.finish();
    let replayed = replayer.last_sequence() - began;
    Ok(DeepCheck {
        from_snapshot,
        rules: rules_from.to_string(),
        replayed,
        hashes_verified: replayer.hashes_verified(),
        state_hash: format!("{:016x}", replayer.engine().state_hash()),
        records_per_sec: replayed as f64 / started.elapsed().as_secs_f64().max(1e-9),
        mismatch,
    })
}
