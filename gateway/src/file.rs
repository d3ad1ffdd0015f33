//! File input and output: JSON lines in, one JSON-lines file per topic out.
//!
//! The file source is partition 0 and numbers lines from 1; that number is
//! the offset journaled with each input, so a restart resumes at the next
//! line. A second file may carry admin commands, as the `admin` topic's
//! partition 0. The file sink appends exactly what the Kafka topics will carry and
//! keeps `delivered.seq`, the highest input whose messages are all written,
//! so recovery knows what to re-send. Neither reads the engine's state.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::AdminAction;
use engine::endpoint::{BoxError, InputSource, OutputSink, SourceItem, SourcePoll};
use engine::sequenced::{Input, Message, SourcePosition, SourcePositions, SourceTopic, Topic};

use crate::delivered::DeliveredMark;
use crate::wire::{Decoder, MAX_MESSAGE_BYTES, encode_message_of};

/// Reads `orders` messages from a JSON-lines file, and operators' `admin`
/// messages from a second one if given.
///
/// Two files, not one, so that no line of the orders file can be an admin
/// command. Each poll takes the admin file's next line before the orders
/// file's: whatever admin lines are there when the engine starts are
/// journaled before the first new order. The two files' line numbers are
/// journaled as positions on their own topics, so each resumes on its own.
pub struct FileSource {
    orders: LineFile,
    admin: Option<LineFile>,
    follow: bool,
    decoder: Decoder,
    engine_id: Option<String>,
}

/// One JSON-lines file being read, and where it stands.
struct LineFile {
    path: PathBuf,
    reader: BufReader<File>,
    /// The line being read; only its first `MAX_MESSAGE_BYTES + 1` bytes
    /// are kept, which is enough to know it is too long.
    line: Vec<u8>,
    line_len: usize,
    line_number: i64,
    skip_through: i64,
    /// Reached the end, and nothing will follow.
    ended: bool,
}

impl LineFile {
    fn open(path: PathBuf) -> std::io::Result<LineFile> {
        let file = File::open(&path)?;
        Ok(LineFile {
            path,
            reader: BufReader::with_capacity(1 << 16, file),
            line: Vec::with_capacity(MAX_MESSAGE_BYTES + 1),
            line_len: 0,
            line_number: 0,
            skip_through: 0,
            ended: false,
        })
    }

    /// Reads until a newline; `Ok(true)` when a whole line is in `line`.
    fn fill_line(&mut self) -> std::io::Result<bool> {
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(false);
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], true),
                None => (available, false),
            };
            let keep = chunk
                .len()
                .min((MAX_MESSAGE_BYTES + 1).saturating_sub(self.line.len()));
            self.line.extend_from_slice(&chunk[..keep]);
            self.line_len += chunk.len();
            let consumed = chunk.len() + usize::from(done);
            self.reader.consume(consumed);
            if done {
                return Ok(true);
            }
        }
    }

    /// The next line not yet journaled, with its number; `None` when none
    /// is there now (or ever, once `ended`). Blank lines are skipped. An
    /// oversized line is cut to `MAX_MESSAGE_BYTES + 1` bytes, which is all
    /// a decoder needs to refuse it as too long.
    fn next_line(
        &mut self,
        follow: bool,
        mut take: impl FnMut(&[u8]),
    ) -> std::io::Result<Option<i64>> {
        while !self.ended {
            let whole = self.fill_line()?;
            if !whole {
                if follow {
                    // A partial last line may still be being written.
                    return Ok(None);
                }
                if self.line_len == 0 {
                    self.ended = true;
                    return Ok(None);
                }
            }
            self.line_number += 1;
            let oversized = self.line_len > MAX_MESSAGE_BYTES;
            let blank = self.line.iter().all(u8::is_ascii_whitespace) && !oversized;
            let wanted = !blank && self.line_number > self.skip_through;
            if wanted {
                take(&self.line);
            }
            self.line.clear();
            self.line_len = 0;
            if wanted {
                return Ok(Some(self.line_number));
            }
        }
        Ok(None)
    }

    fn resume(&mut self, topic: SourceTopic, journaled: &SourcePositions) {
        self.skip_through = journaled.last_offset_of(topic, 0).unwrap_or(0);
        if self.skip_through > 0 {
            tracing::info!(
                path = %self.path.display(),
                line = self.skip_through + 1,
                topic = topic.as_str(),
                "resuming the input after the last journaled line"
            );
        }
    }
}

impl FileSource {
    /// Opens `path`, decoding lines with `decoder`. With `follow`, reaching
    /// the end waits for more lines (like `tail -f`) instead of ending.
    pub fn open(
        path: impl Into<PathBuf>,
        follow: bool,
        decoder: Decoder,
    ) -> std::io::Result<FileSource> {
        Ok(FileSource {
            orders: LineFile::open(path.into())?,
            admin: None,
            follow,
            decoder,
            engine_id: None,
        })
    }

    /// Also reads admin messages from `path`, taking those addressed to
    /// `engine_id` (or to no engine).
    pub fn with_admin(
        mut self,
        path: impl Into<PathBuf>,
        engine_id: Option<String>,
    ) -> std::io::Result<FileSource> {
        self.admin = Some(LineFile::open(path.into())?);
        self.engine_id = engine_id;
        Ok(self)
    }
}

