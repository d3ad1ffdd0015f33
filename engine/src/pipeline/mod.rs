//! The engine process's LMAX pipeline: ingress, journaler and matcher on an
//! input ring, egress on an output ring (`docs/design.md` §2).
//!
//! ```text
//! source -> ingress --> INPUT RING --+-- journaler: append, publish the durable sequence
//!                                    '-- matcher: Engine::apply -> OUTPUT RING -> egress -> sink
//!                                                     egress waits for the durable sequence
//! ```
//!
//! [`run`] recovers first (snapshot plus journal replay, re-sending what the
//! sink never confirmed; see [`RecoveryStats`]), then starts one thread per
//! stage plus a snapshot replica (which follows the journal with its own
//! engine, so the matcher never stops for a snapshot) and a statistics
//! printer, and returns when
//! the source ends or `stop` is raised and everything has drained. Sources
//! and sinks are traits, so the same pipeline runs on files, Kafka, or a
//! benchmark's generator.
//!
//! The rules this module keeps:
//! - no output leaves before the journal holds its input at the configured
//!   durability (the egress gate);
//! - a full ring holds up the stage before it; nothing is dropped;
//! - the matcher thread does no I/O and reads no clock while matching;
//! - journal sequence, ring sequence and engine sequence are one number.

mod clock;
mod exports;
mod latency;
mod metrics;
mod output;
mod recovery;
mod replica;
mod replicator;
mod retention;
mod stages;
mod stats;
mod transport;
mod wait;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(feature = "crossbeam-rings")]
use crossbeam_channel::bounded;
use disruptor::{BusySpin, build_single_producer};
use journal::{DurableSequence, JournalOptions, SyncPath};
use thiserror::Error;

pub use clock::{IngressClock, SystemClock, WallClock};
pub use exports::{Export, Exports};
pub use latency::{LatencyHistograms, LatencySummary, StageLatencies};
pub use metrics::{
    BookGauge, MetricsSample, PartitionGauge, PipelineMetrics, ReplicationSample, RingSample,
};
pub use recovery::RecoveryStats;
pub use replica::SnapshotStats;
pub(crate) use replica::replica_for_follower;
pub use replicator::{LeaderEnd, Leadership};
pub use retention::Retention;
pub use transport::{FAR as LOOKAHEAD_FAR, NEAR as LOOKAHEAD_NEAR, RingKind};

use crate::endpoint::{BoxError, InputSource, MAX_BATCH_SIZE, OutputSink};
use crate::threads::{CorePlan, WaitMode};
use crate::{ConfigError, EngineConfig};
use latency::{Latencies, LatencyRecorder};
use stages::{Control, InputSlot};
#[cfg(feature = "crossbeam-rings")]
use transport::ChannelOutbox;
use transport::{Inbox, Outbox, RingOutbox};

