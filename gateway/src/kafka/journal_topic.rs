//! The journal topic, `journal.<engine id>`, through `rdkafka`: the two
//! ends `engine::replicated` runs on, and the operator's handover request.
//!
//! The producer is idempotent with `acks=all` and at most five requests in
//! flight, so librdkafka keeps the partition's order and never writes an
//! entry twice, and each delivery report carries the entry's offset: the
//! fact the release rule is built on. The consumer has no group: it is
//! assigned partition 0 at the offset its owner asks for, and commits
//! nothing. Neither decides anything; the rules are `engine::replicated`'s.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use engine::endpoint::BoxError;
use engine::replicated::agreed::AgreedLog;
use engine::replicated::entry::Entry;
use engine::replicated::{LogConsumer, LogProducer, topic_for};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::client::{ClientHooks, DeliveryHooks, KafkaContext, send_when_room};
use super::config::{KafkaConfig, Role};

/// The journal topic's one partition.
const PARTITION: i32 = 0;
/// How long a watermark or metadata request may take.
const REQUEST_WAIT: Duration = Duration::from_secs(5);

/// Delivery reports, in the order librdkafka serves them: the offset, or
/// why the entry was refused.
#[derive(Default)]
pub(crate) struct LogHooks {
    reports: Mutex<VecDeque<Result<i64, String>>>,
}

impl ClientHooks for LogHooks {}

impl DeliveryHooks for LogHooks {
    type Opaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let report = match result {
            Ok(message) => Ok(message.offset()),
            Err((err, _)) => Err(err.to_string()),
        };
        if let Ok(mut reports) = self.reports.lock() {
            reports.push_back(report);
        }
    }
}

/// The journal topic's producer.
pub struct JournalProducer {
    producer: BaseProducer<KafkaContext<LogHooks>>,
    topic: String,
}

impl JournalProducer {
    /// A producer to `journal.<engine_id>`.
    pub fn new(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        engine_id: &str,
    ) -> Result<JournalProducer, BoxError> {
        let mut client = config.client_config(bootstrap, Role::Producer, extra);
        client
            .set("client.id", "matching-engine-journal")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            // A record waits for nothing but the request before it.
            .set("linger.ms", "0")
            .set("batch.num.messages", "10000");
        let producer = client.create_with_context(KafkaContext::new(
            "journal producer",
            config.auth.clone(),
            LogHooks::default(),
        ))?;
        Ok(JournalProducer {
            producer,
            topic: topic_for(engine_id),
        })
    }
}

impl LogProducer for JournalProducer {
    fn send(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        let record = BaseRecord::<(), [u8], ()>::to(&self.topic)
            .partition(PARTITION)
            .payload(entry);
        let producer = &self.producer;
        send_when_room(producer, record, &mut || {
            producer.poll(Duration::from_millis(1));
            true
        })?;
        Ok(())
    }

    fn poll(&mut self, acked: &mut dyn FnMut(i64)) -> Result<(), BoxError> {
        self.producer.poll(Duration::ZERO);
        let hooks = self.producer.context().hooks();
        let Ok(mut reports) = hooks.reports.lock() else {
            return Err("the journal producer's reports are poisoned".into());
        };
        while let Some(report) = reports.pop_front() {
            match report {
                Ok(offset) => acked(offset),
                Err(err) => {
                    return Err(format!("{} refused a journal entry: {err}", self.topic).into());
                }
            }
        }
        Ok(())
    }
}

impl Drop for JournalProducer {
    fn drop(&mut self) {
        // Whatever is queued was already judged by its owner; let it land.
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}

/// The journal topic's consumer.
pub struct JournalConsumer {
    consumer: BaseConsumer<KafkaContext>,
    topic: String,
}

impl JournalConsumer {
    /// A consumer of `journal.<engine_id>`, assigned, never subscribed.
    pub fn new(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        engine_id: &str,
    ) -> Result<JournalConsumer, BoxError> {
        let mut client = config.client_config(bootstrap, Role::Consumer, extra);
        // librdkafka wants a group even for assigned partitions; this one
        // never joins (no subscribe) and never commits.
        client
            .set("group.id", format!("matching-engine-journal-{engine_id}"))
            .set("client.id", "matching-engine-journal")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "2")
            .set("fetch.error.backoff.ms", "5");
        let consumer = client.create_with_context(KafkaContext::new(
            "journal consumer",
            config.auth.clone(),
            (),
        ))?;
        Ok(JournalConsumer {
            consumer,
            topic: topic_for(engine_id),
        })
    }

