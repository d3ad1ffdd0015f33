//! The leader's replicator: ships every journal record to the journal
//! topic and opens the egress gate only as far as the log has agreed.
//!
//! It follows the local journal with a cursor, as the snapshot replica
//! does, so the journaler and the matcher never wait for Kafka. Each record
//! goes out as its exact frame; a mark carrying the delivered sequence
//! follows when that moves, and as the heartbeat when nothing else has gone
//! out for `heartbeat_interval`. Acknowledgements feed the release rule
//! (`crate::replicated::release`); the gate egress waits on is the lower of
//! the local durable sequence and what the rule released. When a hole in
//! the offsets turns out to hold a newer epoch's claim, the replicator
//! fails the run with [`PipelineError::Fenced`], and nothing after the
//! agreed end is ever released.
//!
//! Per record it encodes into one reused buffer; librdkafka copies the
//! entry into its own queue (one allocation per message, inside
//! librdkafka). It never runs on the matcher's core.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use journal::{DurableSequence, Reader};

use super::PipelineError;
use super::metrics::PipelineMetrics;
use super::stages::Control;
use crate::replicated::entry::Entry;
use crate::replicated::release::{ReleaseError, ReleaseTracker};
use crate::replicated::{
    HaConfig, LogConsumer, LogProducer, ReplicationGauges, ReplicationState, Role, TakeoverTimes,
};

/// What a leader brings to a pipeline run: both ends of the journal topic
/// and the rule that says what it may release.
pub struct Leadership<'a> {
    /// The journal topic's producer.
    pub producer: &'a mut dyn LogProducer,
    /// The journal topic's consumer, to read holes in the offsets.
    pub consumer: &'a mut dyn LogConsumer,
    /// The release rule, from this leader's claim.
    pub tracker: ReleaseTracker,
    /// Heartbeat and mark intervals.
    pub ha: &'a HaConfig,
    /// The replication figures.
    pub gauges: &'a ReplicationGauges,
    /// When the takeover that led here was decided, and its steps so far.
    pub takeover: Option<(Instant, TakeoverTimes)>,
}

/// How a leader's run ended, beyond the [`RunReport`](super::RunReport).
#[derive(Clone, Copy, Debug, Default)]
pub struct LeaderEnd {
    /// An operator asked for a handover, and the run stopped for it.
    pub handover: bool,
    /// The delivered mark at the end.
    pub delivered: u64,
    /// The takeover's steps, with the re-send and the first output.
    pub takeover: Option<TakeoverTimes>,
}

/// Records shipped per pass before acknowledgements are looked at.
const SHIP_MAX: usize = 4096;
/// How long reading a hole in the offsets may take.
const HOLE_WAIT: Duration = Duration::from_secs(10);
/// How often the state file is rewritten.
const STATE_EVERY: Duration = Duration::from_secs(1);

/// Shared state the replicator thread works with.
pub(crate) struct ReplicatorWorld<'a> {
    pub dir: &'a Path,
    pub start_seq: u64,
    pub local: DurableSequence,
    pub gate: &'a DurableSequence,
    pub control: &'a Control<'a>,
    pub metrics: &'a PipelineMetrics,
    pub stages_done: &'a AtomicBool,
    pub stop: &'a AtomicBool,
}

/// Ships and gates until the stages have ended. Returns whether it stopped
/// the run for a handover.
pub(crate) fn replicate(
    lead: &mut Leadership<'_>,
    world: &ReplicatorWorld<'_>,
) -> Result<bool, PipelineError> {
    let result = ship_and_gate(lead, world);
    if result.is_err() {
        world.control.fail();
    }
    result
}

