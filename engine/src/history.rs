//! A journal directory as history: its snapshot files, checked, and its
//! records, decoded into inputs, ready for a [`Replayer`].
//!
//! The server's recovery and the `replay` tool both read a journal through
//! this module, and replay it through `crate::sequenced`. It only reads: it
//! takes no lock, so it works beside a running engine, up to what that
//! engine has published. Every error names the file, and for records the
//! byte offset.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::sequenced::{
    Checkpoint, Journaled, RecordError, Replayer, SourcePosition, SourcePositions,
    decode_checkpoint, decode_input, parse_checkpoint,
};
use crate::{Engine, EngineConfig, SNAPSHOT_FORMAT_VERSION, SnapshotError};

/// Why history could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The journal itself: damage, a missing segment, I/O.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// A record's frame is sound but its payload is not an input this
    /// build reads.
    #[error("journal record {sequence} in {} at byte offset {offset}: {cause}", path.display())]
    Record {
        /// The segment file.
        path: PathBuf,
        /// The frame's byte offset in it.
        offset: u64,
        /// The record's sequence.
        sequence: u64,
        /// What is wrong with its payload.
        cause: RecordError,
    },
    /// A snapshot file is sound but its content is not usable.
    #[error("snapshot {}: {problem}", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The engine rules cannot make an engine.
    #[error("engine configuration: {0}")]
    Config(#[from] crate::ConfigError),
    /// No state to start from at the requested point: the journal's start
    /// was retired and no usable snapshot covers it.
    #[error(
        "nothing to start from at sequence {sequence}: the journal starts at {first} and no \
         usable snapshot lies between"
    )]
    NoStart {
        /// The sequence asked for.
        sequence: u64,
        /// The oldest sequence on disk.
        first: u64,
    },
}

/// What a snapshot file holds, as far as it could be read.
#[derive(Clone, Debug)]
pub struct SnapshotEntry {
    /// The sequence in its name: the last input its state includes.
    pub sequence: u64,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its state hash and source positions, or why it cannot be used.
    pub state: Result<(u64, SourcePositions), String>,
}

/// A loaded snapshot file; its checkpoint borrows from it.
pub struct LoadedSnapshot {
    file: journal::Snapshot,
    /// Its checkpoint has been checked once, hash included.
    checked: bool,
}

