//! `bench journal`: append cost per durability mode, and replay rate.
//!
//! Each run appends to a fresh journal directory, so the figures include
//! page faults on new pages and segment roll-overs: the cost the journaler
//! thread really pays. Payloads are built before the timer starts. Replay
//! reads the `none` run's journal back with every CRC checked, from the
//! page cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use journal::{Durability, Journal, JournalOptions, Reader, RecordMeta, SyncPath};
use serde::Serialize;

/// What to run.
#[derive(Clone, Debug)]
pub struct JournalBenchConfig {
    /// Records appended in the `none` and `batch` runs.
    pub records: u64,
    /// Records appended in the `sync` run (one sync each, so far fewer).
    pub sync_records: u64,
    /// Payload bytes per record.
    pub payload_size: usize,
    /// Appends per batch in `batch` mode.
    pub batch_size: u64,
    /// Parent of the scratch journal directories.
    pub scratch: PathBuf,
    /// Segment size of the journals.
    pub segment_size: u64,
    /// Run the journal's prefault thread.
    pub prefault: bool,
}

/// The figures of one run of every mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalReport {
    /// Records appended in the `none` and `batch` runs.
    pub records: u64,
    /// Records appended in the `sync` run.
    pub sync_records: u64,
    /// Payload bytes per record.
    pub payload_size: usize,
    /// Bytes per record on disk (header, payload, padding).
    pub frame_size: usize,
    /// Appends per batch in `batch` mode.
    pub batch_size: u64,
    /// How `batch` mode synced: "io_uring" or "msync".
    pub sync_path: String,
    /// Whether the prefault thread ran.
    pub prefault: bool,
    /// Amortized ns per append, `none` mode.
    pub append_ns_per_record_none: f64,
    /// Amortized ns per append, `batch` mode (appends and `end_batch`).
    pub append_ns_per_record_batch: f64,
    /// ns per append, `sync` mode.
    pub append_ns_per_record_sync: f64,
    /// Milliseconds from the last `batch` append until all of it was durable.
    pub batch_drain_ms: f64,
    /// Journal bytes written per second, `none` mode.
    pub mb_per_sec_none: f64,
    /// Journal bytes written per second, `batch` mode.
    pub mb_per_sec_batch: f64,
    /// Journal bytes written per second, `sync` mode.
    pub mb_per_sec_sync: f64,
    /// Page faults the appending thread took per million `none` appends
    /// (the prefault thread exists to make this small); -1 if unknown.
    pub page_faults_per_million_none: f64,
    /// As `page_faults_per_million_none`, for `batch` mode.
    pub page_faults_per_million_batch: f64,
    /// Milliseconds `Journal::open` took on the `none` journal: lock, list,
    /// and a CRC-checked walk of the last segment to find the end.
    pub recovery_ms: f64,
    /// Records read back per second, CRC checked.
    pub replay_records_per_sec: f64,
    /// Journal bytes read back per second.
    pub replay_mb_per_sec: f64,
}

struct AppendRun {
    seconds: f64,
    /// Minor page faults the appending thread took, if /proc tells.
    page_faults: Option<u64>,
    drain: Duration,
    sync_path: SyncPath,
}

/// Runs every mode once, each in its own scratch directory, and removes
/// them afterwards.
pub fn run_journal_once(config: &JournalBenchConfig) -> anyhow::Result<JournalReport> {
    let payload: Vec<u8> = (0..config.payload_size)
        .map(|i| (i * 7 + 3) as u8)
        .collect();
    let frame_size = (journal::FRAME_HEADER_LEN + config.payload_size).next_multiple_of(8);
    let scratch = Scratch::new(&config.scratch)?;

    let none_dir = scratch.dir("none")?;
    let none = append_run(
        config,
        &none_dir,
        Durability::None,
        config.records,
        &payload,
    )?;
    let replay_seconds = replay(&none_dir, config.records)?;
    let recovery = recover(&none_dir, config.records)?;
    scratch.remove(&none_dir)?;

    let batch_dir = scratch.dir("batch")?;
    let batch = append_run(
        config,
        &batch_dir,
        Durability::Batch,
        config.records,
        &payload,
    )?;
    scratch.remove(&batch_dir)?;

    let sync_dir = scratch.dir("sync")?;
    let sync = append_run(
        config,
        &sync_dir,
        Durability::Sync,
        config.sync_records,
        &payload,
    )?;
    scratch.remove(&sync_dir)?;

    let ns = |run: &AppendRun, n: u64| run.seconds * 1e9 / n as f64;
    let mb = |seconds: f64, n: u64| (n as f64 * frame_size as f64) / seconds / 1e6;
    Ok(JournalReport {
        records: config.records,
        sync_records: config.sync_records,
        payload_size: config.payload_size,
        frame_size,
        batch_size: config.batch_size,
        sync_path: batch.sync_path.to_string(),
        prefault: config.prefault,
        append_ns_per_record_none: ns(&none, config.records),
        append_ns_per_record_batch: ns(&batch, config.records),
        append_ns_per_record_sync: ns(&sync, config.sync_records),
        batch_drain_ms: batch.drain.as_secs_f64() * 1e3,
        mb_per_sec_none: mb(none.seconds, config.records),
        mb_per_sec_batch: mb(batch.seconds, config.records),
        mb_per_sec_sync: mb(sync.seconds, config.sync_records),
        page_faults_per_million_none: per_million(none.page_faults, config.records),
        page_faults_per_million_batch: per_million(batch.page_faults, config.records),
        recovery_ms: recovery.as_secs_f64() * 1e3,
        replay_records_per_sec: config.records as f64 / replay_seconds,
        replay_mb_per_sec: mb(replay_seconds, config.records),
    })
}

