//! The operator's end of admin commands: produce one to the `admin` topic
//! and collect the engines' answers from `admin_status`.
//!
//! The command is addressed to one engine, or to all. Answers are matched
//! by request id. Whom to wait for comes from the `assignments` topic: the
//! addressed engine, or every engine with a live lease; without ownership
//! records, the first answer and whatever else arrives within a second of
//! it. This module decides nothing about the market; the engines do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engine::AdminCommand;
use engine::endpoint::{BoxError, now_ns};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::client::{KafkaContext, topic_partitions};
use super::config::{KafkaConfig, Role};
use super::ownership::Ownership;
use crate::wire::encode_admin;

/// How long metadata and watermark requests may take.
const REQUEST_WAIT: Duration = Duration::from_secs(10);
/// Without ownership records: how long to wait for more answers after the
/// first.
const STRAGGLERS: Duration = Duration::from_secs(1);
/// The lease within which an engine counts as live, for whom to wait for.
const LIVE_LEASE: Duration = Duration::from_secs(30);

/// One engine's answer.
#[derive(Clone, Debug)]
pub struct AdminAnswer {
    /// The engine that answered (empty for an engine without an id).
    pub engine_id: String,
    /// The `admin_status` message, as JSON.
    pub message: serde_json::Value,
}

impl AdminAnswer {
    /// `APPLIED` or `REJECTED`.
    pub fn status(&self) -> &str {
        self.message["status"].as_str().unwrap_or("?")
    }

    /// The reject reason, if refused.
    pub fn reason(&self) -> Option<&str> {
        self.message["reason"].as_str()
    }
}

/// What came back for one command.
#[derive(Clone, Debug)]
pub struct AdminOutcome {
    /// The engines waited for; empty when no ownership records named any.
    pub expected: Vec<String>,
    /// The answers, by engine.
    pub answers: Vec<AdminAnswer>,
}

/// Sends `command` (to `engine_id`, or to every engine) and waits up to
/// `wait` for the answers.
pub fn send_admin(
    config: &KafkaConfig,
    bootstrap: &str,
    extra: &[(String, String)],
    command: &AdminCommand,
    engine_id: Option<&str>,
    wait: Duration,
) -> Result<AdminOutcome, BoxError> {
    let expected: Vec<String> = match engine_id {
        Some(id) => vec![id.to_owned()],
        None => live_engines(config, bootstrap, extra)?,
    };
    let mut client = config.client_config(bootstrap, Role::Consumer, extra);
    client
        .set("group.id", "matching-engine-admin-cli")
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer<KafkaContext> =
        client.create_with_context(KafkaContext::new("admin consumer", config.auth.clone(), ()))?;
    // Read answers from the current end, so none is missed or stale.
    let status = &config.topics.admin_status;
    let partitions = topic_partitions(&consumer, status, REQUEST_WAIT)?
        .ok_or_else(|| format!("the brokers have no {status} topic; create it first"))?;
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (_, high) = consumer.fetch_watermarks(status, partition, REQUEST_WAIT)?;
        assignment.add_partition_offset(status, partition, Offset::Offset(high))?;
    }
    consumer.assign(&assignment)?;

    let mut payload = Vec::new();
    encode_admin(command, engine_id, &mut payload);
    let producer: BaseProducer<KafkaContext> = config
        .client_config(bootstrap, Role::Producer, extra)
        .set("acks", "all")
        .create_with_context(KafkaContext::new("admin producer", config.auth.clone(), ()))?;
    producer
        .send(
            BaseRecord::<(), [u8]>::to(&config.topics.admin)
                .partition(0)
                .payload(&payload),
        )
        .map_err(|(e, _)| format!("cannot send to {}: {e}", config.topics.admin))?;
    producer
        .flush(REQUEST_WAIT)
        .map_err(|e| format!("{} did not take the command: {e}", config.topics.admin))?;

    let request = command.request_id.as_str();
    let started = Instant::now();
    let mut first_at = None;
    let mut answers: BTreeMap<String, AdminAnswer> = BTreeMap::new();
    loop {
        let done = if expected.is_empty() {
            first_at.is_some_and(|at: Instant| at.elapsed() >= STRAGGLERS)
        } else {
            expected.iter().all(|id| answers.contains_key(id))
        };
        if done || started.elapsed() >= wait {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| format!("reading {status}: {e}"))?;
        let Ok(json) =
            serde_json::from_slice::<serde_json::Value>(message.payload().unwrap_or_default())
        else {
            continue;
        };
        if json["request_id"].as_str() != Some(request) {
            continue;
        }
        let id = json["engine_id"].as_str().unwrap_or_default().to_owned();
        first_at.get_or_insert_with(Instant::now);
        answers.entry(id.clone()).or_insert(AdminAnswer {
            engine_id: id,
            message: json,
        });
    }
    Ok(AdminOutcome {
        expected,
        answers: answers.into_values().collect(),
    })
}

