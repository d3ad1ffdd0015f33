//! Live figures for an exporter: what the stages count, and each window's
//! percentiles and peaks, read by any thread through [`PipelineMetrics::sample`].
//!
//! The stage threads only store to atomics that they alone write, or
//! `fetch_max` into peaks, once per drained batch where they can. Latency
//! histograms stay private to egress and the journaler and reach the
//! statistics thread through `try_lock` (`super::latency`), which closes a
//! window every [`PipelineMetrics::window`] and publishes its percentiles
//! here. Nothing in this module allocates, locks or does I/O on a stage
//! thread, and it knows no exporter format: the `engine` binary turns a
//! [`MetricsSample`] into Prometheus text.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use journal::DurableSequence;

use super::latency::{LATENCY_STAGES, LatencySummary};
use crate::replicated::{ROLES, ReplicationGauges};
use crate::sequenced::{Input, Message, MessageBody, Topic};
use crate::{Action, Event, RejectReason};

/// Input kinds, as `engine_inputs_total{action}` labels them.
pub(crate) const INPUT_ACTIONS: [&str; 7] = [
    "add",
    "cancel",
    "replace",
    "malformed",
    "admin",
    "admin_malformed",
    "handover",
];

/// The input's index in [`INPUT_ACTIONS`].
#[inline]
pub(crate) fn action_index(input: &Input) -> usize {
    match input {
        Input::Command(command) => match command.action {
            Action::Add(_) => 0,
            Action::Cancel => 1,
            Action::Replace(_) => 2,
        },
        Input::Malformed(_) => 3,
        Input::Admin(_) => 4,
        Input::MalformedAdmin(_) => 5,
        Input::Handover(_) => 6,
    }
}

/// `orders` partitions whose inputs ingress counts one by one: ids 0 to
/// 255, as the source's probe tracks them.
pub(crate) const COUNTED_PARTITIONS: usize = 256;

/// Rings, as `engine_ring_occupancy{ring}` labels them.
pub(crate) const RINGS: [&str; 2] = ["input", "output"];

/// One writer each; padded so the stages do not share cache lines.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub ingressed: CachePadded<AtomicU64>,
    pub journaled: CachePadded<AtomicU64>,
    pub matched: CachePadded<AtomicU64>,
    pub outputs_published: CachePadded<AtomicU64>,
    pub outputs_consumed: CachePadded<AtomicU64>,
    /// Messages delivered.
    pub outputs_sent: CachePadded<AtomicU64>,
    /// `trades` messages delivered.
    pub trades: CachePadded<AtomicU64>,
    /// The highest input whose outputs the sink records as delivered;
    /// retention never retires what recovery would re-send from.
    pub delivered: CachePadded<AtomicU64>,
}

/// What egress has delivered, by kind; egress owns one and copies it into
/// the shared atomics once per drained batch.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutputTally {
    pub by_topic: [u64; Topic::ALL.len()],
    pub rejects: [u64; RejectReason::ALL.len()],
    pub batches: u64,
    pub batch_max: u64,
}

impl OutputTally {
    /// Counts one delivered batch.
    pub fn count(&mut self, batch: &[Message]) {
        self.batches += 1;
        self.batch_max = self.batch_max.max(batch.len() as u64);
        for message in batch {
            self.by_topic[message.body.topic().index()] += 1;
            if let Some(reason) = rejection(&message.body) {
                self.rejects[reason.index()] += 1;
            }
        }
    }
}

impl OutputTally {
    /// Copies the counts into `metrics`; egress is their only writer, so
    /// plain stores.
    pub fn publish(&mut self, metrics: &PipelineMetrics) {
        for (shared, mine) in metrics.outputs.iter().zip(self.by_topic) {
            shared.store(mine, Ordering::Relaxed);
        }
        for (shared, mine) in metrics.rejects.iter().zip(self.rejects) {
            shared.store(mine, Ordering::Relaxed);
        }
        metrics.batches.store(self.batches, Ordering::Relaxed);
        if self.batch_max > metrics.batch_max.load(Ordering::Relaxed) {
            metrics
                .batch_max
                .fetch_max(self.batch_max, Ordering::Relaxed);
        }
        self.batch_max = 0; // a peak per window, which the exporter restarts
    }
}