    /// The earliest and the next offset of the topic.
    pub fn watermarks(&self) -> Result<(i64, i64), BoxError> {
        Ok(self
            .consumer
            .fetch_watermarks(&self.topic, PARTITION, REQUEST_WAIT)
            .map_err(|e| format!("cannot read {}'s offsets: {e}", self.topic))?)
    }
}

impl LogConsumer for JournalConsumer {
    fn seek(&mut self, offset: i64) -> Result<(), BoxError> {
        let (earliest, _) = self.watermarks()?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(
            &self.topic,
            PARTITION,
            Offset::Offset(offset.max(earliest)),
        )?;
        self.consumer.assign(&assignment)?;
        Ok(())
    }

    fn poll(
        &mut self,
        timeout: Duration,
        each: &mut dyn FnMut(i64, &[u8]),
    ) -> Result<usize, BoxError> {
        let mut passed = 0;
        let mut wait = timeout;
        // One wait, then whatever else is already fetched, bounded.
        while passed < 10_000 {
            let Some(message) = self.consumer.poll(wait) else {
                break;
            };
            let message = message.map_err(|e| format!("reading {}: {e}", self.topic))?;
            each(message.offset(), message.payload().unwrap_or_default());
            passed += 1;
            wait = Duration::ZERO;
        }
        Ok(passed)
    }

    fn end(&mut self) -> Result<i64, BoxError> {
        Ok(self.watermarks()?.1)
    }
}

/// What a handover request found and did.
#[derive(Clone, Debug)]
pub struct Handover {
    /// The epoch asked to step down.
    pub from_epoch: u64,
    /// The epoch that took over, if one did in time.
    pub to_epoch: Option<u64>,
    /// From the request to the new claim.
    pub took: Duration,
}

/// Asks the leader of engine `engine_id` to hand over to its standby, and
/// waits up to `wait` for the standby's claim. The leader drains, writes
/// its last entry and follows; the standby takes over at once.
pub fn request_handover(
    config: &KafkaConfig,
    bootstrap: &str,
    extra: &[(String, String)],
    engine_id: &str,
    wait: Duration,
) -> Result<Handover, BoxError> {
    let mut consumer = JournalConsumer::new(config, bootstrap, extra, engine_id)?;
    let (earliest, end) = consumer.watermarks()?;
    if end <= earliest {
        return Err(format!("{} is empty: no engine leads it yet", topic_for(engine_id)).into());
    }
    // The leader writes a mark at least every heartbeat, so the newest
    // entries name its epoch.
    consumer.seek((end - 1_000).max(earliest))?;
    let mut epoch = 0;
    let started = Instant::now();
    let mut read_to = end - 1_000;
    while read_to < end - 1 {
        if started.elapsed() > REQUEST_WAIT {
            return Err(format!("cannot read {}", topic_for(engine_id)).into());
        }
        consumer.poll(Duration::from_millis(50), &mut |offset, bytes| {
            read_to = offset;
            if let Ok(entry) = Entry::decode(bytes) {
                epoch = epoch.max(entry.epoch());
            }
        })?;
    }
    if epoch == 0 {
        return Err(format!(
            "{} holds no epoch: no engine leads it",
            topic_for(engine_id)
        )
        .into());
    }
    let mut producer = JournalProducer::new(config, bootstrap, extra, engine_id)?;
    let mut buffer = Vec::new();
    Entry::Handover {
        epoch,
        requested_ns: engine::endpoint::now_ns(),
    }
    .encode(&mut buffer);
    producer.send(&buffer)?;
    let asked = Instant::now();
    let mut at = None;
    while at.is_none() {
        if asked.elapsed() > REQUEST_WAIT {
            return Err("the journal topic did not acknowledge the request".into());
        }
        producer.poll(&mut |offset| at = Some(offset))?;
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut log = AgreedLog::new(1, epoch);
    let mut to_epoch = None;
    consumer.seek(at.unwrap_or(end))?;
    while to_epoch.is_none() && asked.elapsed() < wait {
        consumer.poll(Duration::from_millis(50), &mut |_, bytes| {
            if let Ok(entry @ Entry::Epoch { .. }) = Entry::decode(bytes)
                && log.judge(&entry).is_ok_and(|_| log.epoch() > epoch)
            {
                to_epoch = Some(log.epoch());
            }
        })?;
    }
    Ok(Handover {
        from_epoch: epoch,
        to_epoch,
        took: asked.elapsed(),
    })
}
