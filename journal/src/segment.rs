//! Segment files on disk: names, listing, creation, header checks, the
//! writer lock, and zeroing a cut-off tail.
//!
//! A segment is created complete (pre-allocated, header written and synced)
//! under a temporary name and renamed into place, so a named segment always
//! has a valid header. This module never interprets frames.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustix::fs::{FallocateFlags, FlockOperation};

use crate::error::{Error, Result};
use crate::format::{PAGE, SEGMENT_HEADER_LEN, SegmentHeader, align_up};
use crate::map::{FrameSource, WriteMap};

/// File-name extension of segment files.
pub(crate) const SEGMENT_EXT: &str = "seg";
/// Extension of files being created; never read, removed on writer open.
pub(crate) const TEMP_EXT: &str = "tmp";
/// Name of the writer lock file.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// `DIR/{first_sequence:020}.seg`: zero-padded so names sort by sequence.
pub(crate) fn segment_path(dir: &Path, first_sequence: u64) -> PathBuf {
    dir.join(format!("{first_sequence:020}.{SEGMENT_EXT}"))
}

/// A segment found in the directory, by name only.
#[derive(Clone, Debug)]
pub(crate) struct SegmentName {
    /// First sequence, from the file name.
    pub(crate) first_sequence: u64,
    /// The file.
    pub(crate) path: PathBuf,
}

/// The sequence in a `{sequence:020}.{ext}` file name, or `None` if the
/// name is not of that form.
pub(crate) fn sequence_in_name(path: &Path, ext: &str) -> Option<u64> {
    if path.extension().and_then(|e| e.to_str()) != Some(ext) {
        return None;
    }
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| s.len() == 20)
        .and_then(|s| s.parse::<u64>().ok())
}

/// Segment files in `dir`, oldest first. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentName>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let path = entry.path();
        let Some(first_sequence) = sequence_in_name(&path, SEGMENT_EXT) else {
            continue;
        };
        segments.push(SegmentName {
            first_sequence,
            path,
        });
    }
    segments.sort_by_key(|s| s.first_sequence);
    Ok(segments)
}

/// Reads and checks the header of the segment at `path`, which must start
/// at `first_sequence` (its name).
pub(crate) fn read_header(
    file: &mut File,
    path: &Path,
    first_sequence: u64,
) -> Result<SegmentHeader> {
    let mut bytes = [0u8; SEGMENT_HEADER_LEN];
    file.read_exact(&mut bytes)
        .map_err(|e| Error::io("read the header of", path, e))?;
    let header = SegmentHeader::decode(&bytes).map_err(|problem| Error::BadSegmentHeader {
        path: path.to_owned(),
        problem: format!("{problem:?}"),
    })?;
    if header.first_sequence != first_sequence {
        return Err(Error::BadSegmentHeader {
            path: path.to_owned(),
            problem: format!(
                "header says it starts at sequence {}, its name says {first_sequence}",
                header.first_sequence
            ),
        });
    }
    Ok(header)
}

/// Opens a segment read-only and checks its header.
pub(crate) fn open_read(path: &Path, first_sequence: u64) -> Result<(File, SegmentHeader)> {
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let header = read_header(&mut file, path, first_sequence)?;
    Ok((file, header))
}

/// Opens a segment read-write, checks its header, and restores its full
/// pre-allocated length if something truncated it (the missing bytes read
/// as zeros, that is, as unwritten frames).
pub(crate) fn open_write(path: &Path, first_sequence: u64) -> Result<(File, SegmentHeader)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let header = read_header(&mut file, path, first_sequence)?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len < header.segment_size {
        tracing::warn!(
            segment = %path.display(),
            length = len,
            expected = header.segment_size,
            "segment file is shorter than its header says; extending it with zeros"
        );
        file.set_len(header.segment_size)
            .map_err(|e| Error::io("extend", path, e))?;
        preallocate(&file, path, header.segment_size)?;
    }
    Ok((file, header))
}

