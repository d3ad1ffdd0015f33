//! The hot standby's costs: replication lag, the output delay `replicated`
//! adds over `batch`, and takeover times, with `engine` processes against
//! the embedded broker (librdkafka's mock cluster, in this process, so it
//! outlives every engine it serves).
//!
//! Three phases, each on a fresh broker, each fed by the demo feeder at one
//! steady rate: one engine with `--durability batch`; a primary and a
//! standby with `--durability replicated`; then the same pair while the
//! leader is SIGKILLed again and again, each kill once the standby has
//! caught up, the killed one restarting as the standby. The figures come
//! from the engines' own summaries and takeover log lines, so what is
//! measured is what an operator would see. It starts processes and reads
//! their output; it decides nothing about replication itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gateway::kafka::{EmbeddedBroker, Feeder, KafkaConfig};

use crate::processes::{Engine, log_of, wait_log};
use serde::Serialize;

/// What to run.
#[derive(Clone, Debug)]
pub struct HaBenchConfig {
    /// The `engine` binary.
    pub engine: PathBuf,
    /// Orders per second, offered in the batch and replicated phases.
    pub rate: u64,
    /// Seconds of steady input per measured phase.
    pub seconds: u64,
    /// Leaders to kill in the takeover phase.
    pub takeovers: usize,
    /// Orders per second in the takeover phase. The mock cluster keeps
    /// about 5 MiB of a partition, about a second of the journal topic at
    /// 20,000 records/s: a killed engine restarting as the standby must
    /// find its records still there.
    pub takeover_rate: u64,
    /// Where the engines' journals and logs go (a fresh directory inside).
    pub scratch: PathBuf,
}

/// p50, p99 and max, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// One takeover, in milliseconds, by the new leader's log.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TakeoverSample {
    /// From the kill to the new leader's first output, by this process's
    /// clock.
    pub kill_to_first_output_ms: u64,
    /// The silence the standby waited out.
    pub detection_ms: u64,
    /// Appending the epoch entry, to its acknowledgement.
    pub epoch_entry_ms: u64,
    /// Reading the topic up to it.
    pub catch_up_ms: u64,
    /// Recovery: restore, replay, re-send past the delivered mark.
    pub resend_ms: u64,
}

/// The figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HaReport {
    /// Orders per second offered in the batch and replicated phases.
    pub rate: u64,
    /// And in the takeover phase.
    pub takeover_rate: u64,
    /// Inputs each measured phase's engine took.
    pub inputs: u64,
    /// Ingress to delivered with `--durability batch`.
    pub batch_delivered_ns: Spread,
    /// Ingress to delivered on a `replicated` primary with a standby.
    pub replicated_delivered_ns: Spread,
    /// The leader's ingress stamp to the standby's local append.
    pub replication_lag_ns: Spread,
    /// Each takeover of the last phase.
    pub takeovers: Vec<TakeoverSample>,
    /// Their medians, field by field.
    pub takeover_median: TakeoverSample,
}

/// Runs the three phases.
pub fn run_ha(config: &HaBenchConfig) -> Result<HaReport, String> {
    let scratch = tempfile::tempdir_in(&config.scratch).map_err(|e| e.to_string())?;
    let orders = config.rate * config.seconds;
    let mut report = HaReport {
        rate: config.rate,
        takeover_rate: config.takeover_rate,
        ..HaReport::default()
    };

    // 1. batch.
    let shard = Shard::start(config, scratch.path(), "batch")?;
    let single = shard.engine("single", &["--durability", "batch"])?;
    shard.feed_and_wait(orders, || Ok(()))?;
    let summary = single.stop()?;
    report.batch_delivered_ns = spread(&summary["latency_ns"]["delivered"]);
    report.inputs = summary["inputs"].as_u64().unwrap_or(0);

    // 2. replicated, primary and standby.
    let shard = Shard::start(config, scratch.path(), "replicated")?;
    let primary = shard.replicated("a", "primary")?;
    shard.wait_log("a", "this engine leads", 1)?;
    let standby = shard.replicated("b", "standby")?;
    shard.wait_log("b", "standing by", 1)?;
    shard.feed_and_wait(orders, || Ok(()))?;
    let followed = standby.stop()?;
    let led = primary.stop()?;
    report.replicated_delivered_ns = spread(&led["latency_ns"]["delivered"]);
    report.replication_lag_ns = spread(&followed["lag_ns"]);

    // 3. takeovers.
    let mut shard = Shard::start(config, scratch.path(), "takeover")?;
    shard.rate = config.takeover_rate;
    let names = ["a", "b"];
    let mut running = [Some(shard.replicated("a", "primary")?), None];
    shard.wait_log("a", "this engine leads", 1)?;
    running[1] = Some(shard.replicated("b", "standby")?);
    shard.wait_log("b", "standing by", 1)?;
    let takeover_orders = config.takeover_rate * (config.takeovers as u64 * 3 + 2);
    let mut leader = 0;
    let mut leads = [1, 0];
    let mut stood_by = [1, 1];
    let mut kills = Vec::new();
    shard.feed_and_wait(takeover_orders, || {
        if kills.len() >= config.takeovers {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(2));
        let next = 1 - leader;
        shard.wait_log(names[next], "standing by", stood_by[next])?;
        let killed = Instant::now();
        if let Some(mut child) = running[leader].take() {
            child.kill();
        }
        leads[next] += 1;
        shard.wait_log(names[next], "first new input released", leads[next])?;
        kills.push(killed.elapsed());
        running[leader] = Some(shard.replicated(names[leader], "standby")?);
        stood_by[leader] += 1;
        leader = next;
        Ok(())
    })?;
    for child in running.iter_mut().flatten() {
        child.kill();
    }
    // Both engines' samples in the order the takeovers happened, which is
    // the order of the kills.
    let mut steps = in_order(&shard, &names);
    // The first is the primary's own first claim, not a takeover.
    if !steps.is_empty() {
        steps.remove(0);
    }
    for (sample, took) in steps.iter_mut().zip(&kills) {
        sample.kill_to_first_output_ms = took.as_millis() as u64;
    }
    steps.truncate(kills.len());
    report.takeover_median = median_sample(&steps);
    report.takeovers = steps;
    Ok(report)
}

