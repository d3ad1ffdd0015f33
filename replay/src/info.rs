//! `replay info`: what a journal directory holds, without reading all of it.
//!
//! Each segment's first and last record are found through the sparse
//! index, so this takes milliseconds whatever the journal's size. A segment
//! that cannot be read is reported with its problem rather than stopping
//! the listing. Nothing is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::history::History;
use engine::sequenced::{CHECKPOINT_VERSION, INPUT_FORMAT, OLDEST_INPUT_FORMAT};
use serde::Serialize;

use crate::Error;

/// A journal directory's contents.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    /// The directory.
    pub dir: PathBuf,
    /// The oldest sequence on disk.
    pub first_seq: Option<u64>,
    /// The newest.
    pub last_seq: Option<u64>,
    /// Records between them.
    pub records: u64,
    /// Segment files, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Snapshot files, newest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// The last journaled Kafka offset of each partition (for file input,
    /// partition 0 and line numbers): where the engine resumes.
    pub partitions: Vec<PartitionInfo>,
    /// The Kafka output's delivered mark: outputs of every input up to it
    /// were acknowledged. `None` without one (file output keeps its own).
    pub delivered: Option<u64>,
    /// A replicated engine's state file: its role, the leader epoch and
    /// how far the journal topic agreed; `None` for a single-host engine.
    pub replication: Option<engine::replicated::ReplicationState>,
    /// The format versions of the files, and those this build reads.
    pub formats: BTreeMap<&'static str, String>,
    /// Problems found on the way; empty for a sound journal.
    pub problems: Vec<String>,
}

/// One segment file.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentInfo {
    /// The file.
    pub file: PathBuf,
    /// The first sequence it holds (its name).
    pub first_seq: u64,
    /// The last sequence it holds; `None` when it holds none yet.
    pub last_seq: Option<u64>,
    /// Its size on disk (segments are pre-allocated).
    pub bytes: u64,
    /// Ingress time of its first record, ns since the epoch.
    pub first_ts_ns: Option<u64>,
    /// Ingress time of its last record.
    pub last_ts_ns: Option<u64>,
    /// The record schema its payloads are in.
    pub payload_format: Option<u32>,
    /// Why it could not be read, if it could not.
    pub problem: Option<String>,
}

/// One snapshot file.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotInfo {
    /// The sequence it covers.
    pub seq: u64,
    /// The file.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The state hash recorded in it, as 16 hex digits.
    pub state_hash: Option<String>,
    /// Whether recovery could use it.
    pub valid: bool,
    /// Why not, if not.
    pub problem: Option<String>,
}

/// Where one input partition stands.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PartitionInfo {
    /// The topic: `orders` or `admin`.
    pub topic: &'static str,
    /// The partition.
    pub partition: i32,
    /// Its last journaled offset.
    pub last_offset: i64,
}

