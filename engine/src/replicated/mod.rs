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
#[cfg(feature = "pipeline")]
mod follower;
#[cfg(feature = "pipeline")]
mod leading;
pub mod release;
mod state;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use journal::Durability;

use crate::endpoint::BoxError;
#[cfg(feature = "pipeline")]
pub use follower::FollowReport;
#[cfg(feature = "pipeline")]
pub(crate) use leading::claim;
#[cfg(feature = "pipeline")]
pub use leading::{Endpoints, HaOutcome, run};
pub use state::{ReplicationState, STATE_FILE};

/// Which part an engine plays when it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
