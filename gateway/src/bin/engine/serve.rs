//! Doing what the settings say: start the embedded broker when no brokers
//! are configured, open the input and the output, serve metrics, run the
//! pipeline until the input ends or a signal arrives, and print the
//! summary. It holds no engine logic and validates nothing more.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use engine::endpoint::{BoxError, OutputSink};
use engine::pipeline::{RunReport, run};
use engine::replicated::{HaConfig, HaOutcome};
use gateway::file::{FileSink, FileSource};
use gateway::kafka::{
    EmbeddedBroker, EndPolicy, Feeder, JournalConsumer, JournalProducer, KafkaSink, KafkaSource,
    SinkProbe, SourceProbe,
};
use gateway::metrics::{EngineCollector, KafkaMetrics, MetricsServer};

use crate::settings::{InputSpec, Settings};
use crate::summary::{print_follow_report, print_report, print_startup};

/// The exit code of a second SIGINT or SIGTERM while draining.
pub const SECOND_SIGNAL_EXIT: i32 = 130;

/// Runs the engine as `settings` say.
pub fn serve(settings: Settings) -> Result<()> {
    print_startup(&settings);
    if let Some(dir) = &settings.demo_dir
        && dir.exists()
    {
        // Each demo starts fresh.
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the demo directory {}", dir.display()))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while draining exits at once; the journal is
        // crash-safe, and the next start recovers.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            SECOND_SIGNAL_EXIT,
            Arc::clone(&stop),
        )
        .context("installing signal handlers")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let uses_kafka = settings.output.is_none() || !matches!(settings.input, InputSpec::File(_));
    // Kept alive until the run ends: dropping it stops the broker.
    let mut embedded = None;
    let bootstrap = match (&settings.kafka.brokers, uses_kafka) {
        (_, false) => String::new(),
        (Some(brokers), true) => brokers.clone(),
        (None, true) => {
            let broker =
                EmbeddedBroker::start(&settings.kafka.topics, settings.kafka.embedded_partitions)
                    .context("cannot start the embedded Kafka broker")?;
            let bootstrap = broker.bootstrap();
            println!("kafka bootstrap: {bootstrap}");
            use std::io::Write as _;
            std::io::stdout().flush().context("writing to stdout")?;
            embedded = Some(broker);
            bootstrap
        }
    };
    let kafka = &settings.kafka;
    let extra = &settings.kafka_properties;
    let journal_dir = &settings.pipeline.journal_dir;
    if let Some(ha) = &settings.replication {
        std::fs::create_dir_all(journal_dir).with_context(|| {
            format!(
                "cannot create the journal directory {}",
                journal_dir.display()
            )
        })?;
        return serve_replicated(&settings, ha, &bootstrap, &stop);
    }
    std::fs::create_dir_all(journal_dir).with_context(|| {
        format!(
            "cannot create the journal directory {}",
            journal_dir.display()
        )
    })?;
    let mut probe = None;
    let report = match &settings.output {
        Some(dir) => {
            let sink = FileSink::open(dir)
                .with_context(|| format!("cannot open the output directory {}", dir.display()))?;
            run_from(&settings, &bootstrap, sink, None, &stop)?
        }
        None => {
            let sink = KafkaSink::new(
                kafka,
                &bootstrap,
                extra,
                &journal_dir.join(gateway::kafka::DELIVERED_FILE),
            )
            .map_err(|e| anyhow::anyhow!("cannot create the Kafka producer: {e}"))?;
            probe = Some(sink.probe());
            run_from(&settings, &bootstrap, sink, probe.clone(), &stop)?
        }
    };
    let max_batch = probe.map(|p| p.max_batch.load(std::sync::atomic::Ordering::Relaxed));
    print_report(&report, max_batch);
    drop(embedded);
    Ok(())
}