/// Reads what `dir` holds.
pub fn info(dir: &Path) -> Result<Info, Error> {
    let history = History::open(dir)?;
    let reader = history.reader();
    let files = reader.segment_files()?;
    let end = reader.end_sequence();
    let mut problems = Vec::new();
    let end = match end {
        Ok(end) => Some(end),
        Err(err) => {
            problems.push(err.to_string());
            None
        }
    };
    let mut segments = Vec::with_capacity(files.len());
    for (i, (first, file)) in files.iter().enumerate() {
        let next_first = files.get(i + 1).map(|(f, _)| *f).or(end);
        let mut segment = SegmentInfo {
            file: file.clone(),
            first_seq: *first,
            last_seq: None,
            bytes: std::fs::metadata(file).map_or(0, |m| m.len()),
            first_ts_ns: None,
            last_ts_ns: None,
            payload_format: None,
            problem: None,
        };
        if let Err(err) = describe(&history, &mut segment, next_first) {
            problems.push(err.to_string());
            segment.problem = Some(err.to_string());
        }
        segments.push(segment);
    }
    let entries = history.snapshots()?;
    let snapshots: Vec<SnapshotInfo> = entries
        .iter()
        .map(|e| SnapshotInfo {
            seq: e.sequence,
            file: e.path.clone(),
            bytes: e.bytes,
            state_hash: e.state.as_ref().ok().map(|(h, _)| format!("{h:016x}")),
            valid: e.state.is_ok(),
            problem: e.state.as_ref().err().cloned(),
        })
        .collect();
    for s in snapshots.iter().filter(|s| !s.valid) {
        problems.push(format!(
            "snapshot {} is unusable: {}",
            s.file.display(),
            s.problem.as_deref().unwrap_or("?")
        ));
    }
    let first_seq = files
        .first()
        .map(|(f, _)| *f)
        .filter(|f| end.is_some_and(|e| e > *f));
    let last_seq = end
        .filter(|e| *e > 1)
        .map(|e| e - 1)
        .filter(|l| first_seq.is_some_and(|f| *l >= f));
    let partitions = match partitions(&history, &entries, last_seq) {
        Ok(p) => p,
        Err(err) => {
            problems.push(err.to_string());
            Vec::new()
        }
    };
    let delivered =
        gateway::delivered::DeliveredMark::read(&dir.join(gateway::kafka::DELIVERED_FILE))
            .map_err(|e| problems.push(e.to_string()))
            .ok()
            .flatten();
    let mut formats = BTreeMap::new();
    formats.insert("segment", journal::SEGMENT_FORMAT_VERSION.to_string());
    let mut payload: Vec<String> = segments
        .iter()
        .filter_map(|s| s.payload_format)
        .map(|f| f.to_string())
        .collect();
    payload.dedup();
    formats.insert("input (in segments)", payload.join(","));
    formats.insert(
        "input (this build reads)",
        format!("{OLDEST_INPUT_FORMAT}-{INPUT_FORMAT}"),
    );
    formats.insert("snapshot file", journal::SNAPSHOT_FILE_VERSION.to_string());
    formats.insert("checkpoint", CHECKPOINT_VERSION.to_string());
    formats.insert("engine state", engine::SNAPSHOT_FORMAT_VERSION.to_string());
    Ok(Info {
        dir: dir.to_path_buf(),
        first_seq,
        last_seq,
        records: match (first_seq, last_seq) {
            (Some(f), Some(l)) => l - f + 1,
            _ => 0,
        },
        segments,
        snapshots,
        partitions,
        delivered,
        replication: engine::replicated::ReplicationState::read(dir),
        formats,
        problems,
    })
}

/// Fills in a segment's first and last record, read through the index.
fn describe(
    history: &History,
    segment: &mut SegmentInfo,
    next_first: Option<u64>,
) -> Result<(), Error> {
    let Some(next_first) = next_first.filter(|n| *n > segment.first_seq) else {
        return Ok(()); // no records in it yet
    };
    let reader = history.reader();
    let mut cursor = reader.read_from(segment.first_seq)?;
    if let Some(record) = cursor.next()? {
        segment.first_ts_ns = Some(record.meta().timestamp_ns);
        segment.payload_format = Some(record.payload_format());
    }
    let last = next_first - 1;
    let mut cursor = reader.read_from(last)?;
    if let Some(record) = cursor.next()? {
        segment.last_seq = Some(record.sequence());
        segment.last_ts_ns = Some(record.meta().timestamp_ns);
    }
    Ok(())
}

/// Each partition's last journaled offset: the newest usable snapshot's
/// positions, then the records after it (their headers only).
fn partitions(
    history: &History,
    entries: &[engine::history::SnapshotEntry],
    last: Option<u64>,
) -> Result<Vec<PartitionInfo>, Error> {
    let Some(last) = last else {
        return Ok(Vec::new());
    };
    let first = history.first_sequence()?.unwrap_or(1);
    let start = entries
        .iter()
        .find(|e| e.sequence <= last && e.sequence + 1 >= first && e.state.is_ok());
    let mut positions = start
        .and_then(|e| e.state.as_ref().ok().map(|(_, p)| p.clone()))
        .unwrap_or_default();
    let from = start.map_or(first, |e| e.sequence + 1);
    if from <= last {
        let mut cursor = history.reader().read_from(from)?;
        while let Some(record) = cursor.next()? {
            let meta = record.meta();
            // The topic is in the input's variant; a record this build
            // cannot read is reported by `verify`, not here.
            let topic = engine::sequenced::decode_input(record.payload(), record.payload_format())
                .map(|input| input.topic())
                .unwrap_or_default();
            positions.advance(engine::sequenced::SourcePosition {
                topic,
                partition: meta.source_partition,
                offset: meta.source_offset,
            });
            if record.sequence() >= last {
                break;
            }
        }
    }
    Ok(positions
        .iter()
        .map(|p| PartitionInfo {
            topic: p.topic.as_str(),
            partition: p.partition,
            last_offset: p.offset,
        })
        .collect())
}
