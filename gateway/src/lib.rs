//! Wire formats, inputs and outputs, and the `engine` server binary
//! (DESIGN.md §3, §4).
//!
//! [`wire`] turns `orders` JSON (in either accepted form) into journaled
//! inputs and output messages into topic JSON; [`config`] reads the TOML
//! file the `engine` binary and the `replay` tool share; [`kafka`] consumes and produces them with rdkafka and
//! runs the embedded broker; [`file`](mod@file) reads and writes JSON-lines
//! files with the same content the Kafka topics carry; [`demo`] generates
//! an order flow for `engine --demo`; [`delivered`] records how far output
//! is delivered; [`metrics`] serves the Prometheus endpoint. The binary wires them into `engine::pipeline::run`.
//! Nothing in this crate matches orders.

pub mod config;
pub mod delivered;
pub mod demo;
pub mod file;
pub mod kafka;
#[cfg(feature = "server")]
pub mod metrics;
pub mod wire;
