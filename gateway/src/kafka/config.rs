//! The `[kafka]` table of the engine's TOML file: topics, partitions,
//! batch size and librdkafka properties, and the client configurations
//! built from them.
//!
//! Defaults here are the engine's opinions (idempotence, no message
//! timeout, Java-compatible key partitioning); any librdkafka property in
//! the file overrides them, because operators know their cluster.

use std::collections::BTreeMap;

use engine::endpoint::MAX_BATCH_SIZE;
use engine::sequenced::Topic;
use rdkafka::ClientConfig;
use serde::Deserialize;

use super::auth::KafkaAuth;
use super::client::KafkaContext;

/// Topic names.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    /// Where orders arrive.
    pub orders: String,
    /// One message per order per execution.
    pub fills: String,
    /// One message per execution.
    pub trades: String,
    /// Top-of-book changes.
    pub depth: String,
    /// Order lifecycle.
    pub order_status: String,
    /// Operators' commands: one partition, writable only by operators.
    pub admin: String,
    /// Operators' commands applied or refused.
    pub admin_status: String,
    /// Which engine owns which `orders` partition, keyed by partition.
    pub assignments: String,
    /// Moved partitions' exports, from the engine that gives a partition
    /// to the one that takes it: one partition.
    pub handover: String,
}

impl Default for Topics {
    fn default() -> Topics {
        Topics {
            orders: "orders".into(),
            fills: Topic::Fills.name().into(),
            trades: Topic::Trades.name().into(),
            depth: Topic::Depth.name().into(),
            order_status: Topic::OrderStatus.name().into(),
            admin: "admin".into(),
            admin_status: Topic::AdminStatus.name().into(),
            assignments: "assignments".into(),
            handover: "handover".into(),
        }
    }
}

impl Topics {
    /// The name configured for an output topic.
    pub fn output(&self, topic: Topic) -> &str {
        match topic {
            Topic::Fills => &self.fills,
            Topic::Trades => &self.trades,
            Topic::Depth => &self.depth,
            Topic::OrderStatus => &self.order_status,
            Topic::AdminStatus => &self.admin_status,
        }
    }

    /// Every topic the engine reads or writes, inputs first; the journal
    /// topics of replicated engines aside.
    pub fn all(&self) -> [&str; 9] {
        [
            &self.orders,
            &self.admin,
            &self.fills,
            &self.trades,
            &self.depth,
            &self.order_status,
            &self.admin_status,
            &self.assignments,
            &self.handover,
        ]
    }
}

/// Where a partition the journal has never seen starts.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// The oldest message still in the partition: a new engine applies the
    /// whole topic.
    #[default]
    Earliest,
    /// Only messages produced after the engine starts.
    Latest,
}

/// What `[kafka.msk_iam]` says in a build without the `msk-iam` feature.
const NEEDS_MSK_IAM_BUILD: &str =
    "kafka.msk_iam needs an engine built with --features gateway/msk-iam,gateway/ssl";

/// `[kafka.msk_iam]`: sign in to MSK with IAM.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MskIamConfig {
    /// The cluster's AWS region, e.g. `ap-northeast-2`.
    pub region: String,
}

/// The `[kafka]` table.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`; absent means the embedded mock cluster.
    pub brokers: Option<String>,
    /// Topic names.
    pub topics: Topics,
    /// A fixed assignment of `orders` partitions; absent means every
    /// partition of the topic. Ignored with `subscribe`.
    pub partitions: Option<Vec<i32>>,
    /// Join the consumer group `group_id` instead of a fixed assignment.
    pub subscribe: bool,
    /// The consumer group: used for lag monitoring commits, and for
    /// assignment when `subscribe` is set.
    pub group_id: String,
    /// Where a partition the journal has never seen starts.
    pub start: StartFrom,
    /// Messages per egress batch and per Kafka produce batch
    /// (`batch.num.messages`).
    pub batch_size: usize,
    /// Partitions of each topic the embedded broker creates.
    pub embedded_partitions: i32,
    /// librdkafka properties for every client (security, SASL, ...).
    pub properties: BTreeMap<String, toml::Value>,
    /// librdkafka properties for the consumer only.
    pub consumer: BTreeMap<String, toml::Value>,
    /// librdkafka properties for the producers only.
    pub producer: BTreeMap<String, toml::Value>,
    /// Sign in to MSK with IAM (`SASL_SSL`, `OAUTHBEARER`).
    pub msk_iam: Option<MskIamConfig>,
    /// How the clients make `OAUTHBEARER` tokens; [`sign_in`](Self::sign_in)
    /// sets it from `msk_iam`, once for every client.
    #[serde(skip)]
    pub auth: KafkaAuth,
    /// The engine's id (the top-level `engine_id`), copied here so every
    /// client names it: in its `client.id`, in which admin messages the
    /// source takes, and in every output message.
    #[serde(skip)]
    pub engine_id: Option<String>,
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            brokers: None,
            topics: Topics::default(),
            partitions: None,
            subscribe: false,
            group_id: "matching-engine".into(),
            start: StartFrom::Earliest,
            batch_size: 100,
            embedded_partitions: 4,
            properties: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            msk_iam: None,
            auth: KafkaAuth::default(),
            engine_id: None,
        }
    }
}

/// Which client a configuration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Consumer,
    Producer,
}

