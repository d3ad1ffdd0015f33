//! Kafka ingress: consume `orders` and `admin`, decode, and hand each
//! message to the pipeline with its topic, partition and offset.
//!
//! `admin` (one partition) is read beside the assigned `orders`
//! partitions, by the same consumer, so both are sequenced into one
//! journal. Admin messages addressed to another engine are skipped, not
//! journaled. An engine whose brokers have no `admin` topic at start-up
//! runs without admin commands and says so.
//!
//! A partition can move to another engine (`super::moves`): a `MOVE`
//! admin command for a partition this source reads is journaled with the
//! partition's last offset filled in, and the source stops reading it at
//! once; the mover's verdict and a moved-in partition's records come back
//! through a channel and are journaled before anything else.
//!
//! Offsets come from the journal: each partition resumes at its last
//! journaled offset + 1, whether partitions are assigned from the config
//! or by the consumer group, so a crash neither skips nor repeats an order.
//! Committed group offsets are only for lag monitoring. `poll` never waits:
//! the ingress thread busy-polls, and when the input ring is full it simply
//! stops calling `poll`, which is the back-pressure on the brokers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::endpoint::{BoxError, InputSource, SourceItem, SourcePoll};
use engine::sequenced::{Handover, Input, SourcePosition, SourcePositions, SourceTopic};
use engine::{AdminAction, MoveState};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::client::{ClientHooks, KafkaContext, topic_partitions};
use super::config::{KafkaConfig, Role, StartFrom};
use super::moves::{SourceLink, ToMover, ToSource, refused_move};
use crate::wire::Decoder;

/// How long start-up waits for the brokers to describe `orders`.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a source that may end must find nothing before it checks
/// whether every partition is at its end, and how often it checks again.
/// Generous, because brokers pause: tansu was seen serving nothing for
/// 400 ms in the middle of a topic.
const END_CHECK: Duration = Duration::from_secs(1);

/// When the source reports that it has ended.
#[derive(Clone, Debug)]
pub enum EndPolicy {
    /// Never: a server runs until it is stopped.
    Never,
    /// Once `ready` is true and every assigned partition is consumed to its
    /// end (for tests, benchmarks and batch runs; `ready` lets a producer
    /// in the same process finish first).
    CaughtUp {
        /// Set when no more messages are coming.
        ready: Arc<AtomicBool>,
    },
}

/// Partitions whose position [`SourceProbe`] tracks: ids 0 to 255.
pub(crate) const PROBED_PARTITIONS: usize = 256;

/// [`SourceProbe::next`] for a partition not assigned to this consumer.
pub const UNASSIGNED: i64 = -1;
/// [`SourceProbe::next`] for a partition read from its first offset.
pub const FROM_START: i64 = -2;

/// The offset the source reads next in each partition, for a metrics
/// exporter to compare with the brokers' high watermarks (consumer lag).
/// Ingress stores one atomic per message; nothing else is shared.
#[derive(Clone, Debug)]
pub struct SourceProbe {
    /// The orders topic.
    pub topic: String,
    /// By partition id: the next offset, [`UNASSIGNED`] or [`FROM_START`].
    pub next: Arc<[AtomicI64; PROBED_PARTITIONS]>,
}

impl SourceProbe {
    fn new(topic: &str) -> SourceProbe {
        SourceProbe {
            topic: topic.to_owned(),
            next: Arc::new(std::array::from_fn(|_| AtomicI64::new(UNASSIGNED))),
        }
    }

    fn set(&self, partition: i32, next: i64) {
        if let Some(slot) = usize::try_from(partition)
            .ok()
            .and_then(|p| self.next.get(p))
        {
            slot.store(next, Ordering::Relaxed);
        }
    }

    /// Records where a partition resumes.
    fn assigned(&self, partition: i32, offset: Offset) {
        let next = match offset {
            Offset::Offset(n) => n,
            Offset::Beginning => FROM_START,
            // From the end: the lag starts at zero; the first message says.
            _ => FROM_START,
        };
        self.set(partition, next);
    }
}

/// The consumer's own state: its probe, and in group mode the positions a
/// newly assigned partition resumes from.
pub(crate) struct SourceHooks {
    probe: SourceProbe,
    topic: String,
    start: StartFrom,
    /// The last offset journaled or consumed per partition; read when the
    /// group assigns partitions.
    positions: Mutex<SourcePositions>,
}

