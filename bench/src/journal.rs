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
    /// Appends per second offered in the durable-latency run (`batch`).
    pub durable_rate: u64,
    /// Seconds the durable-latency run lasts.
    pub durable_seconds: f64,
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
    /// `batch` mode at a steady `durable_rate` appends/s, the journaler's
    /// way (a batch ends after each drain of the ring, here each append):
    /// the median time from an append to the durable sequence covering it.
    pub batch_durable_p50_us: f64,
    /// As `batch_durable_p50_us`, the 99th percentile.
    pub batch_durable_p99_us: f64,
    /// The disk's floor: a plain appending `write` of one batch's bytes
    /// plus `fdatasync`, median, in the same directory.
    pub disk_fdatasync_p50_us: f64,
    /// The longest single append (`batch` mode) over a run at the steady
    /// `durable_rate` that crosses eight segment roll-overs: an upper bound
    /// on what a roll-over costs the appending thread.
    pub rollover_max_us: f64,
    /// A `memcpy` of each frame into a warm buffer plus its CRC32C: what an
    /// append cannot go below. Compare `append_ns_per_record_none` with it.
    pub floor_ns_per_record: f64,
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

    let durable_dir = scratch.dir("durable")?;
    let durable = durable_latency(config, &durable_dir, &payload)?;
    scratch.remove(&durable_dir)?;
    let floor_dir = scratch.dir("floor")?;
    let disk_fdatasync_p50_us = disk_floor(config, &floor_dir, frame_size)?;
    scratch.remove(&floor_dir)?;
    let rollover_dir = scratch.dir("rollover")?;
    let rollover_max_us = rollover_max(config, &rollover_dir, &payload)?;
    scratch.remove(&rollover_dir)?;
    let floor_ns_per_record = copy_and_crc_floor(&payload, frame_size, config.records);

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
        batch_durable_p50_us: durable.0,
        batch_durable_p99_us: durable.1,
        disk_fdatasync_p50_us,
        rollover_max_us,
        floor_ns_per_record,
    })
}

/// Appends at a steady rate in `batch` mode, ending a batch after every
/// append as the journaler does when records trickle in one per drain, and
/// measures each record from its append until the durable sequence covers
/// it. Returns the median and the 99th percentile, in µs.
fn durable_latency(
    config: &JournalBenchConfig,
    dir: &Path,
    payload: &[u8],
) -> anyhow::Result<(f64, f64)> {
    let options = JournalOptions::new()
        .segment_size(config.segment_size)
        .max_payload(config.payload_size.max(64 * 1024))
        .prefault(config.prefault)
        .durability(Durability::Batch);
    let mut writer = Journal::open(dir, options)?.into_writer()?;
    let durable = writer.durable();
    let records = ((config.durable_rate as f64 * config.durable_seconds) as u64).max(1);
    let interval = Duration::from_secs_f64(1.0 / config.durable_rate.max(1) as f64);
    let mut appended_at: Vec<Instant> = Vec::with_capacity(records as usize);
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut reported = 0u64;
    let mut record_durable = |upto: u64, appended_at: &[Instant]| {
        let now = Instant::now();
        while reported < upto {
            let waited = now - appended_at[reported as usize];
            // Microsecond resolution keeps the histogram small.
            let _ = histogram.record(waited.as_micros() as u64);
            reported += 1;
        }
    };
    let start = Instant::now();
    for i in 0..records {
        let due = start + interval * i as u32;
        while Instant::now() < due {
            writer.poll()?;
            record_durable(durable.load_acquire(), &appended_at);
            std::hint::spin_loop();
        }
        let meta = RecordMeta {
            timestamp_ns: i,
            source_partition: 0,
            source_offset: i as i64,
        };
        appended_at.push(Instant::now());
        writer.append(&meta, payload)?;
        writer.end_batch()?;
        record_durable(durable.load_acquire(), &appended_at);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while durable.load_acquire() < records {
        writer.poll()?;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the batch journal never became durable"
        );
        std::hint::spin_loop();
    }
    record_durable(records, &appended_at);
    writer.close()?;
    Ok((
        histogram.value_at_quantile(0.5) as f64,
        histogram.value_at_quantile(0.99) as f64,
    ))
}

