//! The delivered mark: one small file holding the highest input sequence
//! whose output messages are all delivered, which is where recovery starts
//! re-sending.
//!
//! The value is rewritten in place at a fixed width with one `pwrite`, so a
//! crash leaves either the old or the new value, never a mix, and storing
//! it allocates nothing. A stale value only means more re-sent duplicates;
//! it must never run ahead of what was really delivered, so callers store
//! a sequence only after its messages are out.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Width of the stored number: `u64::MAX` has 20 digits, plus a newline.
const WIDTH: usize = 21;

/// An open delivered-mark file.
pub struct DeliveredMark {
    file: File,
    stored: u64,
}

impl DeliveredMark {
    /// Opens (creating) the mark at `path` and reads its value. A new,
    /// empty file reads as 0: nothing was delivered yet. Anything else that
    /// is not a number is an error naming the file and what it holds, since
    /// reading it as 0 would silently re-send the whole journal.
    pub fn open(path: &Path) -> std::io::Result<DeliveredMark> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        let mut bytes = Vec::with_capacity(WIDTH);
        file.read_to_end(&mut bytes)?;
        let stored = parse(path, &bytes)?;
        Ok(DeliveredMark { file, stored })
    }

    /// Reads the mark at `path` without creating or changing it: `None`
    /// when there is no such file, an error naming it when it holds
    /// something other than a sequence number.
    pub fn read(path: &Path) -> std::io::Result<Option<u64>> {
        match std::fs::read(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
            Ok(bytes) => parse(path, &bytes).map(Some),
        }
    }

    /// The value last stored.
    pub fn get(&self) -> u64 {
        self.stored
    }

    /// Stores `seq` if it is higher than the current value.
    pub fn store(&mut self, seq: u64) -> std::io::Result<()> {
        if seq <= self.stored {
            return Ok(());
        }
        let mut text = [b'0'; WIDTH];
        text[WIDTH - 1] = b'\n';
        let mut rest = seq;
        for digit in text[..WIDTH - 1].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.file.write_all_at(&text, 0)?;
        self.stored = seq;
        Ok(())
    }

    /// Makes the stored value durable.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// The mark's value: empty is 0 (nothing delivered yet); anything but a
/// number is an error naming the file and the fix.
fn parse(path: &Path, bytes: &[u8]) -> std::io::Result<u64> {
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        return Ok(0);
    }
    text.trim().parse().map_err(|_| {
        let shown: String = text.chars().take(40).collect();
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the delivered mark {} holds {shown:?}, not a sequence number. It records the \
                 last input whose outputs were all delivered; write that number into it (or 0 \
                 to re-send every output the journal can re-create) and restart",
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    #[test]
    fn stores_only_forward_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delivered.seq");
        let mut mark = DeliveredMark::open(&path).unwrap();
        assert_eq!(mark.get(), 0);
        mark.store(42).unwrap();
        mark.store(7).unwrap();
        assert_eq!(mark.get(), 42);
        mark.store(u64::MAX).unwrap();
        drop(mark);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "18446744073709551615\n"
        );
        assert_eq!(DeliveredMark::open(&path).unwrap().get(), u64::MAX);
    }

    /// A damaged mark once read as 0, which re-sent everything without a
    /// word.
    #[test]
    fn garbage_is_an_error_that_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delivered.seq");
        std::fs::write(&path, "not a number").unwrap();
        let err = DeliveredMark::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("delivered.seq") && err.contains("\"not a number\""),
            "{err}"
        );
        assert!(err.contains("or 0 to re-send"), "{err}");
        // What an operator writes by hand is fine.
        std::fs::write(&path, "1234\n").unwrap();
        assert_eq!(DeliveredMark::open(&path).unwrap().get(), 1234);
        std::fs::write(&path, "").unwrap();
        assert_eq!(DeliveredMark::open(&path).unwrap().get(), 0);
    }
}
