//! What every librdkafka client of this crate shares: one client context,
//! and producing when librdkafka's queue has room.
//!
//! [`KafkaContext`] routes log lines and client errors to `tracing`,
//! rate-limited (`super::logging`), and answers MSK IAM token requests
//! (`super::auth`). What one client adds (the sink's delivery accounting,
//! the source's rebalance handling, a benchmark's bookkeeping) is its
//! hooks, a type parameter, so the shared part is written once. Nothing
//! here blocks except [`send_when_room`], which waits only as its caller
//! says.

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, ToBytes};
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::util::IntoOpaque;

use super::auth::KafkaAuth;
use super::logging::ClientLog;

/// The context of one Kafka client: its name in log lines, how it signs
/// in, and its own callbacks.
pub struct KafkaContext<H = ()> {
    log: ClientLog,
    auth: KafkaAuth,
    hooks: H,
}

impl<H> KafkaContext<H> {
    /// A context for the client named `client` in log lines.
    pub fn new(client: &'static str, auth: KafkaAuth, hooks: H) -> KafkaContext<H> {
        KafkaContext {
            log: ClientLog::new(client),
            auth,
            hooks,
        }
    }

    /// The client's own callbacks and the state they keep.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// How the client signs in.
    pub fn auth(&self) -> &KafkaAuth {
        &self.auth
    }

    /// Its rate-limited log, for errors its owner meets outside callbacks.
    pub(crate) fn log(&self) -> &ClientLog {
        &self.log
    }
}

/// What a client does beyond logging and signing in. The defaults do
/// nothing.
pub trait ClientHooks: Send + Sync + 'static {
    /// librdkafka's statistics, every `statistics.interval.ms`.
    fn stats(&self, _statistics: Statistics) {}
}

impl ClientHooks for () {}

impl<H: ClientHooks> ClientContext for KafkaContext<H> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = cfg!(feature = "msk-iam");

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.auth.token()
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.log.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(&error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        self.hooks.stats(statistics);
    }
}

/// What a producer does with each delivery report.
pub trait DeliveryHooks: ClientHooks {
    /// What each message carries to its report.
    type Opaque: IntoOpaque;

    /// One message's outcome, served inside the producer's `poll`.
    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::Opaque);
}

/// A producer with no bookkeeping of its own still says when a message was
/// not delivered.
impl<H: DeliveryHooks> ProducerContext for KafkaContext<H> {
    type DeliveryOpaque = H::Opaque;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: H::Opaque) {
        if let Err((err, _)) = result {
            self.log.error(err, "a message was not delivered");
        }
        self.hooks.delivery(result, opaque);
    }
}

impl DeliveryHooks for () {
    type Opaque = ();

    fn delivery(&self, _result: &DeliveryResult<'_>, _opaque: ()) {}
}

/// A consumer that only reads assigned partitions (the metrics exporter's
/// watermark client) needs no rebalance handling.
impl ConsumerContext for KafkaContext<()> {}

/// Produces `record`, retrying while librdkafka's queue is full: between
/// tries it calls `while_full`, which should serve delivery reports (a
/// `poll`) so that room frees up, and returns `false` to give up. Returns
/// whether the record was queued.
pub fn send_when_room<C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
    while_full: &mut dyn FnMut() -> bool,
) -> Result<bool, KafkaError>
where
    C: ProducerContext,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(true),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                if !while_full() {
                    return Ok(false);
                }
            }
            Err((err, _)) => return Err(err),
        }
    }
}

/// Waits until every message `producer` was given is acknowledged, at
/// most `timeout`, polling every millisecond. `flush` polls in steps of
/// 100 ms, which a move's commit would wait through.
#[cfg(feature = "server")]
pub fn acknowledged<C: ProducerContext>(
    producer: &BaseProducer<C>,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + timeout;
    use rdkafka::producer::Producer as _;
    while producer.in_flight_count() > 0 {
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "{} messages unacknowledged after {} ms",
                producer.in_flight_count(),
                timeout.as_millis()
            ));
        }
        producer.poll(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// The partitions of `topic` as the brokers' metadata lists them; `None`
/// when they do not list it, report an error for it, or list no
/// partitions. `Err` only when the metadata cannot be read at all.
pub(crate) fn topic_partitions<C: ConsumerContext + 'static>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<Option<Vec<i32>>, String> {
    use rdkafka::consumer::Consumer as _;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("cannot read the metadata of topic {topic:?}: {e}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    Ok((!partitions.is_empty()).then_some(partitions))
}
