//! Kafka to Kafka: a producer feeds `orders`, the engine runs in this
//! process with its Kafka source and sink, and a consumer reads
//! `order_status`. Wire-to-wire latency is the produce call to the first
//! output of that order being consumed.
//!
//! Orders are matched to their outputs after the run, through the journal:
//! delivery reports give each order's partition and offset, the journal maps
//! those to the engine sequence, and every output carries its sequence.
//! The journal's ingress stamp splits the time into "broker in" (produce to
//! ingress) and "engine and broker out" (ingress to consumed). Nothing in
//! the timed path parses JSON on the engine's behalf.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::EngineConfig;
use engine::endpoint::{BoxError, now_ns};
use engine::pipeline::{IngressClock, PipelineConfig, RunReport, run};
use engine::threads::{CorePlan, WaitMode};
use gateway::demo::DemoFeed;
use gateway::kafka::{
    ClientHooks, DeliveryHooks, EmbeddedBroker, EndPolicy, KafkaAuth, KafkaConfig, KafkaContext,
    KafkaSink, KafkaSource, StartFrom, send_when_room,
};
use gateway::wire::{Decoder, encode_order};
use hdrhistogram::Histogram;
use journal::{Durability, JournalOptions};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Serialize;

/// Orders sent but not yet answered, at most. Sending as fast as possible
/// then measures the sustained rate with a bounded queue in the brokers.
const MAX_BACKLOG: u64 = 100_000;

/// How the Kafka benchmark runs.
#[derive(Clone, Debug)]
pub struct KafkaBenchConfig {
    /// Orders to send.
    pub orders: usize,
    /// Orders per second offered; `None` sends as fast as the producer can.
    pub rate: Option<u64>,
    /// Real brokers; `None` starts the embedded mock cluster.
    pub brokers: Option<String>,
    /// Partitions of each topic the embedded broker creates.
    pub partitions: i32,
    /// Where the scratch journal goes.
    pub scratch: PathBuf,
    /// Thread placement.
    pub cores: CorePlan,
    /// How idle pipeline threads wait.
    pub wait: WaitMode,
}