fn ship_and_gate(
    lead: &mut Leadership<'_>,
    world: &ReplicatorWorld<'_>,
) -> Result<bool, PipelineError> {
    let failed = |e: crate::endpoint::BoxError| PipelineError::Replication(e.to_string());
    let epoch = lead.tracker.epoch();
    let mut cursor = Reader::open(world.dir)?.read_from(world.start_seq)?;
    let mut buffer = Vec::with_capacity(4096);
    let mut last_sent = world.start_seq - 1;
    let mut marked = 0u64;
    let mut sent_at = Instant::now();
    let mut marked_at = Instant::now();
    let mut state_at = Instant::now();
    let mut handover = false;
    let delivered = &world.metrics.counters.delivered;
    loop {
        let finishing = world.stages_done.load(Ordering::Acquire);
        let mut shipped = 0;
        while shipped < SHIP_MAX {
            let Some(record) = cursor.next()? else {
                break;
            };
            Entry::Record {
                epoch,
                frame: record.frame(),
            }
            .encode(&mut buffer);
            last_sent = record.sequence();
            lead.producer.send(&buffer).map_err(failed)?;
            lead.tracker.sent(Some(last_sent));
            shipped += 1;
        }
        let now = Instant::now();
        if shipped > 0 {
            sent_at = now;
        }
        let delivered_now = delivered.load(Ordering::Acquire);
        let moved = delivered_now > marked && now - marked_at >= lead.ha.mark_interval;
        if moved || now - sent_at >= lead.ha.heartbeat_interval {
            Entry::Mark {
                epoch,
                last_sequence: last_sent,
                delivered: delivered_now,
                wall_ns: crate::endpoint::now_ns(),
            }
            .encode(&mut buffer);
            lead.producer.send(&buffer).map_err(failed)?;
            lead.tracker.sent(None);
            marked = delivered_now;
            (marked_at, sent_at) = (now, now);
        }
        let mut refused = None;
        let tracker = &mut lead.tracker;
        lead.producer
            .poll(&mut |offset| {
                if refused.is_none()
                    && let Err(err) = tracker.acknowledged(offset)
                {
                    refused = Some(err);
                }
            })
            .map_err(failed)?;
        if let Some(err) = refused {
            return Err(fenced(err));
        }
        while lead.tracker.hole().is_some() {
            read_hole(lead)?;
        }
        let released = lead.tracker.released().min(world.local.load_acquire());
        if released > world.gate.load_acquire() {
            if world.gate.load_acquire() < world.start_seq
                && let Some((decided, times)) = &mut lead.takeover
                && released >= world.start_seq
            {
                let took = decided.elapsed();
                lead.gauges
                    .takeover_ns
                    .store(took.as_nanos() as u64, Ordering::Relaxed);
                tracing::info!(
                    epoch,
                    since_detection_ms = took.as_millis() as u64,
                    detection_ms = times.detection.as_millis() as u64,
                    epoch_entry_ms = times.epoch_entry.as_millis() as u64,
                    catch_up_ms = times.catch_up.as_millis() as u64,
                    recovery_ms = times.resend.as_millis() as u64,
                    "takeover step 5: the first new input released to the output"
                );
            }
            world.gate.fetch_max_release(released);
            world.control.sleepers.egress.wake(world.control.wait);
        }
        lead.gauges
            .replicated_sequence
            .store(lead.tracker.released(), Ordering::Relaxed);
        if lead.tracker.handover_requested() && !handover {
            handover = true;
            tracing::info!(
                epoch,
                "a handover was asked for: draining, then stepping down"
            );
            world.stop.store(true, Ordering::Release);
        }
        if now - state_at >= STATE_EVERY {
            state_at = now;
            write_state(world.dir, &lead.tracker)?;
        }
        if finishing && shipped == 0 && lead.tracker.in_flight() == 0 {
            write_state(world.dir, &lead.tracker)?;
            return Ok(handover);
        }
        if shipped == 0 {
            world.control.wait.idle();
        }
    }
}

