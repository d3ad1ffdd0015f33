//! `replay snapshot` and `replay truncate`: the two commands that write,
//! both behind the journal's lock; truncate asks first and moves data aside.
//! It turns parsed flags into the library's call, and prints the result; the
//! work is in the `replay` library.

use std::path::Path;

use anyhow::anyhow;
use serde::Serialize;

use super::Outcome;
use crate::args::usage;
use crate::flags::{SnapshotArgs, TruncateArgs};
use crate::print::{Bar, json_line, outln};

pub fn snapshot(args: SnapshotArgs) -> anyhow::Result<Outcome> {
    let written = replay::snapshot_at(&args.common.dir, args.at, &Bar::default())?;
    if args.common.json {
        json_line(&written)?;
    } else {
        outln!(
            "wrote {} (state hash {}, {} inputs re-executed); the next recovery can start there",
            written.file.display(),
            written.state_hash,
            written.replayed
        );
    }
    Ok(Outcome::Clean)
}

pub fn truncate(args: TruncateArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let now = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let plan = replay::plan_truncate(dir, args.after, &now)?;
    if plan.after >= plan.last {
        return Err(usage(format!(
            "the journal ends at sequence {}; nothing comes after {}",
            plan.last, plan.after
        )));
    }
    eprintln!(
        "This cuts the journal after sequence {} (it ends at {}). Records {}..{} move to {},\n\
         with {} whole segment file(s) and {} snapshot(s); the segment holding {} is copied there first.",
        plan.after,
        plan.last,
        plan.after + 1,
        plan.last,
        plan.quarantine.display(),
        plan.segments.len(),
        plan.snapshots.len(),
        plan.after
    );
    if let Some(d) = plan.delivered_past {
        eprintln!(
            "WARNING: Kafka outputs were delivered through sequence {d}: consumers have seen (seq, idx) \
             keys after {} that new inputs will reuse. See docs/replay.md before going on.",
            plan.after
        );
    }
    if !args.yes {
        use std::io::IsTerminal as _;
        if !std::io::stdin().is_terminal() {
            return Err(usage("not confirmed: run it on a terminal, or pass --yes"));
        }
        eprint!("Type yes to go on: ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| anyhow!(e))?;
        if answer.trim() != "yes" {
            return Err(usage("not confirmed; nothing was changed"));
        }
    }
    let done = replay::truncate_after(dir, &plan)?;
    if args.common.json {
        #[derive(Serialize)]
        struct TruncateJson<'a> {
            after: u64,
            quarantine: &'a Path,
            moved: &'a [std::path::PathBuf],
            cut: Option<(&'a Path, u64)>,
        }
        json_line(&TruncateJson {
            after: plan.after,
            quarantine: &plan.quarantine,
            moved: &done.moved,
            cut: done.cut.as_ref().map(|(p, o)| (p.as_path(), *o)),
        })?;
    } else {
        outln!(
            "the journal now ends at sequence {}; {} file(s) moved to {}{}",
            plan.after,
            done.moved.len(),
            plan.quarantine.display(),
            done.cut.as_ref().map_or(String::new(), |(p, o)| format!(
                ", {} cut at byte {o} (its old copy is there too)",
                p.display()
            ))
        );
    }
    Ok(Outcome::Clean)
}
