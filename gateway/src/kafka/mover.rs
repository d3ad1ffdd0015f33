//! The mover: one thread per engine that does a move's Kafka work, so the
//! pipeline's threads never wait on a broker for it.
//!
//! On the **giver** it takes the export the matcher made when it applied
//! the release, waits until the outputs through the release are delivered,
//! writes the export to `handover` in chunks, and then watches
//! `assignments` for the verdict: the taker's claim (moved) or an abort
//! (rolled back). If none comes within the move timeout it writes the
//! abort itself. The verdict goes to the source, which journals it, and
//! after a roll-back reads the partition again.
//!
//! On the **taker** it reads `handover` for exports addressed to it,
//! checks the digest, and hands the source the pieces and the acquire to
//! journal. Once the sink reports the acquire journaled, it writes the
//! claim that commits the move, reads the verdict back, and hands the
//! source the outcome and the partition to read.
//!
//! Each step is safe to repeat after a crash, because the journal and
//! `assignments` say how far a move got (`docs/shards.md`). For the crash
//! tests, `ENGINE_FAILPOINT=<step>` makes the process abort right after
//! that step, as a SIGKILL would. It reads no engine state beyond what the
//! pipeline hands it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::endpoint::{BoxError, SourceItem};
use engine::pipeline::{Export, Exports, PipelineMetrics};
use engine::sequenced::{
    Handover, Input, SourcePosition, SourceTopic, export_digest, export_pieces,
};
use engine::{EngineId, MoveStep, OrderId};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::client::{KafkaContext, acknowledged};
use super::config::{KafkaConfig, Role};
use super::moves::{
    CHUNK_BYTES, ChunkHeader, SinkLink, SourceLink, ToMover, ToSource, decode_chunk, encode_chunk,
};
use super::ownership::Ownership;

/// How often the mover looks at its channels and topics.
const TICK: Duration = Duration::from_millis(5);
/// How often a giver reads `assignments` for the verdict.
const VERDICT_EVERY: Duration = Duration::from_millis(50);
/// How long writing to a topic may take.
const WRITE_WAIT: Duration = Duration::from_secs(15);

/// The environment variable that names a step to crash after, for tests.
pub const FAILPOINT_VAR: &str = "ENGINE_FAILPOINT";

/// Dies at once, as a SIGKILL would, if the tests asked for a crash after
/// `step`.
fn failpoint(step: &str) {
    if std::env::var(FAILPOINT_VAR).is_ok_and(|v| v == step) {
        tracing::warn!(step, "failpoint: aborting the process");
        std::process::abort();
    }
}

