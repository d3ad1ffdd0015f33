//! The engine's edge: wire formats, the config file, and the sources and
//! sinks the pipeline runs between, plus the `engine` server binary.
//!
//! [`wire`] turns `orders` JSON (in either accepted form) into journaled
//! inputs and output messages into topic JSON (`docs/design.md` §5);
//! [`config`] reads the TOML file the `engine` binary and the `replay` tool
//! share; [`kafka`] consumes and produces through rdkafka and runs the
//! embedded broker; [`file`](mod@file) reads and writes JSON-lines files
//! with the same content the Kafka topics carry; [`demo`] generates an
//! order flow for `engine --demo`; [`delivered`] records how far output is
//! delivered. With the default `server` feature, [`metrics`] serves the
//! Prometheus endpoint, and the `engine` binary (`src/bin/engine/`) wires
//! it all into `engine::pipeline::run`. Without that feature the crate
//! needs no pipeline, which is how the `replay` tool uses its sinks.
//!
//! Nothing in this crate matches orders.

pub mod config;
pub mod delivered;
pub mod demo;
pub mod file;
pub mod kafka;
#[cfg(feature = "server")]
pub mod metrics;
pub mod wire;
