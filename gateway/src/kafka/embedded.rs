//! The embedded default broker: librdkafka's in-process mock cluster on a
//! loopback port, with the five topics created.
//!
//! It speaks the Kafka protocol on a real socket, so any client can use it
//! (`kcat -b 127.0.0.1:PORT`), but it keeps messages in memory only and
//! forgets them when the process exits. It is for trying the engine and
//! for tests, never for production: `--config` selects real brokers.

use rdkafka::error::KafkaResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::config::Topics;

/// A running mock cluster. It stops when dropped, so keep it alive for as
/// long as the engine runs.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster and creates every topic in `topics` with
    /// `partitions` partitions each, except `admin`, `assignments` and
    /// `handover`, which have one partition so that their records have one
    /// order.
    pub fn start(topics: &Topics, partitions: i32) -> KafkaResult<EmbeddedBroker> {
        let cluster = MockCluster::new(1)?;
        for topic in topics.all() {
            let single = [&topics.admin, &topics.assignments, &topics.handover]
                .iter()
                .any(|one| one.as_str() == topic);
            cluster.create_topic(topic, if single { 1 } else { partitions }, 1)?;
        }
        Ok(EmbeddedBroker { cluster })
    }

    /// Creates one more topic, e.g. a replicated engine's journal topic.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> KafkaResult<()> {
        self.cluster.create_topic(topic, partitions, 1)
    }

    /// The `bootstrap.servers` string, e.g. `127.0.0.1:40123`.
    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Takes broker 1 down or brings it back, as an outage would.
    pub fn set_up(&self, up: bool) -> KafkaResult<()> {
        if up {
            self.cluster.broker_up(1)
        } else {
            self.cluster.broker_down(1)
        }
    }
}
