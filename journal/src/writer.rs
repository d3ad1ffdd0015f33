//! The appender: frames records into the active segment's map, publishes
//! them with the commit rule, rolls segments, and drives durability.
//!
//! `append` writes memory only; in `none` and `batch` modes it makes no
//! system call unless the segment is full. The writer never reads a clock:
//! timestamps arrive in [`RecordMeta`].

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{
    END_OF_SEGMENT, FRAME_HEADER_LEN, PAGE, RecordMeta, SegmentHeader, frame_length_for, seal_frame,
};
use crate::map::{FrameSource, WriteMap};
use crate::options::{Durability, JournalOptions};
use crate::prefault::{Prefaulter, REPORT_EVERY};
use crate::segment;
use crate::sync::{DurableSequence, SyncPath, UringSync};

/// The segment being appended to.
pub(crate) struct ActiveSegment {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) header: SegmentHeader,
    pub(crate) map: WriteMap,
    /// Offset of the next frame.
    pub(crate) position: usize,
    /// An end marker (or a full segment) closes it to further appends.
    pub(crate) closed: bool,
}

/// How `batch` mode syncs, chosen once when the writer starts.
enum BatchSync {
    NotNeeded,
    IoUring(Box<UringSync>),
    Msync,
}

/// Appends records to a journal. There is at most one per directory, in
/// any process (it holds the directory's lock file).
///
/// Get one with [`Recovered::into_writer`](crate::Recovered::into_writer).
pub struct Writer {
    dir: PathBuf,
    options: JournalOptions,
    _lock: File,
    active: Option<ActiveSegment>,
    next_sequence: u64,
    durable: DurableSequence,
    batch: BatchSync,
    /// Offset in the active segment up to which data is synced or being
    /// synced.
    synced_to: usize,
    /// A batch ended since the last sync started.
    batch_ended: bool,
    failed: bool,
    prefaulter: Option<Prefaulter>,
    /// Position at which to next tell the prefaulter where the writer is.
    next_report: usize,
}

impl Writer {
    pub(crate) fn start(
        dir: PathBuf,
        options: JournalOptions,
        lock: File,
        mut active: Option<ActiveSegment>,
        next_sequence: u64,
    ) -> Result<Writer> {
        // A segment holds payloads of one format: a writer with another
        // one starts a new segment at its first append.
        if let Some(segment) = &mut active
            && segment.header.payload_format != options.payload_format
        {
            segment.closed = true;
        }
        let batch = match options.durability {
            Durability::None | Durability::Sync => BatchSync::NotNeeded,
            Durability::Batch if !options.use_io_uring => {
                tracing::info!(journal = %dir.display(), "batch durability syncs with msync (io_uring disabled by configuration)");
                BatchSync::Msync
            }
            Durability::Batch => match UringSync::new() {
                Ok(ring) => {
                    let ring = Box::new(ring);
                    tracing::info!(journal = %dir.display(), "batch durability syncs with io_uring");
                    BatchSync::IoUring(ring)
                }
                Err(err) => {
                    tracing::warn!(journal = %dir.display(), error = %err, "io_uring_setup refused; batch durability falls back to msync");
                    BatchSync::Msync
                }
            },
        };
        let synced_to = active.as_ref().map_or(0, |a| a.position);
        let prefaulter = if options.prefault {
            let prefaulter = Prefaulter::start()
                .map_err(|e| Error::io("start the prefault thread for", &dir, e))?;
            if let Some(active) = &active {
                prefaulter.follow(active.map.shared(), active.position);
            }
            Some(prefaulter)
        } else {
            None
        };
        let writer = Writer {
            dir,
            options,
            _lock: lock,
            active,
            next_sequence,
            durable: DurableSequence::new(0),
            batch,
            synced_to,
            batch_ended: false,
            failed: false,
            prefaulter,
            next_report: synced_to + REPORT_EVERY,
        };
        // What recovery found may so far be only in the page cache.
        if writer.options.durability != Durability::None
            && let Some(active) = &writer.active
        {
            active
                .map
                .flush_range(0, active.map.len())
                .map_err(|e| Error::io("sync", &active.path, e))?;
        }
        writer.durable.publish(next_sequence - 1);
        Ok(writer)
    }