/// Why the pipeline stopped with an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PipelineError {
    // The messages embed the cause, so these are not `#[source]`: a
    // printer that walks the chain (`{:#}`) would say it twice.
    /// The journal failed: opening, appending or syncing.
    #[error("journal: {0}")]
    Journal(journal::Error),
    /// The engine configuration is invalid.
    #[error("engine configuration: {0}")]
    Config(ConfigError),
    /// The input source failed.
    #[error("input: {0}")]
    Source(BoxError),
    /// The output sink failed.
    #[error("output: {0}")]
    Sink(BoxError),
    /// The journal and the input ring disagree on a sequence number: a bug.
    #[error("journal assigned sequence {journal} to ring sequence {ring}")]
    Sequence {
        /// What the journal assigned.
        journal: u64,
        /// What ingress assigned.
        ring: u64,
    },
    /// Replay did not reproduce what the journal and snapshots recorded: a
    /// state hash differs, the run is not deterministic, or a file was
    /// altered.
    #[error("recovery: {0}")]
    Replay(#[from] crate::sequenced::ReplayError),
    /// Reading the journal's history failed: a record or snapshot this build
    /// cannot use, or nothing to start from.
    #[error("recovery: {0}")]
    History(crate::history::HistoryError),
    /// A pipeline setting is unusable.
    #[error("pipeline configuration: {0}")]
    Settings(String),
    /// The journal or a snapshot could not be written (a full disk, most
    /// often). Input stopped; everything journaled is safe.
    #[error("{0}")]
    Storage(Box<StorageFailure>),
    /// A pipeline thread could not be started.
    #[error("cannot start the {thread} thread: {cause}")]
    Spawn {
        /// The thread's name.
        thread: &'static str,
        /// Why.
        cause: std::io::Error,
    },
    /// A stage stopped because another one failed.
    #[error("stopped because another stage failed")]
    Stopped,
    /// A newer epoch was claimed in the journal topic: another engine leads.
    /// Nothing past the agreed end was released.
    #[error(
        "fenced: epoch {epoch} was claimed in the journal topic (offset {offset}); another engine \
         leads now, and nothing this one journaled after the agreed end was released. Restart \
         it as a standby (--role standby): it quarantines its unagreed tail and follows"
    )]
    Fenced {
        /// The newer epoch.
        epoch: u64,
        /// Where its claim is.
        offset: i64,
    },
    /// The journal topic could not be read or written.
    #[error("replication: {0}")]
    Replication(String),
    /// A pipeline thread panicked.
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

impl From<journal::Error> for PipelineError {
    fn from(err: journal::Error) -> PipelineError {
        PipelineError::Journal(err)
    }
}

impl From<crate::history::HistoryError> for PipelineError {
    fn from(err: crate::history::HistoryError) -> PipelineError {
        match err {
            // Damage keeps its own variant: it decides the exit code.
            crate::history::HistoryError::Journal(err) => PipelineError::Journal(err),
            err => PipelineError::History(err),
        }
    }
}

impl From<ConfigError> for PipelineError {
    fn from(err: ConfigError) -> PipelineError {
        PipelineError::Config(err)
    }
}

/// What could not be written, where, and how much room there was.
#[derive(Debug)]
pub struct StorageFailure {
    /// What the engine was doing, as a verb phrase.
    pub action: &'static str,
    /// The journal directory.
    pub dir: PathBuf,
    /// Bytes free on its file system when it failed, if known.
    pub free: Option<u64>,
    /// Bytes the failed step needed, if known.
    pub needed: Option<u64>,
    /// What failed, naming the file.
    pub cause: journal::Error,
}

impl PipelineError {
    /// A failure to write to the journal's directory while `action`.
    pub(crate) fn storage(
        action: &'static str,
        dir: &std::path::Path,
        needed: usize,
        cause: journal::Error,
    ) -> PipelineError {
        PipelineError::Storage(Box::new(StorageFailure {
            action,
            dir: dir.to_path_buf(),
            free: journal::free_space(dir).ok(),
            needed: (needed > 0).then_some(needed as u64),
            cause,
        }))
    }
}

/// Says what failed, that nothing journaled is lost, and what to do.
impl std::fmt::Display for StorageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot {}: {}. The engine stopped taking input; every input already journaled is \
             safe and is replayed on restart.",
            self.action, self.cause
        )?;
        if !self.cause.is_storage_full() {
            return f.write_str(" Fix the cause above, then restart the engine.");
        }
        let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
        write!(f, " The file system holding {} is full", self.dir.display())?;
        if let Some(free) = self.free {
            write!(f, " ({:.1} MiB free", mib(free))?;
            if let Some(needed) = self.needed {
                write!(f, ", {:.1} MiB needed", mib(needed))?;
            }
            f.write_str(")")?;
        }
        f.write_str(
            ": free space there (move old segments away, or set retention = \"delete\" or \
             \"archive:DIR\", or a smaller segment_size), then restart the engine.",
        )
    }
}