impl SourceHooks {
    fn resume_offset(&self, partition: i32) -> Offset {
        let last = self
            .positions
            .lock()
            .ok()
            .and_then(|p| p.last_offset(partition));
        match (last, self.start) {
            (Some(offset), _) => Offset::Offset(offset + 1),
            (None, StartFrom::Earliest) => Offset::Beginning,
            (None, StartFrom::Latest) => Offset::End,
        }
    }
}

impl ClientHooks for SourceHooks {}

/// Group mode: a newly assigned partition resumes from the journal.
impl ConsumerContext for KafkaContext<SourceHooks> {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let hooks = self.hooks();
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                for partition in &partitions {
                    let offset = hooks.resume_offset(*partition);
                    hooks.probe.assigned(*partition, offset);
                    if let Err(err) = tpl.set_partition_offset(&hooks.topic, *partition, offset) {
                        tracing::error!(%err, partition, "cannot set the resume offset");
                    }
                }
                tracing::info!(
                    ?partitions,
                    "kafka: group assigned partitions; resuming from the journal"
                );
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!("kafka: group revoked partitions");
                for element in tpl.elements() {
                    hooks.probe.set(element.partition(), UNASSIGNED);
                }
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!(?other, "kafka: rebalance failed");
                consumer.unassign()
            }
        };
        if let Err(err) = result {
            tracing::error!(%err, "kafka: applying a rebalance failed");
        }
    }
}

/// The one partition of the `admin` topic.
const ADMIN_PARTITION: i32 = 0;

/// Consumes `orders`, and `admin` when the brokers have it.
pub struct KafkaSource {
    consumer: BaseConsumer<KafkaContext<SourceHooks>>,
    topic: String,
    /// The admin topic's configured name.
    admin_topic: String,
    /// Whether `admin` is read: it existed at start-up.
    reading_admin: bool,
    /// Admin messages for this engine (or for none) are journaled.
    engine_id: Option<String>,
    fixed: Option<Vec<i32>>,
    subscribe: bool,
    end: EndPolicy,
    decoder: Decoder,
    /// When `poll` last found nothing after a message; `None` while busy.
    idle_since: Option<Instant>,
    /// Partitions whose end librdkafka reported after their last message.
    at_end: BTreeSet<(SourceTopic, i32)>,
    /// What a parked ingress's `wait` received, for the next `poll`.
    waited: Option<SourcePoll>,
    /// The mover's channels, for an engine that takes part in moves.
    moves: Option<SourceLink>,
    /// The `orders` partitions read now (fixed assignment only).
    reading: Vec<i32>,
    /// The last offset handed on, per topic and partition: where a
    /// re-assignment resumes.
    last: BTreeMap<(SourceTopic, i32), i64>,
    /// The partition released and not yet decided.
    outgoing: Option<i32>,
    /// Whether a partition is being taken in.
    incoming: bool,
    /// Records from the mover, journaled before anything else.
    pending: VecDeque<SourceItem>,
    /// The moves under way in the recovered state.
    recovered: MoveState,
}

impl KafkaSource {
    /// Creates the consumer; it connects lazily and is positioned by
    /// `resume`. `extra` are `-X key=value` properties from the command line.
    pub fn new(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        end: EndPolicy,
        decoder: Decoder,
    ) -> Result<KafkaSource, KafkaError> {
        let hooks = SourceHooks {
            probe: SourceProbe::new(&config.topics.orders),
            topic: config.topics.orders.clone(),
            start: config.start,
            positions: Mutex::new(SourcePositions::default()),
        };
        let mut client = config.client_config(bootstrap, Role::Consumer, extra);
        if matches!(end, EndPolicy::CaughtUp { .. }) {
            // End-of-partition events come from fetch responses; the
            // watermarks some brokers (tansu) report separately can lag.
            client.set("enable.partition.eof", "true");
        }
        let consumer = client.create_with_context(KafkaContext::new(
            "consumer",
            config.auth.clone(),
            hooks,
        ))?;
        Ok(KafkaSource {
            consumer,
            topic: config.topics.orders.clone(),
            admin_topic: config.topics.admin.clone(),
            reading_admin: false,
            engine_id: config.engine_id.clone(),
            fixed: config.partitions.clone(),
            subscribe: config.subscribe,
            end,
            decoder,
            idle_since: None,
            at_end: BTreeSet::new(),
            waited: None,
            moves: None,
            reading: Vec::new(),
            last: BTreeMap::new(),
            outgoing: None,
            incoming: false,
            pending: VecDeque::new(),
            recovered: MoveState::default(),
        })
    }

