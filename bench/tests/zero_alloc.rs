//! The hot path, matcher, journal appends and Kafka ingress and egress,
//! allocates nothing after warm-up (`docs/design.md` §2, §8), except one
//! allocation per Kafka message inside rdkafka itself (and a pair per
//! delivery-report event it serves), which the Kafka test pins by size and
//! count so that any allocation of ours shows up.
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
use std::time::Duration;

use bench::{CountingSink, PacedSource, TradeTally, Workload, WorkloadKind};
use engine::Engine;
use engine::Event;
use engine::endpoint::{InputSource, OutputSink, SourcePoll};
use engine::pipeline::{PipelineConfig, PipelineMetrics, RunReport, run};
use engine::sequenced::{FillParty, Input, Message, MessageBody, SourcePosition, SourcePositions};
use engine::threads::WaitMode;
use gateway::kafka::{EndPolicy, KafkaConfig, KafkaSink, KafkaSource};
use gateway::metrics::{EngineCollector, KafkaMetrics};
use journal::{Durability, Journal, JournalOptions, RecordMeta};
use prometheus_client::registry::Registry;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// Forwards to `System`, counting calls made while the calling thread has
/// counting switched on.
struct CountingAllocator;

thread_local! {
    // `const` initialisation: reading these never allocates, which matters
    // inside an allocator.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    // A thread that reads the metrics as Prometheus would; its own
    // allocations (the text it encodes) are not the pipeline's.
    static SCRAPER: Cell<bool> = const { Cell::new(false) };
    // Which pipeline thread this is, by name, looked up once: 0 not yet,
    // 1 the matcher, 2 the replicator, 3 another. The lookup itself may
    // allocate; LOOKING_UP keeps that from recursing.
    static THREAD_KIND: Cell<u8> = const { Cell::new(0) };
    static LOOKING_UP: Cell<bool> = const { Cell::new(false) };
}

/// Allocations on the matcher and the replicator threads while
/// `COUNT_ALL_THREADS` is raised.
static MATCHER_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static REPLICATOR_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The replicator's, by size in bytes (the last slot holds every larger
/// one), to tell rdkafka's allocations apart.
static REPLICATOR_BY_SIZE: [AtomicU64; 4097] = [const { AtomicU64::new(0) }; 4097];

/// The calling thread's kind, for [`THREAD_KIND`].
fn thread_kind() -> u8 {
    let known = THREAD_KIND.try_with(Cell::get).unwrap_or(3);
    if known != 0 || LOOKING_UP.try_with(Cell::get).unwrap_or(true) {
        return known;
    }
    let _ = LOOKING_UP.try_with(|on| on.set(true));
    let kind = match std::thread::current().name() {
        Some("matcher") => 1,
        Some("replicator") => 2,
        _ => 3,
    };
    let _ = LOOKING_UP.try_with(|on| on.set(false));
    let _ = THREAD_KIND.try_with(|k| k.set(kind));
    kind
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

/// Allocations counted by `allocations_during`, by size in bytes (the
/// last slot holds every larger one); the Kafka test tells rdkafka's apart
/// by their sizes.
static COUNTED_BY_SIZE: [AtomicU64; 4097] = [const { AtomicU64::new(0) }; 4097];

fn note_allocation(size: usize) {
    if COUNT_ALL_THREADS.load(Ordering::Relaxed) && !SCRAPER.try_with(Cell::get).unwrap_or(false) {
        ALL_THREADS_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        match thread_kind() {
            1 => MATCHER_ALLOCATIONS.fetch_add(1, Ordering::Relaxed),
            2 => {
                REPLICATOR_BY_SIZE[size.min(REPLICATOR_BY_SIZE.len() - 1)]
                    .fetch_add(1, Ordering::Relaxed);
                REPLICATOR_ALLOCATIONS.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
    }
    // `try_with`: during thread teardown the slots may be gone; such late
    // allocations are not ours to count.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            COUNTED_BY_SIZE[size.min(COUNTED_BY_SIZE.len() - 1)].fetch_add(1, Ordering::Relaxed);
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// const-initialised thread-locals, which never allocate or unwind.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
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
    for size in &COUNTED_BY_SIZE {
        size.store(0, Ordering::Relaxed);
    }
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
            while durable.load_acquire() < writer.next_sequence() - 1 {
                writer.poll().unwrap();
            }
        });
        assert_eq!(
            allocations, 0,
            "heap allocations in 200,000 {durability} appends"
        );
    }
}