impl LoadedSnapshot {
    /// The checkpoint it holds, checked: its framing and hash, and that
    /// this build can restore the engine state in it. The hash, a pass over
    /// the whole state, is checked once per load.
    pub fn checkpoint(&self) -> Result<Checkpoint<'_>, String> {
        let payload = self.file.payload();
        let checkpoint = if self.checked {
            parse_checkpoint(payload)
        } else {
            decode_checkpoint(payload)
        };
        let checkpoint = checkpoint.map_err(|e| e.to_string())?;
        Engine::check_snapshot_format(checkpoint.engine)
            .map_err(|e| format!("engine state: {e}"))?;
        Ok(checkpoint)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// The history in one journal directory.
pub struct History {
    dir: PathBuf,
    reader: journal::Reader,
    store: journal::SnapshotStore,
}

impl History {
    /// History of the journal in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<History, HistoryError> {
        let dir = dir.as_ref().to_path_buf();
        Ok(History {
            reader: journal::Reader::open(&dir)?,
            store: journal::SnapshotStore::new(&dir),
            dir,
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The journal reader.
    pub fn reader(&self) -> &journal::Reader {
        &self.reader
    }

    /// The oldest sequence on disk, if there is any record.
    pub fn first_sequence(&self) -> Result<Option<u64>, HistoryError> {
        Ok(self.reader.first_sequence()?)
    }

    /// Every snapshot file, newest first, each checked: its header and
    /// payload CRCs, then its checkpoint and the state hash.
    pub fn snapshots(&self) -> Result<Vec<SnapshotEntry>, HistoryError> {
        let mut entries = Vec::new();
        for sequence in self.store.list()? {
            let path = self.store.path_for(sequence);
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            let state = match self.store.load(sequence) {
                Err(err) => Err(err.to_string()),
                Ok(file) => match (LoadedSnapshot {
                    file,
                    checked: false,
                })
                .checkpoint()
                {
                    Err(err) => Err(err),
                    Ok(c) if c.sequence != sequence => Err(format!(
                        "its checkpoint says sequence {}, its name {sequence}",
                        c.sequence
                    )),
                    Ok(c) => Ok((c.state_hash, c.positions)),
                },
            };
            entries.push(SnapshotEntry {
                sequence,
                path,
                bytes,
                state,
            });
        }
        Ok(entries)
    }

    /// Loads the snapshot at `sequence`, checked as [`History::snapshots`]
    /// does.
    pub fn load(&self, sequence: u64) -> Result<LoadedSnapshot, HistoryError> {
        let file = self.store.load(sequence)?;
        let mut loaded = LoadedSnapshot {
            file,
            checked: false,
        };
        match loaded.checkpoint() {
            Ok(c) if c.sequence == sequence => {
                loaded.checked = true;
                Ok(loaded)
            }
            Ok(c) => Err(HistoryError::Snapshot {
                path: loaded.path().to_path_buf(),
                problem: format!(
                    "its checkpoint says sequence {}, its name {sequence}",
                    c.sequence
                ),
            }),
            Err(problem) => Err(HistoryError::Snapshot {
                path: loaded.path().to_path_buf(),
                problem,
            }),
        }
    }

    /// A replayer that has applied everything up to the newest usable
    /// snapshot at or before `sequence` whose following records the journal
    /// still holds, or an empty engine with `config` when the journal starts
    /// at 1 and there is no such snapshot. Every later snapshot's state hash
    /// is set to be checked on the way. Snapshots are loaded newest first,
    /// and older ones only as far as needed.
    pub fn replayer_at(&self, sequence: u64, config: &EngineConfig) -> Result<Start, HistoryError> {
        let first = self.first_sequence()?;
        let mut later = Vec::new();
        let mut skipped = Vec::new();
        for candidate in self.store.list()? {
            let loaded = match self.load(candidate) {
                Ok(loaded) => loaded,
                Err(err) => {
                    skipped.push((self.store.path_for(candidate), err.to_string()));
                    continue;
                }
            };
            if candidate > sequence {
                let (hash, old) = comparable_hash(&loaded)?;
                later.push((candidate, hash, old));
                continue;
            }
            if first.is_some_and(|f| f > candidate + 1) {
                // The records after it were retired, and older snapshots are
                // further back still.
                break;
            }
            return self.start_from(&loaded, later, skipped, config);
        }
        if first.is_some_and(|f| f > 1) {
            return Err(HistoryError::NoStart {
                sequence,
                first: first.unwrap_or(0),
            });
        }
        let replayer = Replayer::new(Engine::new(config.clone())?, 0, SourcePositions::default());
        Ok(Start::new(replayer, None, later, skipped))
    }

    /// Like [`History::replayer_at`], but from the *oldest* usable snapshot
    /// after `sequence` and at most `last`, the journal's end: where
    /// recovery goes when the journal's records after every earlier
    /// snapshot were retired.
    pub fn replayer_after(
        &self,
        sequence: u64,
        last: u64,
        config: &EngineConfig,
    ) -> Result<Start, HistoryError> {
        let first = self.first_sequence()?;
        let mut candidates = self.store.list()?;
        candidates.retain(|s| *s > sequence && *s <= last);
        candidates.reverse(); // oldest first
        let mut skipped = Vec::new();
        for (i, &candidate) in candidates.iter().enumerate() {
            if first.is_some_and(|f| f > candidate + 1) {
                continue;
            }
            let loaded = match self.load(candidate) {
                Ok(loaded) => loaded,
                Err(err) => {
                    skipped.push((self.store.path_for(candidate), err.to_string()));
                    continue;
                }
            };
            let mut later = Vec::new();
            for &newer in &candidates[i + 1..] {
                if let Ok(snapshot) = self.load(newer) {
                    let (hash, old) = comparable_hash(&snapshot)?;
                    later.push((newer, hash, old));
                }
            }
            return self.start_from(&loaded, later, skipped, config);
        }
        Err(HistoryError::NoStart {
            sequence,
            first: first.unwrap_or(0),
        })
    }

    fn start_from(
        &self,
        loaded: &LoadedSnapshot,
        later: Vec<(u64, u64, bool)>,
        skipped: Vec<(PathBuf, String)>,
        config: &EngineConfig,
    ) -> Result<Start, HistoryError> {
        let checkpoint = checked(loaded)?;
        let replayer =
            Replayer::from_checkpoint(&checkpoint, config.memory).map_err(|e: SnapshotError| {
                HistoryError::Snapshot {
                    path: loaded.path().to_path_buf(),
                    problem: format!("does not restore: {e}"),
                }
            })?;
        Ok(Start::new(
            replayer,
            Some(checkpoint.sequence),
            later,
            skipped,
        ))
    }

    /// The records from `sequence` on, decoded. Pass the next sequence to be
    /// written to follow a live journal.
    pub fn records(&self, sequence: u64) -> Result<Records, HistoryError> {
        Ok(Records {
            cursor: self.reader.read_from(sequence)?,
        })
    }

    /// The records from the oldest on disk.
    pub fn all_records(&self) -> Result<Records, HistoryError> {
        Ok(Records {
            cursor: self.reader.read_all()?,
        })
    }
}

/// Where a replay starts: the replayer, restored, with the hashes of later
/// snapshots set to be checked.
pub struct Start {
    /// The replayer.
    pub replayer: Replayer,
    /// The snapshot it was restored from; `None` for the journal's start.
    pub snapshot: Option<u64>,
    /// Later snapshots whose state hash replay will check, oldest first.
    pub later: Vec<(u64, u64)>,
    /// Snapshot files that could not be used, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Start {
    fn new(
        mut replayer: Replayer,
        snapshot: Option<u64>,
        mut later: Vec<(u64, u64, bool)>,
        skipped: Vec<(PathBuf, String)>,
    ) -> Start {
        later.sort_unstable();
        for &(sequence, hash, old) in &later {
            if old {
                replayer.expect_old_format_hash(sequence, hash);
            } else {
                replayer.expect_hash(sequence, hash);
            }
        }
        Start {
            replayer,
            snapshot,
            later: later
                .into_iter()
                .map(|(seq, hash, _)| (seq, hash))
                .collect(),
            skipped,
        }
    }
}

/// A loaded snapshot's checkpoint, already known to decode.
fn checked(loaded: &LoadedSnapshot) -> Result<Checkpoint<'_>, HistoryError> {
    loaded
        .checkpoint()
        .map_err(|problem| HistoryError::Snapshot {
            path: loaded.path().to_path_buf(),
            problem,
        })
}

/// The state hash a replay reaching `loaded`'s sequence must produce. It
/// is the recorded one, unless the snapshot is of an older format: a hash
/// is of the state's bytes in this build's format, so the old state is
/// restored and hashed again. Only old snapshots pay for that.
///
/// A format before 4 also lacks each book's partition, so its hash is
/// compared with the replayed state's without it: the second value says
/// so.
fn comparable_hash(loaded: &LoadedSnapshot) -> Result<(u64, bool), HistoryError> {
    let checkpoint = checked(loaded)?;
    let version = Engine::check_snapshot_format(checkpoint.engine).ok();
    if version == Some(SNAPSHOT_FORMAT_VERSION) {
        return Ok((checkpoint.state_hash, false));
    }
    // Books' partitions came with format 4.
    let without_partitions = version.is_none_or(|v| v < 4);
    Engine::restore(checkpoint.engine, crate::MemoryConfig::default())
        .map(|engine| (engine.state_hash(), without_partitions))
        .map_err(|e| HistoryError::Snapshot {
            path: loaded.path().to_path_buf(),
            problem: format!("does not restore: {e}"),
        })
}

/// Journaled inputs in sequence order.
pub struct Records {
    cursor: journal::Cursor,
}

impl Records {
    /// The next input, `None` at the (current) end of the journal.
    #[allow(clippy::should_implement_trait)] // fallible, and resumable at the end
    pub fn next(&mut self) -> Result<Option<Journaled>, HistoryError> {
        let Some(record) = self.cursor.next()? else {
            return Ok(None);
        };
        Ok(Some(journaled(&record)?))
    }

    /// The sequence the next record will have.
    pub fn next_sequence(&self) -> u64 {
        self.cursor.next_sequence()
    }
}

/// Decodes a record into a journaled input; an error names its place.
fn journaled(record: &journal::Record<'_>) -> Result<Journaled, HistoryError> {
    let input = decode_input(record.payload(), record.payload_format()).map_err(|cause| {
        HistoryError::Record {
            path: record.segment().to_path_buf(),
            offset: record.offset(),
            sequence: record.sequence(),
            cause,
        }
    })?;
    let meta = record.meta();
    Ok(Journaled {
        sequence: record.sequence(),
        timestamp_ns: meta.timestamp_ns,
        source: SourcePosition {
            topic: input.topic(),
            partition: meta.source_partition,
            offset: meta.source_offset,
        },
        input,
    })
}
