//! Retiring old segments once a snapshot covers them.
//!
//! Only an explicit call retires anything, and only segments whose every
//! record is at or below a snapshot that verifies. The newest segment, which
//! a writer may be appending to, is never touched, so this may run on any
//! thread beside a live writer. Readers that already mapped a retired
//! segment keep reading it; new seeks into it fail with `SequenceRetired`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::segment::{list_segments, sync_dir};
use crate::snapshot::SnapshotStore;

/// What to do with a retired segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retire {
    /// Delete it.
    Delete,
    /// Move it into this directory (on the same file system, or copied and
    /// synced, then deleted).
    MoveTo(PathBuf),
}

/// What a retirement did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Sequence of the snapshot that covered the segments, if there was one.
    pub covered_through: Option<u64>,
    /// The segment files removed from the journal directory.
    pub segments: Vec<PathBuf>,
}

/// Deletes or moves away (`how`) the segments of the journal in `dir` whose
/// every record is covered by the newest valid snapshot at or below `limit`.
///
/// `limit` lets the caller keep what it still needs: a server passes the
/// highest sequence whose outputs are delivered, so that recovery, which
/// restarts from a snapshot at or before that point, always finds the
/// records after its snapshot. Pass `u64::MAX` to use the newest snapshot.
/// The newest segment is never retired.
pub fn retire_segments(dir: &Path, how: &Retire, limit: u64) -> Result<Retired> {
    let store = SnapshotStore::new(dir);
    let mut covering = None;
    for sequence in store.list()?.into_iter().filter(|s| *s <= limit) {
        match store.load(sequence) {
            Ok(snapshot) => {
                covering = Some(snapshot.sequence());
                break;
            }
            Err(err) => tracing::warn!(error = %err, "skipping a snapshot that does not verify"),
        }
    }
    let Some(covered_through) = covering else {
        return Ok(Retired::default());
    };
    let segments = list_segments(dir)?;
    let mut retired = Vec::new();
    // Segment i ends just before segment i + 1 starts; the last has no
    // successor, so `windows` never offers it.
    for pair in segments.windows(2) {
        let (segment, next) = (&pair[0], &pair[1]);
        if next.first_sequence > covered_through + 1 {
            break;
        }
        match how {
            Retire::Delete => {
                fs::remove_file(&segment.path).map_err(|e| Error::io("delete", &segment.path, e))?
            }
            Retire::MoveTo(archive) => move_file(&segment.path, archive)?,
        }
        tracing::info!(segment = %segment.path.display(), covered_through, "retired a segment");
        retired.push(segment.path.clone());
    }
    if !retired.is_empty() {
        sync_dir(dir)?;
    }
    Ok(Retired {
        covered_through: Some(covered_through),
        segments: retired,
    })
}

fn move_file(path: &Path, archive: &Path) -> Result<()> {
    fs::create_dir_all(archive).map_err(|e| Error::io("create", archive, e))?;
    let Some(name) = path.file_name() else {
        return Err(Error::io(
            "archive",
            path,
            std::io::ErrorKind::InvalidInput.into(),
        ));
    };
    let target = archive.join(name);
    if fs::rename(path, &target).is_err() {
        // Another file system: copy, make the copy durable, then delete.
        fs::copy(path, &target).map_err(|e| Error::io("copy", &target, e))?;
        fs::File::open(&target)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("sync", &target, e))?;
        fs::remove_file(path).map_err(|e| Error::io("delete", path, e))?;
    }
    sync_dir(archive)
}
