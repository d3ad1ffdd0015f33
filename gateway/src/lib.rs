//! Wire formats, inputs and outputs, and the `engine` server binary
//! (DESIGN.md §3, §4).
//!
//! [`wire`] turns `orders` JSON into journaled inputs and output messages
//! into topic JSON; [`file`](mod@file) reads and writes JSON-lines files with the same
//! content the Kafka topics carry; [`demo`] generates an order flow for
//! `engine --demo`. The binary wires them into
//! `engine::pipeline::run`. Kafka ingress and egress belong here too and
//! arrive with the gateway issue. Nothing in this crate matches orders.

pub mod demo;
pub mod file;
pub mod wire;