/// Everything [`run`] needs besides the source and sink.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// The journal directory (created if missing).
    pub journal_dir: PathBuf,
    /// Journal options: durability, segment size and so on.
    pub journal: JournalOptions,
    /// Matching rules. A snapshot's rules win over these on recovery.
    pub engine: EngineConfig,
    /// A core per pipeline thread.
    pub cores: CorePlan,
    /// How idle stages wait.
    pub wait: WaitMode,
    /// Which ring implementation to use.
    pub ring: RingKind,
    /// Input-ring slots; a power of two.
    pub input_ring: usize,
    /// Output-ring slots; a power of two.
    pub output_ring: usize,
    /// Snapshot every this many sequences (and always at a clean exit).
    pub snapshot_every: Option<u64>,
    /// What happens to segments and snapshots recovery no longer needs,
    /// applied after each snapshot.
    pub retention: Retention,
    /// Print a statistics line this often.
    pub stats_interval: Option<Duration>,
    /// Messages per delivered batch, at most.
    pub batch_size: usize,
    /// Where command timestamps come from.
    pub clock: IngressClock,
    /// What [`IngressClock::Wall`] reads: the system clock, unless a test
    /// needs one that steps back.
    pub wall_clock: Arc<dyn WallClock>,
    /// A directory shared between the engines of one shard (a network file
    /// system): each snapshot is copied there too, so that a standby with
    /// an empty journal can start from the newest one.
    pub snapshot_share: Option<PathBuf>,
    /// Publish the books of this many of the busiest symbols in
    /// [`PipelineMetrics`] (0: none). The snapshot replica computes them,
    /// so a non-zero value keeps it following the journal all the time.
    pub book_symbols: usize,
    /// The live figures the stages keep, for an exporter to sample. One
    /// run at a time: runs sharing it overwrite each other's figures.
    pub metrics: Arc<PipelineMetrics>,
    /// Where a released partition's export goes (a move); `None` for an
    /// engine that takes part in no moves.
    pub exports: Option<Exports>,
}

