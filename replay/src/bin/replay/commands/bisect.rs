//! `replay bisect`: the first output other rules, or a recorded run, would
//! change. It turns parsed flags into the library's call, and prints the
//! result; the work is in the `replay` library.

use replay::Reference;

use super::Outcome;
use crate::args::{rules, usage};
use crate::flags::BisectArgs;
use crate::print::{Bar, json_line, outln};

pub fn bisect(args: BisectArgs) -> anyhow::Result<Outcome> {
    let reference = match (&args.config, &args.against) {
        (Some(path), None) => Reference::Rules(rules(path)?),
        (None, Some(dir)) => Reference::Recorded(dir.clone()),
        _ => return Err(usage("give one of --config FILE or --against OUTDIR")),
    };
    let found = replay::bisect(&args.common.dir, &reference, &Bar::default())?;
    if args.common.json {
        json_line(&found)?;
    } else {
        match &found.difference {
            None => outln!(
                "no difference over {} inputs ({} inputs re-executed)",
                found.compared,
                found.re_executed
            ),
            Some(d) => {
                outln!(
                    "the first difference is at input {}, message {} ({} inputs re-executed to find it):",
                    d.seq,
                    d.idx,
                    found.re_executed
                );
                let (base, cand) = match reference {
                    Reference::Rules(_) => ("journal's rules", "new rules"),
                    Reference::Recorded(_) => ("recorded", "journal"),
                };
                outln!(
                    "  {base:>15}: {}",
                    d.baseline.as_ref().map_or("(none)", |m| m.get())
                );
                outln!(
                    "  {cand:>15}: {}",
                    d.candidate.as_ref().map_or("(none)", |m| m.get())
                );
            }
        }
    }
    Ok(if found.difference.is_none() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}