/// What one run measured. Latencies are in nanoseconds.
#[derive(Clone, Debug, Serialize)]
pub struct KafkaReport {
    /// `embedded` or the bootstrap servers.
    pub broker: String,
    /// Orders sent.
    pub orders: usize,
    /// Orders per second offered (0 = as fast as possible).
    pub rate: u64,
    /// Orders per second the producer achieved.
    pub sent_per_s: f64,
    /// Orders per second from the first send to the last order's output
    /// being consumed.
    pub sustained_per_s: f64,
    /// Output messages the engine produced.
    pub messages: u64,
    /// Produce call to the order's first output consumed.
    pub wire: Percentiles,
    /// Produce call to the engine's ingress stamp.
    pub broker_in: Percentiles,
    /// Ingress stamp to the first output consumed: the engine, the
    /// producer, the broker and the consumer.
    pub engine_and_out: Percentiles,
    /// Ingress stamp to the output handed to the producer, from the
    /// engine's own statistics.
    pub engine_only: Percentiles,
    /// Produce call to first output consumed, whole (nanoseconds): for
    /// `.hgrm` files and plots.
    #[serde(skip)]
    pub wire_histogram: Histogram<u64>,
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The largest.
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Records where each produced order landed.
struct FeedHooks {
    positions: Mutex<HashMap<(i32, i64), usize>>,
    failed: AtomicU64,
}

impl ClientHooks for FeedHooks {}

impl DeliveryHooks for FeedHooks {
    type Opaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        match result {
            Ok(message) => {
                if let Ok(mut positions) = self.positions.lock() {
                    positions.insert((message.partition(), message.offset()), index);
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap_or_else(|_| unreachable!())
}

/// Runs the benchmark once: brokers and an engine in this process, a feed
/// of orders and a reader of their answers, then the latencies matched up
/// through the journal.
pub(crate) fn run_kafka_once(config: &KafkaBenchConfig) -> Result<KafkaReport, BoxError> {
    let setup = Setup::new(config)?;
    let ready = Arc::new(AtomicBool::new(false));
    let source = KafkaSource::new(
        &setup.kafka,
        &setup.bootstrap,
        &[],
        EndPolicy::CaughtUp {
            ready: Arc::clone(&ready),
        },
        Decoder::default(),
    )?;
    let sink = KafkaSink::new(
        &setup.kafka,
        &setup.bootstrap,
        &[],
        &setup.scratch.join("delivered.seq"),
    )?;
    let reader = answer_reader(&setup)?;
    let producer = feed_producer(&setup.bootstrap, config.orders)?;
    let fed = feed(config, &setup, source, sink, reader, &producer, &ready)?;
    let failed = producer.context().hooks().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} orders were not delivered to the broker").into());
    }
    let positions = producer
        .context()
        .hooks()
        .positions
        .lock()
        .map_err(|_| "poisoned")?
        .clone();
    let matched = match_through_journal(&setup.scratch.join("journal"), &positions, &fed);
    let _ = std::fs::remove_dir_all(&setup.scratch);
    let matched = matched?;
    if matched.journaled < config.orders || matched.wire.len() < config.orders as u64 {
        return Err(format!(
            "only {} of {} orders were journaled and {} answered; \
             the embedded broker keeps about 5 MB per partition, so a producer far ahead \
             of the engine loses orders: lower --rate or raise --partitions",
            matched.journaled,
            config.orders,
            matched.wire.len()
        )
        .into());
    }
    let e = fed.report.latencies.egress;
    Ok(KafkaReport {
        broker: config.brokers.clone().unwrap_or_else(|| "embedded".into()),
        orders: config.orders,
        rate: config.rate.unwrap_or(0),
        sent_per_s: config.orders as f64
            / ((fed.last_send - fed.first_send) as f64 / 1e9).max(1e-9),
        sustained_per_s: config.orders as f64
            / ((matched.last_received.saturating_sub(fed.first_send)) as f64 / 1e9).max(1e-9),
        messages: fed.report.messages,
        wire: Percentiles::of(&matched.wire),
        broker_in: Percentiles::of(&matched.broker_in),
        engine_and_out: Percentiles::of(&matched.engine_and_out),
        engine_only: Percentiles {
            p50: e.p50,
            p90: e.p90,
            p99: e.p99,
            p999: e.p999,
            max: e.max,
        },
        wire_histogram: matched.wire,
    })
}

/// The brokers, their client settings, and the engine's configuration
/// and scratch directory for one run.
struct Setup {
    /// Kept alive for the run: dropping it stops the broker.
    _embedded: Option<EmbeddedBroker>,
    bootstrap: String,
    kafka: KafkaConfig,
    /// Names this run's consumer groups and scratch directory.
    run_id: String,
    scratch: PathBuf,
    pipeline: PipelineConfig,
}

impl Setup {
    fn new(config: &KafkaBenchConfig) -> Result<Setup, BoxError> {
        let mut kafka = KafkaConfig::default();
        let run_id = format!("bench{}", now_ns() / 1_000_000);
        let (embedded, bootstrap) = match &config.brokers {
            Some(brokers) => (None, brokers.clone()),
            None => {
                let broker = EmbeddedBroker::start(&kafka.topics, config.partitions)?;
                let bootstrap = broker.bootstrap();
                (Some(broker), bootstrap)
            }
        };
        if config.brokers.is_some() {
            // Existing topics on a real broker: start at their current end.
            kafka.start = StartFrom::Latest;
            kafka.group_id = run_id.clone();
        }
        let scratch = config
            .scratch
            .join(format!("bench-kafka-{}-{run_id}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        let mut pipeline = PipelineConfig::new(scratch.join("journal"), EngineConfig::default());
        pipeline.journal = JournalOptions::new().durability(Durability::None);
        pipeline.cores = config.cores;
        pipeline.wait = config.wait;
        pipeline.clock = IngressClock::Wall;
        pipeline.snapshot_every = None;
        Ok(Setup {
            _embedded: embedded,
            bootstrap,
            kafka,
            run_id,
            scratch,
            pipeline,
        })
    }
}

/// A consumer of `order_status` from its end, which sees each order's
/// first answer.
fn answer_reader(setup: &Setup) -> Result<BaseConsumer, BoxError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &setup.bootstrap)
        .set("group.id", format!("{}-reader", setup.run_id))
        .set("fetch.wait.max.ms", "1")
        .create()?;
    let status_topic = &setup.kafka.topics.order_status;
    let metadata = consumer.fetch_metadata(Some(status_topic), Duration::from_secs(30))?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment.add_partition_offset(status_topic, partition.id(), Offset::End)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// The producer of `orders`, which records where each order landed.
fn feed_producer(
    bootstrap: &str,
    orders: usize,
) -> Result<BaseProducer<KafkaContext<FeedHooks>>, BoxError> {
    let hooks = FeedHooks {
        positions: Mutex::new(HashMap::with_capacity(orders)),
        failed: AtomicU64::new(0),
    };
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .create_with_context(KafkaContext::new(
            "bench-feeder",
            KafkaAuth::default(),
            hooks,
        ))?)
}

/// What the feed saw: when each order was sent and each input answered.
struct Fed {
    report: RunReport,
    /// By order index.
    sent_ns: Vec<u64>,
    /// By input sequence: when its first answer was consumed.
    received_ns: HashMap<u64, u64>,
    first_send: u64,
    last_send: u64,
}

/// Runs the engine, sends the orders at the configured rate while a reader
/// thread collects their answers, and stops the engine once every order
/// is answered.
fn feed(
    config: &KafkaBenchConfig,
    setup: &Setup,
    source: KafkaSource,
    sink: KafkaSink,
    consumer: BaseConsumer,
    producer: &BaseProducer<KafkaContext<FeedHooks>>,
    ready: &AtomicBool,
) -> Result<Fed, BoxError> {
    let stop = AtomicBool::new(false);
    let pipeline = &setup.pipeline;
    let orders_topic = &setup.kafka.topics.orders;
    let mut sent_ns = vec![0u64; config.orders];
    let answered = AtomicU64::new(0);
    let mut first_send = 0u64;
    let mut last_send = 0u64;
    let (report, received_ns) = std::thread::scope(|scope| -> Result<_, BoxError> {
        let engine = scope.spawn(|| run(pipeline, source, sink, &stop));
        if config.brokers.is_some() {
            // Let the engine's consumer resolve "latest" before sending.
            std::thread::sleep(Duration::from_secs(3));
        }
        let answered = &answered;
        let reader = scope.spawn(move || read_answers(&consumer, config.orders, answered));

        let mut feed = DemoFeed::new(7)?;
        let mut payload = Vec::with_capacity(256);
        let started = Instant::now();
        first_send = now_ns();
        for (index, sent) in sent_ns.iter_mut().enumerate() {
            if let Some(rate) = config.rate {
                let due = Duration::from_secs_f64(index as f64 / rate as f64);
                // Sleep rather than spin: on a small host the broker's and
                // the clients' threads need the cores.
                while started.elapsed() < due {
                    producer.poll(Duration::ZERO);
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            // Keep the backlog bounded: the embedded broker drops the
            // oldest messages of a partition past about 5 MB.
            while index as u64 - answered.load(Ordering::Relaxed) >= MAX_BACKLOG {
                producer.poll(Duration::from_micros(100));
            }
            let command = feed.next_command()?;
            payload.clear();
            encode_order(&command, &mut payload);
            let record = BaseRecord::with_opaque_to(orders_topic, index)
                .key(command.symbol.as_str())
                .payload(&payload[..]);
            *sent = now_ns();
            let mut while_full = || {
                producer.poll(Duration::from_millis(1));
                true
            };
            send_when_room(producer, record, &mut while_full)?;
            producer.poll(Duration::ZERO);
        }
        last_send = now_ns();
        producer.flush(Duration::from_secs(120))?;
        ready.store(true, Ordering::Release);
        let received_ns = reader.join().map_err(|_| "the reader panicked")??;
        stop.store(true, Ordering::Release);
        let report = engine.join().map_err(|_| "the engine panicked")??;
        Ok((report, received_ns))
    })?;
    Ok(Fed {
        report,
        sent_ns,
        received_ns,
        first_send,
        last_send,
    })
}

/// Consumes answers until every order has one (or ten minutes pass):
/// the time each input's first message (`idx` 0) arrived, by sequence.
fn read_answers(
    consumer: &BaseConsumer,
    orders: usize,
    answered: &AtomicU64,
) -> Result<HashMap<u64, u64>, BoxError> {
    let mut received: HashMap<u64, u64> = HashMap::with_capacity(orders);
    let deadline = Instant::now() + Duration::from_secs(600);
    while received.len() < orders && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(1)) else {
            continue;
        };
        let now = now_ns();
        let Ok(message) = message else { continue };
        #[derive(serde::Deserialize)]
        struct Key {
            seq: u64,
            idx: u32,
        }
        if let Some(Ok(key)) = message.payload().map(serde_json::from_slice::<Key>)
            && key.idx == 0
        {
            received.entry(key.seq).or_insert(now);
            answered.store(received.len() as u64, Ordering::Relaxed);
        }
    }
    Ok(received)
}

/// The latencies of every order, matched sequence to position to order
/// index through the journal.
struct Matched {
    wire: Histogram<u64>,
    broker_in: Histogram<u64>,
    engine_and_out: Histogram<u64>,
    last_received: u64,
    journaled: usize,
}

fn match_through_journal(
    journal_dir: &std::path::Path,
    positions: &HashMap<(i32, i64), usize>,
    fed: &Fed,
) -> Result<Matched, BoxError> {
    let mut matched = Matched {
        wire: histogram(),
        broker_in: histogram(),
        engine_and_out: histogram(),
        last_received: 0,
        journaled: 0,
    };
    let reader = journal::Reader::open(journal_dir)?;
    let mut cursor = reader.read_all()?;
    while let Some(record) = cursor.next()? {
        matched.journaled += 1;
        let meta = record.meta();
        let Some(&index) = positions.get(&(meta.source_partition, meta.source_offset)) else {
            continue;
        };
        let Some(&received) = fed.received_ns.get(&record.sequence()) else {
            continue;
        };
        let sent = fed.sent_ns[index];
        matched.last_received = matched.last_received.max(received);
        matched
            .wire
            .saturating_record(received.saturating_sub(sent).max(1));
        matched
            .broker_in
            .saturating_record(meta.timestamp_ns.saturating_sub(sent).max(1));
        matched
            .engine_and_out
            .saturating_record(received.saturating_sub(meta.timestamp_ns).max(1));
    }
    Ok(matched)
}
