//! The engine's Prometheus endpoint: `GET /metrics` in the OpenMetrics text
//! format, served by its own thread.
//!
//! Every figure is read at scrape time from what the pipeline and the Kafka
//! clients already keep in atomics ([`engine::pipeline::MetricsSample`],
//! [`SinkProbe`], [`SourceProbe`]), plus what only this thread looks at:
//! the journal directory, the matcher thread's `/proc` status and the
//! brokers' high watermarks. So the pipeline threads do not know the
//! exporter exists, and a slow scrape holds up nothing but itself.
//!
//! `prometheus-client` (the Prometheus project's own Rust client) encodes:
//! its `Collector` trait lets a scrape read our atomics directly, with no
//! global registry and no second copy of each value. `tiny_http` serves:
//! one blocking thread is all a scrape every few seconds needs. The names
//! are fixed (docs/metrics.md); dashboards and alerts rely on them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::pipeline::{LatencySummary, MetricsSample, PipelineMetrics};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::kafka::{FROM_START, KafkaContext, SinkProbe, SourceProbe, UNASSIGNED};

/// The git revision the binary was built from, or `unknown`.
pub(crate) const REVISION: &str = match option_env!("ENGINE_GIT_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// How long a scrape waits for the brokers' watermarks of one partition.
const WATERMARK_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the exporter finds the Kafka figures.
pub struct KafkaMetrics {
    /// The producer's delivery figures.
    pub sink: Option<SinkProbe>,
    /// The consumer's positions, and a client to ask the brokers for high
    /// watermarks (its own, so a scrape never touches ingress's consumer).
    pub source: Option<(SourceProbe, BaseConsumer<KafkaContext>)>,
}

/// Everything a scrape reads.
pub struct EngineCollector {
    pipeline: Arc<PipelineMetrics>,
    journal_dir: PathBuf,
    kafka: KafkaMetrics,
    engine_id: String,
}

impl std::fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineCollector")
            .field("journal_dir", &self.journal_dir)
            .finish_non_exhaustive()
    }
}

impl EngineCollector {
    /// A collector over the pipeline's figures, the journal at
    /// `journal_dir`, and the Kafka clients, if any.
    pub fn new(
        pipeline: Arc<PipelineMetrics>,
        journal_dir: PathBuf,
        kafka: KafkaMetrics,
    ) -> EngineCollector {
        EngineCollector {
            pipeline,
            journal_dir,
            kafka,
            engine_id: String::new(),
        }
    }

    /// Labels `engine_role` with the engine (shard) id of a replicated
    /// engine, so alerts can pair each primary with its standby.
    pub fn with_engine_id(mut self, engine_id: &str) -> EngineCollector {
        engine_id.clone_into(&mut self.engine_id);
        self
    }
}

/// Writes one metric family without labels.
fn single(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &impl EncodeMetric,
) -> std::fmt::Result {
    let metric_encoder = encoder.encode_descriptor(name, help, unit, metric.metric_type())?;
    metric.encode(metric_encoder)
}

/// Writes one metric family with one label.
fn labelled<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric_type: MetricType,
    label: &str,
    values: impl IntoIterator<Item = (String, M)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (value, metric) in values {
        let labels = [(label, value.as_str())];
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn seconds(d: Duration) -> ConstGauge<f64> {
    ConstGauge::new(d.as_secs_f64())
}

fn gauge(n: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
}

fn counter(n: u64) -> ConstCounter<u64> {
    ConstCounter::new(n)
}

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let s = self.pipeline.sample();
        let e = &mut encoder;
        encode_build(e)?;
        encode_flow(e, &s)?;
        encode_latency(e, &s)?;
        encode_journal(e, &s, &self.journal_dir)?;
        encode_snapshots(e, &s)?;
        encode_matcher(e, &s)?;
        encode_books(e, &s)?;
        encode_partitions(e, &s)?;
        encode_replication(e, &s, &self.engine_id)?;
        encode_kafka(e, &s, &self.kafka)
    }
}

