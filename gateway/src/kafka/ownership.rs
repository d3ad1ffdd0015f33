//! Which engine owns which `orders` partition: the `assignments` topic.
//!
//! Ownership is a record in Kafka, not a group membership the brokers can
//! move. The topic has one partition, so its records have one order, and
//! holds two kinds of record (JSON, `docs/shards.md`):
//!
//! - a **claim**: engine E takes partition P at ownership epoch N. For each
//!   partition, the claim with the highest epoch stands; among claims of
//!   that epoch, the first in log order wins and later ones lose, which is
//!   how two engines racing for one partition agree without talking.
//! - a **lease**: engine E is alive at wall-clock time T. An engine renews
//!   its lease every third of the lease period while it runs; an owner
//!   whose newest lease is older than the period counts as gone.
//!
//! - a **move's verdict**: a claim that names a move commits it; an
//!   **abort** of the move rolls it back. Whichever of the two comes first
//!   in the log decides, and the other counts for nothing, so the giver,
//!   the taker and a restarted copy of either all read the same outcome
//!   (`super::moves`).
//!
//! Keys make the topic safe to compact: a claim's key names its partition,
//! epoch and engine, each written once; a lease's names its engine, and
//! only the newest matters; an abort's names its move. An engine starting on partitions it does not
//! own claims them, at epoch 1, or one above a gone owner's epoch, and
//! reads the topic back to see whether its claims won. A partition a live
//! engine owns is refused ([`OwnershipError::Owned`]).
//!
//! This module decides at start-up, renews the lease, and writes and reads
//! a move's verdict; it does not fence a running engine whose partition
//! another engine took over without a move. It reads no engine state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::endpoint::{BoxError, now_ns};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::client::{KafkaContext, acknowledged, topic_partitions};
use super::config::{KafkaConfig, Role};

/// The topic's one partition.
const PARTITION: i32 = 0;
/// How long reading the topic to its end may take.
const READ_WAIT: Duration = Duration::from_secs(15);

/// One record of the `assignments` topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AssignmentRecord {
    /// `engine_id` takes `partition` at ownership epoch `epoch`.
    Claim {
        /// The `orders` partition.
        partition: i32,
        /// The claimant.
        engine_id: String,
        /// Its ownership epoch: 1 for a partition never owned, one above
        /// the previous owner's otherwise.
        epoch: u64,
        /// The move this claim commits, if it is a move's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        move_id: Option<String>,
        /// The engine the partition moves from, with `move_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// `engine_id` rolls back the move `move_id` of `partition`, unless
    /// its claim came first.
    Abort {
        /// The `orders` partition.
        partition: i32,
        /// The move.
        move_id: String,
        /// Who aborted it: the giver on a timeout, the taker that cannot
        /// use the export.
        engine_id: String,
    },
    /// `engine_id` was alive at `at_ms` (ms since the Unix epoch, by its
    /// clock), reading `partitions`.
    Lease {
        /// The engine.
        engine_id: String,
        /// The partitions it reads.
        partitions: Vec<i32>,
        /// When it renewed.
        at_ms: u64,
        /// Its lease period: silent for longer, it counts as gone. Absent
        /// in records of builds before moves.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease_ms: Option<u64>,
    },
}

impl AssignmentRecord {
    /// The record's key: compaction keeps the newest record per key.
    fn key(&self) -> String {
        match self {
            AssignmentRecord::Claim {
                partition,
                engine_id,
                epoch,
                ..
            } => format!("claim/{partition}/{epoch}/{engine_id}"),
            AssignmentRecord::Lease { engine_id, .. } => format!("lease/{engine_id}"),
            AssignmentRecord::Abort { move_id, .. } => format!("abort/{move_id}"),
        }
    }
}

/// A partition's standing owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The engine.
    pub engine_id: String,
    /// Its ownership epoch.
    pub epoch: u64,
    /// The engine it took the partition from by a move, if it did.
    pub moved_from: Option<String>,
}

/// The topic read to its end: owners and newest leases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignments {
    owners: BTreeMap<i32, Owner>,
    leases: BTreeMap<String, u64>,
    /// Each engine's lease period, as its newest lease says.
    periods: BTreeMap<String, u64>,
    /// Each decided move: committed (`true`) or rolled back.
    verdicts: BTreeMap<String, bool>,
}

