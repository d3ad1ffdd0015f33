//! One module per subcommand: each takes its parsed flags, calls the
//! `replay` library once, and prints the result as a table or JSON lines.

mod bisect;
mod book;
mod diff;
mod dump;
mod info;
mod order;
mod repair;
mod run;
mod verify;

pub use bisect::bisect;
pub use book::book;
pub use diff::diff;
pub use dump::dump;
pub use info::info;
pub use order::order;
pub use repair::{snapshot, truncate};
pub use run::run_outputs;
pub use verify::verify;

/// What a finished subcommand says about the journal.
pub enum Outcome {
    /// Nothing wrong, no difference: exit 0.
    Clean,
    /// Damage or a difference was found (and reported): exit 1.
    Found,
}
