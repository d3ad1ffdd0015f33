//! Sweeps over offered rates, and the files they leave: the pipeline over
//! rates x durability modes x rings, and Kafka over rates, each with its
//! `.hgrm` percentile distributions and PNG plots. `bench pipeline`,
//! `bench kafka` and `bench report` share these, so a report and a manual
//! run measure the same way.
//!
//! Runs are interleaved round by round (every configuration once, then
//! again), so a noisy minute on a shared host lands on all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::pipeline::RingKind;
use engine::threads::{CorePlan, WaitMode};
use hdrhistogram::Histogram;
use journal::Durability;

use crate::hgrm::save_hgrm;
use crate::kafka::run_kafka_once;
use crate::pipeline::{PipelineBenchConfig, run_pipeline_once};
use crate::plot::{SweepPoint, percentile_plot, sweep_plot};
use crate::{KafkaBenchConfig, KafkaReport, PipelineReport, Workload, WorkloadKind};

/// What a pipeline sweep runs.
#[derive(Clone, Debug)]
pub struct PipelineSweepConfig {
    /// The command stream.
    pub workload: WorkloadKind,
    /// Offered rates, commands per second.
    pub rates: Vec<u64>,
    /// Seconds of load at each rate.
    pub seconds: f64,
    /// Rings, each run at every rate and durability.
    pub rings: Vec<RingKind>,
    /// Durability modes.
    pub durabilities: Vec<Durability>,
    /// Core per pipeline thread.
    pub cores: CorePlan,
    /// How idle threads wait.
    pub wait: WaitMode,
    /// Seed of the ecore generator.
    pub seed: u64,
    /// Where scratch journals go.
    pub scratch: PathBuf,
    /// Runs per configuration; figures are medians, histograms merged.
    pub repeat: usize,
}

/// One configuration's result.
#[derive(Clone, Debug)]
pub struct PipelineEntry {
    /// Per-figure medians over the repeats.
    pub median: PipelineReport,
    /// Every repeat's latencies, merged (nanoseconds).
    pub histogram: Histogram<u64>,
}

impl PipelineEntry {
    /// `disruptor-none`: the ring and durability, for labels and names.
    pub fn label(&self) -> String {
        format!("{}-{}", self.median.ring, self.median.durability)
    }
}

/// Runs every configuration `repeat` times. `progress` hears about each
/// run.
pub fn run_pipeline_sweep(
    config: &PipelineSweepConfig,
    mut progress: impl FnMut(&PipelineReport, usize),
) -> Result<Vec<PipelineEntry>, String> {
    let most = config.rates.iter().copied().max().unwrap_or(0);
    let commands_at = |rate: u64| ((rate as f64 * config.seconds) as usize).max(1);
    let workload = Workload::generate(config.workload, commands_at(most), config.seed);
    let streams: Vec<Arc<Vec<engine::Command>>> = config
        .rates
        .iter()
        .map(|&rate| {
            Arc::new(
                workload
                    .prefill
                    .iter()
                    .chain(&workload.commands[..commands_at(rate).min(workload.commands.len())])
                    .copied()
                    .collect(),
            )
        })
        .collect();
    let mut configurations = Vec::new();
    for (rate, commands) in config.rates.iter().zip(&streams) {
        for durability in &config.durabilities {
            for ring in &config.rings {
                configurations.push((*rate, Arc::clone(commands), *durability, *ring));
            }
        }
    }
    let mut runs: Vec<Vec<PipelineReport>> = vec![Vec::new(); configurations.len()];
    for round in 0..config.repeat.max(1) {
        for (i, (rate, commands, durability, ring)) in configurations.iter().enumerate() {
            let bench = PipelineBenchConfig {
                rate: *rate,
                commands: Arc::clone(commands),
                engine: workload.config.clone(),
                durability: *durability,
                scratch: config.scratch.clone(),
                cores: config.cores,
                wait: config.wait,
            };
            let report = run_pipeline_once(&bench, *ring).map_err(|e| e.to_string())?;
            progress(&report, round);
            runs[i].push(report);
        }
    }
    Ok(runs
        .iter()
        .filter_map(|runs| {
            let mut histogram = runs.first()?.histogram.clone();
            for run in &runs[1..] {
                let _ = histogram.add(&run.histogram);
            }
            Some(PipelineEntry {
                median: median_pipeline(runs)?,
                histogram,
            })
        })
        .collect())
}

/// Per-figure medians across runs: each column is the median of that
/// figure, which keeps one unlucky run from deciding a ratio.
pub(crate) fn median_pipeline(runs: &[PipelineReport]) -> Option<PipelineReport> {
    fn mid<T: Copy + PartialOrd>(runs: &[PipelineReport], figure: fn(&PipelineReport) -> T) -> T {
        let mut values: Vec<T> = runs.iter().map(figure).collect();
        values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        values[values.len() / 2]
    }
    let first = runs.first()?.clone();
    Some(PipelineReport {
        ops: mid(runs, |r| r.ops),
        commands: mid(runs, |r| r.commands),
        messages: mid(runs, |r| r.messages),
        p50_ns: mid(runs, |r| r.p50_ns),
        p90_ns: mid(runs, |r| r.p90_ns),
        p99_ns: mid(runs, |r| r.p99_ns),
        p999_ns: mid(runs, |r| r.p999_ns),
        p9999_ns: mid(runs, |r| r.p9999_ns),
        max_ns: mid(runs, |r| r.max_ns),
        matched_p50_ns: mid(runs, |r| r.matched_p50_ns),
        matched_p99_ns: mid(runs, |r| r.matched_p99_ns),
        ..first
    })
}