/// Creates the segment described by `header` in `dir`: a temporary file is
/// pre-allocated, given its header, synced, then renamed into place and the
/// directory synced. Returns the open file. On failure (a full disk, most
/// often) the temporary file is removed, so it holds no space.
pub(crate) fn create(dir: &Path, header: &SegmentHeader) -> Result<(PathBuf, File)> {
    let path = segment_path(dir, header.first_sequence);
    let temp = path.with_extension(TEMP_EXT);
    let prepared = prepare(&temp, header);
    let file = match prepared {
        Ok(file) => file,
        Err(err) => {
            let _ = fs::remove_file(&temp);
            return Err(err);
        }
    };
    fs::rename(&temp, &path).map_err(|e| Error::io("rename into place", &temp, e))?;
    sync_dir(dir)?;
    Ok((path, file))
}

/// Writes a complete, synced segment file at `temp`.
fn prepare(temp: &Path, header: &SegmentHeader) -> Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(|e| Error::io("create", temp, e))?;
    file.set_len(header.segment_size)
        .map_err(|e| Error::io("size", temp, e))?;
    preallocate(&file, temp, header.segment_size)?;
    io::Write::write_all(&mut file, &header.encode()).map_err(|e| Error::io("write", temp, e))?;
    file.sync_all().map_err(|e| Error::io("sync", temp, e))?;
    Ok(file)
}

/// Reserves the file's blocks so that a write through the map can never
/// fail for lack of space (which would arrive as SIGBUS, not an error).
pub(crate) fn preallocate(file: &File, path: &Path, len: u64) -> Result<()> {
    match rustix::fs::fallocate(file, FallocateFlags::KEEP_SIZE, 0, len) {
        Ok(()) => Ok(()),
        // Some file systems cannot reserve; the sparse file still works.
        Err(rustix::io::Errno::OPNOTSUPP) => {
            tracing::warn!(segment = %path.display(), "file system cannot pre-allocate; a full disk will crash the writer");
            Ok(())
        }
        Err(e) => Err(Error::io("pre-allocate", path, e.into())),
    }
}

/// Makes everything in `[from, file end)` read as zero: the torn frame and
/// anything a crashed writer left after it. Whole pages are zeroed by the
/// file system (`FALLOC_FL_ZERO_RANGE`, or punch-and-reallocate), so the
/// cost does not grow with the segment size; the partial page goes through
/// the map.
pub(crate) fn zero_tail(file: &File, map: &mut WriteMap, from: usize) {
    let end = map.len();
    let page_start = align_up(from, PAGE).min(end);
    map.bytes_mut(from, page_start - from).fill(0);
    if page_start == end {
        return;
    }
    let (offset, len) = (page_start as u64, (end - page_start) as u64);
    let zeroed =
        rustix::fs::fallocate(file, FallocateFlags::ZERO_RANGE, offset, len).or_else(|_| {
            rustix::fs::fallocate(
                file,
                FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
                offset,
                len,
            )
            .and_then(|()| rustix::fs::fallocate(file, FallocateFlags::KEEP_SIZE, offset, len))
        });
    if zeroed.is_err() {
        // No file-system support: zero by hand, touching only non-zero words.
        for chunk in map.bytes_mut(page_start, end - page_start).chunks_mut(PAGE) {
            if chunk.iter().any(|&b| b != 0) {
                chunk.fill(0);
            }
        }
    }
}

/// Bytes an unprivileged writer can still use on the file system that
/// holds `dir`.
pub fn free_space(dir: &Path) -> Result<u64> {
    let stats = rustix::fs::statvfs(dir)
        .map_err(|e| Error::io("stat the file system of", dir, e.into()))?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// fsyncs a directory, making renames and unlinks in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Removes `*.tmp` files left by a crash during segment or snapshot creation.
pub(crate) fn remove_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let path = entry.map_err(|e| Error::io("list", dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(TEMP_EXT) {
            fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            tracing::warn!(file = %path.display(), "removed a file left half-written by a crash");
            removed.push(path);
        }
    }
    Ok(removed)
}

/// `dir` as an owned path, or a not-found error naming it when it is not
/// a directory: what every entry point into a journal checks first.
pub(crate) fn existing_dir(dir: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Error::io(
            "open the journal directory",
            dir,
            io::ErrorKind::NotFound.into(),
        ));
    }
    Ok(dir.to_path_buf())
}

/// Takes the exclusive writer lock on `dir`, held until the file is closed.
pub(crate) fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Locked { path }),
        Err(e) => Err(Error::io("lock", &path, e.into())),
    }
}