/// The mover's thread; dropping this stops it.
pub struct Mover {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Mover {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The ends the pipeline, the source and the sink hold.
pub struct MoveLinks {
    /// For `PipelineConfig::exports`.
    pub exports: Exports,
    /// For `KafkaSource::with_moves`.
    pub source: SourceLink,
    /// For `KafkaSink::with_moves`.
    pub sink: SinkLink,
}

/// A partition given away, from the export to the verdict.
struct Giving {
    export: Export,
    written: bool,
    since: Instant,
    checked: Option<Instant>,
}

/// A partition being taken in.
struct Taking {
    header: ChunkHeader,
    chunks: BTreeMap<u32, Vec<u8>>,
    /// The pieces and the acquire went to the source.
    journaled: bool,
    /// The sink reported the acquire journaled: commit next.
    acquired: bool,
}

struct Worker {
    engine_id: String,
    ownership: Ownership,
    handover: String,
    consumer: BaseConsumer<KafkaContext>,
    producer: BaseProducer<KafkaContext>,
    metrics: Arc<PipelineMetrics>,
    timeout: Duration,
    to_source: Sender<ToSource>,
    giving: Option<Giving>,
    taking: Option<Taking>,
    /// Moves this engine finished taking in or gave up on: their chunks,
    /// still in `handover`, are not taken again.
    done: Vec<String>,
}

impl Mover {
    /// Starts the mover of `engine_id`. `timeout` is how long a giver waits
    /// for the taker's commit before it rolls the move back.
    pub fn start(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        engine_id: &str,
        lease: Duration,
        timeout: Duration,
        metrics: Arc<PipelineMetrics>,
    ) -> Result<(Mover, MoveLinks), BoxError> {
        let ownership = Ownership::new(config, bootstrap, extra, engine_id, lease)?;
        let mut client = config.client_config(bootstrap, Role::Consumer, extra);
        client
            .set("group.id", format!("matching-engine-handover-{engine_id}"))
            .set("enable.auto.commit", "false")
            // An export is read as soon as it lands, not at the next
            // long poll's end.
            .set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer<KafkaContext> = client.create_with_context(
            KafkaContext::new("handover consumer", config.auth.clone(), ()),
        )?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&config.topics.handover, 0, Offset::Beginning)?;
        consumer.assign(&list)?;
        let mut client = config.client_config(bootstrap, Role::Producer, extra);
        // A repeated chunk is taken once, by its index.
        client
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("enable.idempotence", "false");
        let producer = client.create_with_context(KafkaContext::new(
            "handover producer",
            config.auth.clone(),
            (),
        ))?;
        let (to_mover, commands) = channel();
        let (exports_in, exports) = channel::<Export>();
        let (to_source, from_mover) = channel();
        let mut worker = Worker {
            engine_id: engine_id.to_owned(),
            ownership,
            handover: config.topics.handover.clone(),
            consumer,
            producer,
            metrics,
            timeout,
            to_source,
            giving: None,
            taking: None,
            done: Vec::new(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mover".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if let Err(err) = worker.tick(&commands, &exports) {
                        tracing::warn!(%err, "move: a step failed; retrying");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    std::thread::sleep(TICK);
                }
            })?;
        let links = MoveLinks {
            exports: Exports(Arc::new(move |export| {
                // A mover that stopped has nothing more to move.
                let _ = exports_in.send(export);
            })),
            source: SourceLink {
                to_mover: to_mover.clone(),
                from_mover,
            },
            sink: SinkLink { to_mover },
        };
        Ok((
            Mover {
                stop,
                thread: Some(thread),
            },
            links,
        ))
    }
}

impl Worker {
    fn tick(
        &mut self,
        commands: &Receiver<ToMover>,
        exports: &Receiver<Export>,
    ) -> Result<(), BoxError> {
        while let Ok(export) = exports.try_recv() {
            tracing::info!(
                move_id = %export.outgoing.move_id,
                partition = export.outgoing.partition,
                after_offset = export.outgoing.after_offset,
                to = %export.outgoing.to,
                bytes = export.bytes.len(),
                encoding_ms = export.encoding.as_millis() as u64,
                "move step 2: released; export made"
            );
            failpoint("after-release");
            self.giving = Some(Giving {
                export,
                written: false,
                since: Instant::now(),
                checked: None,
            });
        }
        while let Ok(command) = commands.try_recv() {
            self.take(command)?;
        }
        self.give()?;
        self.read_handover()?;
        self.commit()
    }

    fn take(&mut self, command: ToMover) -> Result<(), BoxError> {
        match command {
            ToMover::Recovered(moves) => {
                if let Some(incoming) = moves.incoming
                    && let Some((partition, after_offset, from)) = incoming.acquired
                {
                    // Acquired before a crash, undecided since: commit.
                    self.taking = Some(Taking {
                        header: ChunkHeader {
                            move_id: incoming.move_id.as_str().to_owned(),
                            from: from.as_str().to_owned(),
                            to: self.engine_id.clone(),
                            partition,
                            after_offset,
                            index: 0,
                            count: 0,
                            len: 0,
                            digest: 0,
                        },
                        chunks: BTreeMap::new(),
                        journaled: true,
                        acquired: true,
                    });
                }
            }
            ToMover::Stepped {
                move_id,
                partition,
                step,
            } => match step {
                MoveStep::Acquired => {
                    tracing::info!(%move_id, partition, "move step 4: acquired and journaled");
                    failpoint("after-acquire");
                    if let Some(taking) = &mut self.taking
                        && taking.header.move_id == move_id
                    {
                        taking.acquired = true;
                    }
                }
                MoveStep::AcquireFailed(reason) => {
                    tracing::warn!(
                        %move_id,
                        partition,
                        reason = reason.as_str(),
                        "move: the export could not be used here; aborting the move"
                    );
                    self.ownership.abort_move(partition, &move_id)?;
                    self.taking = None;
                    self.done.push(move_id);
                    let _ = self.to_source.send(ToSource::Forget);
                }
                MoveStep::Moved | MoveStep::RolledBack => {
                    tracing::info!(%move_id, partition, step = step.as_str(), "move: outcome journaled");
                    failpoint("after-outcome");
                }
                MoveStep::Released => {}
            },
        }
        Ok(())
    }

