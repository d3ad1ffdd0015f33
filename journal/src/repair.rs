//! Repairs an operator runs with the engine stopped: holding the writer
//! lock without recovering, and cutting the log after a sequence.
//!
//! Nothing here deletes: whatever leaves the journal is moved (or, for the
//! segment that is cut, first copied) into a quarantine directory the
//! caller names, and synced there before the journal is changed. The lock
//! makes sure no engine is writing meanwhile.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::map::{FrameSource, WriteMap};
use crate::reader::Reader;
use crate::recovery::clear_index_from;
use crate::segment::{self, list_segments, sequence_in_name, sync_dir};
use crate::snapshot::SnapshotStore;

/// The journal directory's writer lock, held without recovering or
/// changing anything: no engine can open the journal while it is held.
pub struct DirLock {
    dir: PathBuf,
    _file: File,
}

/// What [`DirLock::truncate_after`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truncated {
    /// Files moved whole into the quarantine: later segments and snapshots.
    pub moved: Vec<PathBuf>,
    /// The segment that was cut, and the byte offset it now ends at; a
    /// full copy of it as it was is in the quarantine.
    pub cut: Option<(PathBuf, u64)>,
}

impl DirLock {
    /// Takes the lock of the journal in `dir`, or fails with
    /// [`Error::Locked`] while an engine (or another tool) holds it.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<DirLock> {
        let dir = segment::existing_dir(dir.as_ref())?;
        let file = segment::lock(&dir)?;
        Ok(DirLock { dir, _file: file })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Cuts the log after `sequence`: every record after it leaves the
    /// journal for `quarantine` (created; give a new directory each time),
    /// with every snapshot after it. Segments wholly after it are moved;
    /// the one holding it is copied whole, then cut just after it. A
    /// writer opened afterwards appends `sequence + 1`.
    ///
    /// `sequence` must be readable: damage at or before it is an error,
    /// and the caller should cut earlier. Damage after it is what this
    /// removes.
    pub fn truncate_after(&self, sequence: u64, quarantine: &Path) -> Result<Truncated> {
        let segments = list_segments(&self.dir)?;
        let Some(oldest) = segments.first() else {
            return Ok(Truncated::default());
        };
        if sequence + 1 < oldest.first_sequence {
            return Err(Error::SequenceRetired {
                requested: sequence,
                oldest: oldest.first_sequence,
            });
        }
        // Where the log will end: just after `sequence`'s frame.
        let cut_at = if sequence + 1 == oldest.first_sequence {
            None
        } else {
            let mut cursor = Reader::open(&self.dir)?.read_from(sequence)?;
            let record = cursor.next()?.ok_or(Error::SequenceBeyondEnd {
                requested: sequence,
                next: sequence,
            })?;
            let frame = crate::format::frame_length_for(record.payload().len());
            Some((
                record.segment().to_path_buf(),
                record.offset() + frame as u64,
            ))
        };
        fs::create_dir_all(quarantine).map_err(|e| Error::io("create", quarantine, e))?;
        let mut done = Truncated::default();
        // 1. Keep a copy of the segment to be cut, before anything moves.
        if let Some((path, _)) = &cut_at {
            copy_synced(path, &quarantine.join(file_name(path)?))?;
        }
        // 2. Move whole segments and snapshots that lie after `sequence`.
        let store = SnapshotStore::new(&self.dir);
        let later_snapshots = store
            .list()?
            .into_iter()
            .filter(|s| *s > sequence)
            .map(|s| store.path_for(s));
        let later_segments = segments
            .iter()
            .filter(|s| s.first_sequence > sequence)
            .map(|s| s.path.clone());
        for path in later_segments.chain(later_snapshots) {
            let target = quarantine.join(file_name(&path)?);
            fs::rename(&path, &target).map_err(|e| Error::io("move to quarantine", &path, e))?;
            done.moved.push(path);
        }
        sync_dir(quarantine)?;
        sync_dir(&self.dir)?;
        // 3. Cut the segment holding `sequence` after its frame.
        if let Some((path, offset)) = cut_at {
            let first = sequence_in_name(&path, segment::SEGMENT_EXT).unwrap_or(0);
            let (file, header) = segment::open_write(&path, first)?;
            let mut map = WriteMap::new(&file).map_err(|e| Error::io("map", &path, e))?;
            segment::zero_tail(&file, &mut map, offset as usize);
            clear_index_from(&mut map, &header, sequence + 1);
            map.flush_range(0, map.len())
                .map_err(|e| Error::io("sync", &path, e))?;
            tracing::warn!(
                segment = %path.display(),
                offset,
                sequence,
                "cut the journal after this sequence; the rest is in quarantine"
            );
            done.cut = Some((path, offset));
        }
        Ok(done)
    }
}

fn file_name(path: &Path) -> Result<&std::ffi::OsStr> {
    path.file_name()
        .ok_or_else(|| Error::io("name", path, std::io::ErrorKind::InvalidInput.into()))
}

/// Copies `from` to `to` and makes the copy durable.
fn copy_synced(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map_err(|e| Error::io("copy to quarantine", from, e))?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("sync", to, e))
}