/// Engines whose lease in the assignments topic is recent, by id.
fn live_engines(
    config: &KafkaConfig,
    bootstrap: &str,
    extra: &[(String, String)],
) -> Result<Vec<String>, BoxError> {
    let ownership = Ownership::new(config, bootstrap, extra, "admin-cli", LIVE_LEASE)?;
    let Ok(assignments) = ownership.read() else {
        return Ok(Vec::new()); // no ownership records: wait for whoever answers
    };
    let now_ms = now_ns() / 1_000_000;
    let mut engines: Vec<String> = assignments
        .owners()
        .map(|(_, owner)| owner.engine_id.clone())
        .filter(|id| {
            assignments
                .lease_age(id, now_ms)
                .is_some_and(|age| age < LIVE_LEASE)
        })
        .collect();
    engines.sort();
    engines.dedup();
    Ok(engines)
}

/// What `engine admin move` found and did.
#[derive(Debug)]
pub struct MoveOutcome {
    /// The partition's owner, which the `MOVE` went to.
    pub from: String,
    /// Its answer to the `MOVE`, if it came within the wait.
    pub answer: Option<AdminAnswer>,
    /// The verdict in `assignments`: moved, rolled back, or not yet.
    pub verdict: Option<bool>,
    /// From sending the `MOVE` to the verdict (or the end of the wait).
    pub took: Duration,
}

/// Why a move cannot be asked for.
#[derive(Debug, thiserror::Error)]
pub enum MoveRefusal {
    /// Nobody owns the partition.
    #[error(
        "orders partition {0} has no owner in the assignments topic; start an engine that reads it"
    )]
    NoOwner(i32),
    /// The target owns it already.
    #[error("orders partition {partition} is owned by {owner} already")]
    AlreadyThere {
        /// The partition.
        partition: i32,
        /// Its owner.
        owner: String,
    },
    /// No engine of the owner's shard is alive to release it.
    #[error(
        "orders partition {partition} is owned by {owner}, whose lease has run out ({age}): no \
         leader or standby of {owner} is alive to release it. Start {owner} (or its standby) \
         again and retry; or start {to} with the partition in kafka.partitions, which takes it \
         over without its books (they stay in {owner}'s journal)"
    )]
    DeadOwner {
        /// The partition.
        partition: i32,
        /// Its owner.
        owner: String,
        /// When the owner last renewed, in words.
        age: String,
        /// The engine that was to take it.
        to: String,
    },
}

/// Asks the owner of `partition` to move it to `to` (`MOVE` with
/// `request_id`), then waits up to `wait` in all for the owner's answer
/// and the verdict in `assignments`.
pub fn move_partition(
    config: &KafkaConfig,
    bootstrap: &str,
    extra: &[(String, String)],
    command: &AdminCommand,
    wait: Duration,
) -> Result<MoveOutcome, BoxError> {
    let engine::AdminAction::Release { partition, to, .. } = command.action else {
        return Err("not a MOVE".into());
    };
    let ownership = Ownership::new(config, bootstrap, extra, "admin-cli", LIVE_LEASE)?;
    let assignments = ownership.read()?;
    let owner = assignments
        .owner(partition)
        .ok_or(MoveRefusal::NoOwner(partition))?
        .engine_id
        .clone();
    if owner == to.as_str() {
        return Err(MoveRefusal::AlreadyThere { partition, owner }.into());
    }
    let age = assignments.lease_age(&owner, now_ns() / 1_000_000);
    let period = assignments.lease_period(&owner).unwrap_or(LIVE_LEASE);
    if age.is_none_or(|age| age >= period) {
        return Err(MoveRefusal::DeadOwner {
            partition,
            age: age.map_or("it never renewed".into(), |a| {
                format!("last renewed {} ms ago", a.as_millis())
            }),
            owner,
            to: to.as_str().to_owned(),
        }
        .into());
    }
    let started = Instant::now();
    let sent = send_admin(config, bootstrap, extra, command, Some(&owner), wait)?;
    let answer = sent.answers.into_iter().next();
    let mut verdict = None;
    if answer.as_ref().is_some_and(|a| a.status() == "APPLIED") {
        while started.elapsed() < wait {
            verdict = ownership.read()?.verdict(command.request_id.as_str());
            if verdict.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(MoveOutcome {
        from: owner,
        answer,
        verdict,
        took: started.elapsed(),
    })
}