impl PipelineConfig {
    /// Rejects settings the pipeline cannot run with, before anything
    /// starts.
    pub fn check(&self) -> Result<(), PipelineError> {
        for (name, slots) in [
            ("input_ring", self.input_ring),
            ("output_ring", self.output_ring),
        ] {
            if !slots.is_power_of_two() {
                return Err(PipelineError::Settings(format!(
                    "{name} has {slots} slots; ring sizes must be powers of two, e.g. {}",
                    slots.next_power_of_two()
                )));
            }
        }
        // A batch is flushed when it reaches this size, so 0 would never
        // flush until idle, and the batch buffer would grow without bound.
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(PipelineError::Settings(format!(
                "batch_size is {}; use 1 to {MAX_BATCH_SIZE} (Kafka's default is 100)",
                self.batch_size
            )));
        }
        Ok(())
    }

    /// Defaults for everything but the journal directory and rules.
    pub fn new(journal_dir: impl Into<PathBuf>, engine: EngineConfig) -> PipelineConfig {
        PipelineConfig {
            journal_dir: journal_dir.into(),
            journal: JournalOptions::new(),
            engine,
            cores: CorePlan::default(),
            wait: WaitMode::Yield,
            ring: RingKind::Disruptor,
            input_ring: 1 << 16,
            output_ring: 1 << 16,
            snapshot_every: Some(1_000_000),
            retention: Retention::Keep,
            stats_interval: None,
            batch_size: 100,
            clock: IngressClock::Wall,
            wall_clock: Arc::new(SystemClock),
            snapshot_share: None,
            book_symbols: 0,
            metrics: Arc::new(PipelineMetrics::new(Duration::from_secs(5))),
            exports: None,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// What recovery found.
    pub recovery: RecoveryStats,
    /// Inputs taken from the source in this run.
    pub inputs: u64,
    /// Messages delivered in this run, re-sent ones included.
    pub messages: u64,
    /// `trades` messages among them.
    pub trades: u64,
    /// The last sequence applied (recovered or new).
    pub last_sequence: u64,
    /// The final state hash.
    pub state_hash: u64,
    /// Stage latencies over the run.
    pub latencies: StageLatencies,
    /// The histograms they come from.
    pub histograms: LatencyHistograms,
    /// What the replica and the final snapshot did.
    pub snapshots: SnapshotStats,
    /// How `batch` durability syncs on this host.
    pub sync_path: SyncPath,
    /// From the end of recovery to the end of the drain.
    pub elapsed: Duration,
}

/// Recovers, then runs the pipeline until the source ends or `stop` is
/// raised, and drains it. Returns the first error any stage hit.
pub fn run<S: InputSource, K: OutputSink>(
    config: &PipelineConfig,
    source: S,
    sink: K,
    stop: &AtomicBool,
) -> Result<RunReport, PipelineError> {
    run_with(config, source, sink, stop, None).map(|(report, _)| report)
}

/// [`run`] for the leader of a replicated journal: outputs wait for the
/// journal topic's agreement as well as local durability, and a newer
/// epoch's claim stops the run with [`PipelineError::Fenced`]
/// (`crate::replicated`).
pub fn run_leading<S: InputSource, K: OutputSink>(
    config: &PipelineConfig,
    source: S,
    sink: K,
    stop: &AtomicBool,
    lead: Leadership<'_>,
) -> Result<(RunReport, LeaderEnd), PipelineError> {
    run_with(config, source, sink, stop, Some(lead))
}

fn run_with<S: InputSource, K: OutputSink>(
    config: &PipelineConfig,
    mut source: S,
    sink: K,
    stop: &AtomicBool,
    mut lead: Option<Leadership<'_>>,
) -> Result<(RunReport, LeaderEnd), PipelineError> {
    config.check()?;
    let recovered = match &mut lead {
        // A new leader may spend longer than the fail-over timeout
        // re-sending; its heartbeat goes on meanwhile, or its standby
        // would take a healthy leader for a dead one.
        Some(lead) => replicator::heartbeat_while(lead, || recovery::recover(config, sink))?,
        None => recovery::recover(config, sink)?,
    };
    if let Some(Leadership {
        takeover: Some((decided, times)),
        gauges,
        ..
    }) = &mut lead
    {
        times.resend = recovered.stats.took;
        if recovered.stats.resent > 0 {
            let took = decided.elapsed();
            gauges
                .takeover_ns
                .store(took.as_nanos() as u64, Ordering::Relaxed);
            tracing::info!(
                resent = recovered.stats.resent,
                since_detection_ms = took.as_millis() as u64,
                "takeover step 4: outputs past the delivered mark re-sent"
            );
        }
    }
    tracing::info!(
        snapshot = ?recovered.stats.snapshot,
        replayed = recovered.stats.replayed,
        resent = recovered.stats.resent,
        took_ms = recovered.stats.took.as_millis() as u64,
        "recovered"
    );
    let moves = recovered.engine.moves();
    if let (Some(exports), Some(outgoing)) = (&config.exports, moves.outgoing) {
        // Released before the crash, undecided since: send it again.
        let started = Instant::now();
        let bytes = recovered.engine.export_outgoing().unwrap_or_default();
        (exports.0)(Export {
            seq: recovered.writer.next_sequence() - 1,
            outgoing,
            bytes,
            encoding: started.elapsed(),
        });
    }
    source.recovered_moves(moves);
    source
        .resume(&recovered.positions)
        .map_err(PipelineError::Source)?;
    match config.ring {
        RingKind::Disruptor => {
            let builder = build_single_producer(config.input_ring, InputSlot::default, BusySpin);
            let (journal_in, builder) = builder.new_event_poller();
            let (matcher_in, builder) = builder.new_event_poller();
            let ingress_out = RingOutbox(builder.build());
            let builder =
                build_single_producer(config.output_ring, output::OutputSlot::default, BusySpin);
            let (egress_in, builder) = builder.new_event_poller();
            let matcher_out = RingOutbox(builder.build());
            run_stages(
                config,
                source,
                recovered,
                stop,
                ingress_out,
                journal_in,
                matcher_in,
                matcher_out,
                egress_in,
                lead,
            )
        }
        #[cfg(feature = "crossbeam-rings")]
        RingKind::Crossbeam => {
            let (to_journal, journal_in) = bounded(config.input_ring);
            let (to_matcher, matcher_in) = bounded(config.input_ring);
            let (to_egress, egress_in) = bounded(config.output_ring);
            run_stages(
                config,
                source,
                recovered,
                stop,
                ChannelOutbox(vec![to_journal, to_matcher]),
                journal_in,
                matcher_in,
                ChannelOutbox(vec![to_egress]),
                egress_in,
                lead,
            )
        }
    }
}

/// Runs `f` on a named thread pinned to `core`.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &'static str,
    core: Option<usize>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, PipelineError> {
    let run = move || {
        if let Some(id) = core
            && !core_affinity::set_for_current(core_affinity::CoreId { id })
        {
            tracing::warn!(
                thread = name,
                core = id,
                "could not pin the thread to its core"
            );
        }
        f()
    };
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, run)
        .map_err(|cause| PipelineError::Spawn {
            thread: name,
            cause,
        })
}

fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, T>,
    name: &'static str,
) -> Result<T, PipelineError> {
    handle.join().map_err(|_| PipelineError::Panicked(name))
}

#[allow(clippy::too_many_arguments)] // the five ring ends, wired once
fn run_stages<S: InputSource, K: OutputSink>(
    config: &PipelineConfig,
    mut source: S,
    recovered: recovery::Recovered<K>,
    stop: &AtomicBool,
    ingress_out: impl Outbox<InputSlot>,
    journal_in: impl Inbox<InputSlot>,
    matcher_in: impl Inbox<InputSlot>,
    matcher_out: impl Outbox<output::OutputSlot>,
    egress_in: impl Inbox<output::OutputSlot>,
    mut lead: Option<Leadership<'_>>,
) -> Result<(RunReport, LeaderEnd), PipelineError> {
    let recovery::Recovered {
        engine,
        mut writer,
        mut emitter,
        positions,
        stats,
        last_stamp,
    } = recovered;
    let start_seq = writer.next_sequence();
    let durable = writer.durable();
    // A leader's outputs wait for the log's agreement too: everything
    // recovered is agreed, the rest the replicator releases.
    let gate = match &lead {
        Some(_) => DurableSequence::new(start_seq - 1),
        None => durable.clone(),
    };
    let sync_path = writer.sync_path();
    let control = Control {
        stop,
        failed: AtomicBool::new(false),
        wait: config.wait,
        sleepers: wait::Sleepers::default(),
    };
    let metrics = &*config.metrics;
    let counters = &metrics.counters;
    reset_metrics(metrics, config, start_seq, &stats, &durable);
    let snapshot_writer = replica::SnapshotWriter {
        store: journal::SnapshotStore::new(&config.journal_dir),
        journal_dir: config.journal_dir.clone(),
        retention: config.retention.clone(),
        durable: durable.clone(),
        delivered: &counters.delivered,
        metrics,
        share: config.snapshot_share.clone(),
    };
    let shared_latency = Mutex::new(Latencies::new());
    let stats_done = AtomicBool::new(false);
    let stages_done = AtomicBool::new(false);
    let newest_snapshot = stats.snapshot.unwrap_or(0);
    let started = Instant::now();
    let cores = config.cores;
    let helper_core = helper_core(&cores);

    let outcome = std::thread::scope(|scope| {
        let control = &control;
        // A thread that cannot start fails the run. Returning early drops
        // the ring ends not yet handed to a thread, which closes the rings,
        // so the threads already running drain and end.
        let not_started = |err| {
            control.fail();
            stats_done.store(true, Ordering::Release);
            err
        };
        let wants_replica = config.snapshot_every.is_some() || config.book_symbols > 0;
        let replica = wants_replica
            .then(|| {
                let plan = replica::ReplicaPlan {
                    every: config.snapshot_every,
                    book_symbols: config.book_symbols,
                    newest: newest_snapshot,
                    config: config.engine.clone(),
                    done: &stages_done,
                    failed: &control.failed,
                };
                let snapshot_writer = &snapshot_writer;
                spawn(scope, "replica", helper_core, move || {
                    replica::run_replica(&plan, snapshot_writer)
                })
            })
            .transpose()
            .map_err(not_started)?;
        let printer = spawn(scope, "stats", helper_core, || {
            stats::run_stats_thread(config.stats_interval, metrics, &shared_latency, &stats_done)
        })
        .map_err(not_started)?;
        let egress = spawn(scope, "egress", cores.egress, || {
            let mut recorder = LatencyRecorder::new(&shared_latency);
            let result = stages::egress(
                egress_in,
                &mut emitter,
                &gate,
                control,
                metrics,
                &mut recorder,
            );
            if result.is_err() {
                control.fail();
            }
            result
        })
        .map_err(not_started)?;
        let matcher = spawn(scope, "matcher", cores.matcher, move || {
            stages::matcher(
                matcher_in,
                matcher_out,
                engine,
                start_seq - 1,
                positions,
                control,
                metrics,
                config.exports.as_ref(),
            )
        })
        .map_err(not_started)?;
        let journaler = spawn(scope, "journal", cores.journal, || {
            let segment_size = config.journal.segment_size_bytes();
            let mut recorder = LatencyRecorder::new(&shared_latency);
            let result = stages::journaler(
                journal_in,
                &mut writer,
                segment_size,
                control,
                metrics,
                &mut recorder,
            );
            if result.is_err() {
                control.fail();
            }
            result
        })
        .map_err(not_started)?;
        let ingress = spawn(scope, "ingress", cores.ingress, || {
            let stamper =
                clock::Stamper::new(config.clock, Arc::clone(&config.wall_clock), last_stamp);
            let result = stages::ingress(
                &mut source,
                ingress_out,
                start_seq,
                stamper,
                control,
                metrics,
            );
            if result.is_err() {
                control.fail();
            }
            result
        })
        .map_err(not_started)?;
        let replicator = lead
            .as_mut()
            .map(|lead| {
                let world = replicator::ReplicatorWorld {
                    dir: &config.journal_dir,
                    start_seq,
                    local: durable.clone(),
                    gate: &gate,
                    control,
                    metrics,
                    stages_done: &stages_done,
                    stop,
                };
                spawn(scope, "replicator", helper_core, move || {
                    replicator::replicate(lead, &world)
                })
            })
            .transpose()
            .map_err(not_started)?;
        let ingress = join(ingress, "ingress");
        let journaler = join(journaler, "journal");
        let matcher = join(matcher, "matcher");
        let egress = join(egress, "egress");
        stages_done.store(true, Ordering::Release);
        let replicator = replicator
            .map(|handle| join(handle, "replicator"))
            .transpose();
        let snapshots = replica.map(|replica| join(replica, "replica")).transpose();
        stats_done.store(true, Ordering::Release);
        let latencies = join(printer, "stats");
        Ok::<_, PipelineError>((
            ingress, journaler, matcher, egress, replicator, snapshots, latencies,
        ))
    });
    let (ingress, journaler, matcher, egress, replicator, snapshots, latencies) = outcome?;
    // Fencing first: it explains why the others stopped. Then the first
    // real failure wins; `Stopped` only echoes it.
    let handover = replicator?.transpose()?.unwrap_or(false);
    ingress??;
    journaler??;
    egress??;
    let (last_seq, engine, positions) = matcher?;
    let mut snapshots = snapshots?.transpose()?.unwrap_or_default();
    let latencies = latencies?;
    let trades = emitter.trades;
    let (state_hash, messages, delivered) = finish(
        writer,
        emitter,
        &durable,
        &snapshot_writer,
        (last_seq, &positions, &engine),
        newest_snapshot,
        &mut snapshots,
    )?;
    let end = LeaderEnd {
        handover,
        delivered,
        takeover: lead.and_then(|lead| lead.takeover.map(|(_, times)| times)),
    };
    let report = RunReport {
        recovery: stats,
        inputs: counters.matched.load(Ordering::Relaxed),
        messages,
        trades,
        last_sequence: last_seq,
        state_hash,
        latencies: StageLatencies::of(&latencies),
        histograms: latencies.into(),
        snapshots,
        sync_path,
        elapsed: started.elapsed(),
    };
    Ok((report, end))
}

