//! The hot standby: engines that share one journal through a Kafka topic,
//! `journal.<engine id>`, and hand the lead over without losing an
//! acknowledged input (`docs/ha.md`).
//!
//! ```text
//!   leader:  pipeline ── journaler ── local journal ──> replicator ──> journal topic
//!                          egress waits for: local durability AND the log's agreement
//!   standby: journal topic ──> follower ──> local journal ──> snapshot replica
//!                    (no record or heartbeat for failover_timeout: claim epoch N+1)
//! ```
//!
//! The log decides who leads. To lead, an engine appends an epoch entry
//! claiming the next epoch and reads the topic up to it: what stands before
//! it is the agreed history, and the first claim of a newer epoch in log
//! order wins ([`agreed`]). A leader releases an input's outputs only once
//! its record is acknowledged at an offset that continues its own run since
//! its claim ([`release`]); a hole means someone else wrote, and a newer
//! claim in it fences the leader. Kafka transactions take no part.
//!
//! This module holds the pure rules ([`entry`], [`agreed`], [`release`]),
//! the two ends of the topic as traits ([`LogProducer`], [`LogConsumer`]:
//! the gateway implements them with `rdkafka`), the follower and the loop
//! that moves an engine between following and leading ([`run`]). It never
//! touches the matcher thread; the leader's replicator is a pipeline thread
//! of its own (`crate::pipeline`).

pub mod agreed;
pub mod entry;
mod follower;
pub mod release;
mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use journal::Durability;

use crate::endpoint::{BoxError, InputSource, OutputSink, now_ns};
use crate::pipeline::{PipelineConfig, PipelineError, RunReport};
pub use follower::FollowReport;
pub use state::{ReplicationState, STATE_FILE};

/// Which part an engine plays when it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lead: catch up from the topic, then claim the next epoch at once,
    /// unless a live leader is heard within the fail-over timeout.
    #[default]
    Primary,
    /// Follow the leader, and take over when it falls silent.
    Standby,
}

impl Role {
    /// As the config file and `--role` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        }
    }
}

/// What replication needs beyond the pipeline's settings.
#[derive(Clone, Debug)]
pub struct HaConfig {
    /// The engine (shard) this journal belongs to; the topic is
    /// `journal.<engine_id>`.
    pub engine_id: String,
    /// The part to play at start.
    pub role: Role,
    /// Durability of the local journal under the replicated one.
    pub local_durability: Durability,
    /// How often an idle leader writes a heartbeat mark.
    pub heartbeat_interval: Duration,
    /// How long a standby waits without hearing the leader before it
    /// claims the next epoch.
    pub failover_timeout: Duration,
    /// How often the leader writes its delivered mark while it moves.
    pub mark_interval: Duration,
}

impl HaConfig {
    /// The defaults for `engine_id`: a 100 ms heartbeat, a 500 ms fail-over
    /// timeout, marks every 10 ms while outputs flow.
    pub fn new(engine_id: impl Into<String>) -> HaConfig {
        HaConfig {
            engine_id: engine_id.into(),
            role: Role::Primary,
            local_durability: Durability::Batch,
            heartbeat_interval: Duration::from_millis(100),
            failover_timeout: Duration::from_millis(500),
            mark_interval: Duration::from_millis(10),
        }
    }

    /// The journal topic's name.
    pub fn topic(&self) -> String {
        topic_for(&self.engine_id)
    }
}

/// The journal topic of engine `engine_id`.
pub fn topic_for(engine_id: &str) -> String {
    format!("journal.{engine_id}")
}

/// The writing end of the journal topic: an idempotent producer with
/// `acks=all` to its single partition.
pub trait LogProducer: Send {
    /// Queues `entry`, waiting for room. Entries are acknowledged in the
    /// order they were sent.
    fn send(&mut self, entry: &[u8]) -> Result<(), BoxError>;
    /// Serves delivery reports: `acked` gets each acknowledged entry's
    /// offset, in send order. A refused entry is an error: nothing after it
    /// may be released.
    fn poll(&mut self, acked: &mut dyn FnMut(i64)) -> Result<(), BoxError>;
}

