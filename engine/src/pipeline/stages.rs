//! The four stage loops: ingress, journaler, matcher, egress.
//!
//! Each loop polls its inbox, works through what it got, and calls
//! [`WaitMode::idle`] when there is nothing. None of them drops an item:
//! a full outbox is retried until there is room, which is how back-pressure
//! reaches the source. When a stage fails it raises `failed`, the others
//! wind down, and outputs stay behind the egress gate.
//!
//! The matcher thread never reads the clock and does no snapshot work: the
//! replica thread snapshots (`super::replica`).

use std::sync::atomic::{AtomicBool, Ordering};

use journal::{DurableSequence, RecordMeta, Writer};
use rkyv::util::AlignedVec;

use super::PipelineError;
use super::clock::{Stamp, Stamper};
use super::exports::{Export, Exports};
use super::latency::LatencyRecorder;
use super::metrics::{OutputTally, PipelineMetrics, action_index};
use super::output::{Emitter, OutputSlot};
use super::transport::{Ahead, Drained, Inbox, Outbox};
use super::wait::{PARK_CAP, Sleepers, past_yielding};
use crate::endpoint::{InputSource, OutputSink, SourcePoll, now_ns};
use crate::sequenced::{
    Input, InputField, Malformed, Message, Output, Problem, SourcePosition, SourcePositions,
    SourceTopic, apply_input, encode_input,
};
use crate::threads::WaitMode;
use crate::{AdminAction, AdminCommand, Engine, RejectReason};

/// The most items a stage takes from its inbox at once. It bounds how long
/// a journal batch or an egress batch waits for its last item.
pub(crate) const DRAIN_MAX: u64 = 1024;

/// One input-ring slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InputSlot {
    pub seq: u64,
    pub meta: RecordMeta,
    pub origin_ns: u64,
    pub input: Input,
}

impl Default for InputSlot {
    fn default() -> InputSlot {
        InputSlot {
            seq: 0,
            meta: RecordMeta::unsourced(0),
            origin_ns: 0,
            input: Input::Malformed(Malformed::new(
                RejectReason::MalformedMessage,
                InputField::Message,
                Problem::Empty,
            )),
        }
    }
}

impl InputSlot {
    pub fn position(&self) -> SourcePosition {
        SourcePosition {
            topic: self.input.topic(),
            partition: self.meta.source_partition,
            offset: self.meta.source_offset,
        }
    }
}

/// Shared shutdown state.
pub(crate) struct Control<'a> {
    /// Set from outside (a signal): stop taking input, drain, exit.
    pub stop: &'a AtomicBool,
    /// Set by a failing stage: stop everything, emit nothing more.
    pub failed: AtomicBool,
    pub wait: WaitMode,
    /// Who wakes whom in `park` mode.
    pub sleepers: Sleepers,
}

impl Control<'_> {
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub fn fail(&self) {
        self.failed.store(true, Ordering::Release);
    }

    /// Retries `try_put` until it succeeds; `false` if the pipeline failed
    /// meanwhile (the item is then not needed).
    #[inline]
    pub fn put<T>(&self, outbox: &mut impl Outbox<T>, item: &T) -> bool {
        while !outbox.try_put(item) {
            if self.failed() {
                return false;
            }
            self.wait.idle();
        }
        true
    }
}

