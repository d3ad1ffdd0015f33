//! One module per subcommand: each generates its input, runs one
//! measurement of the `bench` library and prints it, for people or as JSON.

mod ha;
mod journal;
mod kafka;
mod mass_cancel;
mod matcher;
mod moves;
mod pipeline;
mod replay;
mod report;
mod snapshot;

pub use ha::ha;
pub use journal::journal;
pub use kafka::kafka;
pub use mass_cancel::mass_cancel;
pub use matcher::matcher;
pub use moves::move_partition;
pub use pipeline::pipeline;
pub use replay::replay_tool;
pub use report::report;
pub use snapshot::snapshot;

/// The `engine` binary: `given`, or the one beside this binary.
fn engine_binary(given: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let engine = match given {
        Some(path) => path,
        None => std::env::current_exe()
            .context("finding this binary")?
            .with_file_name("engine"),
    };
    anyhow::ensure!(
        engine.exists(),
        "{} is missing: build it (cargo build --release --bin engine) or pass --engine PATH",
        engine.display()
    );
    Ok(engine)
}
