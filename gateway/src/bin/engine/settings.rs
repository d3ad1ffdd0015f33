//! From flags and the config file to [`Settings`]: every value merged
//! (a flag wins over the file, the file over the default) and checked,
//! before anything runs.
//!
//! This step only reads: the config file, and the host's CPU count and
//! isolated cores, which choose the default core plan and wait mode. It
//! creates, deletes and prints nothing; `serve` does what the settings say.
//! Every error here is a configuration problem, exit code 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use engine::pipeline::{IngressClock, PipelineConfig, PipelineMetrics, RingKind};
use engine::replicated::HaConfig;
use engine::threads::CorePlan;
use gateway::config::{ConfigFile, parse_size};
use gateway::kafka::KafkaConfig;
use gateway::wire::Decoder;
use journal::{Durability, JournalOptions};

use crate::flags::{Cli, DurabilityChoice, parse_durability, parse_duration, parse_role};

/// Where inputs come from.
pub enum InputSpec {
    /// The `orders` topic.
    Kafka,
    /// A JSON-lines file.
    File(PathBuf),
    /// The demo feeder, producing into the `orders` topic.
    Demo {
        /// Orders per second.
        rate: u64,
        /// How many, if not until stopped.
        orders: Option<u64>,
    },
}

/// Everything the flags and the file said, checked, before anything runs.
pub struct Settings {
    pub pipeline: PipelineConfig,
    pub input: InputSpec,
    /// `None` for Kafka.
    pub output: Option<PathBuf>,
    pub decoder: Decoder,
    pub kafka: KafkaConfig,
    pub kafka_properties: Vec<(String, String)>,
    pub exit_at_end: bool,
    /// The demo's scratch directory, to empty before the run.
    pub demo_dir: Option<PathBuf>,
    /// Why spinning was refused, if it was.
    pub wait_note: Option<String>,
    /// Where to serve metrics, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The hot standby's settings, with `durability = "replicated"`.
    pub replication: Option<HaConfig>,
    /// The engine's id, if it has one.
    pub engine_id: Option<String>,
    /// With an engine id and Kafka input: claim the orders partitions in
    /// the assignments topic, with this lease.
    pub ownership_lease: Option<Duration>,
    /// With an ownership lease: how long a move's giver waits for the
    /// commit.
    pub move_timeout: Option<Duration>,
    /// Admin commands from a file, beside a file input.
    pub admin_input: Option<PathBuf>,
}

/// The default ownership lease.
const DEFAULT_LEASE: Duration = Duration::from_secs(6);
/// How long a move's giver waits for the commit, unless told.
const DEFAULT_MOVE_TIMEOUT: Duration = Duration::from_secs(30);

/// A configuration problem: exit code 2, like a bad flag.
#[derive(Debug)]
pub struct ConfigProblem(String);

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigProblem {}

impl ConfigProblem {
    /// A problem described by `text`.
    pub fn new(text: String) -> ConfigProblem {
        ConfigProblem(text)
    }
}

/// Reads the config file, if any, and merges it with the flags.
pub fn settings(cli: Cli) -> Result<Settings> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path).map_err(ConfigProblem)?,
        None => ConfigFile::default(),
    };
    settings_from(cli, file).map_err(|e| ConfigProblem(format!("{e:#}")).into())
}