/// The takeover samples of both engines in the order they happened, by
/// their log lines' timestamps (RFC 3339, so they sort as text).
fn in_order(shard: &Shard, names: &[&str]) -> Vec<TakeoverSample> {
    let mut stamped: Vec<(String, TakeoverSample)> = Vec::new();
    for name in names {
        let log = shard.log(name);
        for line in log.lines().filter(|l| l.contains("takeover step 5")) {
            if let Some(sample) = takeover_steps(line).first() {
                stamped.push((line.chars().take(30).collect(), *sample));
            }
        }
    }
    stamped.sort_by(|a, b| a.0.cmp(&b.0));
    stamped.into_iter().map(|(_, s)| s).collect()
}

fn median_sample(samples: &[TakeoverSample]) -> TakeoverSample {
    let median = |f: fn(&TakeoverSample) -> u64| {
        let mut v: Vec<u64> = samples.iter().map(f).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    TakeoverSample {
        kill_to_first_output_ms: median(|s| s.kill_to_first_output_ms),
        detection_ms: median(|s| s.detection_ms),
        epoch_entry_ms: median(|s| s.epoch_entry_ms),
        catch_up_ms: median(|s| s.catch_up_ms),
        resend_ms: median(|s| s.resend_ms),
    }
}

/// The "takeover step 5" lines of a log: each holds its takeover's steps.
fn takeover_steps(log: &str) -> Vec<TakeoverSample> {
    let field = |line: &str, name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    log.lines()
        .filter(|line| line.contains("takeover step 5"))
        .map(|line| TakeoverSample {
            kill_to_first_output_ms: 0,
            detection_ms: field(line, "detection_ms"),
            epoch_entry_ms: field(line, "epoch_entry_ms"),
            catch_up_ms: field(line, "catch_up_ms"),
            resend_ms: field(line, "recovery_ms"),
        })
        .collect()
}

fn spread(value: &serde_json::Value) -> Spread {
    let get = |k: &str| value[k].as_u64().unwrap_or(0);
    Spread {
        p50: get("p50"),
        p99: get("p99"),
        max: get("max"),
    }
}

/// One broker with its topics, and the engines on it.
struct Shard {
    broker: EmbeddedBroker,
    bootstrap: String,
    kafka: KafkaConfig,
    dir: PathBuf,
    engine: PathBuf,
    rate: u64,
}

/// An engine process, killed if dropped.
impl Shard {
    fn start(config: &HaBenchConfig, scratch: &Path, name: &str) -> Result<Shard, String> {
        let kafka = KafkaConfig::default();
        let broker = EmbeddedBroker::start(&kafka.topics, 2).map_err(|e| e.to_string())?;
        broker
            .create_topic(&engine::replicated::topic_for("bench"), 1)
            .map_err(|e| e.to_string())?;
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Shard {
            bootstrap: broker.bootstrap(),
            broker,
            kafka,
            dir,
            engine: config.engine.clone(),
            rate: config.rate,
        })
    }

    fn engine(&self, name: &str, extra: &[&str]) -> Result<Engine, String> {
        let mut args = vec!["--brokers", self.bootstrap.as_str()];
        args.extend([
            "--clock",
            "wall",
            "--wait",
            "park",
            "--snapshot-every",
            "100000",
        ]);
        args.extend(extra);
        Engine::spawn(&self.engine, &self.dir, name, &args)
    }

    fn replicated(&self, name: &str, role: &str) -> Result<Engine, String> {
        self.engine(
            name,
            &[
                "--durability",
                "replicated",
                "--engine-id",
                "bench",
                "--role",
                role,
            ],
        )
    }

    fn log(&self, name: &str) -> String {
        log_of(&self.dir, name)
    }

    fn wait_log(&self, name: &str, text: &str, times: usize) -> Result<(), String> {
        wait_log(&self.dir, name, text, times)
    }

    /// Feeds `orders` at the rate, calling `meanwhile` until the feeder is
    /// done, then waits a second for the engines to drain.
    fn feed_and_wait(
        &self,
        orders: u64,
        mut meanwhile: impl FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = Feeder::start(
            &self.kafka,
            &self.broker.bootstrap(),
            &[],
            self.rate,
            Some(orders),
            stop,
        )
        .map_err(|e| e.to_string())?;
        while !feeder.finished().load(std::sync::atomic::Ordering::Acquire) {
            meanwhile()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        feeder.join().map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs(1));
        Ok(())
    }
}