/// Polls the source, stamps and numbers each input, publishes it.
pub(crate) fn ingress<S: InputSource>(
    source: &mut S,
    mut outbox: impl Outbox<InputSlot>,
    first_seq: u64,
    mut stamper: Stamper,
    control: &Control<'_>,
    metrics: &PipelineMetrics,
) -> Result<(), PipelineError> {
    let counters = &metrics.counters;
    let mut by_action = [0u64; super::metrics::INPUT_ACTIONS.len()];
    let mut by_partition = [0u64; super::metrics::COUNTED_PARTITIONS];
    let mut seq = first_seq;
    while !control.stop.load(Ordering::Relaxed) && !control.failed() {
        match source.poll().map_err(PipelineError::Source)? {
            SourcePoll::Item(item) => {
                control.wait.busy();
                let Stamp { ts, now } = stamper.stamp(seq);
                let mut input = item.input;
                let action = action_index(&input);
                debug_assert_eq!(item.position.topic, input.topic(), "{input:?}");
                match &mut input {
                    Input::Command(command) => command.ts = ts,
                    Input::Admin(command) => command.ts = ts,
                    Input::Malformed(_) | Input::MalformedAdmin(_) | Input::Handover(_) => {}
                }
                let slot = InputSlot {
                    seq,
                    meta: RecordMeta {
                        timestamp_ns: ts,
                        source_partition: item.position.partition,
                        source_offset: item.position.offset,
                    },
                    origin_ns: item.origin_ns.unwrap_or(now),
                    input,
                };
                if !control.put(&mut outbox, &slot) {
                    break;
                }
                control.sleepers.journal.wake(control.wait);
                control.sleepers.matcher.wake(control.wait);
                seq += 1;
                counters.ingressed.store(seq - first_seq, Ordering::Relaxed);
                // One writer: a plain store, not a locked add.
                by_action[action] += 1;
                metrics.inputs[action].store(by_action[action], Ordering::Relaxed);
                if item.position.topic == SourceTopic::Orders
                    && let Ok(p) = usize::try_from(item.position.partition)
                    && p < by_partition.len()
                {
                    by_partition[p] += 1;
                    metrics.partition_inputs[p].store(by_partition[p], Ordering::Relaxed);
                }
                metrics
                    .ingress_clock_clamped
                    .store(stamper.clamped, Ordering::Relaxed);
            }
            SourcePoll::Idle => {
                // Parked, ingress waits in the source, which can wake on
                // input (Kafka) rather than sleep a fixed time.
                if control.wait == WaitMode::Park && past_yielding() {
                    source.wait(PARK_CAP).map_err(PipelineError::Source)?;
                } else {
                    control.wait.idle();
                }
            }
            SourcePoll::Ended => break,
        }
    }
    Ok(()) // dropping the outbox closes the ring
}

/// Appends every input to the journal and ends a journal batch per ring
/// batch, so `batch` durability syncs once per ring batch. A write that
/// fails (a full disk when the next segment is pre-allocated, most often)
/// stops the pipeline: nothing more is journaled, so nothing more is
/// matched into outputs, and ingress stops taking input.
///
/// It also measures ingress to durability per input, and one journal batch
/// at a time from its first append to durability, reading the clock once
/// per loop that sees something become durable.
pub(crate) fn journaler(
    mut inbox: impl Inbox<InputSlot>,
    writer: &mut Writer,
    segment_size: u64,
    control: &Control<'_>,
    metrics: &PipelineMetrics,
    recorder: &mut LatencyRecorder<'_>,
) -> Result<(), PipelineError> {
    let counters = &metrics.counters;
    let dir = writer.dir().to_path_buf();
    let durable = writer.durable();
    let failed_write = |cause: journal::Error| match cause {
        journal::Error::Io { .. } => {
            PipelineError::storage("append to the journal", &dir, segment_size as usize, cause)
        }
        cause => PipelineError::Journal(cause),
    };
    let mut buffer = AlignedVec::new();
    let mut error: Option<PipelineError> = None;
    let mut appended = 0u64;
    let mut waiting = WaitingForDurability::new(ORIGINS_KEPT);
    let mut egress_woken_at = durable.load_acquire();
    control.sleepers.journal.register();
    loop {
        // What the input ring holds for its slower consumer, as this batch
        // starts.
        let behind = counters
            .ingressed
            .load(Ordering::Relaxed)
            .saturating_sub(appended.min(counters.matched.load(Ordering::Relaxed)));
        metrics.ring_peak[0].fetch_max(behind, Ordering::Relaxed);
        let drained = inbox.drain(DRAIN_MAX, &mut |slot| {
            if error.is_some() {
                return; // keep draining so ingress is never stuck
            }
            encode_input(&slot.input, &mut buffer);
            match writer.append(&slot.meta, &buffer) {
                Ok(seq) if seq == slot.seq => {
                    appended += 1;
                    waiting.push(seq, slot.origin_ns);
                }
                Ok(seq) => {
                    error = Some(PipelineError::Sequence {
                        journal: seq,
                        ring: slot.seq,
                    });
                }
                Err(err) => error = Some(failed_write(err)),
            }
        });
        if error.is_none() {
            let step = match drained {
                Drained::Some => writer.end_batch(),
                Drained::Empty | Drained::Closed => writer.poll(),
            };
            if let Err(err) = step {
                error = Some(failed_write(err));
            }
        }
        if error.is_some() && !control.failed() {
            control.fail();
        }
        counters.journaled.store(appended, Ordering::Relaxed);
        waiting.seal();
        let durable_now = durable.load_acquire();
        waiting.settle(durable_now, recorder, metrics);
        recorder.publish(false);
        if durable_now != egress_woken_at {
            egress_woken_at = durable_now;
            control.sleepers.egress.wake(control.wait);
        }
        match drained {
            Drained::Some => control.sleepers.journal.busy(control.wait),
            // A sync in flight completes only when looked at: no parking.
            Drained::Empty if durable_now < writer.next_sequence() - 1 => control.wait.idle(),
            Drained::Empty => control.sleepers.journal.idle(control.wait),
            Drained::Closed => break,
        }
    }
    let result = match error {
        Some(err) => Err(err),
        // Make the tail durable whatever the mode, so the final snapshot
        // and the last outputs can go.
        None => writer.sync().map_err(failed_write),
    };
    waiting.settle(durable.load_acquire(), recorder, metrics);
    recorder.publish(true);
    result
}

