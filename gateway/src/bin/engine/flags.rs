//! The `engine` binary's flags: one `clap` definition per flag, with its
//! help text and value parser. Nothing here reads the config file or
//! checks one flag against another; `settings` does.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use engine::pipeline::{IngressClock, Retention};
use engine::replicated::Role;
use engine::threads::{CorePlan, WaitMode};
use gateway::config::parse_size;
use gateway::wire::PriceFormat;
use journal::Durability;

use crate::EXIT_CODES;

/// The matching engine server: it journals every order, matches on one
/// pinned thread, and sends results in batches.
#[derive(Parser, Debug)]
#[command(
    name = "engine",
    version,
    long_about = "The matching engine server: it reads orders (JSON, from Kafka or a file), \
                  journals every input, matches them on one pinned thread, and sends fills, \
                  trades, depth and order status back in batches, never before their input is \
                  journaled. On start it recovers from its journal.\n\n\
                  Try it:        engine --demo   (an embedded broker and a generated order flow)\n\
                  On a broker:   engine --journal DIR --brokers HOST:PORT\n\
                  In production: engine --config engine.toml\n\
                  On files:      engine --journal DIR --input file:orders.jsonl --output file:out --exit-at-end",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// TOML configuration file; flags override its values.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Journal directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,
    /// How durable a journaled input must be before its outputs leave:
    /// on this host (none, batch, sync), or also agreed by the journal
    /// topic that a standby follows (replicated; see --local-durability).
    #[arg(long, value_name = "none|batch|sync|replicated", value_parser = parse_durability)]
    pub durability: Option<DurabilityChoice>,
    /// With --durability replicated: the local journal's own durability
    /// [default: batch].
    #[arg(long, value_name = "none|batch|sync")]
    pub local_durability: Option<Durability>,
    /// With --durability replicated: lead (primary, the default), or follow
    /// and take over when the leader falls silent (standby).
    #[arg(long, value_name = "primary|standby", value_parser = parse_role)]
    pub role: Option<Role>,
    /// The engine (shard) this journal belongs to. It names the engine in
    /// its outputs, metrics and Kafka client id, claims its orders
    /// partitions in the assignments topic, and with --durability
    /// replicated names its journal topic, journal.<ID>.
    #[arg(long, value_name = "ID")]
    pub engine_id: Option<String>,
    /// With --engine-id and Kafka input: how long an engine that stops
    /// renewing its ownership lease still owns its partitions [default: 6s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ownership_lease: Option<Duration>,
    /// With --engine-id and Kafka input: how long an engine that gives a
    /// partition away waits for the taker's commit before it rolls the
    /// move back [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub move_timeout: Option<Duration>,
    /// Operators' admin commands from a JSON-lines file (file:PATH), read
    /// beside --input file:...; orders files never carry admin commands.
    #[arg(long, value_name = "file:PATH")]
    pub admin_input: Option<String>,
    /// With --durability replicated: how often an idle leader writes a
    /// heartbeat [default: 100ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub heartbeat_interval: Option<Duration>,
    /// With --durability replicated: how long a standby waits without a
    /// record or heartbeat before it takes over [default: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub failover_timeout: Option<Duration>,
    /// With --durability replicated: a directory the shard's engines share;
    /// snapshots are copied there, and a standby with an empty journal
    /// starts from the newest.
    #[arg(long, value_name = "DIR")]
    pub snapshot_share: Option<PathBuf>,
    /// Bytes per journal segment file, e.g. 64MiB [default: 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub segment_size: Option<u64>,
    /// What happens to journal segments once a snapshot covers them and
    /// their outputs are delivered: keep, delete or archive:DIR
    /// [default: keep].
    #[arg(long, value_name = "keep|delete|archive:DIR")]
    pub retention: Option<Retention>,
    /// Where orders come from: kafka (the default) or file:PATH (JSON lines).
    #[arg(long, value_name = "kafka|file:PATH")]
    pub input: Option<String>,
    /// Where results go: kafka (the default) or file:DIR (one JSON-lines
    /// file per topic).
    #[arg(long, value_name = "kafka|file:DIR")]
    pub output: Option<String>,
    /// How prices are written in orders: ticks (integers, the default) or
    /// decimal (currency units, scaled by each symbol's price_decimals).
    #[arg(long, value_name = "ticks|decimal")]
    pub price_format: Option<PriceFormat>,
    /// Kafka bootstrap servers. Without them (here or in the config file)
    /// the engine starts an embedded in-memory broker and prints its address.
    #[arg(long, value_name = "HOST:PORT,...", global = true)]
    pub brokers: Option<String>,
    /// A librdkafka property for every Kafka client, e.g.
    /// -X statistics.interval.ms=1000; overrides the config file.
    #[arg(short = 'X', long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property, global = true)]
    pub kafka_properties: Vec<(String, String)>,
    /// Drain, snapshot and exit 0 when the input is exhausted (for Kafka:
    /// consumed to the end of every partition), instead of waiting for more.
    #[arg(long)]
    pub exit_at_end: bool,
    /// Cores per thread, e.g. ingress=1,journal=2,matcher=3,egress=4.
    #[arg(long, value_name = "THREAD=CORE,...")]
    pub cores: Option<CorePlan>,
    /// Snapshot every N sequences (0 = only at exit).
    #[arg(long, value_name = "N")]
    pub snapshot_every: Option<u64>,
    /// Print a statistics line this often, e.g. 1s or 500ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stats_interval: Option<Duration>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (off unless
    /// given; --demo serves them on a free loopback port). Port 0 picks a
    /// free one; the address is printed.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Latency percentiles and peaks in the metrics cover windows this
    /// long; match the Prometheus scrape interval [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub metrics_window: Option<Duration>,
    /// Book gauges (resting orders, best bid and ask) for this many of the
    /// busiest symbols in the metrics; 0 for none [default: 10 when metrics
    /// are served]. The snapshot replica computes them, following the
    /// journal all the time while this is above 0.
    #[arg(long, value_name = "N")]
    pub book_symbols: Option<usize>,
    /// How idle threads wait. Default: spin when every pipeline thread has
    /// an isolated core of its own, else park (spin, yield, then sleep).
    #[arg(long, value_name = "spin|yield|park")]
    pub wait: Option<WaitMode>,
    /// What stamps command time: wall (production) or sequence (each input's
    /// sequence number, so runs over the same input give identical output).
    #[arg(long, value_name = "wall|sequence")]
    pub clock: Option<IngressClock>,
    /// Run on a generated multi-symbol order flow that a feeder thread
    /// produces into the `orders` topic, with a fresh journal under the temp
    /// dir unless --journal says otherwise, printing statistics every
    /// second. Stop with Ctrl-C.
    #[arg(long, conflicts_with = "input")]
    pub demo: bool,
    /// Demo orders per second.
    #[arg(long, default_value_t = 20_000, requires = "demo")]
    pub demo_rate: u64,
    /// Stop the demo after this many orders (with --exit-at-end, exit then).
    #[arg(long, requires = "demo")]
    pub demo_orders: Option<u64>,
    /// An operator command instead of running the engine.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Operator commands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Switchover: ask the leader of a replicated engine to hand over to
    /// its standby, and wait for the standby's claim. The leader drains,
    /// writes its last entry to the journal topic and follows; the standby
    /// takes over at once. Exit 0 once the new epoch is claimed, 1 if none
    /// is within --wait.
    Promote {
        /// The engine whose leader should hand over.
        #[arg(long, value_name = "ID")]
        engine_id: String,
        /// How long to wait for the standby's claim.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
        wait: Duration,
    },
    /// Send an admin command to the admin topic and wait for the engines'
    /// answers on admin_status. Exit 0 when an engine applied it and the
    /// others applied it too or do not hold the symbol; 1 when one refused
    /// it otherwise, or an engine waited for did not answer within --wait.
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminVerb,
        /// Only this engine takes the command; without it every engine does
        /// (one without the symbol answers UNKNOWN_SYMBOL).
        #[arg(
            long = "engine-id",
            id = "admin_engine_id",
            value_name = "ID",
            global = true
        )]
        engine_id: Option<String>,
        /// The request id echoed in the answers [default: a fresh one].
        #[arg(
            long = "request-id",
            id = "admin_request_id",
            value_name = "ID",
            global = true
        )]
        request_id: Option<String>,
        /// How long to wait for the answers.
        #[arg(long = "wait", id = "admin_wait", value_name = "DURATION", value_parser = parse_duration, default_value = "10s", global = true)]
        wait: Duration,
        /// Print the answers as JSON lines instead of a table.
        #[arg(long = "json", id = "admin_json", global = true)]
        json: bool,
    },
}