fn settings_from(cli: Cli, file: ConfigFile) -> Result<Settings> {
    let (rules, decimals) = file.engine_rules().map_err(anyhow::Error::msg)?;
    let price_format = flag_or_file(
        cli.price_format,
        file.price_format.clone(),
        "price_format",
        str::parse,
    )?
    .unwrap_or_default();
    let engine_id = cli.engine_id.clone().or(file.engine_id.clone());
    if let Some(id) = &engine_id {
        check_engine_id(id)?;
    }
    let mut kafka = kafka_settings(&cli, &file)?;
    kafka.engine_id = engine_id.clone();
    if engine_id.is_some() && kafka.subscribe {
        bail!(
            "kafka.subscribe = true is refused with an engine id: the consumer group would move partitions behind the assignments topic's back; list the engine's partitions in kafka.partitions instead (docs/shards.md)"
        );
    }
    let demo_dir = (cli.demo && cli.journal.is_none() && file.journal.is_none())
        .then(|| std::env::temp_dir().join("engine-demo"));
    let journal_dir = cli
        .journal
        .clone()
        .or(file.journal.clone())
        .or_else(|| demo_dir.as_ref().map(|d| d.join("journal")))
        .context(
            "no journal directory: pass --journal DIR (or set journal = \"DIR\" in the config file)",
        )?;
    let (journal, replicated) = journal_options(&cli, &file)?;
    let retention = flag_or_file(
        cli.retention.clone(),
        file.retention.clone(),
        "retention",
        str::parse,
    )?
    .unwrap_or_default();
    let (input, output) = endpoints(&cli, &file)?;
    let admin_input = match cli.admin_input.clone().or(file.admin_input.clone()) {
        None => None,
        Some(spec) => {
            let Some(path) = spec.strip_prefix("file:").filter(|p| !p.is_empty()) else {
                bail!("--admin-input {spec:?}: write file:PATH");
            };
            if !matches!(input, InputSpec::File(_)) {
                bail!(
                    "--admin-input file:... goes with --input file:...; with Kafka input, admin \
                     commands come from the admin topic"
                );
            }
            Some(PathBuf::from(path))
        }
    };
    let lease = flag_or_file(
        cli.ownership_lease,
        file.ownership_lease.clone(),
        "ownership_lease",
        parse_duration,
    )?;
    let owns_partitions = engine_id.is_some() && !matches!(input, InputSpec::File(_));
    if lease.is_some() && !owns_partitions {
        bail!(
            "--ownership-lease / ownership_lease applies to an engine with --engine-id that reads Kafka; add --engine-id ID, or drop it"
        );
    }
    let ownership_lease = owns_partitions.then(|| lease.unwrap_or(DEFAULT_LEASE));
    let move_timeout = flag_or_file(
        cli.move_timeout,
        file.move_timeout.clone(),
        "move_timeout",
        parse_duration,
    )?;
    if move_timeout.is_some() && !owns_partitions {
        bail!(
            "--move-timeout / move_timeout applies to an engine with --engine-id that reads Kafka; add --engine-id ID, or drop it"
        );
    }
    let move_timeout = owns_partitions.then(|| move_timeout.unwrap_or(DEFAULT_MOVE_TIMEOUT));
    if ownership_lease.is_some_and(|lease| lease < Duration::from_millis(300)) {
        bail!("ownership_lease must be at least 300ms, e.g. \"6s\"");
    }
    let threads = thread_settings(&cli, &file)?;
    let metrics_addr = flag_or_file(
        cli.metrics_addr.clone(),
        file.metrics_addr.clone(),
        "metrics_addr",
        |text| Ok(text.to_owned()),
    )?
    .or_else(|| cli.demo.then(|| "127.0.0.1:0".to_owned()))
    .map(|text| parse_listen_addr(&text))
    .transpose()?;

    let mut pipeline = PipelineConfig::new(journal_dir, rules);
    pipeline.journal = journal;
    pipeline.retention = retention;
    pipeline.cores = threads.cores;
    pipeline.wait = threads.wait;
    pipeline.ring = RingKind::Disruptor;
    let snapshot_every = cli
        .snapshot_every
        .or(file.snapshot_every)
        .unwrap_or(1_000_000);
    pipeline.snapshot_every = (snapshot_every > 0).then_some(snapshot_every);
    pipeline.stats_interval = flag_or_file(
        cli.stats_interval,
        file.stats_interval.clone(),
        "stats_interval",
        parse_duration,
    )?
    .or_else(|| cli.demo.then_some(Duration::from_secs(1)));
    pipeline.clock = flag_or_file(cli.clock, file.clock.clone(), "clock", str::parse)?
        .unwrap_or(IngressClock::Wall);
    pipeline.batch_size = kafka.batch_size;
    let metrics_window = flag_or_file(
        cli.metrics_window,
        file.metrics_window.clone(),
        "metrics_window",
        parse_duration,
    )?
    .unwrap_or(Duration::from_secs(5));
    pipeline.metrics = Arc::new(PipelineMetrics::new(metrics_window));
    pipeline.book_symbols = cli
        .book_symbols
        .or(file.book_symbols)
        .unwrap_or(if metrics_addr.is_some() { 10 } else { 0 });
    let replication = if replicated {
        let ha = ha_settings(&cli, &file, pipeline.journal.durability_mode())?;
        if kafka.brokers.is_none() {
            bail!(
                "durability = \"replicated\" needs real brokers (--brokers, or brokers in \
                 [kafka]): the journal topic must outlive this process, and the embedded \
                 broker dies with it"
            );
        }
        if !matches!(input, InputSpec::Kafka) || output.is_some() {
            bail!(
                "durability = \"replicated\" needs Kafka for input and output (the journal \
                 topic, and outputs a standby can re-send); drop --input/--output file:..."
            );
        }
        pipeline.snapshot_share = cli.snapshot_share.clone().or(file.snapshot_share.clone());
        Some(ha)
    } else {
        let standby_only = [
            ("--role / role", cli.role.is_some() || file.role.is_some()),
            (
                "--heartbeat-interval / heartbeat_interval",
                cli.heartbeat_interval.is_some() || file.heartbeat_interval.is_some(),
            ),
            (
                "--failover-timeout / failover_timeout",
                cli.failover_timeout.is_some() || file.failover_timeout.is_some(),
            ),
            (
                "--snapshot-share / snapshot_share",
                cli.snapshot_share.is_some() || file.snapshot_share.is_some(),
            ),
        ];
        if let Some((name, _)) = standby_only.iter().find(|(_, given)| *given) {
            bail!(
                "{name} applies to a replicated engine only: add --durability replicated \
                 (docs/ha.md), or drop it"
            );
        }
        None
    };
    pipeline.check()?;
    Ok(Settings {
        pipeline,
        input,
        output,
        decoder: Decoder::new(price_format, decimals),
        kafka,
        kafka_properties: cli.kafka_properties,
        exit_at_end: cli.exit_at_end || file.exit_at_end.unwrap_or(false),
        demo_dir,
        wait_note: threads.wait_note,
        metrics_addr,
        replication,
        engine_id,
        ownership_lease,
        move_timeout,
        admin_input,
    })
}

