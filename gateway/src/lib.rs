//! Kafka ingress and egress and the JSON wire formats (DESIGN.md §4, §8).
//!
//! Not built yet. This crate will hold the `rdkafka` consumer and batching
//! producer, the decoders from wire JSON to `engine::Command` with their
//! rejection reasons, the embedded mock-cluster default, and the server
//! binary `engine`.