/// A plain appending `write` of one batch's bytes plus `fdatasync`, paced
/// at one per millisecond, in `dir`: the disk's own latency. Returns the
/// median, in µs.
fn disk_floor(config: &JournalBenchConfig, dir: &Path, frame_size: usize) -> anyhow::Result<f64> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("floor");
    let mut file = std::fs::File::create(&path)?;
    let bytes = vec![0xA5u8; frame_size * config.batch_size.max(1) as usize];
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
    for _ in 0..500 {
        let started = Instant::now();
        file.write_all(&bytes)?;
        file.sync_data()?;
        let took = started.elapsed();
        histogram.record(took.as_micros() as u64)?;
        if let Some(rest) = Duration::from_millis(1).checked_sub(took) {
            std::thread::sleep(rest);
        }
    }
    Ok(histogram.value_at_quantile(0.5) as f64)
}

/// The longest single `batch`-mode append over 8 roll-overs of small
/// segments, in µs.
fn rollover_max(config: &JournalBenchConfig, dir: &Path, payload: &[u8]) -> anyhow::Result<f64> {
    let segment_size: u64 = 4 << 20;
    let options = JournalOptions::new()
        .segment_size(segment_size)
        .max_payload(config.payload_size.max(64 * 1024))
        .prefault(config.prefault)
        .durability(Durability::Batch);
    let mut writer = Journal::open(dir, options)?.into_writer()?;
    let frame = (journal::FRAME_HEADER_LEN + payload.len()).next_multiple_of(8) as u64;
    let records = segment_size * 8 / frame;
    // At the steady rate, as in production: a flood would measure whether
    // the next segment can be zeroed faster than the last one fills.
    let interval = Duration::from_secs_f64(1.0 / config.durable_rate.max(1) as f64);
    let mut longest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..records {
        let due = start + interval * u32::try_from(i)?;
        while Instant::now() < due {
            writer.poll()?;
        }
        let meta = RecordMeta {
            timestamp_ns: i,
            source_partition: 0,
            source_offset: i as i64,
        };
        let started = Instant::now();
        writer.append(&meta, payload)?;
        // The first append creates the journal's first segment: that is
        // opening a journal, not a roll-over.
        if i > 0 {
            longest = longest.max(started.elapsed());
        }
        if (i + 1) % config.batch_size.max(1) == 0 {
            writer.end_batch()?;
        }
    }
    writer.close()?;
    Ok(longest.as_secs_f64() * 1e6)
}

/// ns per record to copy a frame (a header and the payload) into a warm
/// 64 MiB buffer and CRC32C it: an append's floor.
fn copy_and_crc_floor(payload: &[u8], frame_size: usize, records: u64) -> f64 {
    let mut buffer = vec![0u8; 64 << 20];
    let mut frame = vec![0u8; frame_size];
    frame[journal::FRAME_HEADER_LEN..journal::FRAME_HEADER_LEN + payload.len()]
        .copy_from_slice(payload);
    let slots = buffer.len() / frame_size;
    // Warm the buffer, as the journal's prefault thread warms its map.
    buffer.fill(1);
    let started = Instant::now();
    for i in 0..records {
        let at = (i as usize % slots) * frame_size;
        frame[8..16].copy_from_slice(&i.to_le_bytes());
        let target = &mut buffer[at..at + frame_size];
        target.copy_from_slice(&frame);
        let crc = crc32c::crc32c(&target[4..]);
        target[..4].copy_from_slice(&crc.to_le_bytes());
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(&buffer);
    seconds * 1e9 / records as f64
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
    while durable.load_acquire() < records {
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
        batch_durable_p50_us: med(|r| r.batch_durable_p50_us),
        batch_durable_p99_us: med(|r| r.batch_durable_p99_us),
        disk_fdatasync_p50_us: med(|r| r.disk_fdatasync_p50_us),
        rollover_max_us: med(|r| r.rollover_max_us),
        floor_ns_per_record: med(|r| r.floor_ns_per_record),
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
