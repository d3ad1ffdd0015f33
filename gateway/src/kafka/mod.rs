//! Kafka ingress and egress through `rdkafka` (librdkafka), the embedded
//! mock-cluster broker, and the demo feeder.
//!
//! [`KafkaSource`] consumes `orders` (and `admin`) and hands decoded inputs, with their
//! partition and offset, to the pipeline; it resumes from the journal's
//! positions, never from the consumer group's committed offsets.
//! [`KafkaSink`] produces output messages keyed by symbol with an
//! idempotent producer and records which inputs' outputs the brokers have
//! confirmed. Neither reads engine state; both poll with a zero timeout and
//! never sleep on the hot path. Errors from librdkafka go to `tracing`,
//! rate-limited, never to stdout in a loop.

#[cfg(feature = "server")]
pub mod admin;
mod auth;
mod client;
mod config;
pub mod embedded;
pub mod feeder;
#[cfg(feature = "server")]
pub mod journal_topic;
mod logging;
#[cfg(feature = "server")]
pub mod mover;
pub mod moves;
#[cfg(feature = "msk-iam")]
pub mod msk_iam;
#[cfg(feature = "server")]
pub mod ownership;
pub mod sink;
pub mod source;

pub use auth::KafkaAuth;
pub use client::{ClientHooks, DeliveryHooks, KafkaContext, send_when_room};
pub use config::{KafkaConfig, MskIamConfig, StartFrom, Topics};
pub use embedded::EmbeddedBroker;
pub use feeder::Feeder;
#[cfg(feature = "server")]
pub use journal_topic::{Handover, JournalConsumer, JournalProducer, request_handover};
#[cfg(feature = "server")]
pub use mover::{MoveLinks, Mover};
#[cfg(feature = "server")]
pub use ownership::{Assignments, Ownership, OwnershipError};
pub use sink::{DELIVERED_FILE, KafkaSink, SinkProbe};
pub use source::{EndPolicy, KafkaSource};
pub use source::{FROM_START, SourceProbe, UNASSIGNED};
