//! The follower: reads the journal topic, keeps the local journal equal to
//! the agreed log, and decides when to claim the lead.
//!
//! Each agreed record is appended to the local journal with its sequence,
//! meta and payload, so the local frame is byte for byte the leader's. A
//! record the local journal already holds (a restart, or a former leader
//! rejoining) is compared instead; where the two differ, or where a new
//! epoch begins before the local journal ends, the local tail was never
//! agreed, and so never released: it is moved into a quarantine directory
//! beside the segments, as `replay truncate` does, and nothing is deleted.
//! The snapshot replica (`crate::pipeline`) follows the local journal on
//! its own thread, up to what the log has agreed and delivered, and writes
//! this engine's snapshots and applies its retention.
//!
//! The follower publishes nothing to the output topics and never runs the
//! matcher's pipeline; the leader's side is `crate::pipeline`'s replicator.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use journal::{Cursor, DurableSequence, Journal, Reader, Writer};

use super::agreed::{AgreedLog, Verdict};
use super::entry::Entry;
use super::state::ReplicationState;
use super::{HaConfig, LogConsumer, LogProducer, ReplicationGauges, Role, TakeoverTimes};
use crate::pipeline::{PipelineConfig, PipelineError, replica_for_follower};
use crate::sequenced::INPUT_FORMAT;

/// The longest frame accepted from the topic.
const MAX_FRAME: u32 = 16 << 20;
/// Ingress stamps above this (2001-09-09 in ns since the Unix epoch) are
/// wall-clock times; the sequence clock's never get near it.
const WALL_CLOCK_FLOOR_NS: u64 = 1_000_000_000_000_000_000;
/// How long one poll of the topic waits for entries.
const POLL: Duration = Duration::from_millis(5);
/// How often the high watermark is asked for while caught up, and the
/// state file rewritten.
const END_EVERY: Duration = Duration::from_millis(20);
const STATE_EVERY: Duration = Duration::from_secs(1);

/// What a spell of following did.
#[derive(Clone, Debug, Default)]
pub struct FollowReport {
    /// Records appended to the local journal from the topic.
    pub appended: u64,
    /// Records the local journal already held and the log confirmed.
    pub confirmed: u64,
    /// Local records moved into quarantine because the log never agreed
    /// to them, and where they went.
    pub quarantined: Vec<PathBuf>,
    /// The last sequence the local journal holds of the agreed log.
    pub agreed_through: u64,
    /// The epoch in force at the end.
    pub epoch: u64,
    /// Replication lag per appended record, from its ingress stamp on the
    /// leader to its append here, in ns: p50, p99 and max. Only with the
    /// wall clock (`--clock wall`) and hosts whose clocks agree; `None`
    /// otherwise.
    pub lag_ns: Option<(u64, u64, u64)>,
}

/// How a spell of following ended.
pub(crate) enum Phase {
    /// `stop` was raised.
    Stopped(FollowReport),
    /// This engine claimed an epoch and lost it to an earlier claim.
    Lost,
    /// This engine claimed `epoch` and won it.
    Won(Won),
}

/// A won claim.
pub(crate) struct Won {
    pub epoch: u64,
    pub claim_offset: i64,
    pub agreed_end: u64,
    pub delivered: u64,
    pub decided: Instant,
    pub times: TakeoverTimes,
    pub report: FollowReport,
}

/// Follows the topic, with the snapshot replica beside it, until `stop`,
/// or until `role` and the leader's silence call for a claim; then claims
/// the next epoch and reads the topic up to the claim. `led` is the epoch
/// this process (`instance`) led before it stepped down, if it did.
#[allow(clippy::too_many_arguments)] // the loop's whole world, wired once
pub(crate) fn follow_and_claim(
    config: &PipelineConfig,
    ha: &HaConfig,
    gauges: &ReplicationGauges,
    producer: &mut dyn LogProducer,
    consumer: &mut dyn LogConsumer,
    role: Role,
    (instance, led): (u64, Option<u64>),
    stop: &AtomicBool,
) -> Result<Phase, PipelineError> {
    let delivered = AtomicU64::new(0);
    let mut follower = Follower::open(config, ha, gauges, &delivered, instance, consumer)?;
    follower.led = led;
    let done = AtomicBool::new(false);
    let failed = AtomicBool::new(false);
    let gate = follower.gate.clone();
    std::thread::scope(|scope| {
        let replica = replica_for_follower(scope, config, gate, &delivered, &done, &failed)?;
        let result = follower.run(producer, consumer, role, stop, &failed);
        done.store(true, Ordering::Release);
        let replica = replica.map(|handle| {
            handle
                .join()
                .map_err(|_| PipelineError::Panicked("replica"))
        });
        let phase = result?;
        if let Some(replica) = replica {
            replica??;
        }
        let report = follower.close()?;
        Ok(match phase {
            Ended::Stopped => Phase::Stopped(report),
            Ended::Lost => Phase::Lost,
            Ended::Won(mut won) => {
                won.report = report;
                Phase::Won(won)
            }
        })
    })
}