/// Writes `pipeline-RING-DURABILITY-RATE.hgrm` per configuration to
/// `hgrm`, and to `plot` a percentile plot per rate (a curve per ring and
/// durability) plus `pipeline-sweep.png` when there is more than one rate.
/// `title` names the host. Returns the files written.
pub fn write_pipeline_files(
    entries: &[PipelineEntry],
    hgrm: Option<&Path>,
    plot: Option<&Path>,
    title: &str,
) -> Result<Vec<PathBuf>, String> {
    let mut written = save_hgrms(
        hgrm,
        entries.iter().map(|e| {
            (
                format!("pipeline-{}-{}.hgrm", e.label(), e.median.rate),
                &e.histogram,
            )
        }),
    )?;
    let Some(dir) = plot else {
        return Ok(written);
    };
    create(dir)?;
    let mut rates: Vec<u64> = entries.iter().map(|e| e.median.rate).collect();
    rates.dedup();
    for rate in &rates {
        let curves: Vec<(String, &Histogram<u64>)> = entries
            .iter()
            .filter(|e| e.median.rate == *rate)
            .map(|e| (e.label(), &e.histogram))
            .collect();
        let path = dir.join(format!("pipeline-percentiles-{rate}.png"));
        percentile_plot(
            &path,
            &format!("pipeline at {rate} inputs/s, intended send to delivered ({title})"),
            &curves,
        )?;
        written.push(path);
    }
    if rates.len() > 1 {
        let mut series: Vec<(String, Vec<SweepPoint>)> = Vec::new();
        for entry in entries {
            let point = SweepPoint {
                offered: entry.median.rate as f64,
                achieved: entry.median.ops,
                p50_ns: entry.median.p50_ns,
                p99_ns: entry.median.p99_ns,
                p9999_ns: entry.median.p9999_ns,
            };
            match series.iter_mut().find(|(label, _)| *label == entry.label()) {
                Some((_, points)) => points.push(point),
                None => series.push((entry.label(), vec![point])),
            }
        }
        let path = dir.join("pipeline-sweep.png");
        sweep_plot(&path, &format!("pipeline rate sweep ({title})"), &series)?;
        written.push(path);
    }
    Ok(written)
}

/// Runs the Kafka benchmark at each rate of `rates` (0: as fast as the
/// producer can), in order.
pub fn run_kafka_sweep(
    base: &KafkaBenchConfig,
    rates: &[u64],
    mut progress: impl FnMut(&KafkaReport),
) -> Result<Vec<KafkaReport>, String> {
    let mut reports = Vec::new();
    for &rate in rates {
        let config = KafkaBenchConfig {
            rate: (rate > 0).then_some(rate),
            ..base.clone()
        };
        let report = run_kafka_once(&config).map_err(|e| e.to_string())?;
        progress(&report);
        reports.push(report);
    }
    Ok(reports)
}

fn rate_name(rate: u64) -> String {
    if rate == 0 {
        "max".into()
    } else {
        rate.to_string()
    }
}

/// Writes `kafka-wire-RATE.hgrm` per run, and `kafka-percentiles.png` (a
/// curve per rate) plus `kafka-sweep.png` for more than one fixed rate.
pub fn write_kafka_files(
    reports: &[KafkaReport],
    hgrm: Option<&Path>,
    plot: Option<&Path>,
    title: &str,
) -> Result<Vec<PathBuf>, String> {
    let mut written = save_hgrms(
        hgrm,
        reports.iter().map(|r| {
            (
                format!("kafka-wire-{}.hgrm", rate_name(r.rate)),
                &r.wire_histogram,
            )
        }),
    )?;
    let Some(dir) = plot else {
        return Ok(written);
    };
    create(dir)?;
    let curves: Vec<(String, &Histogram<u64>)> = reports
        .iter()
        .map(|r| {
            let label = match r.rate {
                0 => "as fast as possible".to_string(),
                rate => format!("{rate}/s"),
            };
            (label, &r.wire_histogram)
        })
        .collect();
    let path = dir.join("kafka-percentiles.png");
    percentile_plot(
        &path,
        &format!(
            "Kafka wire to wire, {} broker ({title})",
            reports.first().map_or("", |r| r.broker.as_str())
        ),
        &curves,
    )?;
    written.push(path);
    let fixed: Vec<&KafkaReport> = reports.iter().filter(|r| r.rate > 0).collect();
    if fixed.len() > 1 {
        let points = fixed
            .iter()
            .map(|r| SweepPoint {
                offered: r.rate as f64,
                achieved: r.sustained_per_s,
                p50_ns: r.wire.p50,
                p99_ns: r.wire.p99,
                p9999_ns: r.wire_histogram.value_at_quantile(0.9999),
            })
            .collect();
        let path = dir.join("kafka-sweep.png");
        sweep_plot(
            &path,
            &format!("Kafka rate sweep, wire to wire ({title})"),
            &[("kafka".to_string(), points)],
        )?;
        written.push(path);
    }
    Ok(written)
}

/// Writes each named histogram as `.hgrm` under `dir`, if there is one.
fn save_hgrms<'a>(
    dir: Option<&Path>,
    files: impl Iterator<Item = (String, &'a Histogram<u64>)>,
) -> Result<Vec<PathBuf>, String> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    create(dir)?;
    let mut written = Vec::new();
    for (name, histogram) in files {
        let path = dir.join(name);
        save_hgrm(histogram, &path).map_err(|e| io(&path, &e))?;
        written.push(path);
    }
    Ok(written)
}

fn create(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, &e))
}

fn io(path: &Path, err: &std::io::Error) -> String {
    format!("cannot write {}: {err}", path.display())
}
