//! Snapshot files: opaque state bytes tagged with the sequence they cover.
//!
//! A snapshot is written under a temporary name, synced, renamed into place
//! and the directory synced, so a crash leaves either the old set of
//! snapshots or the new one, never a half-written file under a real name.
//! Loading checks a header CRC and a payload CRC and skips, with a warning,
//! any file that fails. This module never deletes a snapshot.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::format::{get_u32, get_u64};
use crate::segment::{TEMP_EXT, sequence_in_name, sync_dir};

/// The first eight bytes of every snapshot file.
pub(crate) const SNAPSHOT_FILE_MAGIC: [u8; 8] = *b"MXJSNAP\0";
/// The snapshot-file format this build writes and reads.
pub const SNAPSHOT_FILE_VERSION: u32 = 1;
/// Bytes before the payload.
pub(crate) const SNAPSHOT_HEADER_LEN: usize = 64;
/// File-name extension of snapshot files.
const SNAPSHOT_EXT: &str = "snap";

const SN_VERSION: usize = 8;
const SN_HEADER_CRC: usize = 12;
const SN_SEQUENCE: usize = 16;
const SN_PAYLOAD_LENGTH: usize = 24;
const SN_PAYLOAD_CRC: usize = 32;

/// The snapshot files of one journal directory.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
}

/// A snapshot read back and verified. The payload is mapped, not copied.
pub struct Snapshot {
    sequence: u64,
    path: PathBuf,
    map: Mmap,
}

impl Snapshot {
    /// The last journal sequence the state includes; replay resumes after it.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state bytes, exactly as written. 64-byte aligned.
    pub fn payload(&self) -> &[u8] {
        &self.map[SNAPSHOT_HEADER_LEN..]
    }
}

impl SnapshotStore {
    /// The snapshots kept in `dir` (the journal directory).
    pub fn new(dir: impl Into<PathBuf>) -> SnapshotStore {
        SnapshotStore { dir: dir.into() }
    }

    /// Writes a snapshot of the state after `sequence`: temporary file,
    /// fsync, rename, fsync of the directory. Returns the file's path. If
    /// writing fails, the temporary file is removed.
    pub fn write(&self, sequence: u64, payload: &[u8]) -> Result<PathBuf> {
        let path = self.path_for(sequence);
        let temp = path.with_extension(TEMP_EXT);
        let mut header = [0u8; SNAPSHOT_HEADER_LEN];
        header[..8].copy_from_slice(&SNAPSHOT_FILE_MAGIC);
        header[SN_VERSION..SN_VERSION + 4].copy_from_slice(&SNAPSHOT_FILE_VERSION.to_le_bytes());
        header[SN_SEQUENCE..SN_SEQUENCE + 8].copy_from_slice(&sequence.to_le_bytes());
        header[SN_PAYLOAD_LENGTH..SN_PAYLOAD_LENGTH + 8]
            .copy_from_slice(&(payload.len() as u64).to_le_bytes());
        header[SN_PAYLOAD_CRC..SN_PAYLOAD_CRC + 4]
            .copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        let crc = header_crc(&header);
        header[SN_HEADER_CRC..SN_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());

        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| Error::io("create", &temp, e))
            .and_then(|mut file| {
                file.write_all(&header)
                    .and_then(|()| file.write_all(payload))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io("write", &temp, e))
            });
        if let Err(err) = written {
            // A full disk is the usual cause: give the space back.
            let _ = fs::remove_file(&temp);
            return Err(err);
        }
        fs::rename(&temp, &path).map_err(|e| Error::io("rename into place", &temp, e))?;
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// Sequences of the snapshot files present, newest first, by name only.
    pub fn list(&self) -> Result<Vec<u64>> {
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        let mut sequences = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io("list", &self.dir, e))?.path();
            if let Some(sequence) = sequence_in_name(&path, SNAPSHOT_EXT) {
                sequences.push(sequence);
            }
        }
        sequences.sort_unstable_by(|a, b| b.cmp(a));
        Ok(sequences)
    }

    /// The newest snapshot that verifies. Damaged ones are skipped with a
    /// warning naming the file; `None` when there is no good one.
    pub fn latest_valid(&self) -> Result<Option<Snapshot>> {
        for sequence in self.list()? {
            match self.load(sequence) {
                Ok(snapshot) => return Ok(Some(snapshot)),
                Err(err) => {
                    tracing::warn!(error = %err, "skipping a snapshot that does not verify")
                }
            }
        }
        Ok(None)
    }

    /// Deletes the snapshot for `sequence`, then syncs the directory. The
    /// caller decides which snapshots are no longer needed.
    pub fn remove(&self, sequence: u64) -> Result<()> {
        let path = self.path_for(sequence);
        fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        sync_dir(&self.dir)
    }

    /// Loads and verifies the snapshot for `sequence`.
    pub fn load(&self, sequence: u64) -> Result<Snapshot> {
        let path = self.path_for(sequence);
        let bad = |problem: String| Error::BadSnapshot {
            path: path.clone(),
            problem,
        };
        let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        #[allow(unsafe_code)]
        // SAFETY: snapshot files are immutable once renamed into place; the
        // journal never rewrites one.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("map", &path, e))?;
        if map.len() < SNAPSHOT_HEADER_LEN || map[..8] != SNAPSHOT_FILE_MAGIC {
            return Err(bad("not a snapshot file (bad magic or too short)".into()));
        }
        let version = get_u32(&map, SN_VERSION);
        if version != SNAPSHOT_FILE_VERSION {
            return Err(bad(format!(
                "format version {version}; this build reads version {SNAPSHOT_FILE_VERSION}"
            )));
        }
        if get_u32(&map, SN_HEADER_CRC) != header_crc(&map) {
            return Err(bad("header CRC mismatch".into()));
        }
        if get_u64(&map, SN_SEQUENCE) != sequence {
            return Err(bad("header sequence differs from the file name".into()));
        }
        let payload_length = get_u64(&map, SN_PAYLOAD_LENGTH);
        if payload_length != (map.len() - SNAPSHOT_HEADER_LEN) as u64 {
            return Err(bad(format!(
                "header says {payload_length} payload bytes, the file holds {}",
                map.len() - SNAPSHOT_HEADER_LEN
            )));
        }
        if crc32c::crc32c(&map[SNAPSHOT_HEADER_LEN..]) != get_u32(&map, SN_PAYLOAD_CRC) {
            return Err(bad("payload CRC mismatch".into()));
        }
        Ok(Snapshot {
            sequence,
            path,
            map,
        })
    }

    /// The file of the snapshot for `sequence`, whether or not it exists.
    pub fn path_for(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.{SNAPSHOT_EXT}"))
    }
}

fn header_crc(header: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[..SN_HEADER_CRC]);
    crc32c::crc32c_append(crc, &header[SN_HEADER_CRC + 4..SNAPSHOT_HEADER_LEN])
}