/// The reading end of the journal topic.
pub trait LogConsumer: Send {
    /// Reads from `offset` on (the earliest kept, if it is older).
    fn seek(&mut self, offset: i64) -> Result<(), BoxError>;
    /// Waits up to `timeout` for entries and passes each, with its offset,
    /// to `each`, in log order. Returns how many it passed.
    fn poll(
        &mut self,
        timeout: Duration,
        each: &mut dyn FnMut(i64, &[u8]),
    ) -> Result<usize, BoxError>;
    /// The offset the next entry written will get (the high watermark).
    fn end(&mut self) -> Result<i64, BoxError>;
}

/// The replication figures every engine serves, 0 where they do not apply.
#[derive(Debug, Default)]
pub struct ReplicationGauges {
    /// 0: not replicated, 1: primary (leading), 2: standby.
    pub role: AtomicU64,
    /// The epoch this engine last saw claimed (its own, when leading).
    pub leader_epoch: AtomicU64,
    /// Topic entries a standby has not read yet.
    pub lag_records: AtomicU64,
    /// How long a standby has been behind the topic's end, in ns.
    pub lag_ns: AtomicU64,
    /// The last sequence the log agreed to, as this engine knows it.
    pub replicated_sequence: AtomicU64,
    /// Takeovers by this process.
    pub takeovers: AtomicU64,
    /// The last takeover: from detection to the first output, in ns.
    pub takeover_ns: AtomicU64,
}

/// The roles as `engine_role` labels them, by [`ReplicationGauges::role`].
pub const ROLES: [&str; 3] = ["single", "primary", "standby"];

/// How one takeover went, step by step.
#[derive(Clone, Copy, Debug, Default)]
pub struct TakeoverTimes {
    /// From the last entry heard from the old leader to the decision.
    pub detection: Duration,
    /// Appending the epoch entry, to its acknowledgement.
    pub epoch_entry: Duration,
    /// Reading the topic to the epoch entry.
    pub catch_up: Duration,
    /// Recovery: restoring, replaying, re-sending past the delivered mark.
    pub resend: Duration,
}

/// Why a replicated engine stopped.
#[derive(Debug)]
pub enum HaOutcome {
    /// It led until a stop was asked for.
    Led(Box<RunReport>),
    /// It followed until a stop was asked for.
    Followed(FollowReport),
}

/// What the caller supplies to lead: an input and an output, opened each
/// time this engine takes the lead.
pub trait Endpoints {
    /// The input.
    type Source: InputSource;
    /// The output.
    type Sink: OutputSink;
    /// Opens both.
    fn open(&mut self) -> Result<(Self::Source, Self::Sink), BoxError>;
}

