//! Memory maps of segment files, and the one atomic access the commit rule
//! needs.
//!
//! This is the only module that maps segment files or turns map addresses
//! into atomics, so every `unsafe` block that touches a segment is here.
//! The crate has two more, each beside what it needs: mapping a snapshot
//! file read-only (`snapshot.rs`) and handing `io_uring` a data-sync of a
//! file the writer keeps open (`sync.rs`). This module knows where a
//! `frame_length` field lives and nothing else about frames.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use std::sync::Arc;

use memmap2::{Advice, Mmap, MmapOptions, MmapRaw};

/// Read access to a frame region, shared by the read-only and writable maps
/// so one validation routine serves the reader, recovery and the writer.
pub(crate) trait FrameSource {
    /// Mapped bytes.
    fn len(&self) -> usize;
    /// The `frame_length` field at `pos`, loaded with Acquire ordering so
    /// that a non-zero value guarantees the rest of the frame is visible.
    fn frame_length(&self, pos: usize) -> u32;
    /// `len` bytes at `pos`.
    fn bytes(&self, pos: usize, len: usize) -> &[u8];
    /// The sparse-index slot at `pos`, loaded atomically: the writer may be
    /// storing it right now.
    fn index_slot(&self, pos: usize) -> u64;
}

/// A read-only, shared map of a whole segment file.
pub(crate) struct ReadMap {
    map: Mmap,
}

impl ReadMap {
    /// Maps all of `file` read-only.
    pub(crate) fn new(file: &File) -> io::Result<ReadMap> {
        // SAFETY: the journal's own writer only ever appends past the last
        // published frame, and recovery only rewrites bytes past it; bytes a
        // reader has seen published are never modified while mapped. Another
        // program truncating or rewriting the file breaks that, which is the
        // contract memmap2 documents for every map.
        let map = unsafe { MmapOptions::new().map(file)? };
        // Replay reads front to back; tell the kernel to read ahead.
        map.advise(Advice::Sequential)?;
        Ok(ReadMap { map })
    }
}

impl FrameSource for ReadMap {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn frame_length(&self, pos: usize) -> u32 {
        load_acquire(self.map.as_ptr(), self.map.len(), pos)
    }

    fn bytes(&self, pos: usize, len: usize) -> &[u8] {
        &self.map[pos..pos + len]
    }

    fn index_slot(&self, pos: usize) -> u64 {
        load_slot(self.map.as_ptr(), self.map.len(), pos)
    }
}

/// A writable, shared map of a whole segment file. The mapping itself is
/// reference-counted so the prefaulter thread can keep it alive while it
/// works ahead of the writer.
pub(crate) struct WriteMap {
    map: Arc<MmapRaw>,
}

impl WriteMap {
    /// Maps all of `file` read-write.
    pub(crate) fn new(file: &File) -> io::Result<WriteMap> {
        Ok(WriteMap {
            map: Arc::new(MmapOptions::new().map_raw(file)?),
        })
    }

    /// `len` writable bytes at `pos`.
    pub(crate) fn bytes_mut(&mut self, pos: usize, len: usize) -> &mut [u8] {
        assert!(pos + len <= self.map.len(), "write past the end of the map");
        // SAFETY: in bounds (asserted). `&mut self` makes this the only
        // slice the writer holds; the prefaulter never reads or writes the
        // contents (it only asks the kernel to populate pages); readers only
        // read frames after their length is published, and the writer never
        // rewrites a published frame.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len) }
    }

    /// Publishes a frame: stores its `frame_length` at `pos` with Release
    /// ordering, after every other byte of the frame has been written.
    pub(crate) fn publish_frame_length(&mut self, pos: usize, frame_length: u32) {
        assert!(
            pos.is_multiple_of(4) && pos + 4 <= self.map.len(),
            "frame_length out of the map"
        );
        // SAFETY: `pos` is in bounds and 4-aligned (asserted; the map itself
        // is page-aligned), and the u32 there is only ever accessed through
        // `AtomicU32` by this crate's readers and this writer.
        let field = unsafe { &*self.map.as_mut_ptr().add(pos).cast::<AtomicU32>() };
        field.store(frame_length, Ordering::Release);
    }

    /// Stores a sparse-index slot atomically, so a concurrent reader sees
    /// either the old value or the new one.
    pub(crate) fn store_index_slot(&mut self, pos: usize, frame_offset: u64) {
        assert!(
            pos.is_multiple_of(8) && pos + 8 <= self.map.len(),
            "index slot out of the map"
        );
        // SAFETY: in bounds and 8-aligned (asserted; maps are page-aligned);
        // index slots are only accessed through `AtomicU64` once mapped.
        let slot = unsafe { &*self.map.as_mut_ptr().add(pos).cast::<AtomicU64>() };
        slot.store(frame_offset, Ordering::Relaxed);
    }

    /// Writes dirty pages in `[pos, pos + len)` to stable storage and waits
    /// (`msync(MS_SYNC)`).
    pub(crate) fn flush_range(&self, pos: usize, len: usize) -> io::Result<()> {
        self.map.flush_range(pos, len)
    }

    /// The mapping, for the prefaulter.
    pub(crate) fn shared(&self) -> Arc<MmapRaw> {
        Arc::clone(&self.map)
    }
}

impl FrameSource for WriteMap {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn frame_length(&self, pos: usize) -> u32 {
        load_acquire(self.map.as_ptr(), self.map.len(), pos)
    }

    fn bytes(&self, pos: usize, len: usize) -> &[u8] {
        assert!(pos + len <= self.map.len(), "read past the end of the map");
        // SAFETY: in bounds (asserted). Callers read published frames, the
        // index, or (in recovery, which runs before any append) the tail.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) }
    }

    fn index_slot(&self, pos: usize) -> u64 {
        load_slot(self.map.as_ptr(), self.map.len(), pos)
    }
}

fn load_slot(base: *const u8, map_len: usize, pos: usize) -> u64 {
    assert!(
        pos.is_multiple_of(8) && pos + 8 <= map_len,
        "index slot out of the map"
    );
    // SAFETY: in bounds and 8-aligned (asserted; maps are page-aligned).
    // Slots are written only by `WriteMap::store_index_slot` (atomically) or
    // by recovery before any reader can use them. Relaxed is enough: a slot
    // is a hint, and the frame it names is checked through its
    // acquire-loaded length before use.
    let slot = unsafe { &*base.add(pos).cast::<AtomicU64>() };
    slot.load(Ordering::Relaxed)
}

fn load_acquire(base: *const u8, map_len: usize, pos: usize) -> u32 {
    assert!(
        pos.is_multiple_of(4) && pos + 4 <= map_len,
        "frame_length out of the map"
    );
    // SAFETY: in bounds and 4-aligned (asserted; maps are page-aligned). The
    // field is written only by `WriteMap::publish_frame_length` (atomically)
    // or before the file was mapped by anyone else.
    let field = unsafe { &*base.add(pos).cast::<AtomicU32>() };
    field.load(Ordering::Acquire)
}
