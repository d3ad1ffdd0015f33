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
use engine::pipeline::{IngressClock, PipelineConfig, run};
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

/// Runs the benchmark once.
pub fn run_kafka_once(config: &KafkaBenchConfig) -> Result<KafkaReport, BoxError> {
    let mut kafka = KafkaConfig::default();
    // Names this run's consumer groups and scratch directory.
    let run_id = format!("bench{}", now_ns() / 1_000_000);
    let embedded = match &config.brokers {
        Some(_) => None,
        None => Some(EmbeddedBroker::start(&kafka.topics, config.partitions)?),
    };
    let bootstrap = match (&config.brokers, &embedded) {
        (Some(brokers), _) => brokers.clone(),
        (None, Some(broker)) => broker.bootstrap(),
        (None, None) => unreachable!(),
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
    let ready = Arc::new(AtomicBool::new(false));
    let stop = AtomicBool::new(false);
    let source = KafkaSource::new(
        &kafka,
        &bootstrap,
        &[],
        EndPolicy::CaughtUp {
            ready: Arc::clone(&ready),
        },
        Decoder::default(),
    )?;
    let sink = KafkaSink::new(&kafka, &bootstrap, &[], &scratch.join("delivered.seq"))?;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("{run_id}-reader"))
        .set("fetch.wait.max.ms", "1")
        .create()?;
    let status_topic = kafka.topics.order_status.clone();
    let metadata = consumer.fetch_metadata(Some(&status_topic), Duration::from_secs(30))?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment.add_partition_offset(&status_topic, partition.id(), Offset::End)?;
    }
    consumer.assign(&assignment)?;

    let hooks = FeedHooks {
        positions: Mutex::new(HashMap::with_capacity(config.orders)),
        failed: AtomicU64::new(0),
    };
    let producer: BaseProducer<KafkaContext<FeedHooks>> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .create_with_context(KafkaContext::new(
            "bench-feeder",
            KafkaAuth::default(),
            hooks,
        ))?;
    let mut sent_ns = vec![0u64; config.orders];
    let mut received_ns: HashMap<u64, u64> = HashMap::with_capacity(config.orders);
    let answered = AtomicU64::new(0);
    let mut first_send = 0u64;
    let mut last_send = 0u64;

    let report = std::thread::scope(|scope| -> Result<_, BoxError> {
        let engine = scope.spawn(|| run(&pipeline, source, sink, &stop));
        if config.brokers.is_some() {
            // Let the engine's consumer resolve "latest" before sending.
            std::thread::sleep(Duration::from_secs(3));
        }
        let answered = &answered;
        let reader = scope.spawn(move || -> Result<HashMap<u64, u64>, BoxError> {
            let mut received: HashMap<u64, u64> = HashMap::with_capacity(config.orders);
            let deadline = Instant::now() + Duration::from_secs(600);
            while received.len() < config.orders && Instant::now() < deadline {
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
        });

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
            let record = BaseRecord::with_opaque_to(&kafka.topics.orders, index)
                .key(command.symbol.as_str())
                .payload(&payload[..]);
            *sent = now_ns();
            let mut while_full = || {
                producer.poll(Duration::from_millis(1));
                true
            };
            send_when_room(&producer, record, &mut while_full)?;
            producer.poll(Duration::ZERO);
        }
        last_send = now_ns();
        producer.flush(Duration::from_secs(120))?;
        ready.store(true, Ordering::Release);
        received_ns = reader.join().map_err(|_| "the reader panicked")??;
        stop.store(true, Ordering::Release);
        let report = engine.join().map_err(|_| "the engine panicked")??;
        Ok(report)
    })?;
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

    // Sequence -> position -> order index, through the journal.
    let mut wire = histogram();
    let mut broker_in = histogram();
    let mut engine_and_out = histogram();
    let mut last_received = 0u64;
    let reader = journal::Reader::open(scratch.join("journal"))?;
    let mut cursor = reader.read_all()?;
    let mut journaled = 0usize;
    while let Some(record) = cursor.next()? {
        journaled += 1;
        let meta = record.meta();
        let Some(&index) = positions.get(&(meta.source_partition, meta.source_offset)) else {
            continue;
        };
        let Some(&received) = received_ns.get(&record.sequence()) else {
            continue;
        };
        let sent = sent_ns[index];
        last_received = last_received.max(received);
        wire.saturating_record(received.saturating_sub(sent).max(1));
        broker_in.saturating_record(meta.timestamp_ns.saturating_sub(sent).max(1));
        engine_and_out.saturating_record(received.saturating_sub(meta.timestamp_ns).max(1));
    }
    drop(cursor);
    drop(reader);
    let _ = std::fs::remove_dir_all(&scratch);
    if journaled < config.orders || wire.len() < config.orders as u64 {
        return Err(format!(
            "only {journaled} of {} orders were journaled and {} answered; \
             the embedded broker keeps about 5 MB per partition, so a producer far ahead \
             of the engine loses orders: lower --rate or raise --partitions",
            config.orders,
            wire.len()
        )
        .into());
    }
    let e = report.latencies.egress;
    Ok(KafkaReport {
        broker: config.brokers.clone().unwrap_or_else(|| "embedded".into()),
        orders: config.orders,
        rate: config.rate.unwrap_or(0),
        sent_per_s: config.orders as f64 / ((last_send - first_send) as f64 / 1e9).max(1e-9),
        sustained_per_s: config.orders as f64
            / ((last_received.saturating_sub(first_send)) as f64 / 1e9).max(1e-9),
        messages: report.messages,
        wire: Percentiles::of(&wire),
        broker_in: Percentiles::of(&broker_in),
        engine_and_out: Percentiles::of(&engine_and_out),
        engine_only: Percentiles {
            p50: e.p50,
            p90: e.p90,
            p99: e.p99,
            p999: e.p999,
            max: e.max,
        },
        wire_histogram: wire,
    })
}