/// `engine promote`: asks the leader of `engine_id` to hand over, and
/// waits for its standby's claim.
pub fn promote(
    kafka: &gateway::kafka::KafkaConfig,
    bootstrap: &str,
    cli: &crate::flags::Cli,
    engine_id: &str,
    wait: std::time::Duration,
) -> Result<()> {
    let handover =
        gateway::kafka::request_handover(kafka, bootstrap, &cli.kafka_properties, engine_id, wait)
            .map_err(|e| anyhow::anyhow!("promote {engine_id}: {e}"))?;
    match handover.to_epoch {
        Some(epoch) => {
            println!(
                "engine {engine_id}: epoch {} handed over; epoch {epoch} claimed after {} ms",
                handover.from_epoch,
                handover.took.as_millis()
            );
            Ok(())
        }
        None => anyhow::bail!(
            "engine {engine_id}: asked the leader of epoch {} to hand over, but no standby \
             claimed a newer epoch within {} ms; is a standby running and caught up? (its \
             engine_role metric, docs/ha.md)",
            handover.from_epoch,
            handover.took.as_millis()
        ),
    }
}

/// Runs a replicated engine: follows the journal topic, leads when its
/// role or the leader's silence says so (`engine::replicated`).
fn serve_replicated(
    settings: &Settings,
    ha: &HaConfig,
    bootstrap: &str,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let kafka = &settings.kafka;
    let extra = &settings.kafka_properties;
    let topic = ha.topic();
    let mut producer = JournalProducer::new(kafka, bootstrap, extra, &ha.engine_id)
        .map_err(|e| anyhow::anyhow!("cannot create the journal topic's producer: {e}"))?;
    let mut consumer = JournalConsumer::new(kafka, bootstrap, extra, &ha.engine_id)
        .map_err(|e| anyhow::anyhow!("cannot create the journal topic's consumer: {e}"))?;
    consumer.watermarks().map_err(|e| {
        anyhow::anyhow!(
            "{e}. Check that the brokers at {bootstrap} are reachable; if they are, create the \
             topic: one partition, replication factor 3, min.insync.replicas 2, no unclean \
             leader election (docs/ha.md), e.g. kafka-topics.sh --create --topic {topic} \
             --partitions 1 --replication-factor 3 --config min.insync.replicas=2 --config \
             unclean.leader.election.enable=false"
        )
    })?;
    let mut endpoints = KafkaEndpoints {
        settings,
        bootstrap,
        first: None,
    };
    let (source, sink) = endpoints.create()?;
    let probe = sink.probe();
    let _metrics = start_metrics(
        settings,
        bootstrap,
        Some(probe.clone()),
        Some(source.probe()),
    )?;
    endpoints.first = Some((source, sink));
    let outcome = engine::replicated::run(
        &settings.pipeline,
        ha,
        &mut producer,
        &mut consumer,
        &mut endpoints,
        stop,
    )?;
    match outcome {
        HaOutcome::Led(report) => print_report(
            &report,
            Some(probe.max_batch.load(std::sync::atomic::Ordering::Relaxed)),
        ),
        HaOutcome::Followed(report) => print_follow_report(&report),
    }
    Ok(())
}

/// The Kafka input and output a replicated engine leads with; the first
/// pair is made before it starts, so the metrics can show them.
struct KafkaEndpoints<'a> {
    settings: &'a Settings,
    bootstrap: &'a str,
    first: Option<(KafkaSource, KafkaSink)>,
}

impl KafkaEndpoints<'_> {
    fn create(&self) -> Result<(KafkaSource, KafkaSink)> {
        let settings = self.settings;
        let policy = if settings.exit_at_end {
            EndPolicy::CaughtUp {
                ready: Arc::new(AtomicBool::new(true)),
            }
        } else {
            EndPolicy::Never
        };
        let source = KafkaSource::new(
            &settings.kafka,
            self.bootstrap,
            &settings.kafka_properties,
            policy,
            settings.decoder.clone(),
        )
        .context("cannot create the Kafka consumer")?;
        let sink = KafkaSink::new(
            &settings.kafka,
            self.bootstrap,
            &settings.kafka_properties,
            &settings
                .pipeline
                .journal_dir
                .join(gateway::kafka::DELIVERED_FILE),
        )
        .map_err(|e| anyhow::anyhow!("cannot create the Kafka producer: {e}"))?;
        Ok((source, sink))
    }
}

