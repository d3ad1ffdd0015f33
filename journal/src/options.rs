//! How a journal is laid out and how hard it syncs.
//!
//! Plain configuration: no I/O happens here. Every setter documents its
//! default, and [`JournalOptions::validate`] rejects combinations that
//! cannot work before any file is touched.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::format::{DEFAULT_INDEX_STRIDE, FRAME_HEADER_LEN, SegmentHeader, frame_length_for};

/// When an appended record counts as durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Durability {
    /// In the page cache: survives a crash of the process, not of the host.
    /// Appends never make a system call.
    None,
    /// Synced once per batch of appends; the caller marks the end of each
    /// batch with [`Writer::end_batch`](crate::Writer::end_batch). Uses
    /// `io_uring` so the sync overlaps the next batch, where the kernel
    /// permits it.
    Batch,
    /// Synced after every record, before `append` returns.
    Sync,
}

impl Durability {
    /// The name used in configuration files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Batch => "batch",
            Durability::Sync => "sync",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Durability, String> {
        match s {
            "none" => Ok(Durability::None),
            "batch" => Ok(Durability::Batch),
            "sync" => Ok(Durability::Sync),
            other => Err(format!(
                "unknown durability {other:?}; expected one of: none, batch, sync"
            )),
        }
    }
}

/// Options for opening a journal for writing.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    pub(crate) segment_size: u64,
    pub(crate) max_payload: usize,
    pub(crate) durability: Durability,
    pub(crate) first_sequence: u64,
    pub(crate) index_stride: u32,
    pub(crate) use_io_uring: bool,
    pub(crate) prefault: bool,
    pub(crate) payload_format: u32,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            segment_size: 1 << 30,
            max_payload: 64 * 1024,
            durability: Durability::None,
            first_sequence: 1,
            index_stride: DEFAULT_INDEX_STRIDE,
            use_io_uring: true,
            prefault: true,
            payload_format: 0,
        }
    }
}

impl JournalOptions {
    /// The defaults: 1 GiB segments, 64 KiB payloads, `none` durability.
    pub fn new() -> JournalOptions {
        JournalOptions::default()
    }

    /// Bytes per segment file, header and index included. Applies to
    /// segments created from now on. By default, 1 GiB.
    pub fn segment_size(mut self, bytes: u64) -> JournalOptions {
        self.segment_size = bytes;
        self
    }

    /// Largest payload `append` accepts. By default, 64 KiB.
    pub fn max_payload(mut self, bytes: usize) -> JournalOptions {
        self.max_payload = bytes;
        self
    }

    /// When a record counts as durable. By default, [`Durability::None`].
    pub fn durability(mut self, durability: Durability) -> JournalOptions {
        self.durability = durability;
        self
    }

    /// The sequence of the first record of a journal that has no segments
    /// yet, for example one started from a snapshot. Ignored when segments
    /// exist. By default, 1.
    pub fn first_sequence(mut self, sequence: u64) -> JournalOptions {
        self.first_sequence = sequence;
        self
    }

    /// Records between sparse-index entries; a seek scans at most this many.
    /// By default, 1024.
    pub fn index_stride(mut self, records: u32) -> JournalOptions {
        self.index_stride = records;
        self
    }

    /// Whether `batch` durability may use `io_uring`. When false, or when
    /// the kernel refuses `io_uring_setup`, batches sync with a blocking
    /// `msync`. By default, true.
    pub fn use_io_uring(mut self, allowed: bool) -> JournalOptions {
        self.use_io_uring = allowed;
        self
    }

    /// Whether a background thread populates segment pages ahead of the
    /// writer, so appends do not take page faults. By default, true.
    pub fn prefault(mut self, enabled: bool) -> JournalOptions {
        self.prefault = enabled;
        self
    }

    /// The durability these options ask for.
    pub fn durability_mode(&self) -> Durability {
        self.durability
    }

    /// Bytes per segment file these options create.
    pub fn segment_size_bytes(&self) -> u64 {
        self.segment_size
    }

    /// A tag for what the payloads are, stored in the header of every
    /// segment created from now on and given back by readers
    /// ([`Record::payload_format`](crate::Record::payload_format)), so a
    /// reader can refuse payloads it does not understand. The journal never
    /// interprets it. By default, 0.
    pub fn payload_format(mut self, tag: u32) -> JournalOptions {
        self.payload_format = tag;
        self
    }

    /// The largest frame these options produce.
    pub(crate) fn max_frame_length(&self) -> u32 {
        frame_length_for(self.max_payload) as u32
    }

    /// The header a new segment starting at `first_sequence` gets.
    pub(crate) fn plan_segment(&self, first_sequence: u64) -> Result<SegmentHeader> {
        SegmentHeader::plan(
            first_sequence,
            self.segment_size,
            self.index_stride,
            self.max_frame_length(),
            self.payload_format,
        )
        .ok_or_else(|| {
            Error::InvalidOptions(format!(
                "a segment of {} bytes has no room for a {}-byte payload after its header and index",
                self.segment_size, self.max_payload
            ))
        })
    }

    /// Rejects options that cannot describe a working journal.
    pub fn validate(&self) -> Result<()> {
        if self.first_sequence == 0 {
            return Err(Error::InvalidOptions(
                "first_sequence must be at least 1 (0 means \"nothing durable\")".into(),
            ));
        }
        if self.index_stride == 0 {
            return Err(Error::InvalidOptions(
                "index_stride must be at least 1".into(),
            ));
        }
        if !self.segment_size.is_multiple_of(4096) {
            return Err(Error::InvalidOptions(format!(
                "segment_size {} is not a multiple of the 4096-byte page",
                self.segment_size
            )));
        }
        if self.max_payload > (u32::MAX as usize) / 2 - FRAME_HEADER_LEN {
            return Err(Error::InvalidOptions(format!(
                "max_payload {} is too large for a 32-bit frame length",
                self.max_payload
            )));
        }
        self.plan_segment(self.first_sequence).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_parses_its_own_names_and_lists_them_on_error() {
        for d in [Durability::None, Durability::Batch, Durability::Sync] {
            assert_eq!(d.as_str().parse::<Durability>(), Ok(d));
        }
        let err = "fsync".parse::<Durability>().unwrap_err();
        assert!(err.contains("none, batch, sync"), "{err}");
    }

    #[test]
    fn validate_rejects_segments_too_small_for_the_largest_payload() {
        let err = JournalOptions::new()
            .segment_size(64 * 1024)
            .max_payload(64 * 1024)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("no room"), "{err}");
        assert!(JournalOptions::new().validate().is_ok());
        assert!(JournalOptions::new().first_sequence(0).validate().is_err());
        assert!(JournalOptions::new().segment_size(1000).validate().is_err());
    }
}