/// An engine id names Kafka topics and clients: letters, digits, `.`, `_`
/// and `-` only.
fn check_engine_id(engine_id: &str) -> Result<()> {
    if engine_id.is_empty()
        || engine_id.len() > 32
        || !engine_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        bail!(
            "engine id {engine_id:?}: use 1 to 32 letters, digits, '.', '_' and '-' (it names Kafka topics and clients)"
        );
    }
    Ok(())
}

/// The standby's settings: engine id, role and timings, checked.
fn ha_settings(cli: &Cli, file: &ConfigFile, local: Durability) -> Result<HaConfig> {
    let engine_id = cli.engine_id.clone().or(file.engine_id.clone()).context(
        "durability = \"replicated\" needs an engine id: pass --engine-id ID (or set \
             engine_id = \"ID\" in the config file); the journal topic is journal.<ID>",
    )?;
    let mut ha = HaConfig::new(engine_id);
    ha.local_durability = local;
    ha.role = flag_or_file(cli.role, file.role.clone(), "role", parse_role)?.unwrap_or_default();
    if let Some(every) = flag_or_file(
        cli.heartbeat_interval,
        file.heartbeat_interval.clone(),
        "heartbeat_interval",
        parse_duration,
    )? {
        ha.heartbeat_interval = every;
    }
    if let Some(timeout) = flag_or_file(
        cli.failover_timeout,
        file.failover_timeout.clone(),
        "failover_timeout",
        parse_duration,
    )? {
        ha.failover_timeout = timeout;
    }
    if ha.heartbeat_interval.is_zero() || ha.failover_timeout < ha.heartbeat_interval * 3 {
        bail!(
            "failover_timeout ({:?}) must be at least three heartbeat intervals ({:?}), or a \
             live leader would look dead between two heartbeats; e.g. heartbeat_interval = \
             \"100ms\", failover_timeout = \"500ms\"",
            ha.failover_timeout,
            ha.heartbeat_interval
        );
    }
    Ok(ha)
}

/// For an operator command: the `[kafka]` table with `--brokers` over it,
/// and the bootstrap servers, which it must have.
pub fn kafka_only(cli: &Cli) -> Result<(KafkaConfig, String)> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path).map_err(ConfigProblem)?,
        None => ConfigFile::default(),
    };
    let kafka = kafka_settings(cli, &file).map_err(|e| ConfigProblem(format!("{e:#}")))?;
    let bootstrap = kafka.brokers.clone().ok_or_else(|| {
        ConfigProblem(
            "no brokers: pass --brokers HOST:PORT (or set [kafka] brokers in --config FILE)".into(),
        )
    })?;
    Ok((kafka, bootstrap))
}