fn rejection(body: &MessageBody) -> Option<RejectReason> {
    match body {
        MessageBody::Status(
            Event::Rejected { reason, .. }
            | Event::CancelRejected { reason, .. }
            | Event::ReplaceRejected { reason, .. },
        ) => Some(*reason),
        MessageBody::Undecodable(malformed) => Some(malformed.reason),
        _ => None,
    }
}

/// One of the busiest symbols' books, as the snapshot replica last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookGauge {
    /// The symbol.
    pub symbol: String,
    /// Inputs for it the replica applied in this run.
    pub inputs: u64,
    /// Orders resting on the bid side.
    pub bid_orders: u64,
    /// Orders resting on the ask side.
    pub ask_orders: u64,
    /// The best bid, in ticks.
    pub best_bid: Option<u64>,
    /// The best ask, in ticks.
    pub best_ask: Option<u64>,
}

/// One `orders` partition's books, as the snapshot replica last saw them:
/// which partition is hot enough to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionGauge {
    /// The partition.
    pub partition: i32,
    /// Books created by its inputs, and not moved away.
    pub books: u64,
    /// Their live orders, stops included.
    pub orders: u64,
}

/// A window's figures, published by the statistics thread.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WindowFigures {
    pub latency: [LatencySummary; LATENCY_STAGES.len()],
    pub ring_peak: [u64; RINGS.len()],
    pub matcher_busy_max_ns: u64,
    pub batch_max: u64,
    pub durable_max_ns: u64,
    /// Snapshots written when the window closed.
    pub snapshots: u64,
    /// The matcher's longest batch in the latest window in which a
    /// snapshot was written.
    pub snapshot_stall_ns: u64,
}

/// The pipeline's live figures. Create one, put it in
/// [`PipelineConfig::metrics`](super::PipelineConfig::metrics), and call
/// [`sample`](Self::sample) from any thread while the pipeline runs.
#[derive(Debug)]
pub struct PipelineMetrics {
    pub(crate) counters: Counters,
    /// By [`INPUT_ACTIONS`]; ingress writes.
    pub(crate) inputs: [AtomicU64; INPUT_ACTIONS.len()],
    /// `orders` inputs by source partition; ingress writes.
    pub(crate) partition_inputs: [AtomicU64; COUNTED_PARTITIONS],
    /// Inputs whose wall-clock stamp ingress raised to the one before
    /// (the clock stepped back); ingress writes.
    pub(crate) ingress_clock_clamped: AtomicU64,
    /// By `Topic::ALL`; egress writes.
    pub(crate) outputs: [AtomicU64; Topic::ALL.len()],
    /// By `RejectReason::ALL`; egress writes.
    pub(crate) rejects: [AtomicU64; RejectReason::ALL.len()],
    pub(crate) batches: AtomicU64,
    /// Peaks since the window opened, swapped out when it closes.
    pub(crate) ring_peak: [CachePadded<AtomicU64>; RINGS.len()],
    pub(crate) matcher_busy_max_ns: CachePadded<AtomicU64>,
    pub(crate) batch_max: CachePadded<AtomicU64>,
    /// The longest a journal batch took from its first append to
    /// durability, in this window.
    pub(crate) durable_max_ns: CachePadded<AtomicU64>,
    /// Journal batches timed to durability, and their total time.
    pub(crate) durable_batches: AtomicU64,
    pub(crate) durable_total_ns: AtomicU64,
    /// The sequence before this run's first input.
    pub(crate) base_sequence: AtomicU64,
    /// The running journal's durable sequence, once a run starts.
    pub(crate) durable: Mutex<Option<DurableSequence>>,
    pub(crate) ring_slots: [AtomicU64; RINGS.len()],
    pub(crate) snapshots_written: AtomicU64,
    pub(crate) snapshot_sequence: AtomicU64,
    pub(crate) snapshot_write_ns: AtomicU64,
    pub(crate) replica_lag: AtomicU64,
    pub(crate) recovery_ns: AtomicU64,
    pub(crate) recovery_replayed: AtomicU64,
    /// The matcher thread's kernel thread id, 0 until it starts.
    pub(crate) matcher_tid: AtomicU64,
    /// Role, epoch and lag of a replicated engine.
    pub(crate) replication: ReplicationGauges,
    window: Duration,
    pub(crate) last_window: Mutex<WindowFigures>,
    /// The busiest symbols' books and the sequence they are as of; the
    /// replica writes them about once a second.
    pub(crate) books: Mutex<(u64, Vec<BookGauge>)>,
    /// Each partition's books, written with them.
    pub(crate) partitions: Mutex<Vec<PartitionGauge>>,
}