/// The hot standby's figures; a single-host engine reports role `single`
/// and zeros, so dashboards and alerts read the same everywhere.
fn encode_replication(
    e: &mut DescriptorEncoder,
    s: &MetricsSample,
    engine_id: &str,
) -> std::fmt::Result {
    let r = &s.replication;
    let mut family = e.encode_descriptor(
        "engine_role",
        "1 for the part this engine plays now (single, primary or standby), 0 for the others.",
        None,
        MetricType::Gauge,
    )?;
    for role in engine::replicated::ROLES {
        let labels = [("role", role), ("engine_id", engine_id)];
        gauge(u64::from(role == r.role)).encode(family.encode_family(&labels)?)?;
    }
    single(
        e,
        "engine_leader_epoch",
        "The leader epoch this engine last saw claimed in its journal topic (its own when it leads).",
        None,
        &gauge(r.leader_epoch),
    )?;
    single(
        e,
        "engine_replication_lag_records",
        "Journal-topic entries a standby has not read yet; 0 on a primary.",
        None,
        &gauge(r.lag_records),
    )?;
    single(
        e,
        "engine_replication_lag",
        "How long a standby has been behind the journal topic's end; 0 on a primary.",
        Some(&Unit::Seconds),
        &seconds(r.lag),
    )?;
    single(
        e,
        "engine_replicated_sequence",
        "The last sequence the journal topic agreed to, as this engine knows it.",
        None,
        &gauge(r.replicated_sequence),
    )?;
    single(
        e,
        "engine_takeovers",
        "Times this process took the lead.",
        None,
        &counter(r.takeovers),
    )?;
    single(
        e,
        "engine_takeover",
        "The last takeover, from detecting the leader's silence to the first output.",
        Some(&Unit::Seconds),
        &seconds(r.last_takeover),
    )
}

