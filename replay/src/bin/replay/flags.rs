//! The command line: every subcommand and flag, and the checks that need
//! nothing but the text. Nothing here opens a file; `args` and `commands`
//! build the real objects from what these parse to.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit codes, for `--help` and the docs.
pub const EXIT_CODES: &str = "Exit codes: 0 clean; 1 damage or a difference was found, or the \
    journal could not be read; 2 a usage error (a bad flag or value, a sequence that is not in \
    the journal, a journal locked by a running engine, a truncation not confirmed).";

/// Inspect, verify, query and re-run the matching engine's journal.
///
/// Every subcommand takes the journal directory first. All are read-only
/// and work beside a running engine, except `snapshot` and `truncate`,
/// which need the engine stopped.
#[derive(Parser, Debug)]
#[command(name = "replay", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub mode: Mode,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Mode {
    /// Segments, snapshots, partitions, the delivered mark and formats.
    Info(InfoArgs),
    /// Check every CRC and the sequence continuity; with --deep, also
    /// re-execute and check every snapshot's state hash.
    Verify(VerifyArgs),
    /// Print records one per line, filtered; with --outputs, the messages
    /// each produced; with --follow, wait for new ones like `tail -f`.
    Dump(DumpArgs),
    /// One symbol's book as it stood after an input.
    Book(BookArgs),
    /// One order's whole life: accepted, fills, replaces, its end.
    Order(OrderArgs),
    /// Re-execute and publish the outputs again, to files or Kafka,
    /// byte-identical (or under other rules with --config).
    Run(RunArgs),
    /// The first sequence where two journals' inputs (and with --outputs,
    /// their outputs) differ.
    Diff(DiffArgs),
    /// The first input whose outputs would differ under other rules
    /// (--config) or from a recorded output directory (--against).
    Bisect(BisectArgs),
    /// Write a snapshot at a sequence, for the next recovery to start from.
    /// Needs the engine stopped.
    Snapshot(SnapshotArgs),
    /// Cut the log after a sequence, moving the rest into a quarantine
    /// folder; deletes nothing. Needs the engine stopped.
    Truncate(TruncateArgs),
}

/// Flags every subcommand has.
#[derive(Args, Debug)]
pub struct Common {
    /// The journal directory.
    pub dir: PathBuf,
    /// JSON lines (one object per line) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `replay info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub common: Common,
}

/// `replay verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also re-execute every input and check every snapshot's state hash.
    #[arg(long)]
    pub deep: bool,
    /// The engine's config file, for the rules a re-execution from the
    /// journal's start uses [default: the rules the oldest snapshot
    /// recorded].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `replay dump`.
#[derive(Args, Debug)]
pub struct DumpArgs {
    #[command(flatten)]
    pub common: Common,
    /// The first sequence.
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// The last sequence.
    #[arg(long, value_name = "SEQ")]
    pub to: Option<u64>,
    /// The first ingress time: 2026-11-29T10:31:05Z, 10:31:05 (UTC, on the
    /// journal's last day) or nanoseconds since the epoch.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// The last ingress time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only inputs about this symbol.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only inputs of this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only inputs naming this order id.
    #[arg(long)]
    pub order: Option<String>,
    /// Only inputs from this Kafka partition (0 for file input).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Only the input at this offset of --partition (a line, for files).
    #[arg(long, requires = "partition")]
    pub offset: Option<i64>,
    /// Only the last N records.
    #[arg(long, value_name = "N")]
    pub last: Option<u64>,
    /// At most N records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Re-execute, and print under each input the messages it produced.
    #[arg(long)]
    pub outputs: bool,
    /// At the end, wait for new records, like `tail -f`.
    #[arg(long, conflicts_with_all = ["to", "until"])]
    pub follow: bool,
}

/// `replay book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    #[command(flatten)]
    pub common: Common,
    /// After this input: a sequence number, or a time (the last input at
    /// or before it), e.g. 10:31:05 or 2026-11-29T10:31:05.5Z.
    #[arg(long, value_name = "SEQ|TIME")]
    pub at: String,
    /// The symbol.
    #[arg(long)]
    pub symbol: String,
    /// Only the best N levels of each side.
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// List the resting orders in priority order instead of the levels.
    #[arg(long)]
    pub orders: bool,
}

/// `replay order`.
#[derive(Args, Debug)]
pub struct OrderArgs {
    #[command(flatten)]
    pub common: Common,
    /// The order id.
    #[arg(long)]
    pub order: String,
    /// Its owner, when more than one user has used the id.
    #[arg(long)]
    pub user: Option<String>,
    /// Look for its ADD from this sequence on (ids may be reused once an
    /// order ends).
    #[arg(long, value_name = "SEQ", default_value_t = 1)]
    pub from: u64,
}

/// `replay run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where to publish: file:OUTDIR (one JSON-lines file per topic, as
    /// `engine --output file:` writes).
    #[arg(long, value_name = "file:OUTDIR", conflicts_with = "brokers")]
    pub output: Option<String>,
    /// Publish to these Kafka brokers instead, in produce batches of at
    /// most 100.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,
    /// Prefix for the Kafka topic names (`replay-` makes `replay-fills`).
    #[arg(long, default_value = "", requires = "brokers")]
    pub topic_prefix: String,
    /// The first input whose outputs to publish.
    #[arg(long, value_name = "SEQ", conflicts_with = "since")]
    pub from: Option<u64>,
    /// The last.
    #[arg(long, value_name = "SEQ", conflicts_with = "until")]
    pub to: Option<u64>,
    /// The first ingress time whose inputs' outputs to publish, as `dump
    /// --since` takes it.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// The last ingress time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Run the inputs under the rules of this engine config file instead
    /// of the recorded ones, from the journal's start.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `replay diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The first journal directory.
    pub a: PathBuf,
    /// The second.
    pub b: PathBuf,
    /// Also re-execute both and compare their outputs byte for byte.
    #[arg(long)]
    pub outputs: bool,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `replay bisect`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("reference").required(true).args(["config", "against"]))]
pub struct BisectArgs {
    #[command(flatten)]
    pub common: Common,
    /// Compare with a run under this engine config file's rules.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Compare with the outputs recorded in this directory.
    #[arg(long, value_name = "OUTDIR")]
    pub against: Option<PathBuf>,
}

/// `replay snapshot`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub common: Common,
    /// The sequence the snapshot covers.
    #[arg(long, value_name = "SEQ")]
    pub at: u64,
}

/// `replay truncate`.
#[derive(Args, Debug)]
pub struct TruncateArgs {
    #[command(flatten)]
    pub common: Common,
    /// The last sequence to keep.
    #[arg(long, value_name = "SEQ")]
    pub after: u64,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}
