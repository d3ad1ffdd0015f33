//! The hot path, matcher and journal appends, allocates nothing after
//! warm-up (DESIGN.md §2, §10).
//!
//! A counting global allocator wraps the system one. Counting is switched on
//! per thread, around the timed part only, so tests running in parallel and
//! set-up work (generating streams, building the engine) do not count. The
//! whole-pipeline test counts every thread instead, so it runs alone.
//!
//! These run under the optimised `ci` profile; in a debug build they are
//! correct but slow.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bench::{CountingSink, PacedSource, TradeTally, Workload, WorkloadKind};
use engine::Engine;
use engine::pipeline::{PipelineConfig, RunReport, WaitMode, run};
use journal::{Durability, Journal, JournalOptions, RecordMeta};

/// Forwards to `System`, counting calls made while the calling thread has
/// counting switched on.
struct CountingAllocator;

thread_local! {
    // `const` initialisation: reading these never allocates, which matters
    // inside an allocator.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts allocations on every thread while raised.
static COUNT_ALL_THREADS: AtomicBool = AtomicBool::new(false);
static ALL_THREADS_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Held by every test: the whole-pipeline count must not see the others.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn note_allocation() {
    if COUNT_ALL_THREADS.load(Ordering::Relaxed) {
        ALL_THREADS_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    // `try_with`: during thread teardown the slots may be gone; such late
    // allocations are not ours to count.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// const-initialised thread-locals, which never allocate or unwind.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` with counting on and returns how many allocations it made.
fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Applies `warm_up` commands, then counts allocations over the next
/// `measured` ones. Returns the count and the trades seen while counting.
fn measure(kind: WorkloadKind, warm_up: usize, measured: usize) -> (u64, TradeTally) {
    let workload = Workload::generate(kind, warm_up + measured, 1);
    let mut engine = Engine::new(workload.config.clone()).unwrap();
    let mut sink = TradeTally::default();
    for command in workload.prefill.iter().chain(&workload.commands[..warm_up]) {
        engine.apply(command, &mut sink);
    }
    let mut tally = TradeTally::default();
    let count = allocations_during(|| {
        for (i, command) in workload.commands[warm_up..].iter().enumerate() {
            if let Some(ahead) = workload.commands.get(warm_up + i + 8) {
                engine.prefetch(ahead);
            }
            engine.apply(command, &mut tally);
        }
    });
    (count, tally)
}

#[test]
fn counting_allocator_sees_allocations() {
    let _serial = serial();
    // Guards the guard: a counter that never counts would pass every test.
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(n, 1);
}

#[test]
fn ecore_mix_allocates_nothing_after_warm_up() {
    let _serial = serial();
    let (allocations, tally) = measure(WorkloadKind::Ecore, 200_000, 1_000_000);
    assert!(
        tally.trades > 10_000 && tally.events > 1_000_000,
        "the mix really ran: {tally:?}"
    );
    assert_eq!(
        allocations, 0,
        "heap allocations in 1M ecore commands after warm-up"
    );
}

#[test]
fn liquibook_stream_allocates_nothing_after_warm_up() {
    let _serial = serial();
    // The book grows by ~half the orders here, into reserved capacity.
    let (allocations, tally) = measure(WorkloadKind::Liquibook, 100_000, 1_000_000);
    assert!(
        tally.trades > 100_000,
        "the stream really traded: {tally:?}"
    );
    assert_eq!(
        allocations, 0,
        "heap allocations in 1M liquibook orders after warm-up"
    );
}

#[test]
fn journal_appends_allocate_nothing_after_warm_up() {
    let _serial = serial();
    for durability in [Durability::None, Durability::Batch] {
        let dir = tempfile::tempdir().unwrap();
        // One segment holds every record: a roll-over creates a file, which
        // allocates (paths) and is not the per-record path.
        let options = JournalOptions::new()
            .segment_size(64 << 20)
            .durability(durability);
        let mut writer = Journal::open(dir.path(), options)
            .unwrap()
            .into_writer()
            .unwrap();
        let payload = [7u8; 96];
        let meta = RecordMeta::unsourced(1);
        for _ in 0..1_000 {
            writer.append(&meta, &payload).unwrap();
        }
        writer.end_batch().unwrap();
        writer.sync().unwrap();
        let durable = writer.durable();
        let allocations = allocations_during(|| {
            for i in 0..200_000u64 {
                writer.append(&meta, &payload).unwrap();
                if i % 100 == 99 {
                    writer.end_batch().unwrap();
                }
            }
            while durable.get() < writer.next_sequence() - 1 {
                writer.poll().unwrap();
            }
        });
        assert_eq!(
            allocations, 0,
            "heap allocations in 200,000 {durability} appends"
        );
    }
}

/// Runs the whole pipeline (ingress, journal in `batch` mode, matcher,
/// egress) over `commands` and counts allocations on all threads.
fn pipeline_allocations(
    commands: &Arc<Vec<engine::Command>>,
    config: &engine::EngineConfig,
) -> (u64, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = PipelineConfig::new(dir.path().join("journal"), config.clone());
    pipeline.journal = JournalOptions::new()
        .durability(Durability::Batch)
        .segment_size(256 << 20);
    pipeline.wait = WaitMode::Yield;
    pipeline.snapshot_every = None;
    let source = PacedSource::new(Arc::clone(commands), None);
    ALL_THREADS_ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNT_ALL_THREADS.store(true, Ordering::Relaxed);
    let report = run(
        &pipeline,
        source,
        CountingSink::default(),
        &AtomicBool::new(false),
    );
    COUNT_ALL_THREADS.store(false, Ordering::Relaxed);
    (
        ALL_THREADS_ALLOCATIONS.load(Ordering::Relaxed),
        report.unwrap(),
    )
}

#[test]
fn pipeline_allocations_do_not_grow_with_the_number_of_commands() {
    let _serial = serial();
    // Start-up and shutdown allocate (threads, rings, the final snapshot);
    // the per-command path must not. So 200,000 more commands through the
    // same pipeline must cost (almost) no more allocations.
    let workload = Workload::generate(WorkloadKind::Ecore, 220_000, 1);
    let all: Vec<engine::Command> = workload
        .prefill
        .iter()
        .chain(&workload.commands)
        .copied()
        .collect();
    let short = Arc::new(all[..all.len() - 200_000].to_vec());
    let long = Arc::new(all);
    let (few, short_report) = pipeline_allocations(&short, &workload.config);
    let (many, long_report) = pipeline_allocations(&long, &workload.config);
    assert_eq!(long_report.inputs - short_report.inputs, 200_000);
    assert!(
        long_report.messages > short_report.messages + 200_000,
        "outputs really flowed"
    );
    let extra = many.saturating_sub(few);
    eprintln!(
        "pipeline allocations: {few} for {} commands, {many} for {}",
        short_report.inputs, long_report.inputs
    );
    assert!(
        extra <= 8,
        "200,000 more commands cost {extra} more allocations ({few} -> {many})"
    );
}
