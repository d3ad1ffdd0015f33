//! The demo feeder: a thread that produces the demo order flow into
//! `orders` through a real Kafka producer, keyed by symbol, at a fixed rate.
//!
//! It stands in for the exchange's order gateways, so it is an ordinary
//! client of the brokers and shares nothing with the engine but the
//! bootstrap address. It paces open-loop: it sends what is due by the
//! clock, so a slow engine shows up as latency, not as a slower feed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::endpoint::BoxError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::client::{KafkaContext, send_when_room};
use super::config::{KafkaConfig, Role};
use crate::demo::DemoFeed;
use crate::wire::encode_order;

/// How long the feeder waits, at the end, for the brokers to take the rest.
const FLUSH_WAIT: Duration = Duration::from_secs(30);

/// A running feeder thread.
pub struct Feeder {
    thread: JoinHandle<Result<u64, BoxError>>,
    finished: Arc<AtomicBool>,
}

impl Feeder {
    /// Starts producing `limit` orders (or until `stop`) at `rate` per
    /// second. `extra` are `-X key=value` properties.
    pub fn start(
        config: &KafkaConfig,
        bootstrap: &str,
        extra: &[(String, String)],
        rate: u64,
        limit: Option<u64>,
        stop: Arc<AtomicBool>,
    ) -> Result<Feeder, BoxError> {
        let producer: BaseProducer<KafkaContext> = config
            .client_config(bootstrap, Role::Producer, extra)
            .create_with_context(KafkaContext::new("demo-feeder", config.auth.clone(), ()))?;
        let topic = config.topics.orders.clone();
        let mut feed = DemoFeed::new(1)?;
        let finished = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&finished);
        let thread = std::thread::Builder::new()
            .name("demo-feeder".into())
            .spawn(move || {
                let result = feed_loop(&producer, &topic, &mut feed, rate.max(1), limit, &stop);
                let flushed = producer.flush(FLUSH_WAIT);
                done.store(true, Ordering::Release);
                let sent = result?;
                flushed.map_err(|e| format!("demo feeder: flushing orders: {e}"))?;
                Ok(sent)
            })?;
        Ok(Feeder { thread, finished })
    }

    /// Set once every order is produced and acknowledged (or the feeder
    /// gave up): the engine's source may then end at the topic's end.
    pub fn finished(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.finished)
    }

    /// Waits for the thread; returns how many orders it produced.
    pub fn join(self) -> Result<u64, BoxError> {
        self.thread
            .join()
            .map_err(|_| "the demo feeder panicked".to_string())?
    }
}

fn feed_loop(
    producer: &BaseProducer<KafkaContext>,
    topic: &str,
    feed: &mut DemoFeed,
    rate: u64,
    limit: Option<u64>,
    stop: &AtomicBool,
) -> Result<u64, BoxError> {
    let started = Instant::now();
    let mut sent = 0u64;
    let mut payload = Vec::with_capacity(256);
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|limit| sent < limit) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        if sent >= due {
            producer.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        let command = feed.next_command()?;
        payload.clear();
        encode_order(&command, &mut payload);
        let record = BaseRecord::to(topic)
            .key(command.symbol.as_str())
            .payload(&payload[..]);
        let mut while_full = || {
            producer.poll(Duration::from_millis(1));
            !stop.load(Ordering::Relaxed)
        };
        let queued = send_when_room(producer, record, &mut while_full)
            .map_err(|err| format!("demo feeder: {err}"))?;
        if !queued {
            return Ok(sent);
        }
        sent += 1;
        producer.poll(Duration::ZERO);
    }
    Ok(sent)
}