impl engine::replicated::Endpoints for KafkaEndpoints<'_> {
    type Source = KafkaSource;
    type Sink = KafkaSink;

    fn open(&mut self, delivered: u64) -> Result<(KafkaSource, KafkaSink), BoxError> {
        let (source, mut sink) = match self.first.take() {
            Some(pair) => pair,
            None => self.create().map_err(|e| format!("{e:#}"))?,
        };
        sink.adopt_delivered(delivered)?;
        Ok((source, sink))
    }
}

/// Runs the pipeline from the configured input into `sink`.
fn run_from(
    settings: &Settings,
    bootstrap: &str,
    sink: impl OutputSink,
    sink_probe: Option<SinkProbe>,
    stop: &Arc<AtomicBool>,
) -> Result<RunReport> {
    let kafka = &settings.kafka;
    let extra = &settings.kafka_properties;
    let decoder = settings.decoder.clone();
    let caught_up = |ready: Arc<AtomicBool>| {
        if settings.exit_at_end {
            EndPolicy::CaughtUp { ready }
        } else {
            EndPolicy::Never
        }
    };
    let report = match &settings.input {
        InputSpec::File(path) => {
            let source = FileSource::open(path, !settings.exit_at_end, decoder)
                .with_context(|| format!("cannot open the input {}", path.display()))?;
            let _metrics = start_metrics(settings, bootstrap, sink_probe, None)?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Kafka => {
            let source = KafkaSource::new(
                kafka,
                bootstrap,
                extra,
                caught_up(Arc::new(AtomicBool::new(true))),
                decoder,
            )
            .context("cannot create the Kafka consumer")?;
            let _metrics = start_metrics(settings, bootstrap, sink_probe, Some(source.probe()))?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Demo { rate, orders } => {
            let feeder = Feeder::start(kafka, bootstrap, extra, *rate, *orders, Arc::clone(stop))
                .map_err(|e| anyhow::anyhow!("cannot start the demo feeder: {e}"))?;
            let source = KafkaSource::new(
                kafka,
                bootstrap,
                extra,
                caught_up(feeder.finished()),
                decoder,
            )
            .context("cannot create the Kafka consumer")?;
            let _metrics = start_metrics(settings, bootstrap, sink_probe, Some(source.probe()))?;
            let report = run(&settings.pipeline, source, sink, stop);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let sent = feeder
                .join()
                .map_err(|e| anyhow::anyhow!("demo feeder: {e}"))?;
            eprintln!("demo: the feeder produced {sent} orders");
            report?
        }
    };
    Ok(report)
}

/// Starts the metrics endpoint, if configured, and prints its address.
fn start_metrics(
    settings: &Settings,
    bootstrap: &str,
    sink: Option<SinkProbe>,
    source: Option<SourceProbe>,
) -> Result<Option<MetricsServer>> {
    let Some(addr) = settings.metrics_addr else {
        return Ok(None);
    };
    let source = match source {
        Some(probe) => {
            let client = settings
                .kafka
                .watermark_client(bootstrap, &settings.kafka_properties)
                .context("cannot create the metrics' Kafka client")?;
            Some((probe, client))
        }
        None => None,
    };
    let mut collector = EngineCollector::new(
        Arc::clone(&settings.pipeline.metrics),
        settings.pipeline.journal_dir.clone(),
        KafkaMetrics { sink, source },
    );
    if let Some(ha) = &settings.replication {
        collector = collector.with_engine_id(&ha.engine_id);
    }
    let server = MetricsServer::start(addr, collector).map_err(anyhow::Error::msg)?;
    println!("metrics: http://{}/metrics", server.addr());
    use std::io::Write as _;
    std::io::stdout().flush().context("writing to stdout")?;
    Ok(Some(server))
}
