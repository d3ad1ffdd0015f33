//! Doing what the settings say: start the embedded broker when no brokers
//! are configured, open the input and the output, serve metrics, run the
//! pipeline until the input ends or a signal arrives, and print the
//! summary. It holds no engine logic and validates nothing more.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use engine::endpoint::OutputSink;
use engine::pipeline::{RunReport, run};
use gateway::file::{FileSink, FileSource};
use gateway::kafka::{
    EmbeddedBroker, EndPolicy, Feeder, KafkaSink, KafkaSource, SinkProbe, SourceProbe,
};
use gateway::metrics::{EngineCollector, KafkaMetrics, MetricsServer};

use crate::settings::{InputSpec, Settings};
use crate::summary::{print_report, print_startup};

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
    let collector = EngineCollector::new(
        Arc::clone(&settings.pipeline.metrics),
        settings.pipeline.journal_dir.clone(),
        KafkaMetrics { sink, source },
    );
    let server = MetricsServer::start(addr, collector).map_err(anyhow::Error::msg)?;
    println!("metrics: http://{}/metrics", server.addr());
    use std::io::Write as _;
    std::io::stdout().flush().context("writing to stdout")?;
    Ok(Some(server))
}