    /// The giver's steps: write the export once its outputs are out, then
    /// wait for the verdict, or abort when it is late.
    fn give(&mut self) -> Result<(), BoxError> {
        let Some(giving) = &mut self.giving else {
            return Ok(());
        };
        let outgoing = giving.export.outgoing;
        let move_id = outgoing.move_id.as_str().to_owned();
        if !giving.written {
            if self.metrics.delivered() < giving.export.seq {
                return Ok(());
            }
            if self.ownership.read()?.verdict(&move_id).is_none() {
                let bytes = &giving.export.bytes;
                let count = bytes.len().div_ceil(CHUNK_BYTES).max(1) as u32;
                let digest = export_digest(bytes);
                for index in 0..count {
                    let start = index as usize * CHUNK_BYTES;
                    let chunk = &bytes[start..(start + CHUNK_BYTES).min(bytes.len())];
                    let header = ChunkHeader {
                        move_id: move_id.clone(),
                        from: self.engine_id.clone(),
                        to: outgoing.to.as_str().to_owned(),
                        partition: outgoing.partition,
                        after_offset: outgoing.after_offset,
                        index,
                        count,
                        len: bytes.len() as u32,
                        digest,
                    };
                    let payload = encode_chunk(&header, chunk);
                    self.producer
                        .send(
                            BaseRecord::to(&self.handover)
                                .partition(0)
                                .key(&move_id)
                                .payload(&payload),
                        )
                        .map_err(|(e, _)| e)?;
                }
                acknowledged(&self.producer, WRITE_WAIT)?;
                tracing::info!(
                    %move_id,
                    chunks = count,
                    bytes = bytes.len(),
                    "move step 3: export written to handover"
                );
                failpoint("after-export");
            }
            giving.written = true;
            giving.since = Instant::now();
        }
        if giving
            .checked
            .is_some_and(|at| at.elapsed() < VERDICT_EVERY)
        {
            return Ok(());
        }
        giving.checked = Some(Instant::now());
        let mut verdict = self.ownership.read()?.verdict(&move_id);
        if verdict.is_none() && giving.since.elapsed() > self.timeout {
            tracing::warn!(
                %move_id,
                waited_ms = giving.since.elapsed().as_millis() as u64,
                "move: no commit from the taker in time; rolling back"
            );
            verdict = Some(self.ownership.abort_move(outgoing.partition, &move_id)?);
        }
        if let Some(moved) = verdict {
            tracing::info!(%move_id, moved, "move step 5: verdict read; journaling it");
            let _ = self.to_source.send(ToSource::Journal(vec![outcome(
                outgoing.move_id,
                outgoing.partition,
                outgoing.after_offset,
                moved,
            )]));
            if !moved {
                let _ = self.to_source.send(ToSource::Read {
                    partition: outgoing.partition,
                    after: outgoing.after_offset,
                });
            }
            self.giving = None;
        }
        Ok(())
    }