/// Runs a replicated engine until `stop` is raised: follows, claims the
/// lead when its role or the leader's silence says so, leads until stopped,
/// fenced (an error: [`PipelineError::Fenced`]) or asked to hand over, and
/// then follows again. A leader that stops writes a step-down entry, so a
/// standby takes over at once rather than after the fail-over timeout.
pub fn run<E: Endpoints>(
    config: &PipelineConfig,
    ha: &HaConfig,
    producer: &mut dyn LogProducer,
    consumer: &mut dyn LogConsumer,
    endpoints: &mut E,
    stop: &AtomicBool,
) -> Result<HaOutcome, PipelineError> {
    let gauges = config.metrics.replication();
    let instance = instance_id();
    let mut role = ha.role;
    loop {
        gauges.role.store(2, Ordering::Relaxed);
        let phase = follower::follow_and_claim(
            config, ha, gauges, producer, consumer, role, instance, stop,
        )?;
        let won = match phase {
            follower::Phase::Stopped(report) => return Ok(HaOutcome::Followed(report)),
            follower::Phase::Lost => {
                tracing::warn!("another engine claimed the epoch first; following it");
                role = Role::Standby;
                continue;
            }
            follower::Phase::Won(won) => won,
        };
        let epoch = won.epoch;
        gauges.role.store(1, Ordering::Relaxed);
        gauges.leader_epoch.store(epoch, Ordering::Relaxed);
        gauges.lag_records.store(0, Ordering::Relaxed);
        gauges.lag_ns.store(0, Ordering::Relaxed);
        let (source, mut sink) = endpoints.open().map_err(PipelineError::Sink)?;
        // The topic's delivered mark is a fact about delivery like the
        // sink's own: recovery re-sends only past the higher of the two.
        let local = sink.delivered_through().map_err(PipelineError::Sink)?;
        if won.delivered > local {
            sink.mark_delivered(won.delivered)
                .map_err(PipelineError::Sink)?;
        }
        tracing::info!(
            epoch,
            agreed_end = won.agreed_end,
            delivered = won.delivered.max(local),
            appended_while_following = won.report.appended,
            "takeover step 3: recovering from the local journal and resuming the input"
        );
        let leading = crate::pipeline::Leadership {
            producer: &mut *producer,
            consumer: &mut *consumer,
            tracker: release::ReleaseTracker::new(epoch, won.claim_offset, won.agreed_end),
            ha,
            gauges,
            takeover: Some((won.decided, won.times)),
        };
        let (report, end) = crate::pipeline::run_leading(config, source, sink, stop, leading)?;
        gauges.takeovers.fetch_add(1, Ordering::Relaxed);
        if let Some(times) = end.takeover {
            tracing::info!(
                epoch,
                detection_ms = times.detection.as_millis() as u64,
                epoch_entry_ms = times.epoch_entry.as_millis() as u64,
                catch_up_ms = times.catch_up.as_millis() as u64,
                recovery_ms = times.resend.as_millis() as u64,
                "takeover: the steps, as measured"
            );
        }
        // The last word of this epoch: how far it got and delivered.
        let mut buffer = Vec::new();
        entry::Entry::StepDown {
            epoch,
            last_sequence: report.last_sequence,
            delivered: end.delivered,
        }
        .encode(&mut buffer);
        send_and_wait(producer, &buffer)?;
        tracing::info!(
            epoch,
            last_sequence = report.last_sequence,
            delivered = end.delivered,
            "stepped down: this epoch's last entry is in the journal topic"
        );
        if !end.handover {
            return Ok(HaOutcome::Led(Box::new(report)));
        }
        stop.store(false, Ordering::Release);
        role = Role::Standby;
    }
}

/// Appends an epoch entry claiming `epoch` and returns its offset.
fn claim(producer: &mut dyn LogProducer, epoch: u64, instance: u64) -> Result<i64, PipelineError> {
    let mut buffer = Vec::new();
    entry::Entry::Epoch {
        epoch,
        claimant: instance,
    }
    .encode(&mut buffer);
    send_and_wait(producer, &buffer)
}

/// Sends one entry and waits for its acknowledgement; returns its offset.
fn send_and_wait(producer: &mut dyn LogProducer, entry: &[u8]) -> Result<i64, PipelineError> {
    let failed = |e: BoxError| PipelineError::Replication(e.to_string());
    producer.send(entry).map_err(failed)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut offset = None;
    while offset.is_none() {
        if Instant::now() > deadline {
            return Err(PipelineError::Replication(
                "the journal topic did not acknowledge an entry within 30 s".into(),
            ));
        }
        producer.poll(&mut |o| offset = Some(o)).map_err(failed)?;
        if offset.is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(offset.unwrap_or_default())
}

/// A number that tells this process's claims from any other's.
fn instance_id() -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&now_ns().to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    if let Ok(host) = std::fs::read("/proc/sys/kernel/random/boot_id") {
        hasher.update(&host);
    }
    hasher.digest().max(1)
}

/// Where an engine's replication state is kept, in its journal directory.
pub fn state_path(journal_dir: &std::path::Path) -> PathBuf {
    journal_dir.join(STATE_FILE)
}