impl InputSource for FileSource {
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError> {
        self.orders.resume(SourceTopic::Orders, journaled);
        if let Some(admin) = &mut self.admin {
            admin.resume(SourceTopic::Admin, journaled);
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        if let Some(admin) = &mut self.admin {
            let (decoder, engine_id) = (&self.decoder, self.engine_id.as_deref());
            loop {
                let mut input = None;
                let Some(line) = admin.next_line(self.follow, |bytes| {
                    input = decoder.decode_admin(bytes, engine_id);
                })?
                else {
                    break;
                };
                // A file input reads no partitions, so it moves none.
                if let Some(Input::Admin(command)) = &input
                    && matches!(command.action, AdminAction::Release { .. })
                {
                    input = Some(crate::kafka::moves::refused_move(command));
                }
                // A line for another engine is that engine's to journal.
                if let Some(input) = input {
                    return Ok(SourcePoll::Item(SourceItem {
                        position: SourcePosition {
                            topic: SourceTopic::Admin,
                            partition: 0,
                            offset: line,
                        },
                        origin_ns: None,
                        input,
                    }));
                }
            }
        }
        let mut input = None;
        let decoder = &self.decoder;
        let line = self
            .orders
            .next_line(self.follow, |bytes| input = Some(decoder.decode(bytes)))?;
        match (line, input) {
            (Some(line), Some(input)) => Ok(SourcePoll::Item(SourceItem {
                position: SourcePosition::orders(0, line),
                origin_ns: None,
                input,
            })),
            _ if self.orders.ended => Ok(SourcePoll::Ended),
            _ => {
                std::thread::sleep(Duration::from_micros(200));
                Ok(SourcePoll::Idle)
            }
        }
    }
}

/// The name of the file that records what the sink has delivered.
pub const DELIVERED_FILE: &str = "delivered.seq";

/// Writes each topic to `DIR/<topic>.jsonl`.
pub struct FileSink {
    dir: PathBuf,
    writers: Vec<(Topic, BufWriter<File>)>,
    delivered: DeliveredMark,
    scratch: Vec<u8>,
    engine_id: Option<String>,
}

impl FileSink {
    /// Opens (creating) the output directory. A line cut short by a crash
    /// is removed first, so every file holds whole JSON lines only.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<FileSink> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let mut writers = Vec::new();
        for topic in Topic::ALL {
            let path = dir.join(format!("{}.jsonl", topic.name()));
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)?;
            cut_partial_line(&mut file, &path)?;
            writers.push((topic, BufWriter::with_capacity(1 << 16, file)));
        }
        let delivered = DeliveredMark::open(&dir.join(DELIVERED_FILE))?;
        Ok(FileSink {
            dir,
            writers,
            delivered,
            scratch: Vec::with_capacity(1024),
            engine_id: None,
        })
    }

    /// Names the engine in every message (`engine_id`), for consumers that
    /// read several engines' outputs.
    pub fn with_engine_id(mut self, engine_id: Option<String>) -> FileSink {
        self.engine_id = engine_id;
        self
    }

    fn writer(&mut self, topic: Topic) -> &mut BufWriter<File> {
        let at = Topic::ALL.iter().position(|t| *t == topic).unwrap_or(0);
        &mut self.writers[at].1
    }
}

/// Truncates `file` after its last newline.
fn cut_partial_line(file: &mut File, path: &Path) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut keep = len;
    let mut block = vec![0u8; 4096];
    while keep > 0 {
        let start = keep.saturating_sub(block.len() as u64);
        let size = (keep - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..size])?;
        if let Some(at) = block[..size].iter().rposition(|&b| b == b'\n') {
            keep = start + at as u64 + 1;
            break;
        }
        keep = start;
    }
    if keep < len {
        tracing::warn!(path = %path.display(), bytes = len - keep, "removed a partial last line");
        file.set_len(keep)?;
    }
    Ok(())
}

impl OutputSink for FileSink {
    fn delivered_through(&mut self) -> Result<u64, BoxError> {
        Ok(self.delivered.get())
    }

    fn send_batch(&mut self, batch: &[Message]) -> Result<(), BoxError> {
        for message in batch {
            let mut line = std::mem::take(&mut self.scratch);
            line.clear();
            encode_message_of(self.engine_id.as_deref(), message, &mut line);
            line.push(b'\n');
            self.writer(message.body.topic()).write_all(&line)?;
            self.scratch = line;
        }
        for (_, writer) in &mut self.writers {
            writer.flush()?;
        }
        Ok(())
    }

    fn mark_delivered(&mut self, seq: u64) -> Result<(), BoxError> {
        self.delivered.store(seq)?;
        Ok(())
    }

    fn close(&mut self) -> Result<(), BoxError> {
        for (_, writer) in &mut self.writers {
            writer.flush()?;
            writer.get_ref().sync_data()?;
        }
        self.delivered.sync()?;
        tracing::debug!(dir = %self.dir.display(), "output files closed");
        Ok(())
    }
}