/// Runs `work` (recovery) while another thread writes this leader's
/// heartbeat every `heartbeat_interval`, each one accounted for by the
/// release rule like any other entry of the leader's.
pub(crate) fn heartbeat_while<T>(
    lead: &mut Leadership<'_>,
    work: impl FnOnce() -> Result<T, PipelineError>,
) -> Result<T, PipelineError> {
    let done = AtomicBool::new(false);
    let every = lead.ha.heartbeat_interval;
    let epoch = lead.tracker.epoch();
    let agreed = lead.tracker.released();
    let (producer, tracker) = (&mut *lead.producer, &mut lead.tracker);
    std::thread::scope(|scope| {
        let beating = scope.spawn(|| -> Result<(), PipelineError> {
            let failed = |e: crate::endpoint::BoxError| PipelineError::Replication(e.to_string());
            let mut buffer = Vec::new();
            let mut refused = None;
            while !done.load(Ordering::Acquire) {
                Entry::Mark {
                    epoch,
                    last_sequence: agreed,
                    delivered: 0,
                    wall_ns: crate::endpoint::now_ns(),
                }
                .encode(&mut buffer);
                producer.send(&buffer).map_err(failed)?;
                tracker.sent(None);
                let stop_at = Instant::now() + every;
                while Instant::now() < stop_at && !done.load(Ordering::Acquire) {
                    producer
                        .poll(&mut |offset| {
                            if refused.is_none()
                                && let Err(err) = tracker.acknowledged(offset)
                            {
                                refused = Some(err);
                            }
                        })
                        .map_err(failed)?;
                    if let Some(err) = refused.take() {
                        return Err(fenced(err));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(())
        });
        let result = work();
        done.store(true, Ordering::Release);
        let beat = beating
            .join()
            .map_err(|_| PipelineError::Panicked("heartbeat"))?;
        // Fencing while recovering wins: nothing recovered may be released.
        beat?;
        result
    })
}

fn fenced(err: ReleaseError) -> PipelineError {
    match err {
        ReleaseError::Fenced { epoch, offset } => PipelineError::Fenced { epoch, offset },
        err => PipelineError::Replication(err.to_string()),
    }
}

/// Reads the entries someone else wrote into this leader's run of offsets
/// and lets the release rule judge them.
fn read_hole(lead: &mut Leadership<'_>) -> Result<(), PipelineError> {
    let failed = |e: crate::endpoint::BoxError| PipelineError::Replication(e.to_string());
    let Some(hole) = lead.tracker.hole() else {
        return Ok(());
    };
    tracing::warn!(
        from = hole.start,
        to = hole.end,
        "someone else wrote to the journal topic; reading what, before releasing more"
    );
    lead.consumer.seek(hole.start).map_err(failed)?;
    let deadline = Instant::now() + HOLE_WAIT;
    while let Some(hole) = lead.tracker.hole() {
        if Instant::now() > deadline {
            return Err(PipelineError::Replication(format!(
                "cannot read offsets {}..{} of the journal topic",
                hole.start, hole.end
            )));
        }
        let mut outcome = Ok(());
        let tracker = &mut lead.tracker;
        lead.consumer
            .poll(Duration::from_millis(10), &mut |offset, bytes| {
                if outcome.is_err() || tracker.hole().is_none_or(|h| h.start != offset) {
                    return;
                }
                outcome = match Entry::decode(bytes) {
                    Ok(entry) => tracker.foreign(offset, &entry).map_err(fenced),
                    Err(err) => Err(PipelineError::Replication(format!(
                        "journal topic offset {offset}: {err}"
                    ))),
                };
            })
            .map_err(failed)?;
        outcome?;
    }
    Ok(())
}

fn write_state(dir: &Path, tracker: &ReleaseTracker) -> Result<(), PipelineError> {
    ReplicationState {
        role: Role::Primary.as_str().into(),
        epoch: tracker.epoch(),
        agreed_through: tracker.released(),
        next_offset: tracker.next_offset(),
    }
    .write(dir)
    .map_err(|e| PipelineError::Replication(format!("cannot write the state file: {e}")))
}