    /// Takes part in moves through the mover's `link`.
    pub fn with_moves(mut self, link: SourceLink) -> KafkaSource {
        self.moves = Some(link);
        self
    }

    /// A handle on the offsets the source reads next, readable after the
    /// source is moved.
    pub fn probe(&self) -> SourceProbe {
        self.consumer.context().hooks().probe.clone()
    }

    /// Whether the brokers list the admin topic.
    fn admin_topic_exists(&self) -> Result<bool, BoxError> {
        Ok(topic_partitions(&self.consumer, &self.admin_topic, METADATA_TIMEOUT)?.is_some())
    }

    /// Every partition of the topic, from the brokers' metadata.
    fn all_partitions(&self) -> Result<Vec<i32>, BoxError> {
        topic_partitions(&self.consumer, &self.topic, METADATA_TIMEOUT)?.ok_or_else(|| {
            format!(
                "the brokers list no partitions of topic {:?}; create it first",
                self.topic
            )
            .into()
        })
    }

    /// Whether every assigned partition has reported its end since its
    /// last message.
    fn caught_up(&self) -> Result<bool, BoxError> {
        let assignment = self.consumer.assignment()?;
        Ok(assignment.count() > 0
            && assignment.elements().iter().all(|e| {
                self.at_end
                    .contains(&(self.topic_of(e.topic()), e.partition()))
            }))
    }

    fn topic_of(&self, name: &str) -> SourceTopic {
        if self.reading_admin && name == self.admin_topic {
            SourceTopic::Admin
        } else {
            SourceTopic::Orders
        }
    }
}

impl InputSource for KafkaSource {
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError> {
        if let Ok(mut positions) = self.consumer.context().hooks().positions.lock() {
            *positions = journaled.clone();
        }
        if self.subscribe {
            self.consumer.subscribe(&[&self.topic])?;
            tracing::info!(topic = %self.topic, "kafka: joined the consumer group; waiting for an assignment");
            return Ok(());
        }
        let mut partitions = match &self.fixed {
            Some(partitions) => partitions.clone(),
            None => self.all_partitions()?,
        };
        if let Some(outgoing) = self.recovered.outgoing {
            // Released before a restart and not decided: not ours to read.
            partitions.retain(|&p| p != outgoing.partition);
            self.outgoing = Some(outgoing.partition);
        }
        self.incoming = self.recovered.incoming.is_some();
        for position in journaled.iter() {
            self.last
                .insert((position.topic, position.partition), position.offset);
        }
        self.reading = partitions;
        self.reading_admin = self.admin_topic_exists()?;
        if !self.reading_admin {
            tracing::warn!(
                topic = %self.admin_topic,
                "kafka: the brokers have no admin topic, so this engine takes no admin commands \
                 (halt, resume, mass cancel, move); create it with one partition and restart"
            );
        }
        if let Some(link) = &self.moves {
            let _ = link
                .to_mover
                .send(ToMover::Recovered(self.recovered.clone()));
        }
        self.assign_all()
    }

    fn recovered_moves(&mut self, moves: &MoveState) {
        self.recovered = moves.clone();
    }

    fn poll(&mut self) -> Result<SourcePoll, BoxError> {
        if self.moves.is_some() {
            self.hear_mover()?;
            if let Some(item) = self.pending.pop_front() {
                self.emitted(&item);
                return Ok(SourcePoll::Item(item));
            }
        }
        if let Some(polled) = self.waited.take() {
            return Ok(polled);
        }
        self.poll_for(Duration::ZERO)
    }