impl KafkaConfig {
    /// Checks values a client would otherwise reject late or obscurely.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(format!(
                "kafka.batch_size = {} is out of range; use 1 to {MAX_BATCH_SIZE} (default 100)",
                self.batch_size
            ));
        }
        if let Some(iam) = &self.msk_iam {
            if !cfg!(feature = "msk-iam") {
                return Err(NEEDS_MSK_IAM_BUILD.into());
            }
            if iam.region.is_empty() {
                return Err(
                    "kafka.msk_iam.region is empty; write e.g. region = \"ap-northeast-2\"".into(),
                );
            }
        }
        if self.embedded_partitions < 1 {
            return Err("kafka.embedded_partitions must be at least 1".into());
        }
        if let Some(partitions) = &self.partitions
            && (partitions.is_empty() || partitions.iter().any(|p| *p < 0))
        {
            return Err("kafka.partitions must list partition numbers (0 or more)".into());
        }
        for (table, properties) in [
            ("properties", &self.properties),
            ("consumer", &self.consumer),
            ("producer", &self.producer),
        ] {
            for (key, value) in properties {
                property_text(value).map_err(|e| format!("kafka.{table}.{key:?}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Prepares the MSK IAM signer when `[kafka.msk_iam]` is set, reading
    /// credentials now (the environment, else the instance profile), so
    /// every client made from this configuration signs in with it.
    pub fn sign_in(&mut self) -> Result<(), String> {
        match &self.msk_iam {
            None => Ok(()),
            #[cfg(feature = "msk-iam")]
            Some(iam) => {
                self.auth = KafkaAuth::msk_iam(super::msk_iam::MskIamSigner::from_environment(
                    &iam.region,
                )?);
                Ok(())
            }
            #[cfg(not(feature = "msk-iam"))]
            Some(_) => Err(NEEDS_MSK_IAM_BUILD.into()),
        }
    }

    /// A client of its own for the metrics exporter to ask the brokers for
    /// the orders topic's watermarks: the consumer's settings (security
    /// included) but no group, so it never joins or commits.
    pub fn watermark_client(
        &self,
        bootstrap: &str,
        extra: &[(String, String)],
    ) -> Result<rdkafka::consumer::BaseConsumer<KafkaContext>, rdkafka::error::KafkaError> {
        let mut config = self.client_config(bootstrap, Role::Consumer, extra);
        config.remove("group.id");
        config.set("client.id", "matching-engine-metrics");
        config.create_with_context(KafkaContext::new("metrics", self.auth.clone(), ()))
    }

    /// The librdkafka configuration for one client: the engine's defaults,
    /// then `properties`, then the role's own table, then `extra`
    /// (command-line `-X` settings).
    pub(crate) fn client_config(
        &self,
        bootstrap: &str,
        role: Role,
        extra: &[(String, String)],
    ) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        match &self.engine_id {
            Some(id) => config.set("client.id", format!("matching-engine-{id}")),
            None => config.set("client.id", "matching-engine"),
        };
        if self.msk_iam.is_some() {
            // MSK's IAM listener; the contexts make the tokens.
            config
                .set("security.protocol", "SASL_SSL")
                .set("sasl.mechanism", "OAUTHBEARER");
        }
        match role {
            Role::Consumer => {
                config
                    .set("group.id", &self.group_id)
                    // Offsets come from the journal; commits only show lag.
                    .set("enable.auto.commit", "true")
                    .set("auto.offset.reset", "earliest")
                    // A fetch waits at most this long for data; short, so a
                    // quiet topic's first order is not held back.
                    .set("fetch.wait.max.ms", "5");
            }
            Role::Producer => {
                config
                    .set("enable.idempotence", "true")
                    // Never expire a message: during an outage they wait in
                    // the queue and back-pressure reaches the input.
                    .set("message.timeout.ms", "0")
                    .set("batch.num.messages", self.batch_size.to_string())
                    .set("linger.ms", "1")
                    // The Java client's placement for keyed messages.
                    .set("partitioner", "murmur2_random");
            }
        }
        let own = match role {
            Role::Consumer => &self.consumer,
            Role::Producer => &self.producer,
        };
        for (key, value) in self.properties.iter().chain(own) {
            if let Ok(text) = property_text(value) {
                config.set(key, text);
            }
        }
        for (key, value) in extra {
            config.set(key, value);
        }
        config
    }
}

/// A TOML value as librdkafka's property text.
fn property_text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("must be a string, number or boolean".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    #[test]
    fn file_properties_override_defaults_and_flags_override_the_file() {
        let config: KafkaConfig = toml::from_str(
            r#"
            brokers = "b1:9092"
            batch_size = 50
            [topics]
            orders = "in"
            [properties]
            "security.protocol" = "SASL_SSL"
            [producer]
            "linger.ms" = 3
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.topics.orders, "in");
        assert_eq!(config.topics.fills, "fills");
        let extra = [("linger.ms".to_string(), "7".to_string())];
        let producer = config.client_config("b1:9092", Role::Producer, &[]);
        assert_eq!(producer.get("linger.ms"), Some("3"));
        assert_eq!(producer.get("batch.num.messages"), Some("50"));
        assert_eq!(producer.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        let producer = config.client_config("b1:9092", Role::Producer, &extra);
        assert_eq!(producer.get("linger.ms"), Some("7"));
        let consumer = config.client_config("b1:9092", Role::Consumer, &[]);
        assert_eq!(consumer.get("linger.ms"), None);
        assert_eq!(consumer.get("group.id"), Some("matching-engine"));
    }

    #[test]
    fn bad_values_are_explained() {
        let config: KafkaConfig = toml::from_str("batch_size = 0").unwrap();
        assert!(config.validate().unwrap_err().contains("1 to 100000"));
        let config: KafkaConfig = toml::from_str("[producer]\nacks = [1]").unwrap();
        assert!(config.validate().unwrap_err().contains("kafka.producer"));
        assert!(toml::from_str::<KafkaConfig>("brokerz = \"x\"").is_err());
    }
}
