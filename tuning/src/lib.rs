//! Host checks, tuning plans and a jitter meter for low-latency runs
//! (`docs/design.md` §2, §8): the library behind the `tuning` binary, and the
//! checks the engine's start-up table calls.
//!
//! - [`checks`]: `tuning check`, what a host has against what a run needs,
//!   read from a [`Host`] root so tests use fixture trees;
//! - [`plan`]: `tuning plan`, the settings that make the checks pass, for
//!   this host or a named topology;
//! - [`jitter`]: `tuning jitter`, the gaps a busy loop sees per CPU.
//!
//! Nothing in this crate changes the host: `plan --write` writes files for
//! the deploy step to install.

pub mod checks;
pub mod host;
pub mod jitter;
pub mod plan;

pub use checks::{Check, Context, Severity};
pub use host::Host;
