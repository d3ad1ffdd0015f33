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
    Ownership, SinkProbe, SourceProbe,
};
use gateway::metrics::{EngineCollector, KafkaMetrics, MetricsServer};

use crate::settings::{InputSpec, Settings};
use crate::summary::{print_follow_report, print_report, print_startup};

/// The exit code of a second SIGINT or SIGTERM while draining.
pub const SECOND_SIGNAL_EXIT: i32 = 130;

/// Runs the engine as `settings` say.
pub fn serve(mut settings: Settings) -> Result<()> {
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
    let journal_dir = settings.pipeline.journal_dir.clone();
    let journal_dir = &journal_dir;
    std::fs::create_dir_all(journal_dir).with_context(|| {
        format!(
            "cannot create the journal directory {}",
            journal_dir.display()
        )
    })?;
    if let Some(id) = &settings.engine_id {
        bind_journal_to(journal_dir, id)?;
    }
    // Held for the run: dropping it stops renewing the lease.
    let _lease = match (&settings.engine_id, settings.ownership_lease) {
        (Some(id), Some(lease)) => {
            let (renewal, partitions) = claim_partitions(&settings, &bootstrap, id, lease)?;
            // Moves may have changed what this engine reads.
            settings.kafka.partitions = Some(partitions);
            Some(renewal)
        }
        _ => None,
    };
    if let Some(ha) = &settings.replication {
        return serve_replicated(&settings, ha, &bootstrap, &stop);
    }
    // An engine that owns partitions can give and take them (moves).
    let (mut mover, mut source_link, mut sink_link) = (None, None, None);
    if let (Some(id), Some(lease), Some(timeout), InputSpec::Kafka, None) = (
        &settings.engine_id,
        settings.ownership_lease,
        settings.move_timeout,
        &settings.input,
        &settings.output,
    ) {
        let (started, links) = gateway::kafka::Mover::start(
            &settings.kafka,
            &bootstrap,
            &settings.kafka_properties,
            id,
            lease,
            timeout,
            Arc::clone(&settings.pipeline.metrics),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the mover: {e}"))?;
        settings.pipeline.exports = Some(links.exports);
        (mover, source_link, sink_link) = (Some(started), Some(links.source), Some(links.sink));
    }
    let mut probe = None;
    let report = match &settings.output {
        Some(dir) => {
            let sink = FileSink::open(dir)
                .with_context(|| format!("cannot open the output directory {}", dir.display()))?
                .with_engine_id(settings.engine_id.clone());
            run_from(&settings, &bootstrap, sink, None, None, &stop)?
        }
        None => {
            let mut sink = KafkaSink::new(
                &settings.kafka,
                &bootstrap,
                &settings.kafka_properties,
                &journal_dir.join(gateway::kafka::DELIVERED_FILE),
            )
            .map_err(|e| anyhow::anyhow!("cannot create the Kafka producer: {e}"))?;
            if let Some(link) = sink_link {
                sink = sink.with_moves(link);
            }
            probe = Some(sink.probe());
            run_from(
                &settings,
                &bootstrap,
                sink,
                probe.clone(),
                source_link,
                &stop,
            )?
        }
    };
    drop(mover);
    let max_batch = probe.map(|p| p.max_batch.load(std::sync::atomic::Ordering::Relaxed));
    print_report(&report, max_batch);
    drop(embedded);
    Ok(())
}

/// Records `engine_id` in a new journal directory, and refuses one that
/// belongs to another engine: its sequence, delivered mark and source
/// positions are that engine's.
fn bind_journal_to(journal_dir: &std::path::Path, engine_id: &str) -> Result<()> {
    let path = journal_dir.join(gateway::config::ENGINE_ID_FILE);
    match gateway::config::journal_engine_id(journal_dir) {
        Ok(Some(found)) if found == engine_id => Ok(()),
        Ok(Some(found)) => Err(crate::settings::ConfigProblem::new(format!(
            "the journal {} belongs to engine {:?} ({}), not {engine_id:?}; give each engine a journal directory of its own",
            journal_dir.display(),
            found,
            path.display()
        ))
        .into()),
        Ok(None) => std::fs::write(&path, format!("{engine_id}\n"))
            .with_context(|| format!("cannot write {}", path.display())),
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
    }
}

/// Claims this engine's orders partitions in the assignments topic and
/// keeps its lease alive until the returned handle is dropped; returns it
/// and the partitions to read, moves included.
fn claim_partitions(
    settings: &Settings,
    bootstrap: &str,
    engine_id: &str,
    lease: std::time::Duration,
) -> Result<(gateway::kafka::ownership::LeaseRenewal, Vec<i32>)> {
    let kafka = &settings.kafka;
    let ownership = Ownership::new(
        kafka,
        bootstrap,
        &settings.kafka_properties,
        engine_id,
        lease,
    )
    .map_err(|e| anyhow::anyhow!("cannot create the assignments clients: {e}"))?;
    let partitions = match &kafka.partitions {
        Some(partitions) => partitions.clone(),
        None => ownership
            .partitions_of(&kafka.topics.orders)
            .map_err(anyhow::Error::new)?,
    };
    let claimed = ownership.claim(&partitions).map_err(anyhow::Error::new)?;
    tracing::info!(
        engine_id,
        partitions = ?claimed.partitions,
        new_claims = claimed.new_claims,
        "owns its orders partitions"
    );
    let reading: Vec<i32> = claimed.partitions.iter().map(|&(p, _)| p).collect();
    Ok((ownership.keep_alive(reading.clone()), reading))
}

/// What `engine admin` was asked to do.
pub struct AdminRequest {
    /// The command.
    pub action: crate::flags::AdminVerb,
    /// Only this engine, if given.
    pub engine_id: Option<String>,
    /// The request id, if given.
    pub request_id: Option<String>,
    /// How long to wait for answers.
    pub wait: std::time::Duration,
    /// JSON lines instead of a table.
    pub json: bool,
}

/// `engine admin`: sends one admin command and prints the engines'
/// answers. Exit 0 when one applied it and the others applied it too or
/// do not have the symbol; 1 otherwise.
pub fn admin(
    kafka: &gateway::kafka::KafkaConfig,
    bootstrap: &str,
    cli: &crate::flags::Cli,
    request: &AdminRequest,
) -> Result<()> {
    use crate::flags::AdminVerb;
    use crate::settings::ConfigProblem;
    use engine::{AdminAction, AdminCommand, OrderId, Symbol, UserId};
    let bad = |e: engine::IdError| anyhow::Error::new(ConfigProblem::new(e.to_string()));
    let symbol = |s: &str| Symbol::new(s).map_err(bad);
    let action = match &request.action {
        AdminVerb::Halt { symbol: s } => AdminAction::Halt { symbol: symbol(s)? },
        AdminVerb::Resume { symbol: s } => AdminAction::Resume { symbol: symbol(s)? },
        AdminVerb::MassCancel { user, symbol: s } => {
            if user.is_none() && s.is_none() {
                return Err(ConfigProblem::new(
                    "mass-cancel needs --user USER, --symbol SYMBOL or both".into(),
                )
                .into());
            }
            AdminAction::MassCancel {
                symbol: s.as_deref().map(symbol).transpose()?,
                user_id: user.as_deref().map(UserId::new).transpose().map_err(bad)?,
            }
        }
        AdminVerb::SetReferencePrice { symbol: s, price } => AdminAction::SetReferencePrice {
            symbol: symbol(s)?,
            price: *price,
        },
        AdminVerb::Move { partition, to } => {
            if *partition < 0 {
                return Err(ConfigProblem::new(format!(
                    "--partition {partition}: write a partition number, 0 or more"
                ))
                .into());
            }
            if request.engine_id.is_some() {
                return Err(ConfigProblem::new(
                    "move goes to the partition's owner, which it finds itself; drop --engine-id"
                        .into(),
                )
                .into());
            }
            AdminAction::Release {
                partition: *partition,
                to: engine::EngineId::new(to).map_err(bad)?,
                after_offset: -1,
            }
        }
    };
    let request_id = match &request.request_id {
        Some(id) => OrderId::new(id).map_err(bad)?,
        None => OrderId::new(&format!(
            "adm-{}-{}",
            engine::endpoint::now_ns() / 1_000_000,
            std::process::id()
        ))
        .map_err(bad)?,
    };
    let command = AdminCommand {
        ts: 0,
        request_id,
        action,
    };
    if let AdminAction::Release { partition, to, .. } = action {
        return move_partition(kafka, bootstrap, cli, request, &command, partition, to);
    }
    let outcome = gateway::kafka::admin::send_admin(
        kafka,
        bootstrap,
        &cli.kafka_properties,
        &command,
        request.engine_id.as_deref(),
        request.wait,
    )
    .map_err(|e| anyhow::anyhow!("admin {}: {e}", action.as_str()))?;
    if request.json {
        for answer in &outcome.answers {
            println!("{}", answer.message);
        }
    } else {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header(["ENGINE", "STATUS", "CANCELLED", "REASON", "DETAIL"]);
        for answer in &outcome.answers {
            let m = &answer.message;
            table.add_row([
                if answer.engine_id.is_empty() {
                    "-"
                } else {
                    &answer.engine_id
                }
                .to_owned(),
                answer.status().to_owned(),
                m["cancelled"]
                    .as_u64()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                answer.reason().unwrap_or_default().to_owned(),
                m["detail"].as_str().unwrap_or_default().to_owned(),
            ]);
        }
        println!("{} request {request_id}", action.as_str());
        println!("{table}");
    }
    let silent: Vec<&String> = outcome
        .expected
        .iter()
        .filter(|id| !outcome.answers.iter().any(|a| &a.engine_id == *id))
        .collect();
    let applied = outcome.answers.iter().any(|a| a.status() == "APPLIED");
    let refused = outcome
        .answers
        .iter()
        .any(|a| a.status() != "APPLIED" && a.reason() != Some("UNKNOWN_SYMBOL"));
    if !silent.is_empty() {
        anyhow::bail!(
            "no answer within {} ms from {silent:?}; is it running and reading the {} topic?",
            request.wait.as_millis(),
            kafka.topics.admin
        );
    }
    if !applied || refused {
        anyhow::bail!(
            "{} was not applied (see the answers above)",
            action.as_str()
        );
    }
    Ok(())
}

/// `engine admin move`: the owner's answer, then the verdict.
fn move_partition(
    kafka: &gateway::kafka::KafkaConfig,
    bootstrap: &str,
    cli: &crate::flags::Cli,
    request: &AdminRequest,
    command: &engine::AdminCommand,
    partition: i32,
    to: engine::EngineId,
) -> Result<()> {
    let outcome = gateway::kafka::admin::move_partition(
        kafka,
        bootstrap,
        &cli.kafka_properties,
        command,
        request.wait,
    )
    .map_err(|e| anyhow::anyhow!("admin MOVE: {e}"))?;
    let verdict = match outcome.verdict {
        Some(true) => "MOVED",
        Some(false) => "ROLLED_BACK",
        None => "UNDECIDED",
    };
    if request.json {
        if let Some(answer) = &outcome.answer {
            println!("{}", answer.message);
        }
        println!(
            "{}",
            serde_json::json!({
                "move_id": command.request_id.as_str(), "partition": partition,
                "from": outcome.from, "to": to.as_str(), "verdict": verdict,
                "took_ms": outcome.took.as_millis() as u64,
            })
        );
    } else {
        let answer = outcome.answer.as_ref();
        println!(
            "MOVE request {} of partition {partition}: {} -> {}",
            command.request_id,
            outcome.from,
            to.as_str()
        );
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header(["ENGINE", "STATUS", "AFTER_OFFSET", "REASON", "DETAIL"]);
        table.add_row([
            outcome.from.clone(),
            answer.map_or("-", |a| a.status()).to_owned(),
            answer
                .and_then(|a| a.message["after_offset"].as_i64())
                .map(|n| n.to_string())
                .unwrap_or_default(),
            answer
                .and_then(|a| a.reason())
                .unwrap_or_default()
                .to_owned(),
            answer
                .and_then(|a| a.message["detail"].as_str())
                .unwrap_or_default()
                .to_owned(),
        ]);
        println!("{table}");
        println!("verdict: {verdict} after {} ms", outcome.took.as_millis());
    }
    match outcome.verdict {
        Some(true) => Ok(()),
        Some(false) => anyhow::bail!("the move was rolled back (the engines' logs say why)"),
        None if outcome.answer.is_none() => anyhow::bail!(
            "no answer from {} within {} ms; is it running and reading the {} topic?",
            outcome.from,
            request.wait.as_millis(),
            kafka.topics.admin
        ),
        None => anyhow::bail!(
            "MOVE was not decided within {} ms (see the answer above); it may still complete",
            request.wait.as_millis()
        ),
    }
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
    // The mover starts when this engine leads: a standby moves nothing.
    // The pipeline's hook forwards to it once it runs.
    let mover_exports: Arc<std::sync::Mutex<Option<engine::pipeline::Exports>>> = Arc::default();
    let mut pipeline = settings.pipeline.clone();
    if settings.move_timeout.is_some() {
        let slot = Arc::clone(&mover_exports);
        pipeline.exports = Some(engine::pipeline::Exports(Arc::new(move |export| {
            if let Ok(slot) = slot.lock()
                && let Some(exports) = slot.as_ref()
            {
                (exports.0)(export);
            }
        })));
    }
    let mut endpoints = KafkaEndpoints {
        settings,
        bootstrap,
        first: None,
        mover: None,
        mover_exports,
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
        &pipeline,
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
    /// Started when the engine first leads, if it takes part in moves.
    mover: Option<gateway::kafka::Mover>,
    /// Where the pipeline's export hook finds the mover.
    mover_exports: Arc<std::sync::Mutex<Option<engine::pipeline::Exports>>>,
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
        let (mut source, mut sink) = match self.first.take() {
            Some(pair) => pair,
            None => self.create().map_err(|e| format!("{e:#}"))?,
        };
        sink.adopt_delivered(delivered)?;
        let settings = self.settings;
        if let (Some(id), Some(lease), Some(timeout), None) = (
            &settings.engine_id,
            settings.ownership_lease,
            settings.move_timeout,
            &self.mover,
        ) {
            let (mover, links) = gateway::kafka::Mover::start(
                &settings.kafka,
                self.bootstrap,
                &settings.kafka_properties,
                id,
                lease,
                timeout,
                Arc::clone(&settings.pipeline.metrics),
            )?;
            if let Ok(mut slot) = self.mover_exports.lock() {
                *slot = Some(links.exports);
            }
            source = source.with_moves(links.source);
            sink = sink.with_moves(links.sink);
            self.mover = Some(mover);
        }
        Ok((source, sink))
    }
}

/// Runs the pipeline from the configured input into `sink`; a Kafka input
/// takes part in moves through `moves`, when given.
fn run_from(
    settings: &Settings,
    bootstrap: &str,
    sink: impl OutputSink,
    sink_probe: Option<SinkProbe>,
    moves: Option<gateway::kafka::moves::SourceLink>,
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
            let mut source = FileSource::open(path, !settings.exit_at_end, decoder)
                .with_context(|| format!("cannot open the input {}", path.display()))?;
            if let Some(admin) = &settings.admin_input {
                source = source
                    .with_admin(admin, settings.engine_id.clone())
                    .with_context(|| format!("cannot open the admin input {}", admin.display()))?;
            }
            let _metrics = start_metrics(settings, bootstrap, sink_probe, None)?;
            run(&settings.pipeline, source, sink, stop)?
        }
        InputSpec::Kafka => {
            let mut source = KafkaSource::new(
                kafka,
                bootstrap,
                extra,
                caught_up(Arc::new(AtomicBool::new(true))),
                decoder,
            )
            .context("cannot create the Kafka consumer")?;
            if let Some(link) = moves {
                source = source.with_moves(link);
            }
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
    if let Some(id) = &settings.engine_id {
        collector = collector.with_engine_id(id);
    }
    let server = MetricsServer::start(addr, collector).map_err(anyhow::Error::msg)?;
    println!("metrics: http://{}/metrics", server.addr());
    use std::io::Write as _;
    std::io::stdout().flush().context("writing to stdout")?;
    Ok(Some(server))
}