impl PipelineMetrics {
    /// Figures whose percentiles and peaks cover windows of `window`.
    pub fn new(window: Duration) -> PipelineMetrics {
        PipelineMetrics {
            counters: Counters::default(),
            inputs: Default::default(),
            partition_inputs: std::array::from_fn(|_| AtomicU64::new(0)),
            ingress_clock_clamped: AtomicU64::new(0),
            outputs: Default::default(),
            rejects: Default::default(),
            batches: AtomicU64::new(0),
            ring_peak: Default::default(),
            matcher_busy_max_ns: CachePadded::default(),
            batch_max: CachePadded::default(),
            durable_max_ns: CachePadded::default(),
            durable_batches: AtomicU64::new(0),
            durable_total_ns: AtomicU64::new(0),
            base_sequence: AtomicU64::new(0),
            durable: Mutex::new(None),
            ring_slots: Default::default(),
            snapshots_written: AtomicU64::new(0),
            snapshot_sequence: AtomicU64::new(0),
            snapshot_write_ns: AtomicU64::new(0),
            replica_lag: AtomicU64::new(0),
            recovery_ns: AtomicU64::new(0),
            recovery_replayed: AtomicU64::new(0),
            matcher_tid: AtomicU64::new(0),
            replication: ReplicationGauges::default(),
            window: window.max(Duration::from_millis(100)),
            last_window: Mutex::new(WindowFigures::default()),
            books: Mutex::new((0, Vec::new())),
            partitions: Mutex::new(Vec::new()),
        }
    }

    /// The replication figures, which a replicated engine keeps here too.
    pub fn replication(&self) -> &ReplicationGauges {
        &self.replication
    }

    /// The highest input all of whose outputs the sink records as
    /// delivered.
    pub fn delivered(&self) -> u64 {
        self.counters.delivered.load(Ordering::Acquire)
    }

    /// How long each window of percentiles and peaks lasts.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Closes a window: takes the peaks, which restart from zero.
    pub(crate) fn close_window(&self, latency: [LatencySummary; LATENCY_STAGES.len()]) {
        let take = |peak: &AtomicU64| peak.swap(0, Ordering::Relaxed);
        let Ok(mut last) = self.last_window.lock() else {
            return;
        };
        let matcher_busy_max_ns = take(&self.matcher_busy_max_ns);
        let snapshots = self.snapshots_written.load(Ordering::Relaxed);
        *last = WindowFigures {
            latency,
            ring_peak: [take(&self.ring_peak[0]), take(&self.ring_peak[1])],
            matcher_busy_max_ns,
            batch_max: take(&self.batch_max),
            durable_max_ns: take(&self.durable_max_ns),
            snapshots,
            // The matcher has no snapshot code path; what a snapshot could
            // still cost it (a shared core, memory bandwidth) shows as a
            // long batch while the replica writes.
            snapshot_stall_ns: if snapshots > last.snapshots {
                matcher_busy_max_ns
            } else {
                last.snapshot_stall_ns
            },
        };
    }