/// The admin commands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum AdminVerb {
    /// Stop trading a symbol: new orders and replaces are rejected with
    /// SYMBOL_HALTED; cancels are accepted.
    Halt {
        /// The symbol.
        symbol: String,
    },
    /// Trade a halted symbol again.
    Resume {
        /// The symbol.
        symbol: String,
    },
    /// Cancel every live order of a user, a symbol, or a user in a symbol.
    MassCancel {
        /// Only this user's orders.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only this symbol's orders.
        #[arg(long, value_name = "SYMBOL")]
        symbol: Option<String>,
    },
    /// Set a symbol's reference price (price bands, and stops before the
    /// first trade), in ticks.
    SetReferencePrice {
        /// The symbol.
        symbol: String,
        /// The price, in ticks.
        price: u64,
    },
    /// Move an orders partition, and every book that came from it, from
    /// its owner to another engine while orders flow; waits for the
    /// verdict (exit 0 moved, 1 rolled back or not decided within --wait).
    Move {
        /// The orders partition.
        #[arg(long, value_name = "N")]
        partition: i32,
        /// The engine that takes it.
        #[arg(long, value_name = "ID")]
        to: String,
    },
}

/// How durable an input must be before its outputs leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurabilityChoice {
    /// On this host only.
    Local(Durability),
    /// On this host and agreed by the journal topic.
    Replicated,
}

/// `none`, `batch`, `sync` or `replicated`.
pub fn parse_durability(text: &str) -> Result<DurabilityChoice, String> {
    match text {
        "replicated" => Ok(DurabilityChoice::Replicated),
        other => other
            .parse()
            .map(DurabilityChoice::Local)
            .map_err(|e: String| format!("{e}, or replicated")),
    }
}

/// `primary` or `standby`.
pub fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "primary" => Ok(Role::Primary),
        "standby" => Ok(Role::Standby),
        _ => Err(format!("{text:?} is not a role; use primary or standby")),
    }
}

/// `KEY=VALUE` for `-X`.
fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "{text:?} is not KEY=VALUE, e.g. -X statistics.interval.ms=1000"
        )),
    }
}

/// `1s` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 1s or 500ms"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        _ => Err(format!("{text:?}: use s or ms, e.g. 1s or 500ms")),
    }
}