/// Inputs whose ingress times the journaler keeps while it waits for them
/// to become durable; beyond this, the oldest go unmeasured. A `batch`
/// sync covers a few thousand inputs at most at a million a second.
const ORIGINS_KEPT: usize = 1 << 16;

/// Appended inputs not yet durable: their ingress times, in sequence
/// order, in a ring allocated once; and the one batch being timed.
struct WaitingForDurability {
    origins: Box<[u64]>,
    /// The sequence of `origins[first % len]`, and one past the last.
    first: u64,
    end: u64,
    /// The batch being timed, one at a time.
    timed: Option<TimedBatch>,
}

/// A journal batch timed from its first append to durability.
#[derive(Clone, Copy)]
struct TimedBatch {
    /// Its last sequence (so far, until sealed).
    last: u64,
    /// When its first input was appended.
    started_ns: u64,
    /// The drained batch ended: later appends belong to another.
    sealed: bool,
}

impl WaitingForDurability {
    fn new(kept: usize) -> WaitingForDurability {
        WaitingForDurability {
            origins: vec![0; kept].into_boxed_slice(),
            first: 0,
            end: 0,
            timed: None,
        }
    }

    #[inline]
    fn push(&mut self, seq: u64, origin_ns: u64) {
        let len = self.origins.len() as u64;
        if self.end != seq {
            // The first input, or after a gap we never measure across.
            self.first = seq;
        } else if self.end - self.first == len {
            self.first += 1; // full: the oldest goes unmeasured
        }
        self.origins[(seq % len) as usize] = origin_ns;
        self.end = seq + 1;
        match &mut self.timed {
            Some(batch) if !batch.sealed && batch.last + 1 == seq => batch.last = seq,
            Some(_) => {}
            None => {
                self.timed = Some(TimedBatch {
                    last: seq,
                    started_ns: now_ns(),
                    sealed: false,
                });
            }
        }
    }

    /// The drained batch ended: the one being timed is complete.
    fn seal(&mut self) {
        if let Some(batch) = &mut self.timed {
            batch.sealed = true;
        }
    }

    /// Records every waiting input the journal now holds durably.
    fn settle(
        &mut self,
        durable: u64,
        recorder: &mut LatencyRecorder<'_>,
        metrics: &PipelineMetrics,
    ) {
        if self.first >= self.end || self.first > durable {
            return;
        }
        let now = now_ns();
        let len = self.origins.len() as u64;
        let through = durable.min(self.end - 1);
        for seq in self.first..=through {
            recorder.journaled(now.saturating_sub(self.origins[(seq % len) as usize]));
        }
        self.first = through + 1;
        if let Some(batch) = self.timed
            && batch.sealed
            && batch.last <= durable
        {
            let took = now.saturating_sub(batch.started_ns);
            metrics.durable_batches.fetch_add(1, Ordering::Relaxed);
            metrics.durable_total_ns.fetch_add(took, Ordering::Relaxed);
            metrics.durable_max_ns.fetch_max(took, Ordering::Relaxed);
            self.timed = None;
        }
    }
}