impl Assignments {
    /// Takes one record, in log order.
    pub fn apply(&mut self, record: &AssignmentRecord) {
        match record {
            AssignmentRecord::Claim {
                partition,
                engine_id,
                epoch,
                move_id,
                from,
            } => {
                // A move's claim after its abort counts for nothing.
                if let Some(id) = move_id
                    && self.verdicts.get(id) == Some(&false)
                {
                    return;
                }
                // The first claim of a newer epoch wins; the rest lose.
                if self.owners.get(partition).is_none_or(|o| *epoch > o.epoch) {
                    self.owners.insert(
                        *partition,
                        Owner {
                            engine_id: engine_id.clone(),
                            epoch: *epoch,
                            moved_from: move_id.as_ref().and(from.clone()),
                        },
                    );
                    if let Some(id) = move_id {
                        self.verdicts.entry(id.clone()).or_insert(true);
                    }
                }
            }
            AssignmentRecord::Abort { move_id, .. } => {
                // An abort after the move's claim counts for nothing.
                self.verdicts.entry(move_id.clone()).or_insert(false);
            }
            AssignmentRecord::Lease {
                engine_id,
                at_ms,
                lease_ms,
                ..
            } => {
                let newest = self.leases.entry(engine_id.clone()).or_insert(*at_ms);
                *newest = (*newest).max(*at_ms);
                if let Some(period) = lease_ms {
                    self.periods.insert(engine_id.clone(), *period);
                }
            }
        }
    }

    /// The owner of `partition`, if any engine ever claimed it.
    pub fn owner(&self, partition: i32) -> Option<&Owner> {
        self.owners.get(&partition)
    }

    /// `engine_id`'s lease period, if its leases say.
    pub fn lease_period(&self, engine_id: &str) -> Option<Duration> {
        self.periods
            .get(engine_id)
            .map(|&ms| Duration::from_millis(ms))
    }

    /// How the move `move_id` was decided: `Some(true)` committed, `Some(false)`
    /// rolled back, `None` not yet.
    pub fn verdict(&self, move_id: &str) -> Option<bool> {
        self.verdicts.get(move_id).copied()
    }

    /// Every owned partition and its owner, by partition.
    pub fn owners(&self) -> impl Iterator<Item = (i32, &Owner)> {
        self.owners.iter().map(|(p, o)| (*p, o))
    }

    /// How long ago `engine_id` last renewed its lease, at `now_ms`; `None`
    /// if it never did.
    pub fn lease_age(&self, engine_id: &str, now_ms: u64) -> Option<Duration> {
        let at = *self.leases.get(engine_id)?;
        Some(Duration::from_millis(now_ms.saturating_sub(at)))
    }
}

/// Why an engine may not read the partitions it is configured for.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// A live engine owns a partition.
    #[error(
        "orders partition {partition} is owned by engine {owner} (ownership epoch {epoch}), \
         which renewed its lease {age_ms} ms ago; stop that engine or configure other \
         partitions (docs/shards.md)"
    )]
    Owned {
        /// The partition.
        partition: i32,
        /// Its owner.
        owner: String,
        /// The owner's epoch.
        epoch: u64,
        /// How long ago the owner renewed its lease.
        age_ms: u128,
    },
    /// Reading or writing the topic failed.
    #[error("the {topic} topic: {reason}")]
    Topic {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
}

/// What a successful start-up check found and did.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// Each configured partition and this engine's epoch on it.
    pub partitions: Vec<(i32, u64)>,
    /// Partitions claimed now (the rest it owned already).
    pub new_claims: usize,
}

/// The `assignments` topic's clients for one engine.
pub struct Ownership {
    consumer: BaseConsumer<KafkaContext>,
    producer: BaseProducer<KafkaContext>,
    topic: String,
    engine_id: String,
    lease: Duration,
    /// What the reads so far found, and where the next one goes on.
    read: std::sync::Mutex<Followed>,
}

/// The topic as read so far.
#[derive(Default)]
struct Followed {
    state: Assignments,
    /// The next offset to read; `None` before the first read.
    next: Option<i64>,
}