/// A pipeline journaling in `batch` mode into one segment under `dir`,
/// with no snapshots, its threads yielding when idle.
fn batch_pipeline(dir: &std::path::Path, config: &engine::EngineConfig) -> PipelineConfig {
    let mut pipeline = PipelineConfig::new(dir.join("journal"), config.clone());
    pipeline.journal = JournalOptions::new()
        .durability(Durability::Batch)
        .segment_size(256 << 20);
    pipeline.wait = WaitMode::Yield;
    pipeline.snapshot_every = None;
    pipeline
}

/// Runs the whole pipeline (ingress, journal in `batch` mode, matcher,
/// egress) over `commands` and counts allocations on all its threads,
/// while another thread encodes the metrics endpoint's text every 10 ms.
fn pipeline_allocations(
    commands: &Arc<Vec<engine::Command>>,
    config: &engine::EngineConfig,
) -> (u64, RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = batch_pipeline(dir.path(), config);
    pipeline.metrics = Arc::new(PipelineMetrics::new(Duration::from_millis(100)));
    let source = PacedSource::new(Arc::clone(commands), None);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(EngineCollector::new(
        Arc::clone(&pipeline.metrics),
        pipeline.journal_dir.clone(),
        KafkaMetrics {
            sink: None,
            source: None,
        },
    )));
    let scraping = AtomicBool::new(true);
    let mut scrapes = 0;
    ALL_THREADS_ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNT_ALL_THREADS.store(true, Ordering::Relaxed);
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            SCRAPER.with(|on| on.set(true));
            while scraping.load(Ordering::Relaxed) {
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
                assert!(text.contains("engine_inputs_total"));
                scrapes += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let report = run(
            &pipeline,
            source,
            CountingSink::default(),
            &AtomicBool::new(false),
        );
        scraping.store(false, Ordering::Relaxed);
        report
    });
    COUNT_ALL_THREADS.store(false, Ordering::Relaxed);
    assert!(scrapes > 0, "the metrics were read while the pipeline ran");
    (
        ALL_THREADS_ALLOCATIONS.load(Ordering::Relaxed),
        report.unwrap(),
    )
}

/// An ecore stream of `commands` after its prefill, whole and without its
/// last `more`: the runs whose allocations are compared.
fn short_and_long(
    commands: usize,
    more: usize,
) -> (
    Workload,
    Arc<Vec<engine::Command>>,
    Arc<Vec<engine::Command>>,
) {
    let workload = Workload::generate(WorkloadKind::Ecore, commands, 1);
    let all: Vec<engine::Command> = workload
        .prefill
        .iter()
        .chain(&workload.commands)
        .copied()
        .collect();
    let short = Arc::new(all[..all.len() - more].to_vec());
    (workload, short, Arc::new(all))
}

