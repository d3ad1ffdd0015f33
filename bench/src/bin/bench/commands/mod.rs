//! One module per subcommand: each generates its input, runs one
//! measurement of the `bench` library and prints it, for people or as JSON.

mod ha;
mod journal;
mod kafka;
mod mass_cancel;
mod matcher;
mod pipeline;
mod replay;
mod report;
mod snapshot;

pub use ha::ha;
pub use journal::journal;
pub use kafka::kafka;
pub use mass_cancel::mass_cancel;
pub use matcher::matcher;
pub use pipeline::pipeline;
pub use replay::replay_tool;
pub use report::report;
pub use snapshot::snapshot;