    /// Blocks in librdkafka until a message (or an event) arrives, at most
    /// `at_most`, and keeps what came for the next `poll`: a parked ingress
    /// wakes as soon as an order lands.
    fn wait(&mut self, at_most: Duration) -> Result<(), BoxError> {
        if self.waited.is_none() {
            let polled = self.poll_for(at_most)?;
            if !matches!(polled, SourcePoll::Idle) {
                self.waited = Some(polled);
            }
        }
        Ok(())
    }
}

impl KafkaSource {
    /// Assigns the partitions read at start, each from the offset after
    /// the last one journaled, or where `start` says. Later changes touch
    /// only the partition that moves ([`Self::start_reading`],
    /// [`Self::stop_reading`]): re-assigning a partition already read was
    /// seen to lose the messages librdkafka had fetched for it.
    fn assign_all(&mut self) -> Result<(), BoxError> {
        let mut assignment = TopicPartitionList::new();
        for &partition in &self.reading {
            let offset = match self.last.get(&(SourceTopic::Orders, partition)) {
                Some(last) => Offset::Offset(last + 1),
                None => self.consumer.context().hooks().resume_offset(partition),
            };
            self.consumer
                .context()
                .hooks()
                .probe
                .assigned(partition, offset);
            assignment.add_partition_offset(&self.topic, partition, offset)?;
            tracing::info!(topic = %self.topic, partition, ?offset, "kafka: resuming");
        }
        if self.reading_admin {
            // Admin commands are few and must all be seen: a new engine
            // reads the topic from its start, whatever `start` says.
            let offset = match self.last.get(&(SourceTopic::Admin, ADMIN_PARTITION)) {
                Some(last) => Offset::Offset(last + 1),
                None => Offset::Beginning,
            };
            assignment.add_partition_offset(&self.admin_topic, ADMIN_PARTITION, offset)?;
            tracing::info!(topic = %self.admin_topic, ?offset, "kafka: reading admin commands");
        }
        self.consumer.assign(&assignment)?;
        Ok(())
    }

    /// Adds one partition to the assignment, from the offset after `after`,
    /// leaving the others' fetch positions and queued messages alone.
    fn start_reading(&mut self, partition: i32, after: i64) -> Result<(), BoxError> {
        let offset = Offset::Offset(after + 1);
        let mut added = TopicPartitionList::new();
        added.add_partition_offset(&self.topic, partition, offset)?;
        self.consumer.incremental_assign(&added)?;
        self.consumer
            .context()
            .hooks()
            .probe
            .assigned(partition, offset);
        Ok(())
    }

    /// Removes one partition from the assignment; messages already fetched
    /// for it are dropped by `poll_for`.
    fn stop_reading(&mut self, partition: i32) -> Result<(), BoxError> {
        let mut removed = TopicPartitionList::new();
        removed.add_partition(&self.topic, partition);
        self.consumer.incremental_unassign(&removed)?;
        self.consumer
            .context()
            .hooks()
            .probe
            .set(partition, UNASSIGNED);
        Ok(())
    }

    /// Takes what the mover sent: records to journal, a partition to read.
    fn hear_mover(&mut self) -> Result<(), BoxError> {
        let Some(link) = &self.moves else {
            return Ok(());
        };
        let mut added = Vec::new();
        while let Ok(order) = link.from_mover.try_recv() {
            match order {
                ToSource::Journal(items) => self.pending.extend(items),
                // Already read (it was claimed at start): where it is.
                ToSource::Read { partition, .. } if self.reading.contains(&partition) => {}
                ToSource::Read { partition, after } => {
                    self.reading.push(partition);
                    self.reading.sort_unstable();
                    self.last.insert((SourceTopic::Orders, partition), after);
                    tracing::info!(
                        partition,
                        from = after + 1,
                        "kafka: reading a partition after a move"
                    );
                    added.push((partition, after));
                }
                ToSource::Forget => self.incoming = false,
            }
        }
        for (partition, after) in added {
            self.start_reading(partition, after)?;
        }
        Ok(())
    }

    /// Keeps the source's view of the moves in step with the engine's, so
    /// it refuses a `MOVE` exactly when the engine would.
    fn emitted(&mut self, item: &SourceItem) {
        match item.input {
            Input::Handover(Handover::Piece { .. }) => self.incoming = true,
            Input::Handover(Handover::Outcome { .. }) => {
                self.incoming = false;
                self.outgoing = None;
            }
            _ => {}
        }
    }