fn append_run(
    config: &JournalBenchConfig,
    dir: &Path,
    durability: Durability,
    records: u64,
    payload: &[u8],
) -> anyhow::Result<AppendRun> {
    let options = JournalOptions::new()
        .segment_size(config.segment_size)
        .max_payload(config.payload_size.max(64 * 1024))
        .prefault(config.prefault)
        .durability(durability);
    let mut writer = Journal::open(dir, options)?.into_writer()?;
    let durable = writer.durable();
    let batch = config.batch_size.max(1);

    let faults_before = thread_minor_faults();
    let start = Instant::now();
    for i in 0..records {
        let meta = RecordMeta {
            timestamp_ns: i,
            source_partition: 0,
            source_offset: i as i64,
        };
        writer.append(&meta, payload)?;
        if (i + 1) % batch == 0 {
            writer.end_batch()?;
        }
    }
    writer.end_batch()?;
    let seconds = start.elapsed().as_secs_f64();
    let page_faults = thread_minor_faults()
        .zip(faults_before)
        .map(|(after, before)| after - before);

    let drain_start = Instant::now();
    while durable.get() < records {
        writer.poll()?;
        std::hint::spin_loop();
        anyhow::ensure!(
            drain_start.elapsed() < Duration::from_secs(120),
            "{durability} journal never became durable"
        );
    }
    let drain = drain_start.elapsed();
    let sync_path = writer.sync_path();
    writer.close()?;
    Ok(AppendRun {
        seconds,
        page_faults,
        drain,
        sync_path,
    })
}

fn replay(dir: &Path, records: u64) -> anyhow::Result<f64> {
    let reader = Reader::open(dir)?;
    let start = Instant::now();
    let mut cursor = reader.read_all()?;
    let mut count = 0u64;
    let mut checksum = 0u64;
    while let Some(record) = cursor.next()? {
        count += 1;
        checksum = checksum.wrapping_add(record.payload().len() as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(count == records, "replayed {count} of {records} records");
    std::hint::black_box(checksum);
    Ok(seconds)
}

fn per_million(count: Option<u64>, records: u64) -> f64 {
    count.map_or(-1.0, |n| n as f64 * 1e6 / records as f64)
}

/// Minor faults of the calling thread: field 10 of `/proc/thread-self/stat`,
/// counted after the parenthesised command name (which may hold spaces).
fn thread_minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(7)?.parse().ok()
}

fn recover(dir: &Path, records: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let recovered = Journal::open(dir, JournalOptions::new())?;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        recovered.next_sequence() == records + 1,
        "recovery found {} records of {records}",
        recovered.next_sequence() - 1
    );
    Ok(elapsed)
}

/// The per-metric median of several runs.
pub fn median_journal(runs: &[JournalReport]) -> Option<JournalReport> {
    let first = runs.first()?;
    let med = |f: fn(&JournalReport) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Some(JournalReport {
        append_ns_per_record_none: med(|r| r.append_ns_per_record_none),
        append_ns_per_record_batch: med(|r| r.append_ns_per_record_batch),
        append_ns_per_record_sync: med(|r| r.append_ns_per_record_sync),
        batch_drain_ms: med(|r| r.batch_drain_ms),
        mb_per_sec_none: med(|r| r.mb_per_sec_none),
        mb_per_sec_batch: med(|r| r.mb_per_sec_batch),
        mb_per_sec_sync: med(|r| r.mb_per_sec_sync),
        page_faults_per_million_none: med(|r| r.page_faults_per_million_none),
        page_faults_per_million_batch: med(|r| r.page_faults_per_million_batch),
        recovery_ms: med(|r| r.recovery_ms),
        replay_records_per_sec: med(|r| r.replay_records_per_sec),
        replay_mb_per_sec: med(|r| r.replay_mb_per_sec),
        ..first.clone()
    })
}

/// Scratch directories under one parent, removed on drop.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(parent: &Path) -> anyhow::Result<Scratch> {
        let root = parent.join(format!("bench-journal-{}", std::process::id()));
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Scratch { root })
    }

    fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(dir)
    }

    fn remove(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