/// Forwards the outputs of one input, marking the last one, so egress knows
/// when all of an input's messages have been delivered.
pub(crate) struct LastMarker<F: FnMut(Output, bool)> {
    pending: Option<Output>,
    forward: F,
}

impl<F: FnMut(Output, bool)> LastMarker<F> {
    pub fn new(forward: F) -> LastMarker<F> {
        LastMarker {
            pending: None,
            forward,
        }
    }

    #[inline]
    pub(crate) fn emit(&mut self, output: Output) {
        if let Some(previous) = self.pending.replace(output) {
            (self.forward)(previous, false);
        }
    }

    /// Ends the current input.
    pub fn finish(&mut self) {
        if let Some(last) = self.pending.take() {
            (self.forward)(last, true);
        }
    }
}

/// Applies inputs in sequence order and publishes their outputs. Returns
/// the last sequence applied, the engine and the source positions. It does
/// no snapshot work: the replica thread snapshots (`super::replica`).
#[allow(clippy::too_many_arguments)] // one loop, wired once by `run`
pub(crate) fn matcher(
    mut inbox: impl Inbox<InputSlot>,
    mut outbox: impl Outbox<OutputSlot>,
    mut engine: Engine,
    mut last_seq: u64,
    mut positions: SourcePositions,
    control: &Control<'_>,
    metrics: &PipelineMetrics,
    exports: Option<&Exports>,
) -> (u64, Engine, SourcePositions) {
    let counters = &metrics.counters;
    metrics.matcher_tid.store(
        rustix::thread::gettid().as_raw_nonzero().get() as u64,
        Ordering::Relaxed,
    );
    let mut published = 0u64;
    let mut matched = 0u64;
    let mut template = OutputSlot::default();
    control.sleepers.matcher.register();
    loop {
        // Two clock reads per batch, never inside a command: the busy
        // cycle an exporter reports.
        let batch_started = std::time::Instant::now();
        // The path `bench matcher` measures: each command's slot, then its
        // index bucket, is fetched a few commands before it is applied.
        let drained = inbox.drain_ahead(DRAIN_MAX, &mut |ahead, slot| {
            if let Input::Command(command) = &slot.input {
                match ahead {
                    Ahead::Far => return Engine::prefetch_command(command),
                    Ahead::Near => return engine.prefetch(command),
                    Ahead::Now => {}
                }
            } else if ahead != Ahead::Now {
                return;
            }
            if control.failed() {
                return;
            }
            template.seq = slot.seq;
            template.source = slot.position();
            template.origin_ns = slot.origin_ns;
            let mut marker = LastMarker::new(|output, last| {
                let out = OutputSlot {
                    last,
                    output,
                    ..template
                };
                if control.put(&mut outbox, &out) {
                    published += 1;
                }
            });
            apply_input(&mut engine, &slot.input, slot.position(), &mut |output| {
                marker.emit(output)
            });
            marker.finish();
            if let (Some(exports), Input::Admin(admin)) = (exports, &slot.input) {
                export_if_released(&engine, admin, slot.seq, exports);
            }
            positions.advance(slot.position());
            last_seq = slot.seq;
            matched += 1;
        });
        counters
            .outputs_published
            .store(published, Ordering::Relaxed);
        counters.matched.store(matched, Ordering::Relaxed);
        match drained {
            Drained::Some => {
                control.sleepers.matcher.busy(control.wait);
                control.sleepers.egress.wake(control.wait);
                // A load first: the locked `fetch_max` only for a new peak.
                let busy = batch_started.elapsed().as_nanos() as u64;
                let peak = &metrics.matcher_busy_max_ns;
                if busy > peak.load(Ordering::Relaxed) {
                    peak.fetch_max(busy, Ordering::Relaxed);
                }
            }
            Drained::Empty => control.sleepers.matcher.idle(control.wait),
            Drained::Closed => break,
        }
    }
    (last_seq, engine, positions)
}

