//! The appender: frames records into the active segment's map, publishes
//! them with the commit rule, rolls segments, and drives durability.
//!
//! `append` writes memory only; in `none` and `batch` modes it makes no
//! system call unless the segment is full. The writer never reads a clock:
//! timestamps arrive in [`RecordMeta`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{
    END_OF_SEGMENT, FRAME_HEADER_LEN, PAGE, RecordMeta, SegmentHeader, frame_length_for, seal_frame,
};
use crate::map::{FrameSource, WriteMap};
use crate::options::{Durability, JournalOptions};
use crate::prefault::{Prefaulter, REPORT_EVERY};
use crate::segment;
use crate::spare::{Commit, Done, Preparer};
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
    /// Keeps the next segment file ready and names new segments. Declared
    /// before the lock, so it is dropped (its unused spare removed) while
    /// the lock is still held.
    preparer: Preparer,
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
    /// Position in the active segment at which to ask for a spare.
    spare_at: usize,
    /// A roll-over whose commit (old tail synced, new segment named) has
    /// not been collected: nothing in the new segment is published durable
    /// before it is.
    rolling: Option<Rolling>,
    /// Segments closed while a sync of them may still be in flight, kept
    /// open (with their maps) until none is.
    retired: Vec<ActiveSegment>,
}