/// Starts this run's figures: counters from zero, the sequence they count
/// from, ring sizes, what recovery did, and the durable sequence to read.
fn reset_metrics(
    metrics: &PipelineMetrics,
    config: &PipelineConfig,
    start_seq: u64,
    stats: &RecoveryStats,
    durable: &journal::DurableSequence,
) {
    let counters = &metrics.counters;
    for counter in [
        &counters.ingressed,
        &counters.journaled,
        &counters.matched,
        &counters.outputs_published,
        &counters.outputs_consumed,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
    metrics
        .base_sequence
        .store(start_seq - 1, Ordering::Relaxed);
    metrics.ring_slots[0].store(config.input_ring as u64, Ordering::Relaxed);
    metrics.ring_slots[1].store(config.output_ring as u64, Ordering::Relaxed);
    metrics
        .recovery_ns
        .store(stats.took.as_nanos() as u64, Ordering::Relaxed);
    metrics
        .recovery_replayed
        .store(stats.replayed, Ordering::Relaxed);
    metrics
        .snapshot_sequence
        .store(stats.snapshot.unwrap_or(0), Ordering::Relaxed);
    if let Ok(mut shared) = metrics.durable.lock() {
        *shared = Some(durable.clone());
    }
}

/// After the stages have stopped: makes everything journaled durable,
/// writes the exit snapshot unless the newest one is already at the last
/// sequence (so inputs replayed at start-up are not replayed again), sends
/// what egress still holds, and closes the sink and the journal. Returns
/// the final state hash, the messages delivered in the run and the final
/// delivered mark.
fn finish<K: OutputSink>(
    mut writer: journal::Writer,
    emitter: output::Emitter<K>,
    durable: &journal::DurableSequence,
    snapshot_writer: &replica::SnapshotWriter<'_>,
    (last_seq, positions, engine): (u64, &crate::sequenced::SourcePositions, &crate::Engine),
    newest_recovered: u64,
    snapshots: &mut SnapshotStats,
) -> Result<(u64, u64, u64), PipelineError> {
    let newest = snapshots.last.map_or(newest_recovered, |(seq, _)| seq);
    // A snapshot never claims an input the journal could lose.
    if durable.load_acquire() < last_seq {
        writer.sync()?;
    }
    replica::write_final(
        snapshot_writer,
        last_seq,
        positions,
        engine,
        newest,
        snapshots,
    )?;
    let (messages, delivered) = emitter.close().map_err(PipelineError::Sink)?;
    writer.close()?;
    let state_hash = snapshots
        .last
        .filter(|(seq, _)| *seq == last_seq)
        .map_or_else(|| engine.state_hash(), |(_, hash)| hash);
    Ok((state_hash, messages, delivered))
}

/// A core for the helper threads (the replica, statistics) other than the
/// matcher's: the replica is a second engine at work.
fn helper_core(cores: &CorePlan) -> Option<usize> {
    let matcher = cores.matcher?;
    core_affinity::get_core_ids()?
        .into_iter()
        .map(|c| c.id)
        .find(|&id| id != matcher)
}
