//! Moving one engine between following and leading: the loop behind
//! [`run`], and the claim that starts a takeover. It holds no rule of its
//! own (who may lead is `super::agreed`'s, what may be released
//! `super::release`'s) and runs on the caller's thread, never a
//! pipeline stage's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::follower::{self, FollowReport};
use super::{HaConfig, LogConsumer, LogProducer, Role, entry, release};
use crate::endpoint::{BoxError, InputSource, OutputSink, now_ns};
use crate::pipeline::{PipelineConfig, PipelineError, RunReport};

/// Why a replicated engine stopped.
#[derive(Debug)]
pub enum HaOutcome {
    /// It led until a stop was asked for.
    Led(Box<RunReport>),
    /// It followed until a stop was asked for.
    Followed(FollowReport),
}

/// What the caller supplies to lead: an input and an output, opened each
/// time this engine takes the lead.
pub trait Endpoints {
    /// The input.
    type Source: InputSource;
    /// The output.
    type Sink: OutputSink;
    /// Opens both. `delivered` is the journal topic's delivered mark: a
    /// fact about delivery like the sink's own, so the sink must report at
    /// least it from `delivered_through`, and recovery re-sends only past
    /// the higher of the two.
    fn open(&mut self, delivered: u64) -> Result<(Self::Source, Self::Sink), BoxError>;
}

/// Runs a replicated engine until `stop` is raised: follows, claims the
/// lead when its role or the leader's silence says so, leads until stopped,
/// fenced (an error: [`PipelineError::Fenced`]) or asked to hand over, and
/// then follows again. A leader that stops writes a step-down entry, so a
/// standby takes over at once rather than after the fail-over timeout.
pub fn run<E: Endpoints>(
    config: &PipelineConfig,
    ha: &HaConfig,
    producer: &mut dyn LogProducer,
    consumer: &mut dyn LogConsumer,
    endpoints: &mut E,
    stop: &AtomicBool,
) -> Result<HaOutcome, PipelineError> {
    let gauges = config.metrics.replication();
    let instance = instance_id();
    let mut role = ha.role;
    let mut led = None;
    loop {
        gauges.role.store(2, Ordering::Relaxed);
        let phase = follower::follow_and_claim(
            config,
            ha,
            gauges,
            producer,
            consumer,
            role,
            (instance, led),
            stop,
        )?;
        let won = match phase {
            follower::Phase::Stopped(report) => return Ok(HaOutcome::Followed(report)),
            follower::Phase::Lost => {
                tracing::warn!("another engine claimed the epoch first; following it");
                role = Role::Standby;
                continue;
            }
            follower::Phase::Won(won) => won,
        };
        let epoch = won.epoch;
        gauges.takeovers.fetch_add(1, Ordering::Relaxed);
        gauges.role.store(1, Ordering::Relaxed);
        gauges.leader_epoch.store(epoch, Ordering::Relaxed);
        gauges.lag_records.store(0, Ordering::Relaxed);
        gauges.lag_ns.store(0, Ordering::Relaxed);
        let (source, sink) = endpoints.open(won.delivered).map_err(PipelineError::Sink)?;
        tracing::info!(
            epoch,
            agreed_end = won.agreed_end,
            delivered = won.delivered,
            appended_while_following = won.report.appended,
            "takeover step 3: recovering from the local journal and resuming the input"
        );
        let leading = crate::pipeline::Leadership {
            producer: &mut *producer,
            consumer: &mut *consumer,
            tracker: release::ReleaseTracker::new(epoch, won.claim_offset, won.agreed_end),
            ha,
            gauges,
            takeover: Some((won.decided, won.times)),
        };
        let (report, end) = crate::pipeline::run_leading(config, source, sink, stop, leading)?;
        if let Some(times) = end.takeover {
            tracing::info!(
                epoch,
                detection_ms = times.detection.as_millis() as u64,
                epoch_entry_ms = times.epoch_entry.as_millis() as u64,
                catch_up_ms = times.catch_up.as_millis() as u64,
                recovery_ms = times.resend.as_millis() as u64,
                "takeover: the steps, as measured"
            );
        }
        // The last word of this epoch: how far it got and delivered.
        let mut buffer = Vec::new();
        entry::Entry::StepDown {
            epoch,
            last_sequence: report.last_sequence,
            delivered: end.delivered,
        }
        .encode(&mut buffer);
        send_and_wait(producer, &buffer)?;
        tracing::info!(
            epoch,
            last_sequence = report.last_sequence,
            delivered = end.delivered,
            "stepped down: this epoch's last entry is in the journal topic"
        );
        if !end.handover {
            return Ok(HaOutcome::Led(Box::new(report)));
        }
        stop.store(false, Ordering::Release);
        role = Role::Standby;
        led = Some(epoch);
    }
}

/// Appends an epoch entry claiming `epoch` and returns its offset.
pub(crate) fn claim(
    producer: &mut dyn LogProducer,
    epoch: u64,
    instance: u64,
) -> Result<i64, PipelineError> {
    let mut buffer = Vec::new();
    entry::Entry::Epoch {
        epoch,
        claimant: instance,
    }
    .encode(&mut buffer);
    send_and_wait(producer, &buffer)
}

/// Sends one entry and waits for its acknowledgement; returns its offset.
fn send_and_wait(producer: &mut dyn LogProducer, entry: &[u8]) -> Result<i64, PipelineError> {
    let failed = |e: BoxError| PipelineError::Replication(e.to_string());
    producer.send(entry).map_err(failed)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut offset = None;
    while offset.is_none() {
        if Instant::now() > deadline {
            return Err(PipelineError::Replication(
                "the journal topic did not acknowledge an entry within 30 s".into(),
            ));
        }
        producer.poll(&mut |o| offset = Some(o)).map_err(failed)?;
        if offset.is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(offset.unwrap_or_default())
}

/// A number that tells this process's claims from any other's.
fn instance_id() -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&now_ns().to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    if let Ok(host) = std::fs::read("/proc/sys/kernel/random/boot_id") {
        hasher.update(&host);
    }
    hasher.digest().max(1)
}