impl Ownership {
    /// Clients for `engine_id`'s ownership records, with `lease` as the
    /// period after which a silent owner counts as gone.
    pub fn new(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        engine_id: &str,
        lease: Duration,
    ) -> Result<Ownership, BoxError> {
        let mut client = config.client_config(bootstrap, Role::Consumer, extra);
        client
            .set(
                "group.id",
                format!("matching-engine-assignments-{engine_id}"),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            // A read waits for what was just written, not for more.
            .set("fetch.wait.max.ms", "10");
        let consumer = client.create_with_context(KafkaContext::new(
            "assignments consumer",
            config.auth.clone(),
            (),
        ))?;
        let mut client = config.client_config(bootstrap, Role::Producer, extra);
        // Not idempotent: a repeated record changes nothing (the first of
        // equal claims stands), and an idempotent producer's start-up
        // would delay a move's commit by its first write.
        client
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("enable.idempotence", "false");
        let producer = client.create_with_context(KafkaContext::new(
            "assignments producer",
            config.auth.clone(),
            (),
        ))?;
        Ok(Ownership {
            consumer,
            producer,
            topic: config.topics.assignments.clone(),
            engine_id: engine_id.to_owned(),
            lease,
            read: Default::default(),
        })
    }

    fn topic_error(&self, reason: impl std::fmt::Display) -> OwnershipError {
        OwnershipError::Topic {
            topic: self.topic.clone(),
            reason: reason.to_string(),
        }
    }

    /// Every partition of `topic` (the orders topic), from the brokers'
    /// metadata: what an engine without `kafka.partitions` reads.
    pub fn partitions_of(&self, topic: &str) -> Result<Vec<i32>, OwnershipError> {
        topic_partitions(&self.consumer, topic, READ_WAIT)
            .map_err(|e| self.topic_error(e))?
            .ok_or_else(|| {
                self.topic_error(format!(
                    "the brokers list no partitions of {topic}; create it first"
                ))
            })
    }

    /// Reads the topic from its start to its current end.
    pub fn read(&self) -> Result<Assignments, OwnershipError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&self.topic, PARTITION, READ_WAIT)
            .map_err(|e| {
                self.topic_error(format!(
                    "cannot read its offsets ({e}); create it with one partition and \
                     cleanup.policy=compact"
                ))
            })?;
        let mut read = self
            .read
            .lock()
            .map_err(|_| self.topic_error("a reader panicked"))?;
        if high <= low {
            return Ok(Assignments::default());
        }
        // The consumer stays where the last read stopped, so a mover that
        // reads often reads only what is new. A first read, or one that
        // finds its place gone, starts over from the beginning.
        if read.next.is_none_or(|next| next < low || next > high) {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&self.topic, PARTITION, Offset::Beginning)
                .map_err(|e| self.topic_error(e))?;
            self.consumer
                .assign(&list)
                .map_err(|e| self.topic_error(e))?;
            *read = Followed {
                state: Assignments::default(),
                next: Some(low),
            };
        }
        let started = Instant::now();
        let mut next = read.next.unwrap_or(low);
        while next < high {
            if started.elapsed() > READ_WAIT {
                return Err(self.topic_error(format!(
                    "read to offset {next} of {high} in {READ_WAIT:?}, and no further"
                )));
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    next = message.offset() + 1;
                    match serde_json::from_slice::<AssignmentRecord>(
                        message.payload().unwrap_or_default(),
                    ) {
                        Ok(record) => read.state.apply(&record),
                        Err(err) => tracing::warn!(
                            topic = %self.topic,
                            offset = message.offset(),
                            %err,
                            "skipping a record that is not an assignment"
                        ),
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(err)) => return Err(self.topic_error(err)),
            }
        }
        read.next = Some(next);
        Ok(read.state.clone())
    }

    /// Writes `record` and waits for the brokers to acknowledge it.
    fn write(&self, record: &AssignmentRecord) -> Result<(), OwnershipError> {
        let payload = serde_json::to_vec(record).map_err(|e| self.topic_error(e))?;
        let key = record.key();
        self.producer
            .send(
                BaseRecord::to(&self.topic)
                    .partition(PARTITION)
                    .key(&key)
                    .payload(&payload),
            )
            .map_err(|(e, _)| self.topic_error(e))?;
        acknowledged(&self.producer, READ_WAIT)
            .map_err(|e| self.topic_error(format!("the brokers did not acknowledge: {e}")))
    }

    /// Renews this engine's lease, naming `partitions`.
    pub fn renew(&self, partitions: &[i32]) -> Result<(), OwnershipError> {
        self.write(&AssignmentRecord::Lease {
            engine_id: self.engine_id.clone(),
            partitions: partitions.to_vec(),
            at_ms: now_ns() / 1_000_000,
            lease_ms: Some(self.lease.as_millis() as u64),
        })
    }

    /// Makes sure this engine owns `partitions`: claims those nobody owns
    /// or whose owner is gone, and refuses if a live engine owns one, or
    /// won the race for it. Moves change the list: a configured partition
    /// this engine moved to another is left out (with a warning to take it
    /// out of the config), and one it took in by a move is added.
    pub fn claim(&self, partitions: &[i32]) -> Result<Claimed, OwnershipError> {
        // A lease first, so an engine racing us sees us alive.
        self.renew(partitions)?;
        let before = self.read()?;
        let now_ms = now_ns() / 1_000_000;
        let mut wanted = Vec::new();
        let mut moved_away = Vec::new();
        for &partition in partitions {
            match before.owner(partition) {
                Some(owner) if owner.engine_id == self.engine_id => {}
                Some(owner) if owner.moved_from.as_deref() == Some(self.engine_id.as_str()) => {
                    tracing::warn!(
                        partition,
                        owner = %owner.engine_id,
                        epoch = owner.epoch,
                        "this partition was moved to another engine; not reading it (take it \
                         out of kafka.partitions)"
                    );
                    moved_away.push(partition);
                }
                Some(owner) => {
                    let age = before.lease_age(&owner.engine_id, now_ms);
                    if let Some(age) = age.filter(|age| *age < self.lease) {
                        return Err(OwnershipError::Owned {
                            partition,
                            owner: owner.engine_id.clone(),
                            epoch: owner.epoch,
                            age_ms: age.as_millis(),
                        });
                    }
                    tracing::warn!(
                        partition,
                        owner = %owner.engine_id,
                        epoch = owner.epoch,
                        lease_age_ms = age.map(|a| a.as_millis()),
                        "the owner's lease has run out; taking the partition over"
                    );
                    wanted.push((partition, owner.epoch + 1));
                }
                None => wanted.push((partition, 1)),
            }
        }
        for &(partition, epoch) in &wanted {
            self.write(&AssignmentRecord::Claim {
                partition,
                engine_id: self.engine_id.clone(),
                epoch,
                move_id: None,
                from: None,
            })?;
        }
        let after = if wanted.is_empty() {
            before
        } else {
            self.read()?
        };
        let now_ms = now_ns() / 1_000_000;
        let mut claimed = Vec::new();
        for &partition in partitions.iter().filter(|p| !moved_away.contains(p)) {
            match after.owner(partition) {
                Some(owner) if owner.engine_id == self.engine_id => {
                    claimed.push((partition, owner.epoch));
                }
                Some(owner) => {
                    return Err(OwnershipError::Owned {
                        partition,
                        owner: owner.engine_id.clone(),
                        epoch: owner.epoch,
                        age_ms: after
                            .lease_age(&owner.engine_id, now_ms)
                            .map_or(0, |a| a.as_millis()),
                    });
                }
                None => {
                    return Err(self.topic_error(format!(
                        "the claim of partition {partition} was written but is not there"
                    )));
                }
            }
        }
        for (partition, owner) in after.owners() {
            if owner.engine_id == self.engine_id
                && owner.moved_from.is_some()
                && !partitions.contains(&partition)
            {
                tracing::info!(
                    partition,
                    epoch = owner.epoch,
                    "reading a partition moved here"
                );
                claimed.push((partition, owner.epoch));
            }
        }
        claimed.sort_unstable();
        Ok(Claimed {
            partitions: claimed,
            new_claims: wanted.len(),
        })
    }

    /// Commits the move `move_id` of `partition` from `from` to this
    /// engine, unless its abort came first; returns the verdict as the log
    /// now stands (`None`: another claim won the partition's epoch, and the
    /// move should be aborted).
    pub fn claim_move(
        &self,
        partition: i32,
        move_id: &str,
        from: &str,
    ) -> Result<Option<bool>, OwnershipError> {
        let before = self.read()?;
        if let Some(verdict) = before.verdict(move_id) {
            return Ok(Some(verdict));
        }
        let epoch = before.owner(partition).map_or(1, |o| o.epoch + 1);
        self.write(&AssignmentRecord::Claim {
            partition,
            engine_id: self.engine_id.clone(),
            epoch,
            move_id: Some(move_id.to_owned()),
            from: Some(from.to_owned()),
        })?;
        Ok(self.read()?.verdict(move_id))
    }

    /// Rolls back the move `move_id` of `partition`, unless its claim came
    /// first; returns the verdict as the log now stands.
    pub fn abort_move(&self, partition: i32, move_id: &str) -> Result<bool, OwnershipError> {
        self.write(&AssignmentRecord::Abort {
            partition,
            move_id: move_id.to_owned(),
            engine_id: self.engine_id.clone(),
        })?;
        Ok(self.read()?.verdict(move_id).unwrap_or(false))
    }

    /// Renews the lease every third of the period on a thread of its own,
    /// until the returned handle is dropped.
    pub fn keep_alive(self, partitions: Vec<i32>) -> LeaseRenewal {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let every = self.lease / 3;
        let thread = std::thread::Builder::new()
            .name("lease".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() < every {
                        continue;
                    }
                    last = Instant::now();
                    if let Err(err) = self.renew(&partitions) {
                        tracing::warn!(%err, "cannot renew the ownership lease");
                    }
                }
            })
            .ok();
        LeaseRenewal { stop, thread }
    }
}

