//! A background thread that keeps the next segment file ready and names
//! each new segment, so a roll-over costs the appending thread a header
//! write and a map, not the file system's allocation and syncs.
//!
//! The spare is a `*.tmp` file of the segment size, pre-allocated
//! (`fallocate`) and synced, and mapped with its first megabyte faulted in.
//! At a roll-over the writer takes the map and appends into it at once;
//! in `batch` mode this thread then writes and syncs the header (that
//! page alone), syncs the old segment's tail, renames the spare into place
//! and syncs the directory ([`Commit`]). So a named segment still always
//! has a durable header, and the writer publishes no durable sequence in
//! the new segment before its commit is done. In `none` and `sync` modes
//! the writer runs the commit itself, since a record there is promised as
//! soon as it is appended.
//!
//! Pre-allocated, not filled with written zeros: a whole-file `fdatasync`
//! into unwritten extents costs ten times one into written zeros here, but
//! the journal's own syncs are ranged `io_uring` data-syncs, and for those
//! the pre-allocated file measured p50 246-248 µs against 411-447 µs for a
//! zeroed one (docs/journal.md), and zeroing writes every segment twice.
//!
//! The writer asks for a spare once the active segment is half full, so an
//! engine that never fills a segment never pays for one. It never touches
//! a segment's frames, and the writer never waits for it
//! except at a second roll-over while the first is still being committed,
//! or when closing. If it could not make a spare (a full disk), the writer
//! creates the segment itself and meets the same error where it always
//! did.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use memmap2::{Advice, MmapRaw};

use crate::error::{Error, Result};
use crate::format::{PAGE, SEGMENT_HEADER_LEN};
use crate::helpers::Creator;
use crate::map::WriteMap;
use crate::segment::{TEMP_EXT, preallocate, sync_dir};

/// The spare's file name, in the journal directory.
const SPARE_NAME: &str = "next-segment";
/// How much of a spare's map is faulted in writable before it is handed
/// over, so the first appends after a roll-over take no page faults; the
/// prefault thread takes over from there.
const POPULATED: usize = 1 << 20;

/// A prepared segment file, not yet named, and its map.
pub(crate) struct Spare {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) map: WriteMap,
}

/// What a roll-over leaves to this thread, in order.
pub(crate) struct Commit {
    /// The segment just closed, to sync its tail; `None` when the mode
    /// makes no durability promise.
    pub(crate) old: Option<(PathBuf, File)>,
    /// The spare, and its map for a sync of the header's page alone.
    pub(crate) new: File,
    pub(crate) new_map: Arc<MmapRaw>,
    /// Its header, written here: a write into the page cache can wait on
    /// the file system's journal, which the appender must not.
    pub(crate) header: [u8; SEGMENT_HEADER_LEN],
    pub(crate) from: PathBuf,
    pub(crate) to: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) done: Arc<Done>,
}

impl Commit {
    /// Writes and syncs the new header, syncs the old segment's tail, then
    /// names the new segment durably. Runs on this thread in `batch` mode,
    /// inline on the appender's in `none` and `sync` modes.
    pub(crate) fn run(self) {
        let result = self.steps();
        self.done.set(result);
    }

    fn steps(&self) -> Result<()> {
        // The appender writes frames and sparse-index slots past the
        // header's bytes, so this never overwrites what it wrote.
        self.new
            .write_all_at(&self.header, 0)
            .map_err(|e| Error::io("write the header of", &self.from, e))?;
        if let Some((path, old)) = &self.old {
            old.sync_data().map_err(|e| Error::io("sync", path, e))?;
        }
        // Only the header's page: a sync of the whole file would also write
        // back the pages the appender has dirtied since the roll-over, and
        // its next write to each would fault and wait for the file system.
        self.new_map
            .flush_range(0, PAGE.min(self.new_map.len()))
            .map_err(|e| Error::io("sync the header of", &self.from, e))?;
        fs::rename(&self.from, &self.to)
            .map_err(|e| Error::io("rename into place", &self.from, e))?;
        sync_dir(&self.dir)
    }
}

/// A commit's outcome, for the writer to collect.
#[derive(Default)]
pub(crate) struct Done {
    result: Mutex<Option<Result<()>>>,
    finished: Condvar,
}

impl Done {
    fn set(&self, result: Result<()>) {
        *lock(&self.result) = Some(result);
        self.finished.notify_all();
    }

    /// The outcome if the commit has finished; `Some` only once.
    pub(crate) fn take(&self) -> Option<Result<()>> {
        lock(&self.result).take()
    }