    /// A `MOVE` for this engine: journaled with the partition's last
    /// offset, after which the partition is not read; or refused, when
    /// this engine does not read the partition or a move is under way.
    fn release(&mut self, mut input: Input) -> Result<Input, BoxError> {
        let Input::Admin(command) = &mut input else {
            return Ok(input);
        };
        let AdminAction::Release {
            partition,
            to,
            after_offset,
        } = &mut command.action
        else {
            return Ok(input);
        };
        let partition = *partition;
        let myself = self.engine_id.as_deref() == Some(to.as_str());
        if self.moves.is_none()
            || self.outgoing.is_some()
            || self.incoming
            || myself
            || !self.reading.contains(&partition)
        {
            return Ok(refused_move(command));
        }
        *after_offset = match self.last.get(&(SourceTopic::Orders, partition)) {
            Some(&last) => last,
            None => match self.consumer.context().hooks().resume_offset(partition) {
                Offset::Offset(next) => next - 1,
                _ => -1,
            },
        };
        self.reading.retain(|&p| p != partition);
        self.outgoing = Some(partition);
        self.stop_reading(partition)?;
        tracing::info!(
            partition,
            after_offset = *after_offset,
            to = %to,
            "move step 1: releasing the partition; no longer reading it"
        );
        Ok(input)
    }

    fn poll_for(&mut self, timeout: Duration) -> Result<SourcePoll, BoxError> {
        match self.consumer.poll(timeout) {
            Some(Ok(message)) => {
                let topic = self.topic_of(message.topic());
                let position = SourcePosition {
                    topic,
                    partition: message.partition(),
                    offset: message.offset(),
                };
                self.idle_since = None;
                self.at_end.remove(&(topic, position.partition));
                // A record without a payload decodes as an empty message.
                let payload = message.payload().unwrap_or_default();
                if topic == SourceTopic::Admin {
                    self.last
                        .insert((topic, position.partition), position.offset);
                    return Ok(
                        match self
                            .decoder
                            .decode_admin(payload, self.engine_id.as_deref())
                        {
                            Some(input) => SourcePoll::Item(SourceItem {
                                position,
                                origin_ns: None,
                                input: self.release(input)?,
                            }),
                            // Another engine's command: not ours to journal.
                            None => SourcePoll::Idle,
                        },
                    );
                }
                if !self.subscribe && !self.reading.contains(&position.partition) {
                    // Fetched before the partition was released: the next
                    // owner reads it.
                    return Ok(SourcePoll::Idle);
                }
                self.last
                    .insert((topic, position.partition), position.offset);
                let input = self.decoder.decode(payload);
                self.consumer
                    .context()
                    .hooks()
                    .probe
                    .set(position.partition, position.offset + 1);
                if self.subscribe
                    && let Ok(mut positions) = self.consumer.context().hooks().positions.lock()
                {
                    positions.advance(position);
                }
                Ok(SourcePoll::Item(SourceItem {
                    position,
                    origin_ns: None,
                    input,
                }))
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                // The event names a partition but no topic, so it counts for
                // both. That is safe for "caught up": the end is checked
                // only after a whole second without a message from either
                // topic, and any message clears its partition's mark.
                self.at_end.insert((SourceTopic::Orders, partition));
                self.at_end.insert((SourceTopic::Admin, partition));
                Ok(SourcePoll::Idle)
            }
            Some(Err(err)) => {
                if let Some((code, reason)) = self.consumer.client().fatal_error() {
                    return Err(format!("kafka consumer failed: {code:?}: {reason}").into());
                }
                self.consumer.context().log().error(&err, "consumer");
                Ok(SourcePoll::Idle)
            }
            None => {
                let idle_since = *self.idle_since.get_or_insert_with(Instant::now);
                // Idle for a while too, so an end reported just before
                // more messages arrived does not count.
                if let EndPolicy::CaughtUp { ready } = &self.end
                    && ready.load(Ordering::Acquire)
                    && idle_since.elapsed() >= END_CHECK
                {
                    self.idle_since = Some(Instant::now());
                    if self.caught_up()? {
                        return Ok(SourcePoll::Ended);
                    }
                }
                Ok(SourcePoll::Idle)
            }
        }
    }
}