/// The lease-renewing thread; dropping this stops it.
pub struct LeaseRenewal {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LeaseRenewal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(partition: i32, engine: &str, epoch: u64) -> AssignmentRecord {
        AssignmentRecord::Claim {
            partition,
            engine_id: engine.into(),
            epoch,
            move_id: None,
            from: None,
        }
    }

    #[test]
    fn the_first_of_a_moves_claim_and_its_abort_decides() {
        let moved = |id: &str, epoch| AssignmentRecord::Claim {
            partition: 7,
            engine_id: "b".into(),
            epoch,
            move_id: Some(id.into()),
            from: Some("a".into()),
        };
        let abort = |id: &str| AssignmentRecord::Abort {
            partition: 7,
            move_id: id.into(),
            engine_id: "a".into(),
        };
        let mut log = Assignments::default();
        for record in [
            claim(7, "a", 1),
            abort("m1"),
            moved("m1", 2), // too late: rolled back
            moved("m2", 2),
            abort("m2"), // too late: committed
        ] {
            log.apply(&record);
        }
        assert_eq!(log.verdict("m1"), Some(false));
        assert_eq!(log.verdict("m2"), Some(true));
        assert_eq!(log.verdict("m3"), None);
        let owner = log.owner(7).unwrap();
        assert_eq!((owner.engine_id.as_str(), owner.epoch), ("b", 2));
        assert_eq!(owner.moved_from.as_deref(), Some("a"));
        let json = serde_json::to_string(&abort("m1")).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"kind":"abort","partition":7,"move_id":"m1","engine_id":"a"}"#
        );
        assert_eq!(abort("m1").key(), "abort/m1");
    }

    #[test]
    fn the_first_claim_of_a_newer_epoch_wins() {
        let mut a = Assignments::default();
        for record in [
            claim(0, "e1", 1),
            claim(0, "e2", 1), // lost the race
            claim(1, "e2", 1),
            claim(1, "e3", 2), // took over a gone owner
            claim(1, "e1", 2), // lost that race
            claim(1, "e2", 1), // a stale claim changes nothing
        ] {
            a.apply(&record);
        }
        let owner = |p| a.owner(p).map(|o| (o.engine_id.as_str(), o.epoch));
        assert_eq!(owner(0), Some(("e1", 1)));
        assert_eq!(owner(1), Some(("e3", 2)));
        assert_eq!(owner(2), None);
        a.apply(&AssignmentRecord::Lease {
            engine_id: "e1".into(),
            partitions: vec![0],
            at_ms: 10_000,
            lease_ms: Some(6_000),
        });
        assert_eq!(a.lease_period("e1"), Some(Duration::from_secs(6)));
        assert_eq!(
            a.lease_age("e1", 12_500),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(a.lease_age("e9", 12_500), None);
    }

    #[test]
    fn records_are_plain_json_with_compaction_safe_keys() {
        let record = claim(3, "e1", 2);
        let json = serde_json::to_string(&record).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"kind":"claim","partition":3,"engine_id":"e1","epoch":2}"#
        );
        assert_eq!(record.key(), "claim/3/2/e1");
        let lease = AssignmentRecord::Lease {
            engine_id: "e1".into(),
            partitions: vec![0, 1],
            at_ms: 5,
            lease_ms: None,
        };
        assert_eq!(lease.key(), "lease/e1");
    }
}