    /// The taker's first step: collect an export addressed here, and hand
    /// its pieces and acquire to the source once it is whole.
    fn read_handover(&mut self) -> Result<(), BoxError> {
        let mut seen = 0;
        while seen < 64 {
            let Some(message) = self.consumer.poll(Duration::ZERO) else {
                break;
            };
            seen += 1;
            let Ok(message) = message else {
                continue;
            };
            let Some((header, chunk)) = decode_chunk(message.payload().unwrap_or_default()) else {
                tracing::warn!(
                    offset = message.offset(),
                    "skipping a handover message that is not a chunk"
                );
                continue;
            };
            if header.to != self.engine_id || self.done.contains(&header.move_id) {
                continue;
            }
            let taking = match &mut self.taking {
                Some(taking) if taking.header.move_id == header.move_id => taking,
                Some(_) => continue, // one move at a time
                None => self.taking.insert(Taking {
                    header: header.clone(),
                    chunks: BTreeMap::new(),
                    journaled: false,
                    acquired: false,
                }),
            };
            if taking.journaled {
                continue; // a giver's repeat after its crash
            }
            taking.chunks.insert(header.index, chunk.to_vec());
        }
        let Some(taking) = &mut self.taking else {
            return Ok(());
        };
        if taking.journaled || taking.chunks.len() < taking.header.count as usize {
            return Ok(());
        }
        let header = taking.header.clone();
        let bytes: Vec<u8> = taking.chunks.values().flatten().copied().collect();
        if bytes.len() != header.len as usize || export_digest(&bytes) != header.digest {
            tracing::warn!(move_id = %header.move_id, "move: the export's digest does not match; waiting for it again");
            taking.chunks.clear();
            return Ok(());
        }
        if let Some(verdict) = self.ownership.read()?.verdict(&header.move_id) {
            // Decided already (an old export, re-read at start).
            tracing::info!(move_id = %header.move_id, verdict, "move: already decided; not taking it");
            self.done.push(header.move_id);
            self.taking = None;
            return Ok(());
        }
        let (Ok(move_id), Ok(from)) = (OrderId::new(&header.move_id), EngineId::new(&header.from))
        else {
            self.taking = None;
            return Ok(());
        };
        let mut items: Vec<SourceItem> = export_pieces(move_id, &bytes)
            .map(|piece| {
                let index = match piece {
                    Handover::Piece { index, .. } => i64::from(index),
                    _ => 0,
                };
                SourceItem {
                    position: SourcePosition {
                        topic: SourceTopic::Handover,
                        partition: -1,
                        offset: index,
                    },
                    origin_ns: None,
                    input: Input::Handover(piece),
                }
            })
            .collect();
        items.push(SourceItem {
            position: SourcePosition::orders(header.partition, header.after_offset),
            origin_ns: None,
            input: Input::Handover(Handover::Acquire {
                move_id,
                partition: header.partition,
                after_offset: header.after_offset,
                from,
                len: header.len,
                digest: header.digest,
            }),
        });
        tracing::info!(
            move_id = %header.move_id,
            pieces = items.len() - 1,
            "move step 4: export received; journaling it"
        );
        let _ = self.to_source.send(ToSource::Journal(items));
        taking.journaled = true;
        Ok(())
    }

    /// The taker's last step: the claim that commits the move.
    fn commit(&mut self) -> Result<(), BoxError> {
        let Some(taking) = &self.taking else {
            return Ok(());
        };
        if !taking.acquired {
            return Ok(());
        }
        let header = &taking.header;
        let verdict =
            match self
                .ownership
                .claim_move(header.partition, &header.move_id, &header.from)?
            {
                Some(verdict) => verdict,
                // Another claim won the partition meanwhile: give up.
                None => self
                    .ownership
                    .abort_move(header.partition, &header.move_id)?,
            };
        tracing::info!(move_id = %header.move_id, moved = verdict, "move step 5: commit written; verdict read");
        if verdict {
            failpoint("after-commit");
        }
        let Ok(move_id) = OrderId::new(&header.move_id) else {
            return Ok(());
        };
        let _ = self.to_source.send(ToSource::Journal(vec![outcome(
            move_id,
            header.partition,
            header.after_offset,
            verdict,
        )]));
        if verdict {
            let _ = self.to_source.send(ToSource::Read {
                partition: header.partition,
                after: header.after_offset,
            });
        }
        self.done.push(header.move_id.clone());
        self.taking = None;
        Ok(())
    }
}

/// The outcome record, at the moved partition's offset.
fn outcome(move_id: OrderId, partition: i32, after_offset: i64, moved: bool) -> SourceItem {
    SourceItem {
        position: SourcePosition::orders(partition, after_offset),
        origin_ns: None,
        input: Input::Handover(Handover::Outcome {
            move_id,
            partition,
            moved,
        }),
    }
}
