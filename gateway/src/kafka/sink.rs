//! Kafka egress: an idempotent producer that sends each output message to
//! its topic, keyed by symbol, and confirms inputs as the brokers
//! acknowledge their messages.
//!
//! Delivery is asynchronous. Each message carries its input's sequence as
//! the delivery opaque; an input is confirmed once every message of it and
//! of every earlier input is acknowledged. The highest confirmed sequence
//! is written to the delivered mark, and recovery re-sends exactly the
//! inputs after it, so downstream sees duplicates (same `(seq, idx)`,
//! same bytes) but never a gap. Nothing is dropped: with no message
//! timeout, an outage fills librdkafka's queue, `send_batch` waits for room,
//! and that back-pressure stops the matcher and then ingress. This file
//! allocates nothing per message.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::Event;
use engine::endpoint::{BoxError, OutputSink};
use engine::sequenced::{Message, MessageBody, Topic};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::statistics::Statistics;

use super::client::{ClientHooks, DeliveryHooks, KafkaContext, send_when_room};
use super::config::{KafkaConfig, Role};
use super::moves::{SinkLink, ToMover};
use crate::delivered::DeliveredMark;
use crate::wire::{encode_message_of, message_symbol};

/// The name of the Kafka sink's delivered mark, in the journal directory.
pub const DELIVERED_FILE: &str = "kafka-delivered.seq";

/// Inputs that may be produced but unconfirmed at once; a power of two.
/// Each holds at least one queued message, so librdkafka's own queue limit
/// (100,000 messages by default) binds first in practice.
const WINDOW: u64 = 1 << 17;
/// How often the delivered mark is rewritten while inputs are confirmed.
const MARK_EVERY: Duration = Duration::from_millis(1);
/// How long `close` waits for the brokers to confirm what is queued.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

/// What the producer's callbacks share with the egress thread. Callbacks
/// run inside `poll` on that same thread, so the atomics are uncontended.
pub(crate) struct SinkHooks {
    /// Unacknowledged messages per input, indexed by `seq % WINDOW`.
    outstanding: Box<[AtomicU32]>,
    /// When each input's first message was produced, in ns, likewise.
    produced_ns: Box<[AtomicU64]>,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    probe: SinkProbe,
}

impl ClientHooks for SinkHooks {
    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            self.probe
                .max_batch
                .fetch_max(topic.batchcnt.max, Ordering::Relaxed);
        }
    }
}

impl DeliveryHooks for SinkHooks {
    type Opaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        match result {
            Ok(_) => {
                self.outstanding[seq % WINDOW as usize].fetch_sub(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.probe.delivery_errors.fetch_add(1, Ordering::Relaxed);
                // Retries are librdkafka's job (idempotence, no timeout), so
                // an error here is final: stop rather than skip the message.
                if let Ok(mut failure) = self.failure.lock()
                    && failure.is_none()
                {
                    *failure = Some(format!(
                        "kafka refused an output message of input {seq}: {err}"
                    ));
                }
                self.failed.store(true, Ordering::Release);
            }
        }
    }
}

/// Figures the sink reports while the pipeline owns it. The delivery
/// callbacks run on egress, inside `poll`, and only touch atomics.
#[derive(Clone, Debug, Default)]
pub struct SinkProbe {
    /// The largest produce batch librdkafka's statistics reported, in
    /// messages; -1 until statistics arrive (set `statistics.interval.ms`).
    pub max_batch: Arc<AtomicI64>,
    /// Messages the brokers refused for good.
    pub delivery_errors: Arc<AtomicU64>,
    /// Inputs all of whose messages the brokers acknowledged.
    pub acknowledged: Arc<AtomicU64>,
    /// Their total time from their first message's produce to their last
    /// acknowledgement, in nanoseconds.
    pub queued_ns_total: Arc<AtomicU64>,
    /// The longest since an exporter last took it.
    pub queued_ns_max: Arc<AtomicU64>,
}

impl SinkProbe {
    fn record_queued(&self, ns: u64) {
        self.acknowledged.fetch_add(1, Ordering::Relaxed);
        self.queued_ns_total.fetch_add(ns, Ordering::Relaxed);
        if ns > self.queued_ns_max.load(Ordering::Relaxed) {
            self.queued_ns_max.fetch_max(ns, Ordering::Relaxed);
        }
    }
}