/// A roll-over being committed by the preparer.
struct Rolling {
    done: Arc<Done>,
    /// The last sequence of the segment it closed.
    old_last: u64,
    /// The highest sequence a sync finished for meanwhile: published with
    /// the commit, since it may lie in the segment not yet named.
    held: u64,
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
        let preparer = Preparer::start(&dir, options.segment_size_bytes())
            .map_err(|e| Error::io("start the segment thread for", &dir, e))?;
        let spare_at = active.as_ref().map_or(0, |a| half_way(&a.header));
        let writer = Writer {
            preparer,
            spare_at,
            rolling: None,
            retired: Vec::new(),
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
        writer.durable.store_release(next_sequence - 1);
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
    /// The record is readable by tailing readers as soon as this returns,
    /// except in `batch` mode just after a roll-over: records in the new
    /// segment become readable once the preparer has named it, a few
    /// syncs later, and before any of them is durable. It is durable once
    /// [`durable`](Self::durable) reaches its sequence: at once in `none`
    /// mode, before returning in `sync` mode, and after the batch it belongs
    /// to is synced in `batch` mode.
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
        if active.position >= self.spare_at {
            self.preparer.want();
            self.spare_at = usize::MAX;
        }
        if active.position >= self.next_report
            && let Some(prefaulter) = &self.prefaulter
        {
            prefaulter.report(active.position);
            self.next_report = active.position + REPORT_EVERY;
        }
        match self.options.durability {
            Durability::None => self.durable.store_release(sequence),
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
        self.collect_roll(false)?;
        let Some(active) = &self.active else {
            return Ok(());
        };
        let last = self.next_sequence - 1;
        let mut synced = None;
        match &mut self.batch {
            BatchSync::NotNeeded => {}
            BatchSync::Msync => {
                if self.batch_ended && self.synced_to < active.position {
                    let from = page_floor(self.synced_to);
                    active
                        .map
                        .flush_range(from, active.position - from)
                        .map_err(|e| Error::io("msync", &active.path, e))?;
                    self.synced_to = active.position;
                    synced = Some(last);
                }
                self.batch_ended = false;
            }
            BatchSync::IoUring(ring) => {
                synced = ring
                    .poll()
                    .map_err(|e| Error::io("sync", &active.path, e))?;
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
            }
        }
        if let Some(sequence) = synced {
            self.publish_synced(sequence);
        }
        if !self.retired.is_empty() {
            self.drop_retired();
        }
        Ok(())
    }

    /// Publishes a sequence whose data is synced, or holds it while the
    /// segment it may be in is not yet named.
    fn publish_synced(&mut self, sequence: u64) {
        match &mut self.rolling {
            Some(rolling) => rolling.held = rolling.held.max(sequence),
            None => self.durable.fetch_max_release(sequence),
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
        self.collect_roll(true)?;
        let Some(active) = &self.active else {
            return Ok(());
        };
        if let BatchSync::IoUring(ring) = &mut self.batch
            && let Some(sequence) = ring
                .wait()
                .map_err(|e| Error::io("sync", &active.path, e))?
        {
            self.durable.fetch_max_release(sequence);
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
        self.durable.store_release(self.next_sequence - 1);
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

    /// Closes the active segment with an end marker and starts a new one
    /// at `next_sequence`: in the prepared spare if there is one, leaving
    /// the syncs and the naming to the preparer, or else by creating it
    /// here, as when the preparer could not make one.
    fn roll(&mut self) -> Result<()> {
        // A second roll-over while the first is being committed waits.
        let collected = self.collect_roll(true);
        self.fail_on_error(collected)?;
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
        let header = self.options.plan_segment(self.next_sequence)?;
        let spare = self.preparer.take();
        let (path, file, map) = match spare {
            Some(spare) => {
                let result = self.start_commit(spare, &header);
                // As after a failed sync: the old tail's state is unknown.
                self.failed |= result.is_err();
                result?
            }
            None => {
                if self.options.durability != Durability::None {
                    let result = self.sync_now();
                    self.fail_on_error(result)?;
                }
                let (path, file) = segment::create(&self.dir, &header)?;
                let map = WriteMap::new(&file).map_err(|e| Error::io("map", &path, e))?;
                (path, file, map)
            }
        };
        tracing::debug!(segment = %path.display(), "rolled to a new segment");
        let position = header.data_offset as usize;
        if let Some(prefaulter) = &self.prefaulter {
            prefaulter.follow(map.shared(), position);
        }
        self.next_report = position + REPORT_EVERY;
        self.spare_at = half_way(&header);
        let old = self.active.replace(ActiveSegment {
            path,
            file,
            header,
            map,
            position,
            closed: false,
        });
        self.retire(old)?;
        self.synced_to = position;
        Ok(())
    }

    /// Hands the preparer the commit of a roll-over into `spare`: write and
    /// sync its header, sync the old segment's tail, name the spare. In
    /// `none` and `sync` modes the commit runs here, before the next append.
    fn start_commit(
        &mut self,
        spare: crate::spare::Spare,
        header: &crate::format::SegmentHeader,
    ) -> Result<(PathBuf, File, WriteMap)> {
        let path = segment::segment_path(&self.dir, header.first_sequence);
        let old = match (&self.active, self.options.durability) {
            (Some(active), Durability::Batch | Durability::Sync) => Some((
                active.path.clone(),
                active
                    .file
                    .try_clone()
                    .map_err(|e| Error::io("open", &active.path, e))?,
            )),
            _ => None,
        };
        let done = Arc::new(Done::default());
        let commit = Commit {
            old,
            new: spare
                .file
                .try_clone()
                .map_err(|e| Error::io("open", &spare.path, e))?,
            new_map: spare.map.shared(),
            header: header.encode(),
            from: spare.path,
            to: path.clone(),
            dir: self.dir.clone(),
            done: Arc::clone(&done),
        };
        self.rolling = Some(Rolling {
            done,
            old_last: self.next_sequence - 1,
            held: 0,
        });
        // Only `batch` mode can leave the commit to the preparer: it
        // publishes nothing durable in the new segment until the commit is
        // done. `none` promises a record survives the process once appended,
        // so the segment holding it must be named before the next append;
        // `sync` promises it on return.
        if self.options.durability == Durability::Batch {
            self.preparer.commit(commit);
        } else {
            commit.run();
            self.collect_roll(true)?;
        }
        Ok((path, spare.file, spare.map))
    }

    /// Collects a finished roll-over commit, publishing the closed segment's
    /// last sequence, and any held sync after it, in `batch` mode. With
    /// `wait`, waits for it; without, leaves an unfinished one pending.
    fn collect_roll(&mut self, wait: bool) -> Result<()> {
        let Some(rolling) = &self.rolling else {
            return Ok(());
        };
        let outcome = if wait {
            Some(rolling.done.wait())
        } else {
            rolling.done.take()
        };
        let Some(outcome) = outcome else {
            return Ok(());
        };
        let synced = rolling.old_last.max(rolling.held);
        self.rolling = None;
        outcome?;
        if self.options.durability == Durability::Batch {
            self.durable.fetch_max_release(synced);
        }
        Ok(())
    }

    /// Keeps the segment just closed open while a sync may be in flight on
    /// it; never waits for one.
    fn retire(&mut self, old: Option<ActiveSegment>) -> Result<()> {
        self.drop_retired();
        self.retired.extend(old);
        Ok(())
    }

    /// Closes retired segments once no sync is in flight, on the
    /// preparer's thread.
    fn drop_retired(&mut self) {
        let in_flight = matches!(&self.batch, BatchSync::IoUring(ring) if ring.busy());
        if in_flight {
            return;
        }
        for closed in self.retired.drain(..) {
            self.preparer.dispose(Box::new(closed));
        }
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
        // Leave no sync in flight against a file we are about to close, and
        // no roll-over half named.
        if let BatchSync::IoUring(ring) = &mut self.batch {
            let _ = ring.wait();
        }
        if let Some(rolling) = self.rolling.take() {
            let _ = rolling.done.wait();
        }
    }
}

/// Where the writer asks for the next segment's spare: half way through.
fn half_way(header: &crate::format::SegmentHeader) -> usize {
    (header.data_offset + (header.segment_size - header.data_offset) / 2) as usize
}

fn page_floor(offset: usize) -> usize {
    offset & !(PAGE - 1)
}
