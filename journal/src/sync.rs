//! Durability: the published durable sequence, and the asynchronous
//! `io_uring` data sync that `batch` mode overlaps with the next batch.
//!
//! The writer decides *when* to sync; this module only knows *how*. It
//! never blocks except in [`UringSync::wait`], which the writer calls at
//! segment roll-over and on close.

use std::fmt;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The highest sequence that is durable at the journal's configured level,
/// shared with any thread that must not act before the journal holds a
/// record (the engine's egress gate). Zero means nothing is durable yet.
#[derive(Clone, Debug)]
pub struct DurableSequence(Arc<AtomicU64>);

impl DurableSequence {
    /// A sequence starting at `sequence`. The writer makes its own; a
    /// caller makes one to publish a stricter gate built on it (durable
    /// here *and* replicated elsewhere), which it then advances itself.
    pub fn new(sequence: u64) -> DurableSequence {
        DurableSequence(Arc::new(AtomicU64::new(sequence)))
    }

    /// The durable sequence, loaded with Acquire ordering: every record up
    /// to it is in the journal at the configured durability, and so are
    /// the writes that made it so.
    pub fn load_acquire(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Publishes `sequence` with Release ordering. Only the writer calls
    /// it, with the highest sequence appended or synced: a plain store, as
    /// `none` mode does this on every append.
    pub(crate) fn store_release(&self, sequence: u64) {
        self.0.store(sequence, Ordering::Release);
    }

    /// Publishes `sequence` with Release ordering unless a higher one is
    /// already published: a sync of an older segment may finish after a
    /// roll-over's commit.
    pub fn fetch_max_release(&self, sequence: u64) {
        self.0.fetch_max(sequence, Ordering::Release);
    }
}

/// How `batch` durability reaches the disk on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPath {
    /// The durability mode needs no sync (`none`).
    NotNeeded,
    /// An `IORING_OP_FSYNC` (data-sync) per batch, overlapping the next batch.
    IoUring,
    /// A blocking `msync(MS_SYNC)` over the batch's pages.
    Msync,
}

impl fmt::Display for SyncPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncPath::NotNeeded => "none needed",
            SyncPath::IoUring => "io_uring",
            SyncPath::Msync => "msync",
        })
    }
}

/// One ring with at most one data sync in flight.
pub(crate) struct UringSync {
    ring: io_uring::IoUring,
    /// The sequence the in-flight sync makes durable.
    in_flight: Option<u64>,
}

impl UringSync {
    /// Sets up a small ring, or says why the kernel refused.
    pub(crate) fn new() -> std::io::Result<UringSync> {
        Ok(UringSync {
            ring: io_uring::IoUring::new(4)?,
            in_flight: None,
        })
    }

    /// Whether a sync is still running.
    pub(crate) fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts a data sync of `[offset, offset + len)` of `file` that will make
    /// `sequence` durable. One system call; does not wait. Only call when
    /// not [`busy`](Self::busy).
    pub(crate) fn start(
        &mut self,
        file: &impl AsRawFd,
        offset: u64,
        len: u32,
        sequence: u64,
    ) -> std::io::Result<()> {
        debug_assert!(self.in_flight.is_none());
        let entry = io_uring::opcode::Fsync::new(io_uring::types::Fd(file.as_raw_fd()))
            .flags(io_uring::types::FsyncFlags::DATASYNC)
            .offset(offset)
            .len(len)
            .build();
        #[allow(unsafe_code)]
        // SAFETY: an fsync entry references no user memory, and the file it
        // names stays open until the writer waits for this sync (at
        // roll-over, close, or drop).
        unsafe {
            self.ring
                .submission()
                .push(&entry)
                .map_err(|_| std::io::Error::other("io_uring submission queue full"))?;
        }
        self.ring.submit()?;
        self.in_flight = Some(sequence);
        Ok(())
    }

    /// Reaps a finished sync without a system call. Returns the sequence it
    /// made durable, or the error the kernel reported for it.
    pub(crate) fn poll(&mut self) -> std::io::Result<Option<u64>> {
        let Some(done) = self.ring.completion().next() else {
            return Ok(None);
        };
        let sequence = self.in_flight.take();
        if done.result() < 0 {
            return Err(std::io::Error::from_raw_os_error(-done.result()));
        }
        Ok(sequence)
    }

    /// Blocks until the in-flight sync, if any, finishes.
    pub(crate) fn wait(&mut self) -> std::io::Result<Option<u64>> {
        if self.in_flight.is_none() {
            return Ok(None);
        }
        loop {
            if let Some(sequence) = self.poll()? {
                return Ok(Some(sequence));
            }
            self.ring.submit_and_wait(1)?;
        }
    }
}