    /// Waits for the outcome.
    pub(crate) fn wait(&self) -> Result<()> {
        let mut result = lock(&self.result);
        loop {
            if let Some(result) = result.take() {
                return result;
            }
            result = self
                .finished
                .wait(result)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[derive(Default)]
struct State {
    commits: Vec<Commit>,
    /// Closed segments to unmap and close here: unmapping a large map
    /// takes the appender milliseconds.
    disposals: Vec<Box<dyn Send>>,
    /// A spare is wanted and none is ready or being made.
    wanted: bool,
    ready: Option<Spare>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    dir: PathBuf,
    segment_size: u64,
}

/// Handle owned by the writer; stops the thread and removes an unused
/// spare on drop.
pub(crate) struct Preparer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    /// Starts the thread, named `journal-segments`.
    pub(crate) fn start(dir: &Path, segment_size: u64) -> std::io::Result<Preparer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            dir: dir.to_path_buf(),
            segment_size,
        });
        let worker = Arc::clone(&shared);
        let creator = Creator::current();
        let thread = thread::Builder::new()
            .name("journal-segments".into())
            .spawn(move || {
                creator.keep_off();
                run(&worker);
            })?;
        Ok(Preparer {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for a spare, unless one is ready or being made.
    pub(crate) fn want(&self) {
        let mut state = lock(&self.shared.state);
        if state.ready.is_none() {
            state.wanted = true;
            self.shared.wake.notify_one();
        }
    }

    /// The spare if one is ready. Never waits.
    pub(crate) fn take(&self) -> Option<Spare> {
        lock(&self.shared.state).ready.take()
    }

    /// Drops `closed` (a segment's file and map) on this thread.
    pub(crate) fn dispose(&self, closed: Box<dyn Send>) {
        lock(&self.shared.state).disposals.push(closed);
        self.shared.wake.notify_one();
    }

    /// Queues a roll-over's commit.
    pub(crate) fn commit(&self, commit: Commit) {
        lock(&self.shared.state).commits.push(commit);
        self.shared.wake.notify_one();
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(spare) = lock(&self.shared.state).ready.take() {
            let _ = fs::remove_file(&spare.path);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn run(shared: &Shared) {
    // Each spare gets its own name: one being renamed by a queued commit
    // must never be the file the next one is made in.
    let mut made = 0u64;
    loop {
        let mut state = lock(&shared.state);
        while state.commits.is_empty() && state.disposals.is_empty() && !state.wanted && !state.stop
        {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Pending commits run first, and even when stopping: the writer's
        // durability waits on them. Unmapping can wait.
        if !state.commits.is_empty() {
            let commits = std::mem::take(&mut state.commits);
            drop(state);
            for commit in commits {
                commit.run();
            }
            continue;
        }
        if !state.disposals.is_empty() {
            let disposals = std::mem::take(&mut state.disposals);
            drop(state);
            drop(disposals);
            continue;
        }
        if state.stop {
            return;
        }
        state.wanted = false;
        if state.ready.is_some() {
            continue;
        }
        made += 1;
        drop(state);
        match make_spare(shared, made) {
            Ok(Some(spare)) => lock(&shared.state).ready = Some(spare),
            Ok(None) => {} // stopped, or no room; asked again at the next roll-over
            // The writer then creates the segment itself, and reports the
            // cause (a full disk, most often) where it always did.
            Err(err) => tracing::warn!(error = %err, "could not prepare the next journal segment"),
        }
    }
}

/// Creates the spare: the segment size, pre-allocated and synced; `None`
/// if the writer went away meanwhile or the disk has no room for it. Unless it is made, the file is
/// removed, so it holds no space.
fn make_spare(shared: &Shared, number: u64) -> Result<Option<Spare>> {
    // A spare must not take the room snapshots need: on a nearly full disk
    // the writer creates each segment itself, when it needs it.
    let free = crate::segment::free_space(&shared.dir)?;
    if free < shared.segment_size.saturating_mul(2) {
        tracing::info!(
            free_mib = free >> 20,
            segment_mib = shared.segment_size >> 20,
            "not preparing the next journal segment: less than two segments of room"
        );
        return Ok(None);
    }
    let path = shared.dir.join(format!("{SPARE_NAME}-{number}.{TEMP_EXT}"));
    let stopped = || lock(&shared.state).stop;
    match allocate(&path, shared.segment_size, stopped)
        .and_then(|made| made.map(|file| populated_map(&path, file)).transpose())
    {
        Ok(Some((file, map))) => Ok(Some(Spare { path, file, map })),
        other => {
            let _ = fs::remove_file(&path);
            other.map(|_| None)
        }
    }
}

/// Maps the spare and faults its first pages in writable.
fn populated_map(path: &Path, file: File) -> Result<(File, WriteMap)> {
    let map = WriteMap::new(&file).map_err(|e| Error::io("map", path, e))?;
    let len = POPULATED.min(map.shared().len());
    // Only a head start: without it the first appends fault instead.
    let _ = map.shared().advise_range(Advice::PopulateWrite, 0, len);
    Ok((file, map))
}

fn allocate(path: &Path, len: u64, stopped: impl Fn() -> bool) -> Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.set_len(len).map_err(|e| Error::io("size", path, e))?;
    preallocate(&file, path, len)?;
    if stopped() {
        return Ok(None);
    }
    file.sync_all().map_err(|e| Error::io("sync", path, e))?;
    Ok(Some(file))
}