    /// The sequence the next `append` will get.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// A handle on the highest durable sequence, for other threads.
    pub fn durable(&self) -> DurableSequence {
        self.durable.clone()
    }

    /// How this writer makes batches durable.
    pub fn sync_path(&self) -> SyncPath {
        match (&self.batch, self.options.durability) {
            (BatchSync::IoUring(_), _) => SyncPath::IoUring,
            (BatchSync::Msync, _) | (BatchSync::NotNeeded, Durability::Sync) => SyncPath::Msync,
            (BatchSync::NotNeeded, _) => SyncPath::NotNeeded,
        }
    }

    /// The directory this writer appends to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and returns its sequence.
    ///
    /// The record is readable by tailing readers as soon as this returns. It
    /// is durable once [`durable`](Self::durable) reaches its sequence: at
    /// once in `none` mode, before returning in `sync` mode, and after the
    /// batch it belongs to is synced in `batch` mode.
    pub fn append(&mut self, meta: &RecordMeta, payload: &[u8]) -> Result<u64> {
        if self.failed {
            return Err(Error::WriterFailed);
        }
        if payload.len() > self.options.max_payload {
            return Err(Error::PayloadTooLarge {
                len: payload.len(),
                max: self.options.max_payload,
            });
        }
        let frame_length = frame_length_for(payload.len());
        let fits = self.active.as_ref().is_some_and(|a| {
            !a.closed
                && frame_length <= a.header.max_frame_length as usize
                && a.position + frame_length <= a.header.segment_size as usize
        });
        if !fits {
            self.roll()?;
        }
        let sequence = self.next_sequence;
        let active = self.active.as_mut().ok_or(Error::WriterFailed)?;
        let pos = active.position;
        let frame = active.map.bytes_mut(pos, frame_length);
        frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload.len()].copy_from_slice(payload);
        let published = seal_frame(frame, sequence, meta, payload.len() as u32);
        active.map.publish_frame_length(pos, published);
        if let Some(slot) = active.header.index_slot_offset(sequence) {
            active.map.store_index_slot(slot, pos as u64);
        }
        active.position = pos + frame_length;
        self.next_sequence = sequence + 1;
        if active.position >= self.next_report
            && let Some(prefaulter) = &self.prefaulter
        {
            prefaulter.report(active.position);
            self.next_report = active.position + REPORT_EVERY;
        }
        match self.options.durability {
            Durability::None => self.durable.publish(sequence),
            Durability::Sync => {
                let result = self.sync_now();
                self.fail_on_error(result)?;
            }
            Durability::Batch => {}
        }
        Ok(sequence)
    }

    /// Marks the end of a batch of appends. In `batch` mode this starts a
    /// sync of everything appended so far (with `io_uring`, without waiting
    /// for it; with the fallback, waiting). Does nothing in other modes.
    pub fn end_batch(&mut self) -> Result<()> {
        if self.options.durability != Durability::Batch {
            return Ok(());
        }
        self.batch_ended = true;
        self.poll()
    }

    /// Publishes any sync that has finished and starts the next one if a
    /// batch is waiting. Makes no system call when nothing is to be
    /// started. Call it while idle: with `io_uring`, durability only
    /// advances when the writer looks at the completion queue.
    pub fn poll(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::WriterFailed);
        }
        let result = self.poll_inner();
        self.fail_on_error(result)
    }

    fn poll_inner(&mut self) -> Result<()> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        let last = self.next_sequence - 1;
        match &mut self.batch {
            BatchSync::NotNeeded => Ok(()),
            BatchSync::Msync => {
                if self.batch_ended && self.synced_to < active.position {
                    let from = page_floor(self.synced_to);
                    active
                        .map
                        .flush_range(from, active.position - from)
                        .map_err(|e| Error::io("msync", &active.path, e))?;
                    self.synced_to = active.position;
                    self.durable.publish(last);
                }
                self.batch_ended = false;
                Ok(())
            }
            BatchSync::IoUring(ring) => {
                if let Some(sequence) = ring
                    .poll()
                    .map_err(|e| Error::io("sync", &active.path, e))?
                {
                    self.durable.publish(sequence);
                }
                if self.batch_ended && !ring.busy() {
                    if self.synced_to < active.position {
                        let from = page_floor(self.synced_to);
                        let (offset, len) = match u32::try_from(active.position - from) {
                            Ok(len) => (from as u64, len),
                            Err(_) => (0, 0), // the whole file
                        };
                        ring.start(&active.file, offset, len, last)
                            .map_err(|e| Error::io("start a sync of", &active.path, e))?;
                        self.synced_to = active.position;
                    }
                    self.batch_ended = false;
                }
                Ok(())
            }
        }
    }

    /// Makes every appended record durable, waiting as long as that takes.
    pub fn sync(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::WriterFailed);
        }
        let result = self.sync_now();
        self.fail_on_error(result)
    }

    fn sync_now(&mut self) -> Result<()> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        if let BatchSync::IoUring(ring) = &mut self.batch
            && let Some(sequence) = ring
                .wait()
                .map_err(|e| Error::io("sync", &active.path, e))?
        {
            self.durable.publish(sequence);
        }
        let from = page_floor(self.synced_to);
        // Include an end marker, which sits at `position`.
        let to = (active.position + 8).min(active.map.len());
        if from < to {
            active
                .map
                .flush_range(from, to - from)
                .map_err(|e| Error::io("msync", &active.path, e))?;
        }
        self.synced_to = active.position;
        self.durable.publish(self.next_sequence - 1);
        Ok(())
    }

    /// Syncs everything (in `batch` and `sync` modes) and releases the
    /// directory lock.
    pub fn close(mut self) -> Result<()> {
        if self.options.durability != Durability::None {
            self.sync()?;
        }
        Ok(())
    }

    /// Closes the active segment with an end marker, makes it durable if the
    /// mode asks for it, and starts a new one at `next_sequence`.
    fn roll(&mut self) -> Result<()> {
        if let Some(active) = &mut self.active
            && !active.closed
        {
            if active.position < active.header.segment_size as usize {
                active
                    .map
                    .publish_frame_length(active.position, END_OF_SEGMENT);
            }
            active.closed = true;
        }
        if self.options.durability != Durability::None {
            let result = self.sync_now();
            self.fail_on_error(result)?;
        }
        let header = self.options.plan_segment(self.next_sequence)?;
        let (path, file) = segment::create(&self.dir, &header)?;
        let map = WriteMap::new(&file).map_err(|e| Error::io("map", &path, e))?;
        tracing::debug!(segment = %path.display(), "rolled to a new segment");
        let position = header.data_offset as usize;
        if let Some(prefaulter) = &self.prefaulter {
            prefaulter.follow(map.shared(), position);
        }
        self.next_report = position + REPORT_EVERY;
        self.active = Some(ActiveSegment {
            path,
            file,
            header,
            map,
            position,
            closed: false,
        });
        self.synced_to = position;
        Ok(())
    }

    fn fail_on_error(&mut self, result: Result<()>) -> Result<()> {
        if result.is_err() {
            // After a failed fsync the kernel may have dropped the dirty
            // pages; retrying could report success for data that is gone.
            self.failed = true;
        }
        result
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Leave no sync in flight against a file we are about to close.
        if let BatchSync::IoUring(ring) = &mut self.batch {
            let _ = ring.wait();
        }
    }
}

fn page_floor(offset: usize) -> usize {
    offset & !(PAGE - 1)
}