/// Produces output messages to Kafka.
pub struct KafkaSink {
    producer: BaseProducer<KafkaContext<SinkHooks>>,
    /// Output topic names, by `topic_index`.
    topics: [String; Topic::ALL.len()],
    /// Named in every message, when the engine has an id.
    engine_id: Option<String>,
    mark: DeliveredMark,
    /// Every message of every input up to here is acknowledged.
    confirmed: u64,
    /// Every message of every input up to here has been produced.
    handed: u64,
    last_mark: Instant,
    scratch: Vec<u8>,
    /// Told of each move step the sink sends, when the engine moves.
    moves: Option<SinkLink>,
}

impl KafkaSink {
    /// Creates the producer and opens the delivered mark at `mark_path`.
    /// `extra` are `-X key=value` properties from the command line.
    pub fn new(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        mark_path: &Path,
    ) -> Result<KafkaSink, BoxError> {
        let probe = SinkProbe::default();
        probe.max_batch.store(-1, Ordering::Relaxed);
        let hooks = SinkHooks {
            outstanding: (0..WINDOW).map(|_| AtomicU32::new(0)).collect(),
            produced_ns: (0..WINDOW).map(|_| AtomicU64::new(0)).collect(),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            probe,
        };
        let producer: BaseProducer<KafkaContext<SinkHooks>> = config
            .client_config(bootstrap, Role::Producer, extra)
            .create_with_context(KafkaContext::new("producer", config.auth.clone(), hooks))?;
        let mark = DeliveredMark::open(mark_path)
            .map_err(|e| format!("cannot open {}: {e}", mark_path.display()))?;
        let confirmed = mark.get();
        let mut topics: [String; Topic::ALL.len()] = Default::default();
        for topic in Topic::ALL {
            topics[topic.index()] = config.topics.output(topic).to_owned();
        }
        Ok(KafkaSink {
            producer,
            topics,
            engine_id: config.engine_id.clone(),
            mark,
            confirmed,
            handed: confirmed,
            last_mark: Instant::now(),
            scratch: Vec::with_capacity(1024),
            moves: None,
        })
    }

    /// Reports each move step it sends to the mover through `link`: a
    /// step's message goes out only once its input is journaled.
    pub fn with_moves(mut self, link: SinkLink) -> KafkaSink {
        self.moves = Some(link);
        self
    }

    /// Records that every input through `seq` is delivered, as another
    /// engine's delivered mark says (a standby taking over): recovery then
    /// re-sends only past it. Never lowers the mark.
    pub fn adopt_delivered(&mut self, seq: u64) -> Result<(), BoxError> {
        if seq > self.mark.get() {
            self.mark.store(seq)?;
            self.mark.sync()?;
        }
        self.confirmed = self.confirmed.max(seq);
        self.handed = self.handed.max(seq);
        Ok(())
    }

    /// A handle on the sink's figures, readable after the sink is moved.
    pub fn probe(&self) -> SinkProbe {
        self.producer.context().hooks().probe.clone()
    }

    /// Serves delivery reports and advances the confirmed sequence.
    fn reap(&mut self) -> Result<(), BoxError> {
        self.producer.poll(Duration::ZERO);
        let context = self.producer.context().hooks();
        if context.failed.load(Ordering::Acquire) {
            let failure = context.failure.lock().ok().and_then(|f| f.clone());
            return Err(failure
                .unwrap_or_else(|| "kafka refused an output message".into())
                .into());
        }
        let mut now = None;
        while self.confirmed < self.handed
            && context.outstanding[((self.confirmed + 1) % WINDOW) as usize].load(Ordering::Relaxed)
                == 0
        {
            self.confirmed += 1;
            let produced =
                context.produced_ns[(self.confirmed % WINDOW) as usize].swap(0, Ordering::Relaxed);
            // 0: re-sent by recovery before this run timed anything.
            if produced > 0 {
                let now = *now.get_or_insert_with(engine::endpoint::now_ns);
                context.probe.record_queued(now.saturating_sub(produced));
            }
        }
        if self.confirmed > self.mark.get() && self.last_mark.elapsed() >= MARK_EVERY {
            self.mark.store(self.confirmed)?;
            self.last_mark = Instant::now();
        }
        Ok(())
    }

