//! A background thread that faults segment pages in ahead of the writer.
//!
//! The first write to each page (or large folio) of a fresh segment faults:
//! the kernel allocates and zeroes page-cache memory on the writer's
//! thread, a stall of microseconds per fault, which is what a p99.99 budget
//! cannot absorb. This thread asks the kernel to populate the pages a window
//! ahead of the write position (`MADV_POPULATE_WRITE`), so the writer finds
//! them mapped; `bench journal` reports the writer thread's page faults per
//! million appends with and without it. It never reads or writes segment
//! contents, and the writer never waits for it: if it falls behind (a flood
//! faster than the kernel zeroes pages), the writer takes the faults itself.
//! It wakes every 200 µs while the writer moves, backing off to 10 ms while
//! it does not, so an idle journal costs next to nothing; the window ahead
//! is populated by then, so a burst after a pause finds it ready. On a
//! tuned host, keep it off the isolated cores.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use memmap2::{Advice, MmapRaw};

use crate::helpers::Creator;

/// How far ahead of the writer pages are populated.
const WINDOW: usize = 16 << 20;
/// Pages populated per system call.
const CHUNK: usize = 1 << 20;
/// The writer reports its position each time it advances this much.
pub(crate) const REPORT_EVERY: usize = 256 << 10;
/// How often the thread looks at the writer's position while it moves.
const POLL: Duration = Duration::from_micros(200);
/// The longest it sleeps while the writer stands still.
const IDLE_POLL: Duration = Duration::from_millis(10);

struct Shared {
    /// The active segment's mapping, swapped at roll-over.
    map: Mutex<Option<Arc<MmapRaw>>>,
    /// The writer's position in that mapping (a lower bound).
    position: AtomicUsize,
    stop: AtomicBool,
}

/// Handle owned by the writer; stops and joins the thread on drop.
pub(crate) struct Prefaulter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Prefaulter {
    /// Starts the thread, named `journal-prefault`.
    pub(crate) fn start() -> std::io::Result<Prefaulter> {
        let shared = Arc::new(Shared {
            map: Mutex::new(None),
            position: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let worker = Arc::clone(&shared);
        let creator = Creator::current();
        let thread = thread::Builder::new()
            .name("journal-prefault".into())
            .spawn(move || {
                creator.keep_off();
                run(&worker);
            })?;
        Ok(Prefaulter {
            shared,
            thread: Some(thread),
        })
    }

    /// Points the thread at a new segment, writing from `position`.
    pub(crate) fn follow(&self, map: Arc<MmapRaw>, position: usize) {
        let mut slot = self
            .shared
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared.position.store(position, Ordering::Relaxed);
        *slot = Some(map);
    }

    /// Tells the thread how far the writer has got. One relaxed store.
    pub(crate) fn report(&self, position: usize) {
        self.shared.position.store(position, Ordering::Relaxed);
    }
}

impl Drop for Prefaulter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut current: Option<Arc<MmapRaw>> = None;
    let mut populated_to = 0usize;
    let mut last_seen = usize::MAX;
    let mut pause = POLL;
    while !shared.stop.load(Ordering::Relaxed) {
        let latest = shared
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(map) = latest else {
            // No segment yet: nothing is being written.
            thread::sleep(IDLE_POLL);
            continue;
        };
        let position = shared.position.load(Ordering::Relaxed);
        pause = if position == last_seen {
            (pause * 2).min(IDLE_POLL)
        } else {
            POLL
        };
        last_seen = position;
        if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &map)) {
            populated_to = position;
            current = Some(Arc::clone(&map));
        }
        populated_to = populated_to.max(position);
        let want = (position + WINDOW).min(map.len());
        while populated_to < want && !shared.stop.load(Ordering::Relaxed) {
            let start = populated_to & !4095;
            let len = CHUNK.min(want - start);
            if map.advise_range(Advice::PopulateWrite, start, len).is_err() {
                // Old kernel or no memory to spare: the writer will fault
                // pages in itself, as it would without this thread.
                populated_to = map.len();
                break;
            }
            populated_to = start + len;
        }
        thread::sleep(pause);
    }
}