/// The `[kafka]` table with `--brokers` over it, checked, signed in.
fn kafka_settings(cli: &Cli, file: &ConfigFile) -> Result<KafkaConfig> {
    let mut kafka = file.kafka.clone().unwrap_or_default();
    if let Some(brokers) = &cli.brokers {
        kafka.brokers = Some(brokers.clone());
    }
    kafka
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (in the config file's [kafka] table)"))?;
    kafka.sign_in().map_err(anyhow::Error::msg)?;
    Ok(kafka)
}

/// Durability and segment size, and whether the journal is replicated (the
/// local durability under it is then `local_durability`). The demo
/// defaults to `none`: it shows the pipeline's own latency, and `batch`
/// adds the disk's data-sync time to every output.
fn journal_options(cli: &Cli, file: &ConfigFile) -> Result<(JournalOptions, bool)> {
    let choice = flag_or_file(
        cli.durability,
        file.durability.clone(),
        "durability",
        parse_durability,
    )?;
    let local = flag_or_file(
        cli.local_durability,
        file.local_durability.clone(),
        "local_durability",
        str::parse,
    )?;
    let durability = match choice {
        Some(DurabilityChoice::Local(durability)) => {
            if local.is_some() {
                bail!(
                    "local_durability applies under durability = \"replicated\" only; with \
                     a local durability, set just durability"
                );
            }
            durability
        }
        Some(DurabilityChoice::Replicated) => local.unwrap_or(Durability::Batch),
        None if cli.demo => Durability::None,
        None => Durability::Batch,
    };
    let replicated = choice == Some(DurabilityChoice::Replicated);
    let mut journal = JournalOptions::new().durability(durability);
    if let Some(bytes) = flag_or_file(
        cli.segment_size,
        file.segment_size.clone(),
        "segment_size",
        parse_size,
    )? {
        journal = journal.segment_size(bytes);
    }
    journal
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (--segment-size / segment_size)"))?;
    Ok((journal, replicated))
}

/// Where inputs come from and where outputs go (`None`: Kafka).
fn endpoints(cli: &Cli, file: &ConfigFile) -> Result<(InputSpec, Option<PathBuf>)> {
    let input = if cli.demo {
        InputSpec::Demo {
            rate: cli.demo_rate,
            orders: cli.demo_orders,
        }
    } else {
        match cli.input.clone().or(file.input.clone()) {
            None => InputSpec::Kafka,
            Some(spec) => match parse_endpoint(&spec, "input")? {
                None => InputSpec::Kafka,
                Some(path) => InputSpec::File(path),
            },
        }
    };
    let output = match cli.output.clone().or(file.output.clone()) {
        Some(spec) => parse_endpoint(&spec, "output")?,
        None => None,
    };
    Ok((input, output))
}

/// The core plan and wait mode, with the reason spinning was refused.
struct ThreadSettings {
    cores: CorePlan,
    wait: engine::threads::WaitMode,
    wait_note: Option<String>,
}

/// Cores per thread (checked against this host's) and how idle threads
/// wait: unasked, they spin only on isolated cores of their own.
fn thread_settings(cli: &Cli, file: &ConfigFile) -> Result<ThreadSettings> {
    let available = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    let cores = flag_or_file(cli.cores, file.cores.clone(), "cores", str::parse)?
        .unwrap_or_else(|| CorePlan::for_host(available));
    for (thread, core) in cores.entries() {
        if let Some(core) = core
            && core >= available
        {
            bail!(
                "--cores puts {thread} on core {core}, but this host has cores 0..{}",
                available - 1
            );
        }
    }
    let asked_wait = flag_or_file(cli.wait, file.wait.clone(), "wait", str::parse)?;
    let (wait, wait_note) =
        cores.choose_wait(asked_wait, available, &tuning::Host::real().isolated());
    Ok(ThreadSettings {
        cores,
        wait,
        wait_note,
    })
}

/// The flag's value if given, else the config file's text parsed, else
/// `None`: flags override the file.
fn flag_or_file<T>(
    flag: Option<T>,
    text: Option<String>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>> {
    match (flag, text) {
        (Some(value), _) => Ok(Some(value)),
        (None, Some(text)) => parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key} in the config file: {e}")),
        (None, None) => Ok(None),
    }
}

/// `kafka` or `file:PATH`: `None` for Kafka, else the path.
fn parse_endpoint(spec: &str, what: &str) -> Result<Option<PathBuf>> {
    match spec.split_once(':') {
        None if spec == "kafka" => Ok(None),
        Some(("file", path)) if !path.is_empty() => Ok(Some(PathBuf::from(path))),
        _ => bail!("--{what} {spec:?} is not supported; use kafka or file:PATH"),
    }
}

/// `HOST:PORT` with an IP host, or `localhost:PORT`.
fn parse_listen_addr(text: &str) -> Result<SocketAddr> {
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("metrics_addr {text:?}: the port is not a number"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "metrics_addr {text:?} is not HOST:PORT; write e.g. 127.0.0.1:9464, or 0.0.0.0:9464 to let Prometheus on another host scrape it"
        )
    })
}