enum Ended {
    Stopped,
    Lost,
    Won(Won),
}

struct Follower<'a> {
    dir: PathBuf,
    options: journal::JournalOptions,
    ha: &'a HaConfig,
    gauges: &'a ReplicationGauges,
    writer: Option<Writer>,
    /// What the snapshot replica may read: durable locally and agreed.
    gate: DurableSequence,
    /// The agreed delivered mark, for the replica and retention.
    delivered: &'a AtomicU64,
    log: AgreedLog,
    next_offset: i64,
    local_next: u64,
    local_first: u64,
    /// The last local sequence the log has agreed to.
    confirmed: u64,
    compare: Option<Cursor>,
    batch_open: bool,
    instance: u64,
    /// The epoch this process last led, if it stepped down in-process.
    led: Option<u64>,
    heard: Instant,
    behind_since: Option<Instant>,
    end: i64,
    end_asked: Instant,
    state_written: Instant,
    opened: Instant,
    reported_caught_up: bool,
    /// Lag per appended record, in ns (allocated once, at open).
    lag: hdrhistogram::Histogram<u64>,
    report: FollowReport,
}

impl<'a> Follower<'a> {
    fn open(
        config: &PipelineConfig,
        ha: &'a HaConfig,
        gauges: &'a ReplicationGauges,
        delivered: &'a AtomicU64,
        instance: u64,
        consumer: &mut dyn LogConsumer,
    ) -> Result<Follower<'a>, PipelineError> {
        let dir = config.journal_dir.clone();
        let mut options = config
            .journal
            .clone()
            .durability(ha.local_durability)
            .payload_format(INPUT_FORMAT);
        let bootstrapped = bootstrap(&dir, config.snapshot_share.as_deref())?;
        if let Some(sequence) = bootstrapped {
            options = options.first_sequence(sequence + 1);
        }
        let journal = Journal::open(&dir, options.clone())?;
        let local_next = journal.next_sequence();
        let writer = journal.into_writer()?;
        let local_first = Reader::open(&dir)?.first_sequence()?.unwrap_or(local_next);
        let state = ReplicationState::read(&dir).filter(|s| s.agreed_through < local_next);
        let (log, next_offset) = match (&state, bootstrapped) {
            (Some(state), None) => (
                AgreedLog::new(state.agreed_through + 1, state.epoch),
                state.next_offset,
            ),
            (_, Some(sequence)) => (AgreedLog::new(sequence + 1, 0), 0),
            (None, None) => (AgreedLog::new(local_first.min(local_next), 0), 0),
        };
        consumer
            .seek(next_offset)
            .map_err(|e| PipelineError::Replication(e.to_string()))?;
        let confirmed = log.next_sequence() - 1;
        // Caught up means "read what the topic held when asked": ask now,
        // so a fresh follower does not count itself caught up at offset 0.
        let end = consumer
            .end()
            .map_err(|e| PipelineError::Replication(e.to_string()))?;
        tracing::info!(
            topic = %ha.topic(),
            from_offset = next_offset,
            local_next,
            agreed_through = confirmed,
            epoch = log.epoch(),
            "following the journal topic"
        );
        gauges.leader_epoch.store(log.epoch(), Ordering::Relaxed);
        let now = Instant::now();
        Ok(Follower {
            dir,
            options,
            ha,
            gauges,
            gate: DurableSequence::new(confirmed.min(writer.durable().load_acquire())),
            writer: Some(writer),
            delivered,
            log,
            next_offset,
            local_next,
            local_first,
            confirmed,
            compare: None,
            batch_open: false,
            instance,
            led: None,
            heard: now,
            behind_since: (next_offset < end).then_some(now),
            end,
            end_asked: now,
            state_written: now,
            opened: now,
            reported_caught_up: false,
            lag: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .map_err(|e| PipelineError::Replication(e.to_string()))?,
            report: FollowReport::default(),
        })
    }

    fn run(
        &mut self,
        producer: &mut dyn LogProducer,
        consumer: &mut dyn LogConsumer,
        role: Role,
        stop: &AtomicBool,
        replica_failed: &AtomicBool,
    ) -> Result<Ended, PipelineError> {
        let Some(silence) = self.follow(consumer, role, stop, replica_failed)? else {
            return Ok(Ended::Stopped);
        };
        let decided = Instant::now();
        let epoch = self.log.epoch() + 1;
        let claim_offset = super::claim(producer, epoch, self.instance)?;
        let claimed = Instant::now();
        tracing::info!(
            epoch,
            offset = claim_offset,
            silence_ms = silence.as_millis() as u64,
            took_ms = (claimed - decided).as_millis() as u64,
            "takeover step 1: epoch entry appended"
        );
        while self.next_offset <= claim_offset {
            if stop.load(Ordering::Acquire) {
                return Ok(Ended::Stopped);
            }
            self.pump(consumer)?;
        }
        self.settle()?;
        let caught_up = Instant::now();
        if self.log.epoch() != epoch || self.log.claimant() != Some(self.instance) {
            return Ok(Ended::Lost);
        }
        tracing::info!(
            epoch,
            agreed_end = self.confirmed,
            took_ms = (caught_up - claimed).as_millis() as u64,
            "takeover step 2: read the log to the epoch entry; this engine leads"
        );
        Ok(Ended::Won(Won {
            epoch,
            claim_offset,
            agreed_end: self.confirmed,
            delivered: self.log.delivered().min(self.confirmed),
            decided,
            times: TakeoverTimes {
                detection: silence,
                epoch_entry: claimed - decided,
                catch_up: caught_up - claimed,
                resend: Duration::ZERO,
            },
            report: FollowReport::default(),
        }))
    }

    /// Follows until `stop` (`None`) or until a claim is due: returns how
    /// long the leader had been silent.
    fn follow(
        &mut self,
        consumer: &mut dyn LogConsumer,
        role: Role,
        stop: &AtomicBool,
        replica_failed: &AtomicBool,
    ) -> Result<Option<Duration>, PipelineError> {
        loop {
            if stop.load(Ordering::Acquire) || replica_failed.load(Ordering::Acquire) {
                return Ok(None);
            }
            self.pump(consumer)?;
            self.settle()?;
            let caught_up = self.caught_up(consumer)?;
            if !caught_up {
                continue;
            }
            if !self.reported_caught_up {
                self.reported_caught_up = true;
                tracing::info!(
                    offset = self.next_offset,
                    agreed_through = self.confirmed,
                    appended = self.report.appended,
                    confirmed = self.report.confirmed,
                    took_ms = self.opened.elapsed().as_millis() as u64,
                    "caught up with the journal topic: standing by"
                );
            }
            let silence = self.heard.elapsed();
            // This process's own epoch: it stepped down to let another
            // engine lead, so it waits for that one, and claims again only
            // if none does for a few timeouts.
            let led_by_me =
                self.log.claimant() == Some(self.instance) || self.led == Some(self.log.epoch());
            if self.log.stepped_down() && !led_by_me {
                tracing::info!(
                    epoch = self.log.epoch(),
                    "the leader stepped down; taking over at once"
                );
                return Ok(Some(silence));
            }
            let timeout = if led_by_me {
                self.ha.failover_timeout * 4
            } else {
                self.ha.failover_timeout
            };
            let silent = silence > timeout;
            let due = match role {
                Role::Primary => self.log.epoch() == 0 || silent,
                Role::Standby => self.log.epoch() > 0 && silent,
            };
            if due {
                if self.log.epoch() > 0 {
                    tracing::warn!(
                        epoch = self.log.epoch(),
                        silence_ms = silence.as_millis() as u64,
                        "no record or heartbeat from the leader within the fail-over timeout"
                    );
                }
                return Ok(Some(silence));
            }
        }
    }

    /// Whether this follower has read everything the topic held when it
    /// last asked for the end (at most every [`END_EVERY`]), and the lag
    /// figures: entries not read yet, and how long ago the end it is
    /// reading towards was asked for. Under a steady flow the end moves
    /// on while it is read, so "at the very end" would rarely hold; "read
    /// what was there when asked" is what a standby can promise. A claim
    /// never relies on it: the claimant reads up to its own epoch entry.
    fn caught_up(&mut self, consumer: &mut dyn LogConsumer) -> Result<bool, PipelineError> {
        let reached = self.next_offset >= self.end;
        if reached {
            self.behind_since = None;
            if self.end_asked.elapsed() >= END_EVERY {
                self.end = consumer
                    .end()
                    .map_err(|e| PipelineError::Replication(e.to_string()))?;
                self.end_asked = Instant::now();
                if self.next_offset < self.end {
                    self.behind_since = Some(self.end_asked);
                }
            }
        }
        let behind = (self.end - self.next_offset).max(0) as u64;
        let gauges = self.gauges;
        gauges.lag_records.store(behind, Ordering::Relaxed);
        gauges.lag_ns.store(
            self.behind_since
                .map_or(0, |since| since.elapsed().as_nanos() as u64),
            Ordering::Relaxed,
        );
        Ok(reached)
    }

    /// Reads what the topic has now, up to one poll's wait.
    fn pump(&mut self, consumer: &mut dyn LogConsumer) -> Result<(), PipelineError> {
        let mut failure = None;
        consumer
            .poll(POLL, &mut |offset, bytes| {
                if failure.is_some() || offset < self.next_offset {
                    return;
                }
                match self.take(offset, bytes) {
                    Ok(()) => self.next_offset = offset + 1,
                    Err(err) => failure = Some(err),
                }
            })
            .map_err(|e| PipelineError::Replication(e.to_string()))?;
        if let Some(err) = failure {
            return Err(err);
        }
        if self.next_offset > self.end {
            self.end = self.next_offset;
        }
        Ok(())
    }

    /// Ends the local batch, publishes what the replica may read, and
    /// rewrites the state file now and then.
    fn settle(&mut self) -> Result<(), PipelineError> {
        let batch_open = std::mem::take(&mut self.batch_open);
        let writer = self.writer_mut()?;
        if batch_open {
            writer.end_batch()?;
        } else {
            writer.poll()?;
        }
        let durable = self.writer_mut()?.durable().load_acquire();
        self.gate.fetch_max_release(durable.min(self.confirmed));
        self.delivered
            .fetch_max(self.log.delivered().min(self.confirmed), Ordering::Release);
        self.gauges
            .replicated_sequence
            .store(self.confirmed, Ordering::Relaxed);
        if self.state_written.elapsed() >= STATE_EVERY {
            self.write_state()?;
        }
        Ok(())
    }

    fn write_state(&mut self) -> Result<(), PipelineError> {
        self.state_written = Instant::now();
        ReplicationState {
            role: Role::Standby.as_str().into(),
            epoch: self.log.epoch(),
            agreed_through: self.confirmed,
            next_offset: self.next_offset,
        }
        .write(&self.dir)
        .map_err(|e| PipelineError::Replication(format!("cannot write the state file: {e}")))
    }

    /// Judges and applies one entry.
    fn take(&mut self, offset: i64, bytes: &[u8]) -> Result<(), PipelineError> {
        let entry = Entry::decode(bytes).map_err(|e| {
            PipelineError::Replication(format!(
                "{} offset {offset}: {e}; a newer engine build wrote it, or something else \
                 writes to this topic",
                self.ha.topic()
            ))
        })?;
        let verdict = self.log.judge(&entry).map_err(|e| {
            PipelineError::Replication(format!("{} offset {offset}: {e}", self.ha.topic()))
        })?;
        match verdict {
            Verdict::Ignored => return Ok(()),
            Verdict::Append { sequence, frame } => self.append(sequence, frame)?,
            Verdict::NewEpoch {
                epoch, agreed_end, ..
            } => {
                self.gauges.leader_epoch.store(epoch, Ordering::Relaxed);
                tracing::info!(epoch, offset, agreed_end, "a new epoch begins");
                if self.local_next - 1 > agreed_end {
                    self.quarantine_after(agreed_end, epoch)?;
                }
            }
            Verdict::Repeat { .. }
            | Verdict::Progress { .. }
            | Verdict::Handover
            | Verdict::StepDown { .. } => {}
        }
        self.heard = Instant::now();
        Ok(())
    }

    fn append(&mut self, sequence: u64, frame: &[u8]) -> Result<(), PipelineError> {
        if sequence < self.local_next {
            if sequence < self.local_first || self.local_matches(sequence, frame)? {
                self.confirmed = sequence;
                self.report.confirmed += 1;
                return Ok(());
            }
            tracing::warn!(
                sequence,
                "the local journal differs from the agreed log here"
            );
            self.quarantine_after(sequence - 1, self.log.epoch())?;
        }
        if sequence != self.local_next {
            return Err(PipelineError::Replication(format!(
                "the journal topic's next record is sequence {sequence}, but the local journal \
                 ends at {}: start this standby from an empty journal directory, or from a \
                 snapshot (snapshot_share)",
                self.local_next - 1
            )));
        }
        let (_, meta, payload) = journal::check_frame_bytes(frame, MAX_FRAME).map_err(|e| {
            PipelineError::Replication(format!("record {sequence} from the topic: {e}"))
        })?;
        // Wall-clock stamps only: the sequence clock's are small numbers.
        if meta.timestamp_ns > WALL_CLOCK_FLOOR_NS {
            let lag = crate::endpoint::now_ns().saturating_sub(meta.timestamp_ns);
            self.lag.saturating_record(lag.max(1));
        }
        let got = self.writer_mut()?.append(&meta, payload)?;
        if got != sequence {
            return Err(PipelineError::Sequence {
                journal: got,
                ring: sequence,
            });
        }
        self.batch_open = true;
        self.local_next = sequence + 1;
        self.confirmed = sequence;
        self.report.appended += 1;
        Ok(())
    }

    /// Whether the local record `sequence` is byte for byte `frame`.
    fn local_matches(&mut self, sequence: u64, frame: &[u8]) -> Result<bool, PipelineError> {
        let cursor = match &mut self.compare {
            Some(cursor) if cursor.next_sequence() == sequence => cursor,
            slot => slot.insert(Reader::open(&self.dir)?.read_from(sequence)?),
        };
        Ok(cursor.next()?.is_some_and(|record| record.frame() == frame))
    }

    /// Moves every local record after `sequence` into a quarantine folder
    /// beside the segments: the log never agreed to them.
    fn quarantine_after(&mut self, sequence: u64, epoch: u64) -> Result<(), PipelineError> {
        let last = self.local_next - 1;
        if let Some(writer) = self.writer.take() {
            writer.close()?;
        }
        self.compare = None;
        let stamp = crate::endpoint::now_ns() / 1_000_000_000;
        let quarantine = self
            .dir
            .join(format!("quarantine-epoch{epoch}-{stamp}-after-{sequence}"));
        let lock = journal::DirLock::acquire(&self.dir)?;
        let moved = lock.truncate_after(sequence, &quarantine)?;
        drop(lock);
        tracing::warn!(
            after = sequence,
            local_last = last,
            epoch,
            quarantine = %quarantine.display(),
            files_moved = moved.moved.len(),
            "rejoin: the local journal held records the agreed log does not; they were never \
             released, and are moved aside, not deleted"
        );
        let journal = Journal::open(&self.dir, self.options.clone())?;
        self.local_next = journal.next_sequence();
        self.writer = Some(journal.into_writer()?);
        self.confirmed = self.confirmed.min(sequence);
        self.report.quarantined.push(quarantine);
        Ok(())
    }

    fn writer_mut(&mut self) -> Result<&mut Writer, PipelineError> {
        self.writer
            .as_mut()
            .ok_or_else(|| PipelineError::Replication("the local journal is closed".into()))
    }

    fn close(&mut self) -> Result<FollowReport, PipelineError> {
        if let Some(mut writer) = self.writer.take() {
            writer.sync()?;
            writer.close()?;
        }
        self.write_state()?;
        let mut report = std::mem::take(&mut self.report);
        report.agreed_through = self.confirmed;
        report.epoch = self.log.epoch();
        if !self.lag.is_empty() {
            report.lag_ns = Some((
                self.lag.value_at_quantile(0.5),
                self.lag.value_at_quantile(0.99),
                self.lag.max(),
            ));
        }
        Ok(report)
    }
}

/// A standby with an empty journal directory starts from the newest
/// snapshot in `share`, if there is one: copies it in and returns its
/// sequence, so the journal starts just after it.
fn bootstrap(dir: &Path, share: Option<&Path>) -> Result<Option<u64>, PipelineError> {
    let Some(share) = share else {
        return Ok(None);
    };
    let local = journal::SnapshotStore::new(dir);
    let empty = Reader::open(dir)
        .ok()
        .and_then(|r| r.first_sequence().ok().flatten())
        .is_none()
        && local.list().map(|l| l.is_empty()).unwrap_or(true);
    if !empty || !share.is_dir() {
        return Ok(None);
    }
    let shared = journal::SnapshotStore::new(share);
    let Some(newest) = shared.latest_valid()? else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| PipelineError::Replication(format!("cannot create {}: {e}", dir.display())))?;
    local.write(newest.sequence(), newest.payload())?;
    tracing::info!(
        sequence = newest.sequence(),
        from = %newest.path().display(),
        "bootstrapped an empty journal from the shared snapshot"
    );
    Ok(Some(newest.sequence()))
}
