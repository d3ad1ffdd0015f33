//! The `bench` command line's flags: one `clap` struct per subcommand,
//! and the flags several share. Nothing here measures anything.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use bench::{WorkloadKind, pin_current_thread};
use clap::Args;
use engine::pipeline::RingKind;
use engine::threads::{CorePlan, WaitMode};
use journal::Durability;

#[derive(Args)]
pub struct ReportArgs {
    /// The directory to write (created).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A protocol sized for a 2-core VM: under 2 minutes.
    #[arg(long)]
    pub quick: bool,
    /// Names the host in titles [default: its cores and CPU model].
    #[arg(long)]
    pub label: Option<String>,
    /// Where to create scratch journals (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Records in the journal.
    #[arg(long, default_value_t = 10_000_000)]
    pub records: usize,
    /// A snapshot every this many records.
    #[arg(long, default_value_t = 1_000_000)]
    pub snapshot_every: u64,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Time each operation this many times on the one journal and report
    /// medians.
    #[arg(long, default_value = "3")]
    pub repeat: NonZeroUsize,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct HaArgs {
    /// Orders per second, offered in every phase.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Seconds of steady input in the batch and replicated phases.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Leaders to SIGKILL in the takeover phase.
    #[arg(long, default_value_t = 10)]
    pub takeovers: usize,
    /// Orders per second in the takeover phase: low enough that the
    /// embedded broker (which keeps about 5 MiB per partition) still holds
    /// what a restarted standby must read.
    #[arg(long, default_value_t = 2_000)]
    pub takeover_rate: u64,
    /// The `engine` binary [default: beside this one].
    #[arg(long)]
    pub engine: Option<PathBuf>,
    /// Where the engines' scratch journals go (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct MoveArgs {
    /// Resting orders in the moved partition's books; one move each.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub resting: Vec<u64>,
    /// Orders per second on the moved partition while it moves.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// The `engine` binary [default: beside this one].
    #[arg(long)]
    pub engine: Option<PathBuf>,
    /// Where the engines' scratch journals go (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Print one JSON object per move instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct KafkaArgs {
    /// Orders to send.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: usize,
    /// Orders per second offered; 0 sends as fast as the producer can. A
    /// comma-separated list runs each rate in turn.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub rate: Vec<u64>,
    /// Bootstrap servers of real brokers, whose topics orders, fills,
    /// trades, depth and order_status must exist [default: the embedded
    /// mock cluster].
    #[arg(long, value_name = "HOST:PORT")]
    pub brokers: Option<String>,
    /// Partitions per topic on the embedded broker. It keeps about 5 MB
    /// per partition, so a fast producer needs many.
    #[arg(long, default_value_t = 16)]
    pub partitions: i32,
    #[command(flatten)]
    pub threads: ThreadArgs,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    #[command(flatten)]
    pub files: FileArgs,
    /// Print one JSON object per rate instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SnapshotArgs {
    /// Resting orders in the book.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: usize,
    /// Seed for prices and sizes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Run this many times and report the median restart. Not pinned: the
    /// restart runs the whole pipeline, whose threads need every core.
    #[arg(long, default_value = "1")]
    pub repeat: NonZeroUsize,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PipelineArgs {
    /// The command stream to send.
    #[arg(long, value_enum, default_value = "ecore")]
    pub workload: WorkloadKind,
    /// Commands per second offered; a comma-separated list sweeps them,
    /// e.g. 100000,250000,500000,1000000,2000000.
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    pub rate: Vec<u64>,
    /// How long to offer load at each rate.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Rings to run, in this order, in one invocation: disruptor, crossbeam
    /// or both (comma-separated). Naming crossbeam also runs disruptor, so
    /// the two are always compared in one run.
    #[arg(long, value_delimiter = ',', default_value = "disruptor")]
    pub ring: Vec<RingKind>,
    /// Journal durability modes to run, in this order, in one invocation:
    /// none, batch, sync (comma-separated), so the gate's cost is read
    /// against `none` from the same minutes.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    pub durability: Vec<Durability>,
    #[command(flatten)]
    pub threads: ThreadArgs,
    /// Seed of the ecore generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to create the scratch journal (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Run each ring this many times, alternating, and report medians.
    #[arg(long, default_value = "1")]
    pub repeat: NonZeroUsize,
    #[command(flatten)]
    pub files: FileArgs,
    /// Print one JSON object per ring instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Where results go besides stdout.
#[derive(Args)]
pub struct FileArgs {
    /// Write each run's latency distribution here, in HdrHistogram's
    /// .hgrm percentile text.
    #[arg(long, value_name = "DIR")]
    pub hgrm: Option<PathBuf>,
    /// Draw PNG plots here: latency by percentile, and for several
    /// rates, achieved rate and percentiles against offered rate.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

impl FileArgs {
    /// Writes what was asked for with `write` and lists the files.
    pub fn write(
        &self,
        write: impl FnOnce(
            Option<&std::path::Path>,
            Option<&std::path::Path>,
        ) -> Result<Vec<PathBuf>, String>,
    ) -> anyhow::Result<()> {
        if self.hgrm.is_none() && self.plot.is_none() {
            return Ok(());
        }
        for path in write(self.hgrm.as_deref(), self.plot.as_deref()).map_err(anyhow::Error::msg)? {
            eprintln!("bench: wrote {}", path.display());
        }
        Ok(())
    }
}

#[derive(Args)]
pub struct MatcherArgs {
    /// The command stream to replay.
    #[arg(long, value_enum)]
    pub workload: WorkloadKind,
    /// Timed commands [default: 4000000 for liquibook, 1000000 for ecore].
    #[arg(long)]
    pub orders: Option<NonZeroUsize>,
    /// Seed of the ecore generator (liquibook always uses srand(3)).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct MassCancelArgs {
    /// Resting orders before each mass cancel.
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    /// Books the by-user cancel scans.
    #[arg(long, default_value_t = 100)]
    pub symbols: usize,
    /// Users the orders belong to; the by-user cancel removes one user's.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags every subcommand shares.
#[derive(Args)]
pub struct RunArgs {
    /// Run this many times and report the median.
    #[arg(long, default_value = "1")]
    pub repeat: NonZeroUsize,
    /// Pin to this core instead of the last one.
    #[arg(long, conflicts_with = "no_pin")]
    pub core: Option<usize>,
    /// Do not pin the benchmark thread.
    #[arg(long)]
    pub no_pin: bool,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    /// Pins the calling thread as the flags ask and says what happened.
    pub fn pin(&self) {
        let pinning = if self.no_pin {
            bench::Pinning::Unpinned("--no-pin".into())
        } else {
            pin_current_thread(self.core)
        };
        eprintln!("bench: {pinning}");
    }
}

#[derive(Args)]
pub struct JournalArgs {
    /// Records appended in the `none` and `batch` runs.
    #[arg(long, default_value_t = 10_000_000)]
    pub records: u64,
    /// Records appended in the `sync` run, which syncs every one.
    #[arg(long, default_value_t = 2_000)]
    pub sync_records: u64,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Appends per batch in `batch` mode.
    #[arg(long, default_value_t = 100)]
    pub batch_size: u64,
    /// Segment file size in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    pub segment_size: u64,
    /// Let appends take their own page faults (no prefault thread).
    #[arg(long)]
    pub no_prefault: bool,
    /// Appends per second offered in the durable-latency run.
    #[arg(long, default_value_t = 100_000)]
    pub durable_rate: u64,
    /// Seconds the durable-latency run lasts.
    #[arg(long, default_value_t = 3.0)]
    pub durable_seconds: f64,
    /// Where to create the scratch journals (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where the pipeline's threads run and how they wait, for the
/// subcommands that run the whole pipeline.
#[derive(Args)]
pub struct ThreadArgs {
    /// Core per pipeline thread [default: chosen for this host].
    #[arg(long)]
    pub cores: Option<CorePlan>,
    /// spin, yield or park [default: spin only when every thread has an
    /// isolated core, else yield].
    #[arg(long)]
    pub wait: Option<WaitMode>,
}

impl ThreadArgs {
    /// The core plan and wait mode: as given, or this host's defaults.
    pub fn plan(&self) -> (CorePlan, WaitMode) {
        let available = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
        let cores = self.cores.unwrap_or_else(|| CorePlan::for_host(available));
        let wait = bench::bench_wait(&cores, self.wait, available);
        (cores, wait)
    }
}