/// The busiest symbols' books: a bounded label set, as the replica chose.
fn encode_books(e: &mut DescriptorEncoder, s: &MetricsSample) -> std::fmt::Result {
    if s.books.is_empty() {
        return Ok(());
    }
    single(
        e,
        "engine_book_sequence",
        "The input sequence the book figures are as of (the snapshot replica's position).",
        None,
        &gauge(s.books_sequence),
    )?;
    let mut family = e.encode_descriptor(
        "engine_book_resting_orders",
        "Orders resting in the book, for the busiest symbols (--book-symbols).",
        None,
        MetricType::Gauge,
    )?;
    for book in &s.books {
        for (side, orders) in [("bid", book.bid_orders), ("ask", book.ask_orders)] {
            let labels = [("symbol", book.symbol.as_str()), ("side", side)];
            gauge(orders).encode(family.encode_family(&labels)?)?;
        }
    }
    let mut family = e.encode_descriptor(
        "engine_book_best_price_ticks",
        "The best bid and ask in ticks, for the busiest symbols; absent for an empty side.",
        None,
        MetricType::Gauge,
    )?;
    for book in &s.books {
        for (side, price) in [("bid", book.best_bid), ("ask", book.best_ask)] {
            if let Some(price) = price {
                let labels = [("symbol", book.symbol.as_str()), ("side", side)];
                gauge(price).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    let mut family = e.encode_descriptor(
        "engine_book_inputs",
        "Inputs for each of the busiest symbols, as the snapshot replica applied them in this run.",
        None,
        MetricType::Counter,
    )?;
    for book in &s.books {
        let labels = [("symbol", book.symbol.as_str())];
        counter(book.inputs).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Per `orders` partition: where the input and the books are, to choose
/// a partition to move (`docs/shards.md`).
fn encode_partitions(e: &mut DescriptorEncoder, s: &MetricsSample) -> std::fmt::Result {
    labelled(
        e,
        "engine_partition_inputs",
        "Inputs from each orders partition (0 to 255) in this run.",
        None,
        MetricType::Counter,
        "partition",
        s.partition_inputs
            .iter()
            .map(|&(p, n)| (p.to_string(), counter(n))),
    )?;
    if s.partitions.is_empty() {
        return Ok(());
    }
    labelled(
        e,
        "engine_partition_books",
        "Books created by each orders partition's inputs and still here, as the snapshot replica saw them.",
        None,
        MetricType::Gauge,
        "partition",
        s.partitions
            .iter()
            .map(|p| (p.partition.to_string(), gauge(p.books))),
    )?;
    labelled(
        e,
        "engine_partition_resting_orders",
        "Live orders (stops included) in each orders partition's books, as the snapshot replica saw them.",
        None,
        MetricType::Gauge,
        "partition",
        s.partitions
            .iter()
            .map(|p| (p.partition.to_string(), gauge(p.orders))),
    )
}

fn encode_build(e: &mut DescriptorEncoder) -> std::fmt::Result {
    let mut family = e.encode_descriptor(
        "engine_build_info",
        "The running build: always 1, with its version and git revision as labels.",
        None,
        MetricType::Gauge,
    )?;
    let labels = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", REVISION),
    ];
    ConstGauge::new(1i64).encode(family.encode_family(&labels)?)
}

fn encode_flow(e: &mut DescriptorEncoder, s: &MetricsSample) -> std::fmt::Result {
    let named = |pairs: &[(&str, u64)]| -> Vec<(String, ConstCounter<u64>)> {
        pairs
            .iter()
            .map(|(name, n)| ((*name).to_owned(), counter(*n)))
            .collect()
    };
    labelled(
        e,
        "engine_inputs",
        "Inputs taken from the source, by action (malformed: did not decode).",
        None,
        MetricType::Counter,
        "action",
        named(&s.inputs),
    )?;
    single(
        e,
        "engine_ingress_clock_clamped",
        "Inputs whose wall-clock stamp was held at the stamp before, because the clock stepped back.",
        None,
        &counter(s.ingress_clock_clamped),
    )?;
    single(
        e,
        "engine_trades",
        "Trades delivered.",
        None,
        &counter(s.trades),
    )?;
    labelled(
        e,
        "engine_rejects",
        "Rejections delivered, by reason code.",
        None,
        MetricType::Counter,
        "reason",
        named(&s.rejects),
    )?;
    labelled(
        e,
        "engine_outputs",
        "Messages delivered, by topic.",
        None,
        MetricType::Counter,
        "topic",
        named(&s.outputs),
    )?;
    labelled(
        e,
        "engine_sequence",
        "The last input sequence taken (input), held by the journal at the configured \
         durability (journaled), and with every output delivered (delivered).",
        None,
        MetricType::Gauge,
        "stage",
        [
            ("input", s.sequence_input),
            ("journaled", s.sequence_journaled),
            ("delivered", s.sequence_delivered),
        ]
        .map(|(stage, n)| (stage.to_owned(), gauge(n))),
    )?;
    labelled(
        e,
        "engine_ring_occupancy",
        "Slots published and not yet taken by every consumer, now.",
        None,
        MetricType::Gauge,
        "ring",
        s.rings.map(|r| (r.name.to_owned(), gauge(r.occupancy))),
    )?;
    labelled(
        e,
        "engine_ring_occupancy_peak",
        "The most slots a consumer found waiting at the start of a batch, in the last window.",
        None,
        MetricType::Gauge,
        "ring",
        s.rings.map(|r| (r.name.to_owned(), gauge(r.peak))),
    )?;
    labelled(
        e,
        "engine_ring_slots",
        "Each ring's size.",
        None,
        MetricType::Gauge,
        "ring",
        s.rings.map(|r| (r.name.to_owned(), gauge(r.slots))),
    )
}

fn encode_latency(e: &mut DescriptorEncoder, s: &MetricsSample) -> std::fmt::Result {
    let mut family = e.encode_descriptor(
        "engine_latency",
        "From ingress to the matcher's output (matched), to durability in the journal \
         (journaled) and to delivery (delivered): percentiles over the last window, from \
         HdrHistogram; quantile 1 is the maximum. Absent while no input flows.",
        Some(&Unit::Seconds),
        MetricType::Gauge,
    )?;
    for (stage, summary) in &s.latency {
        if summary.count == 0 {
            continue;
        }
        for (quantile, ns) in quantiles(summary) {
            let labels = [("stage", *stage), ("quantile", quantile)];
            seconds(Duration::from_nanos(ns)).encode(family.encode_family(&labels)?)?;
        }
    }
    single(
        e,
        "engine_latency_window",
        "How long each window of percentiles and peaks lasts.",
        Some(&Unit::Seconds),
        &seconds(s.window),
    )
}

/// The exported quantiles of one stage.
fn quantiles(summary: &LatencySummary) -> [(&'static str, u64); 5] {
    [
        ("0.5", summary.p50),
        ("0.99", summary.p99),
        ("0.999", summary.p999),
        ("0.9999", summary.p9999),
        ("1", summary.max),
    ]
}

/// Segment files, their bytes, and the file system's free and total bytes.
fn journal_usage(dir: &std::path::Path) -> (u64, u64, Option<(u64, u64)>) {
    let mut segments = 0;
    let mut bytes = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|x| x == "seg") {
                segments += 1;
                bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
    }
    let space = rustix::fs::statvfs(dir).ok().map(|v| {
        (
            v.f_bavail.saturating_mul(v.f_frsize),
            v.f_blocks.saturating_mul(v.f_frsize),
        )
    });
    (segments, bytes, space)
}

fn encode_journal(
    e: &mut DescriptorEncoder,
    s: &MetricsSample,
    dir: &std::path::Path,
) -> std::fmt::Result {
    let (segments, bytes, space) = journal_usage(dir);
    single(
        e,
        "engine_journal_segments",
        "Journal segment files in the journal directory.",
        None,
        &gauge(segments),
    )?;
    single(
        e,
        "engine_journal_size",
        "Bytes of the journal's segment files (pre-allocated, so a segment counts whole).",
        Some(&Unit::Bytes),
        &gauge(bytes),
    )?;
    if let Some((free, total)) = space {
        single(
            e,
            "engine_journal_disk_free",
            "Bytes free to the engine on the journal's file system.",
            Some(&Unit::Bytes),
            &gauge(free),
        )?;
        single(
            e,
            "engine_journal_disk_size",
            "Bytes in the journal's file system.",
            Some(&Unit::Bytes),
            &gauge(total),
        )?;
    }
    single(
        e,
        "engine_journal_durable_batches",
        "Journal batches timed from their first append until durable, one at a time.",
        None,
        &counter(s.journal_durable_batches),
    )?;
    single(
        e,
        "engine_journal_durable_seconds",
        "Their total time: the sync time, with the appends (rate against the batches for the mean).",
        None,
        &ConstCounter::new(s.journal_durable_total.as_secs_f64()),
    )?;
    single(
        e,
        "engine_journal_durable_max",
        "The longest of them in the last window.",
        Some(&Unit::Seconds),
        &seconds(s.journal_durable_max),
    )
}

fn encode_snapshots(e: &mut DescriptorEncoder, s: &MetricsSample) -> std::fmt::Result {
    single(
        e,
        "engine_snapshots",
        "Snapshots written by this process.",
        None,
        &counter(s.snapshots_written),
    )?;
    single(
        e,
        "engine_snapshot_sequence",
        "The newest snapshot's sequence, written or recovered from.",
        None,
        &gauge(s.snapshot_sequence),
    )?;
    single(
        e,
        "engine_snapshot_write",
        "How long writing the newest snapshot took (on the replica thread).",
        Some(&Unit::Seconds),
        &seconds(s.snapshot_write),
    )?;
    single(
        e,
        "engine_snapshot_stall",
        "The matcher's longest batch in the latest window in which a snapshot was written: \
         the most a snapshot could have held it up (it does no snapshot work itself).",
        Some(&Unit::Seconds),
        &seconds(s.snapshot_stall),
    )?;
    single(
        e,
        "engine_snapshot_replica_lag",
        "How far the snapshot replica was behind what it may apply, in inputs, when it last woke.",
        None,
        &gauge(s.replica_lag),
    )?;
    single(
        e,
        "engine_recovery",
        "How long start-up recovery took.",
        Some(&Unit::Seconds),
        &seconds(s.recovery),
    )?;
    single(
        e,
        "engine_recovery_replayed_records",
        "Journal records replayed at start-up.",
        None,
        &gauge(s.recovery_replayed),
    )
}

/// The `nonvoluntary_ctxt_switches` line of a thread's `/proc` status.
fn involuntary_switches(tid: u64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
}

fn encode_matcher(e: &mut DescriptorEncoder, s: &MetricsSample) -> std::fmt::Result {
    single(
        e,
        "engine_matcher_busy_max",
        "The matcher's longest batch, from taking it off the ring to its last output, in the \
         last window.",
        Some(&Unit::Seconds),
        &seconds(s.matcher_busy_max),
    )?;
    if let Some(switches) = s.matcher_tid.and_then(involuntary_switches) {
        single(
            e,
            "engine_matcher_involuntary_context_switches",
            "Times the kernel took the matcher's core from it (/proc nonvoluntary_ctxt_switches).",
            None,
            &counter(switches),
        )?;
    }
    Ok(())
}

fn encode_kafka(
    e: &mut DescriptorEncoder,
    s: &MetricsSample,
    kafka: &KafkaMetrics,
) -> std::fmt::Result {
    single(
        e,
        "engine_output_batches",
        "Output batches delivered (at most the configured batch size each).",
        None,
        &counter(s.batches),
    )?;
    single(
        e,
        "engine_output_batch_size_max",
        "The largest output batch in the last window, in messages.",
        None,
        &gauge(s.batch_max),
    )?;
    if let Some(sink) = &kafka.sink {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        single(
            e,
            "engine_kafka_delivery_errors",
            "Output messages the brokers refused for good (the engine stops on the first).",
            None,
            &counter(load(&sink.delivery_errors)),
        )?;
        single(
            e,
            "engine_kafka_producer_acknowledged_inputs",
            "Inputs all of whose output messages the brokers acknowledged.",
            None,
            &counter(load(&sink.acknowledged)),
        )?;
        single(
            e,
            "engine_kafka_producer_queue_seconds",
            "Their total time from producing their first message to the last acknowledgement \
             (rate against the acknowledged inputs for the mean).",
            None,
            &ConstCounter::new(load(&sink.queued_ns_total) as f64 / 1e9),
        )?;
        single(
            e,
            "engine_kafka_producer_queue_max",
            "The longest time an input's messages spent from produce to acknowledgement since \
             the previous scrape.",
            Some(&Unit::Seconds),
            &seconds(Duration::from_nanos(
                sink.queued_ns_max.swap(0, Ordering::Relaxed),
            )),
        )?;
    }
    if let Some((probe, client)) = &kafka.source {
        labelled(
            e,
            "engine_kafka_consumer_lag",
            "Messages in the orders topic not yet taken, by partition: the high watermark less \
             the next offset the engine reads.",
            None,
            MetricType::Gauge,
            "partition",
            consumer_lag(probe, client),
        )?;
    }
    Ok(())
}

/// Each assigned partition's lag, asking the brokers for its watermarks.
fn consumer_lag(
    probe: &SourceProbe,
    client: &BaseConsumer<KafkaContext>,
) -> Vec<(String, ConstGauge<i64>)> {
    let mut lags = Vec::new();
    for (partition, next) in probe.next.iter().enumerate() {
        let next = next.load(Ordering::Relaxed);
        if next == UNASSIGNED {
            continue;
        }
        let Ok((low, high)) =
            client.fetch_watermarks(&probe.topic, partition as i32, WATERMARK_TIMEOUT)
        else {
            continue;
        };
        let from = if next == FROM_START {
            low
        } else {
            next.max(low)
        };
        lags.push((partition.to_string(), ConstGauge::new((high - from).max(0))));
    }
    lags
}

/// The running endpoint; dropping it stops the server thread.
pub struct MetricsServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free one) and serves `collector` there.
    pub fn start(addr: SocketAddr, collector: EngineCollector) -> Result<MetricsServer, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("cannot serve metrics on {addr}: not an IP listener"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn({
                let server = Arc::clone(&server);
                let stop = Arc::clone(&stop);
                move || serve(&server, &registry, &stop)
            })
            .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
        Ok(MetricsServer {
            addr,
            server,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, registry: &Registry, stop: &AtomicBool) {
    let content_type = |value: &str| {
        tiny_http::Header::from_bytes(&b"Content-Type"[..], value.as_bytes())
            .unwrap_or_else(|()| unreachable!("a valid header"))
    };
    for request in server.incoming_requests() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let response = match (request.method(), request.url()) {
            (tiny_http::Method::Get, "/metrics") => {
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, registry) {
                    Ok(()) => tiny_http::Response::from_string(body).with_header(content_type(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )),
                    Err(err) => tiny_http::Response::from_string(format!(
                        "cannot encode the metrics: {err}\n"
                    ))
                    .with_status_code(500),
                }
            }
            (tiny_http::Method::Get, "/") => {
                tiny_http::Response::from_string("engine: the metrics are at /metrics\n")
            }
            _ => tiny_http::Response::from_string("not found; the metrics are at /metrics\n")
                .with_status_code(404),
        };
        if let Err(err) = request.respond(response) {
            tracing::debug!(%err, "metrics: a scraper went away mid-response");
        }
    }
}