/// Hands the export on when `admin` released a partition. Encoding it
/// stops the matcher for as long as the books take to serialise (a
/// move's price, paid once; `docs/shards.md`).
#[cold]
fn export_if_released(engine: &Engine, admin: &AdminCommand, seq: u64, exports: &Exports) {
    let Some(outgoing) = engine.moves().outgoing else {
        return;
    };
    if matches!(admin.action, AdminAction::Release { .. }) && outgoing.move_id == admin.request_id {
        // A clock read off the hot path: the figure operators weigh a
        // move's stall by.
        let started = std::time::Instant::now();
        let bytes = engine.export_outgoing().unwrap_or_default();
        (exports.0)(Export {
            seq,
            outgoing,
            bytes,
            encoding: started.elapsed(),
        });
    }
}

/// Gates outputs on the journal, numbers and batches them, delivers them.
pub(crate) fn egress<K: OutputSink>(
    mut inbox: impl Inbox<OutputSlot>,
    emitter: &mut Emitter<K>,
    durable: &DurableSequence,
    control: &Control<'_>,
    metrics: &PipelineMetrics,
    recorder: &mut LatencyRecorder<'_>,
) -> Result<(), PipelineError> {
    let counters = &metrics.counters;
    let mut durable_seen = durable.load_acquire();
    let mut consumed = 0u64;
    let mut error: Option<PipelineError> = None;
    let mut tally = OutputTally::default();
    control.sleepers.egress.register();
    let record_sent =
        |recorder: &mut LatencyRecorder<'_>, tally: &mut OutputTally, batch: &[Message]| {
            let now = now_ns();
            for message in batch.iter().filter(|m| m.last) {
                recorder.egress(now.saturating_sub(message.origin_ns));
            }
            tally.count(batch);
        };
    loop {
        let behind = counters
            .outputs_published
            .load(Ordering::Relaxed)
            .saturating_sub(consumed);
        metrics.ring_peak[1].fetch_max(behind, Ordering::Relaxed);
        let drained = inbox.drain(DRAIN_MAX, &mut |slot| {
            if error.is_some() {
                return;
            }
            consumed += 1;
            if slot.last {
                recorder.matched(now_ns().saturating_sub(slot.origin_ns));
            }
            // The gate: nothing leaves before its input is journaled.
            while slot.seq > durable_seen {
                durable_seen = durable.load_acquire();
                if slot.seq <= durable_seen {
                    break;
                }
                if control.failed() {
                    error = Some(PipelineError::Stopped);
                    return;
                }
                // Everything already batched is journaled: send it rather
                // than hold it while the journal catches up.
                if let Err(err) = emitter
                    .flush(&mut |b| record_sent(recorder, &mut tally, b))
                    .and_then(|()| emitter.poll())
                {
                    error = Some(PipelineError::Sink(err));
                    return;
                }
                // The journaler wakes a parked egress when durability moves.
                control.sleepers.egress.idle(control.wait);
            }
            control.sleepers.egress.busy(control.wait);
            if let Err(err) = emitter.push(slot, &mut |b| record_sent(recorder, &mut tally, b)) {
                error = Some(PipelineError::Sink(err));
            }
        });
        if error.is_none()
            && matches!(drained, Drained::Some)
            && let Err(err) = emitter.flush(&mut |b| record_sent(recorder, &mut tally, b))
        {
            error = Some(PipelineError::Sink(err));
        }
        counters.outputs_consumed.store(consumed, Ordering::Relaxed);
        counters.trades.store(emitter.trades, Ordering::Relaxed);
        counters.outputs_sent.store(emitter.sent, Ordering::Relaxed);
        tally.publish(metrics);
        if error.is_none() {
            match emitter.delivered() {
                Ok(seq) => counters.delivered.store(seq, Ordering::Release),
                Err(err) => error = Some(PipelineError::Sink(err)),
            }
        }
        recorder.publish(false);
        if let Some(err) = error {
            control.fail();
            // A failed journal is reported by the journaler, not here.
            return match err {
                PipelineError::Stopped => Ok(()),
                err => Err(err),
            };
        }
        match drained {
            Drained::Some => control.sleepers.egress.busy(control.wait),
            Drained::Empty => {
                if let Err(err) = emitter.poll() {
                    control.fail();
                    return Err(PipelineError::Sink(err));
                }
                control.sleepers.egress.idle(control.wait);
            }
            Drained::Closed => break,
        }
    }
    recorder.publish(true);
    Ok(())
}