    /// Everything, as it stands. Cheap: loads, and one uncontended lock.
    pub fn sample(&self) -> MetricsSample {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        let base = load(&self.base_sequence);
        let ingressed = load(&c.ingressed);
        let journaled = load(&c.journaled);
        let matched = load(&c.matched);
        let window = self.last_window.lock().map(|w| *w).unwrap_or_default();
        let (books_sequence, books) = self
            .books
            .lock()
            .map(|books| books.clone())
            .unwrap_or_default();
        let input_ring = ingressed.saturating_sub(journaled.min(matched));
        let output_ring = load(&c.outputs_published).saturating_sub(load(&c.outputs_consumed));
        MetricsSample {
            inputs: std::array::from_fn(|i| (INPUT_ACTIONS[i], load(&self.inputs[i]))),
            partition_inputs: (0..COUNTED_PARTITIONS)
                .filter_map(|p| {
                    let n = load(&self.partition_inputs[p]);
                    (n > 0).then_some((p as i32, n))
                })
                .collect(),
            partitions: self
                .partitions
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
            ingress_clock_clamped: load(&self.ingress_clock_clamped),
            rejects: std::array::from_fn(|i| {
                (RejectReason::ALL[i].as_str(), load(&self.rejects[i]))
            }),
            outputs: std::array::from_fn(|i| (Topic::ALL[i].name(), load(&self.outputs[i]))),
            trades: load(&c.trades),
            sequence_input: base + ingressed,
            sequence_journaled: match self.durable.lock().as_deref() {
                Ok(Some(durable)) => durable.load_acquire(),
                _ => base,
            },
            sequence_delivered: load(&c.delivered),
            rings: [
                RingSample {
                    name: RINGS[0],
                    slots: load(&self.ring_slots[0]),
                    occupancy: input_ring,
                    peak: window.ring_peak[0],
                },
                RingSample {
                    name: RINGS[1],
                    slots: load(&self.ring_slots[1]),
                    occupancy: output_ring,
                    peak: window.ring_peak[1],
                },
            ],
            latency: std::array::from_fn(|i| (LATENCY_STAGES[i], window.latency[i])),
            window: self.window,
            matcher_busy_max: ns(window.matcher_busy_max_ns),
            journal_durable_batches: load(&self.durable_batches),
            journal_durable_total: ns(load(&self.durable_total_ns)),
            journal_durable_max: ns(window.durable_max_ns),
            batches: load(&self.batches),
            messages: load(&c.outputs_sent),
            batch_max: window.batch_max,
            snapshots_written: load(&self.snapshots_written),
            snapshot_sequence: load(&self.snapshot_sequence),
            snapshot_write: ns(load(&self.snapshot_write_ns)),
            snapshot_stall: ns(window.snapshot_stall_ns),
            replica_lag: load(&self.replica_lag),
            recovery: ns(load(&self.recovery_ns)),
            recovery_replayed: load(&self.recovery_replayed),
            books,
            books_sequence,
            matcher_tid: match load(&self.matcher_tid) {
                0 => None,
                tid => Some(tid),
            },
            replication: ReplicationSample {
                role: ROLES
                    .get(load(&self.replication.role) as usize)
                    .copied()
                    .unwrap_or(ROLES[0]),
                leader_epoch: load(&self.replication.leader_epoch),
                lag_records: load(&self.replication.lag_records),
                lag: ns(load(&self.replication.lag_ns)),
                replicated_sequence: load(&self.replication.replicated_sequence),
                takeovers: load(&self.replication.takeovers),
                last_takeover: ns(load(&self.replication.takeover_ns)),
            },
        }
    }
}

fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

/// One ring's fill.
#[derive(Clone, Copy, Debug)]
pub struct RingSample {
    /// `input` or `output`.
    pub name: &'static str,
    /// Its size.
    pub slots: u64,
    /// Slots published and not yet consumed by every consumer, now.
    pub occupancy: u64,
    /// The most seen by a consumer at the start of a batch, in the last
    /// window.
    pub peak: u64,
}