#[test]
fn pipeline_allocations_do_not_grow_with_the_number_of_commands() {
    let _serial = serial();
    // Start-up and shutdown allocate (threads, rings, the final snapshot);
    // the per-command path must not, with the metrics kept and read. So 200,000 more commands through the
    // same pipeline must cost (almost) no more allocations.
    let (workload, short, long) = short_and_long(220_000, 200_000);
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

/// Runs a replicated leader's pipeline over `commands`, its journal
/// topic on the mock cluster, and returns the allocations on the matcher
/// and on the replicator threads.
fn replicated_allocations(
    commands: &Arc<Vec<engine::Command>>,
    config: &engine::EngineConfig,
) -> (u64, u64, u64, RunReport) {
    use engine::replicated::release::ReleaseTracker;
    use engine::replicated::{HaConfig, LogProducer};
    use gateway::kafka::{JournalConsumer, JournalProducer};

    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let ha = HaConfig::new("alloc");
    cluster.create_topic(&ha.topic(), 1, 1).unwrap();
    let kafka = KafkaConfig::default();
    let mut producer = JournalProducer::new(&kafka, &bootstrap, &[], &ha.engine_id).unwrap();
    let mut consumer = JournalConsumer::new(&kafka, &bootstrap, &[], &ha.engine_id).unwrap();
    // The claim, as a takeover makes it.
    let mut claim = Vec::new();
    engine::replicated::entry::Entry::Epoch {
        epoch: 1,
        claimant: 1,
    }
    .encode(&mut claim);
    producer.send(&claim).unwrap();
    let mut offset = None;
    while offset.is_none() {
        producer.poll(&mut |o| offset = Some(o)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let dir = tempfile::tempdir().unwrap();
    let pipeline = batch_pipeline(dir.path(), config);
    let metrics = Arc::clone(&pipeline.metrics);
    let lead = engine::pipeline::Leadership {
        producer: &mut producer,
        consumer: &mut consumer,
        tracker: ReleaseTracker::new(1, offset.unwrap(), 0),
        ha: &ha,
        gauges: metrics.replication(),
        takeover: None,
    };
    let source = PacedSource::new(Arc::clone(commands), None);
    MATCHER_ALLOCATIONS.store(0, Ordering::Relaxed);
    REPLICATOR_ALLOCATIONS.store(0, Ordering::Relaxed);
    for size in &REPLICATOR_BY_SIZE {
        size.store(0, Ordering::Relaxed);
    }
    COUNT_ALL_THREADS.store(true, Ordering::Relaxed);
    let (report, _) = engine::pipeline::run_leading(
        &pipeline,
        source,
        CountingSink::default(),
        &AtomicBool::new(false),
        lead,
    )
    .unwrap();
    COUNT_ALL_THREADS.store(false, Ordering::Relaxed);
    // The topic name's CString, told apart by its size: not a multiple of
    // 8 bytes, as rdkafka's pointer Vecs and Arcs are.
    let cstring = ha.topic().len() + 1;
    assert!(
        !cstring.is_multiple_of(8),
        "the topic's CString has a size of its own"
    );
    (
        MATCHER_ALLOCATIONS.load(Ordering::Relaxed),
        REPLICATOR_ALLOCATIONS.load(Ordering::Relaxed),
        REPLICATOR_BY_SIZE[cstring].load(Ordering::Relaxed),
        report,
    )
}

#[test]
fn a_replicated_leaders_matcher_allocates_nothing_and_its_replicator_one_per_record() {
    let _serial = serial();
    let (workload, short, long) = short_and_long(60_000, 50_000);
    let (matcher_few, replicator_few, cstrings_few, short_report) =
        replicated_allocations(&short, &workload.config);
    let (matcher_many, replicator_many, cstrings_many, long_report) =
        replicated_allocations(&long, &workload.config);
    let records = long_report.inputs - short_report.inputs;
    assert_eq!(records, 50_000);
    assert!(long_report.messages > short_report.messages + 50_000);
    let per_record = replicator_many.saturating_sub(replicator_few) as f64 / records as f64;
    eprintln!(
        "replicated: matcher {matcher_few} -> {matcher_many} allocations, replicator \
         {replicator_few} -> {replicator_many} ({per_record:.3} per record; topic CStrings \
         {cstrings_few} -> {cstrings_many})"
    );
    assert!(
        matcher_many.saturating_sub(matcher_few) <= 2,
        "50,000 more commands cost the matcher {matcher_few} -> {matcher_many} allocations"
    );
    // rdkafka's `send` copies the topic name into a CString per entry
    // (records and marks); its `poll` allocates a pair per delivery-report
    // event it serves (a Vec of message pointers and a 24-byte Arc), and
    // how many events arrive depends on the host's load. Anything else on
    // the replicator's thread is ours, and must not be there.
    let cstrings = cstrings_many - cstrings_few;
    assert!(
        cstrings >= records && cstrings <= records + records / 5,
        "{cstrings} topic CStrings for {records} more records"
    );
    // Besides those, rdkafka's delivery-report events allocate as the
    // host's load batches them (a pointer Vec that grows, and an Arc), so
    // their count is bounded, not fixed: under 2 per record on any run
    // here, where an allocation of ours per record would add one more.
    assert!(
        per_record <= 3.0,
        "the replicator allocated {per_record:.3} times per record"
    );
}

/// Output messages for `commands`, as egress would number them: statuses,
/// depth, and a trade with its two fills.
fn output_messages(commands: &[engine::Command], config: &engine::EngineConfig) -> Vec<Message> {
    let mut engine = Engine::new(config.clone()).unwrap();
    let mut messages = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let mut events: Vec<Event> = Vec::new();
        engine.apply(command, &mut events);
        let seq = i as u64 + 1;
        let mut bodies = Vec::new();
        for event in events {
            match event {
                Event::Trade(t) => {
                    bodies.push(MessageBody::Trade(t));
                    bodies.push(MessageBody::Fill(t, FillParty::Buyer));
                    bodies.push(MessageBody::Fill(t, FillParty::Seller));
                }
                Event::Depth(d) => bodies.push(MessageBody::Depth(d)),
                other => bodies.push(MessageBody::Status(other)),
            }
        }
        let count = bodies.len();
        for (idx, body) in bodies.into_iter().enumerate() {
            messages.push(Message {
                seq,
                idx: idx as u32,
                source: SourcePosition::default(),
                origin_ns: 0,
                last: idx + 1 == count,
                body,
            });
        }
    }
    messages
}

#[test]
fn kafka_ingress_and_egress_allocate_only_rdkafkas_one_per_message() {
    let _serial = serial();
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let config = KafkaConfig::default();
    for topic in config.topics.all() {
        cluster.create_topic(topic, 2, 1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();

    // Egress: produce, serve delivery reports, confirm. The callbacks run
    // on this thread, inside `poll`, so they are counted too.
    let workload = Workload::generate(WorkloadKind::Ecore, 30_000, 1);
    let messages = output_messages(&workload.commands, &workload.config);
    let (warm, timed) = messages.split_at(messages.len() / 3);
    let mut sink = KafkaSink::new(&config, &bootstrap, &[], &dir.path().join("mark")).unwrap();
    let send = |sink: &mut KafkaSink, messages: &[Message]| {
        for batch in messages.chunks(100) {
            sink.send_batch(batch).unwrap();
            let through = batch.iter().rev().find(|m| m.last).map_or(0, |m| m.seq);
            sink.mark_delivered(through).unwrap();
        }
    };
    send(&mut sink, warm);
    let batches = timed.len().div_ceil(100) as u64;
    let egress = allocations_during(|| send(&mut sink, timed));
    sink.close().unwrap();
    assert_eq!(
        sink.delivered_through().unwrap(),
        timed.last().unwrap().seq,
        "every message was confirmed"
    );
    // rdkafka 0.39's `BaseProducer::send` copies the topic name into a
    // `CString` for every message: exactly one per message.
    let mut cstring_sizes: Vec<usize> = [
        &config.topics.fills,
        &config.topics.trades,
        &config.topics.depth,
        &config.topics.order_status,
    ]
    .map(|topic| topic.len() + 1)
    .to_vec();
    cstring_sizes.sort_unstable();
    cstring_sizes.dedup();
    assert!(
        cstring_sizes.iter().all(|size| !size.is_multiple_of(8)),
        "topic CStrings must not share a size with the pointer Vecs below"
    );
    let counted = |size: usize| COUNTED_BY_SIZE[size].load(Ordering::Relaxed);
    let cstrings: u64 = cstring_sizes.iter().map(|&size| counted(size)).sum();
    assert_eq!(
        cstrings,
        timed.len() as u64,
        "rdkafka's topic CStrings producing {} messages",
        timed.len()
    );
    // Its `BaseProducer::poll` allocates, for each delivery-report event it
    // serves, a Vec of message pointers (8 bytes each) and a 24-byte `Arc`.
    // How many events arrive while counting depends on the host's load:
    // none on an idle one, a few hundred on a busy one. So anything else
    // must come in such pairs, at most one event per `poll` (two per batch
    // here). An allocation of ours per message or per batch breaks this.
    let event_arc_size = 2 * size_of::<usize>() + size_of::<*const ()>();
    let others = egress - cstrings;
    let events = others / 2;
    assert!(
        others.is_multiple_of(2) && counted(event_arc_size) >= events && events <= 2 * batches,
        "{others} heap allocations producing {} messages besides rdkafka's CStrings; \
         only delivery-report events' pairs are allowed ({} of {event_arc_size} bytes)",
        timed.len(),
        counted(event_arc_size)
    );

    // Ingress: consume and decode the orders topic.
    let mut lines = Vec::new();
    for command in &workload.commands {
        let mut line = Vec::new();
        gateway::wire::encode_order(command, &mut line);
        lines.push(line);
    }
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for line in &lines {
        while producer
            .send(BaseRecord::<[u8], [u8]>::to("orders").payload(&line[..]))
            .is_err()
        {
            producer.poll(std::time::Duration::from_millis(1));
        }
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
    let mut source = KafkaSource::new(
        &config,
        &bootstrap,
        &[],
        EndPolicy::Never,
        gateway::wire::Decoder::default(),
    )
    .unwrap();
    source.resume(&SourcePositions::default()).unwrap();
    let take = |source: &mut KafkaSource, n: usize| {
        let mut got = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while got < n && std::time::Instant::now() < deadline {
            if let SourcePoll::Item(item) = source.poll().unwrap() {
                assert!(matches!(item.input, Input::Command(_)));
                got += 1;
            }
        }
        got
    };
    assert_eq!(take(&mut source, 10_000), 10_000);
    let mut got = 0;
    let ingress = allocations_during(|| got = take(&mut source, 20_000));
    assert_eq!(got, 20_000);
    // rdkafka 0.39's `BaseConsumer::poll` wraps each message's event in an
    // `Arc`; that is the only allocation allowed. Decoding adds none.
    assert_eq!(
        ingress, 20_000,
        "heap allocations consuming 20,000 orders: one each is rdkafka's event Arc"
    );
}
