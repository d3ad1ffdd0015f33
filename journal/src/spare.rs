//! A background thread that keeps the next segment file ready and names
//! each new segment, so a roll-over costs the appending thread a header
//! write and a map, not the file system's allocation and syncs.
//!
//! The spare is a `*.tmp` file of the segment size filled with written
//! zeros and synced. Written zeros matter as much as being ready: on ext4
//! a data sync into `fallocate`d (unwritten) blocks also commits the
//! file system journal to convert them, which measured 3.5 ms at p50 here,
//! against 0.35 ms into written zeros (docs/journal.md). At a roll the
//! writer stamps the header into the spare and appends into it at once;
//! in `batch` mode this thread then syncs the old segment's tail and the
//! header, renames the spare into place and syncs the directory
//! ([`Commit`]). So a named segment still always has a durable header, and
//! the writer publishes no durable sequence in the new segment before its
//! commit is done. In `none` and `sync` modes the writer runs the commit
//! itself, since a record there is promised as soon as it is appended.
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

use crate::error::{Error, Result};
use crate::segment::{TEMP_EXT, sync_dir};

/// The spare's file name, in the journal directory.
const SPARE_NAME: &str = "next-segment";
/// Zeros written per system call while preparing a spare.
const ZERO_CHUNK: usize = 1 << 20;

/// A prepared segment file, not yet named.
pub(crate) struct Spare {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

/// What a roll-over leaves to this thread, in order.
pub(crate) struct Commit {
    /// The segment just closed, to sync its tail; `None` when the mode
    /// makes no durability promise.
    pub(crate) old: Option<(PathBuf, File)>,
    /// The spare, with its header written.
    pub(crate) new: File,
    pub(crate) from: PathBuf,
    pub(crate) to: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) done: Arc<Done>,
}

impl Commit {
    /// Syncs the old segment's tail and the new header, then names the new
    /// segment durably. Runs on this thread, or inline in `sync` mode.
    pub(crate) fn run(self) {
        let result = self.steps();
        self.done.set(result);
    }

    fn steps(&self) -> Result<()> {
        if let Some((path, old)) = &self.old {
            old.sync_data().map_err(|e| Error::io("sync", path, e))?;
        }
        self.new
            .sync_data()
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
        let thread = thread::Builder::new()
            .name("journal-segments".into())
            .spawn(move || run(&worker))?;
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
        while state.commits.is_empty() && !state.wanted && !state.stop {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Pending commits run even when stopping: the writer waits on them.
        if !state.commits.is_empty() {
            let commits = std::mem::take(&mut state.commits);
            drop(state);
            for commit in commits {
                commit.run();
            }
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

/// Creates the spare: the segment size of written zeros, synced; `None`
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
    match fill_with_zeros(&path, shared.segment_size, stopped) {
        Ok(Some(file)) => Ok(Some(Spare { path, file })),
        other => {
            let _ = fs::remove_file(&path);
            other.map(|_| None)
        }
    }
}

fn fill_with_zeros(path: &Path, len: u64, stopped: impl Fn() -> bool) -> Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut at = 0u64;
    while at < len {
        if stopped() {
            return Ok(None);
        }
        let n = (len - at).min(ZERO_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], at)
            .map_err(|e| Error::io("write zeros into", path, e))?;
        at += n as u64;
    }
    file.sync_all().map_err(|e| Error::io("sync", path, e))?;
    Ok(Some(file))
}
