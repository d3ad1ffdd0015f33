//! The pipeline benchmark: the real engine pipeline, journal included, fed
//! at a fixed rate.
//!
//! The load is open-loop: command `i` is due at `start + i / rate`, and its
//! latency is measured from that intended time, not from when ingress got
//! round to it. A stall therefore shows up in the latency of every command
//! that should have been sent during it, which is the coordinated-omission
//! correction. The sink discards messages after counting them, so the figures
//! are the pipeline's own: ingress, journal, matcher, gate, batching.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use engine::Command;
use engine::endpoint::{BoxError, InputSource, OutputSink, SourceItem, SourcePoll, now_ns};
use engine::pipeline::{PipelineConfig, RingKind, run};
use engine::sequenced::{Input, Message, SourcePosition, SourcePositions};
use engine::threads::{CorePlan, WaitMode};
use journal::{Durability, JournalOptions};
use serde::Serialize;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct PipelineBenchConfig {
    /// Commands per second offered.
    pub rate: u64,
    /// The commands, prefill first; sent once each, in order.
    pub commands: std::sync::Arc<Vec<Command>>,
    /// The engine configuration the commands assume.
    pub engine: engine::EngineConfig,
    /// Journal durability.
    pub durability: Durability,
    /// Where the scratch journal goes (removed afterwards).
    pub scratch: PathBuf,
    /// Core per pipeline thread.
    pub cores: CorePlan,
    /// How idle threads wait.
    pub wait: WaitMode,
}

/// One run's figures. Latencies are from each command's intended send time
/// to the delivery of its last output message.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineReport {
    /// `disruptor` or `crossbeam`.
    pub ring: &'static str,
    /// Offered commands per second.
    pub rate: u64,
    /// Achieved commands per second.
    pub ops: f64,
    /// Commands sent.
    pub commands: u64,
    /// Output messages delivered.
    pub messages: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// 99.99th percentile.
    pub p9999_ns: u64,
    /// The largest.
    pub max_ns: u64,
    /// Median from intended send time to the matcher's output on the ring.
    pub matched_p50_ns: u64,
    /// 99th percentile of the same.
    pub matched_p99_ns: u64,
    /// Journal durability.
    pub durability: &'static str,
    /// How idle threads waited.
    pub wait: &'static str,
    /// The whole run's latencies (nanoseconds), from intended send to
    /// delivered: for `.hgrm` files and plots.
    #[serde(skip)]
    pub histogram: hdrhistogram::Histogram<u64>,
}

/// Sends pre-generated commands, each at its due time: `i / rate` seconds
/// after the source is resumed, or at once when there is no rate.
pub struct PacedSource {
    commands: std::sync::Arc<Vec<Command>>,
    next: usize,
    start_ns: u64,
    interval_ns: f64,
}

impl PacedSource {
    /// A source for `commands` at `rate` per second (`None`: flat out).
    pub fn new(commands: std::sync::Arc<Vec<Command>>, rate: Option<u64>) -> PacedSource {
        let interval_ns = rate.map_or(0.0, |rate| 1e9 / rate as f64);
        PacedSource {
            commands,
            next: 0,
            start_ns: 0,
            interval_ns,
        }
    }
}

impl InputSource for PacedSource {
    fn resume(&mut self, _: &SourcePositions) -> Result<(), BoxError> {
        Ok(())
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        let Some(command) = self.commands.get(self.next) else {
            return Ok(SourcePoll::Ended);
        };
        // The schedule starts at the first poll, once the pipeline's threads
        // run, so their start-up does not count as queueing.
        if self.start_ns == 0 {
            self.start_ns = now_ns();
        }
        let due = self.start_ns + (self.next as f64 * self.interval_ns) as u64;
        if self.interval_ns > 0.0 && now_ns() < due {
            return Ok(SourcePoll::Idle);
        }
        self.next += 1;
        Ok(SourcePoll::Item(SourceItem {
            position: SourcePosition::orders(0, self.next as i64),
            origin_ns: Some(due),
            input: Input::Command(*command),
        }))
    }

    /// Sleeps until the next command is due, as a source that blocks until
    /// input arrives would.
    fn wait(&mut self, at_most: std::time::Duration) -> Result<(), BoxError> {
        let due = self.start_ns + (self.next as f64 * self.interval_ns) as u64;
        let until_due = std::time::Duration::from_nanos(due.saturating_sub(now_ns()));
        std::thread::sleep(until_due.min(at_most));
        Ok(())
    }
}

/// Drops messages after counting them.
#[derive(Default)]
pub struct CountingSink {
    /// Messages given so far.
    pub messages: u64,
    /// What it says was delivered before it started: recovery re-sends
    /// the outputs of later inputs.
    pub delivered: u64,
}

impl OutputSink for CountingSink {
    fn delivered_through(&mut self) -> Result<u64, BoxError> {
        Ok(self.delivered)
    }
    fn send_batch(&mut self, batch: &[Message]) -> Result<(), BoxError> {
        self.messages += batch.len() as u64;
        Ok(())
    }
    /// Records it, as a synchronous sink does: the replica snapshots no
    /// further than what is delivered.
    fn mark_delivered(&mut self, seq: u64) -> Result<(), BoxError> {
        self.delivered = self.delivered.max(seq);
        Ok(())
    }
    fn close(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Runs the pipeline once over `ring` on a fresh journal.
pub(crate) fn run_pipeline_once(
    config: &PipelineBenchConfig,
    ring: RingKind,
) -> Result<PipelineReport, Box<dyn std::error::Error + Send + Sync>> {
    let scratch = tempdir_in(&config.scratch)?;
    let mut pipeline = PipelineConfig::new(scratch.join("journal"), config.engine.clone());
    pipeline.journal = JournalOptions::new().durability(config.durability);
    pipeline.cores = config.cores;
    pipeline.wait = config.wait;
    pipeline.ring = ring;
    pipeline.snapshot_every = None;
    let source = PacedSource::new(config.commands.clone(), Some(config.rate));
    let report = run(
        &pipeline,
        source,
        CountingSink::default(),
        &AtomicBool::new(false),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    let e = report.latencies.egress;
    let m = report.latencies.matched;
    Ok(PipelineReport {
        ring: ring.as_str(),
        rate: config.rate,
        ops: report.inputs as f64 / report.elapsed.as_secs_f64().max(1e-9),
        commands: report.inputs,
        messages: report.messages,
        p50_ns: e.p50,
        p90_ns: e.p90,
        p99_ns: e.p99,
        p999_ns: e.p999,
        p9999_ns: e.p9999,
        max_ns: e.max,
        matched_p50_ns: m.p50,
        matched_p99_ns: m.p99,
        durability: config.durability.as_str(),
        wait: config.wait.as_str(),
        histogram: report.histograms.delivered,
    })
}

fn tempdir_in(parent: &std::path::Path) -> std::io::Result<PathBuf> {
    let dir = parent.join(format!(
        "bench-pipeline-{}-{}",
        std::process::id(),
        now_ns()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