    /// Produces one message, waiting for queue room.
    fn produce(&mut self, message: &Message) -> Result<(), BoxError> {
        let mut stall = Stall::default();
        while message.seq >= self.confirmed + WINDOW {
            stall.note("too many inputs are unconfirmed", self.confirmed);
            self.reap()?;
        }
        self.scratch.clear();
        encode_message_of(self.engine_id.as_deref(), message, &mut self.scratch);
        let topic = &self.topics[message.body.topic().index()];
        let index = (message.seq % WINDOW) as usize;
        let slot = &self.producer.context().hooks().outstanding[index];
        if slot.fetch_add(1, Ordering::Relaxed) == 0 {
            // One clock read per input, at its first message.
            self.producer.context().hooks().produced_ns[index]
                .store(engine::endpoint::now_ns(), Ordering::Relaxed);
        }
        let mut record =
            BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, message.seq as usize)
                .payload(&self.scratch[..]);
        if let Some(symbol) = message_symbol(message) {
            record = record.key(symbol.as_bytes());
        }
        let producer = &self.producer;
        let confirmed = self.confirmed;
        let mut while_full = || {
            stall.note(
                "the producer queue is full (brokers unreachable or slow)",
                confirmed,
            );
            // Delivery reports free queue room. `record` borrows this
            // sink, so serve them without `reap`; it runs after the send.
            producer.poll(Duration::ZERO);
            !producer.context().hooks().failed.load(Ordering::Acquire)
        };
        match send_when_room(producer, record, &mut while_full) {
            Ok(true) => {}
            Ok(false) => {
                slot.fetch_sub(1, Ordering::Relaxed);
                return self.reap();
            }
            Err(err) => {
                slot.fetch_sub(1, Ordering::Relaxed);
                return Err(format!("kafka producer: {err}").into());
            }
        }
        stall.end();
        Ok(())
    }
}

/// Logs a stall once, a second after it starts, and its end if logged.
#[derive(Default)]
struct Stall {
    since: Option<Instant>,
    logged: bool,
}

impl Stall {
    fn note(&mut self, what: &str, confirmed: u64) {
        let since = *self.since.get_or_insert_with(Instant::now);
        if !self.logged && since.elapsed() >= Duration::from_secs(1) {
            self.logged = true;
            tracing::warn!(
                confirmed,
                "kafka: {what}; holding outputs, and so inputs, until the brokers acknowledge"
            );
        }
        std::hint::spin_loop();
    }

    fn end(&self) {
        if let Some(since) = self.since.filter(|_| self.logged) {
            tracing::info!(
                stalled_ms = since.elapsed().as_millis() as u64,
                "kafka: the producer is moving again"
            );
        }
    }
}

impl OutputSink for KafkaSink {
    fn delivered_through(&mut self) -> Result<u64, BoxError> {
        // The mark on disk, not `confirmed`, which runs up to a millisecond
        // ahead of it: a restart reads the mark.
        Ok(self.mark.get())
    }

    fn send_batch(&mut self, batch: &[Message]) -> Result<(), BoxError> {
        for message in batch {
            self.produce(message)?;
            if let (
                Some(link),
                MessageBody::Admin(Event::MoveStepped {
                    move_id,
                    partition,
                    step,
                    ..
                }),
            ) = (&self.moves, &message.body)
            {
                let _ = link.to_mover.send(ToMover::Stepped {
                    move_id: move_id.as_str().to_owned(),
                    partition: *partition,
                    step: *step,
                });
            }
        }
        self.reap()
    }

    fn mark_delivered(&mut self, seq: u64) -> Result<(), BoxError> {
        self.handed = self.handed.max(seq);
        self.reap()
    }

    fn poll(&mut self) -> Result<(), BoxError> {
        self.reap()
    }

    fn close(&mut self) -> Result<(), BoxError> {
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.confirmed < self.handed && Instant::now() < deadline {
            self.producer.poll(Duration::from_millis(10));
            self.reap()?;
        }
        if self.confirmed < self.handed {
            tracing::warn!(
                confirmed = self.confirmed,
                produced = self.handed,
                "kafka: outputs still unconfirmed at exit; the next start re-sends them"
            );
        }
        self.reap()?;
        self.mark.store(self.confirmed)?;
        self.mark.sync()?;
        Ok(())
    }
}