/// The pipeline's figures at one moment. Counters run from the start of
/// the process; "last window" figures cover the latest closed window.
#[derive(Clone, Debug)]
pub struct MetricsSample {
    /// Inputs taken, by action.
    pub inputs: [(&'static str, u64); INPUT_ACTIONS.len()],
    /// `orders` inputs taken, by partition (0 to 255), for partitions
    /// that had any.
    pub partition_inputs: Vec<(i32, u64)>,
    /// Each partition's books (empty unless the book figures are asked
    /// for, as for [`MetricsSample::books`]).
    pub partitions: Vec<PartitionGauge>,
    /// Inputs whose wall-clock stamp was held at the one before, because
    /// the clock stepped back.
    pub ingress_clock_clamped: u64,
    /// Rejections delivered, by reason.
    pub rejects: [(&'static str, u64); RejectReason::ALL.len()],
    /// Messages delivered, by topic.
    pub outputs: [(&'static str, u64); Topic::ALL.len()],
    /// `trades` messages delivered.
    pub trades: u64,
    /// The last input sequence ingress assigned.
    pub sequence_input: u64,
    /// The last sequence the journal holds at the configured durability.
    pub sequence_journaled: u64,
    /// The last input all of whose outputs the sink records as delivered.
    pub sequence_delivered: u64,
    /// The input and output rings.
    pub rings: [RingSample; RINGS.len()],
    /// Stage latencies over the last window (zero count when idle).
    pub latency: [(&'static str, LatencySummary); LATENCY_STAGES.len()],
    /// How long a window lasts.
    pub window: Duration,
    /// The matcher's longest batch, from taking it off the ring to its
    /// last output published, in the last window.
    pub matcher_busy_max: Duration,
    /// Journal batches timed from their first append to durability.
    pub journal_durable_batches: u64,
    /// Their total time.
    pub journal_durable_total: Duration,
    /// The longest of them in the last window.
    pub journal_durable_max: Duration,
    /// Output batches delivered.
    pub batches: u64,
    /// Messages in them.
    pub messages: u64,
    /// The largest batch in the last window.
    pub batch_max: u64,
    /// Snapshots written by this process.
    pub snapshots_written: u64,
    /// The newest snapshot's sequence, written or recovered from.
    pub snapshot_sequence: u64,
    /// How long writing the newest one took.
    pub snapshot_write: Duration,
    /// The matcher's longest batch in the latest window in which a
    /// snapshot was written: how much a snapshot held the matcher up, at
    /// most. The matcher does no snapshot work, so this is its ordinary
    /// busy time unless the replica interferes.
    pub snapshot_stall: Duration,
    /// How far the snapshot replica was behind the journal when it last
    /// woke, in inputs.
    pub replica_lag: u64,
    /// How long start-up recovery took.
    pub recovery: Duration,
    /// Journal records recovery replayed.
    pub recovery_replayed: u64,
    /// The busiest symbols' books, busiest first (empty unless asked for
    /// with [`PipelineConfig::book_symbols`](super::PipelineConfig::book_symbols)).
    pub books: Vec<BookGauge>,
    /// The sequence those books are as of.
    pub books_sequence: u64,
    /// The matcher thread's kernel id, once it runs.
    pub matcher_tid: Option<u64>,
    /// Replication: role, epoch, lag.
    pub replication: ReplicationSample,
}

/// A replicated engine's figures; a single-host engine's role is `single`
/// and the rest 0.
#[derive(Clone, Copy, Debug)]
pub struct ReplicationSample {
    /// `single`, `primary` or `standby`.
    pub role: &'static str,
    /// The epoch last seen claimed (this engine's own when it leads).
    pub leader_epoch: u64,
    /// Journal-topic entries a standby has not read yet.
    pub lag_records: u64,
    /// How long a standby has been behind the topic's end.
    pub lag: Duration,
    /// The last sequence the log agreed to, as this engine knows it.
    pub replicated_sequence: u64,
    /// Takeovers by this process.
    pub takeovers: u64,
    /// The last takeover, from detection to the first output.
    pub last_takeover: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tallies index by these; a gap or a reordering would miscount.
    #[test]
    fn topics_and_reasons_index_their_all_lists() {
        for (i, topic) in Topic::ALL.iter().enumerate() {
            assert_eq!(topic.index(), i);
        }
        for (i, reason) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason:?}");
        }
    }
}
