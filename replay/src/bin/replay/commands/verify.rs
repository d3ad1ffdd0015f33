//! `replay verify [--deep]`: what was checked, the damage found and the
//! exact command that repairs it. It turns parsed flags into the library's
//! call, and prints the result; the work is in the `replay` library.

use engine::units::human_rate;

use super::Outcome;
use crate::args::rules;
use crate::flags::VerifyArgs;
use crate::print::{Bar, json_line, outln};

pub fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let rules = args.config.as_deref().map(rules).transpose()?;
    let verified = replay::verify(&args.common.dir, args.deep, rules.as_ref(), &Bar::default())?;
    if args.common.json {
        json_line(&verified)?;
    } else {
        let span = match (verified.first_seq, verified.last_seq) {
            (Some(f), Some(l)) => format!(" ({f}..{l})"),
            _ => String::new(),
        };
        outln!(
            "checked {} records{span} in {:.2} s: {}",
            verified.records,
            verified.seconds,
            human_rate(verified.records_per_sec)
        );
        if let Some(d) = &verified.damage {
            let place = match (&d.file, d.offset) {
                (Some(file), Some(offset)) => {
                    format!("{}, byte offset {offset}: ", file.display())
                }
                (Some(file), None) => format!("{}: ", file.display()),
                _ => String::new(),
            };
            outln!("DAMAGE at sequence {}: {place}{}", d.sequence, d.problem);
            let intact = d.sequence.saturating_sub(1);
            let replica = d.file.as_ref().map_or(String::new(), |f| {
                format!("restore {} from a replica, or ", f.display())
            });
            outln!(
                "records up to {intact} are intact. To repair, {replica}cut the log after them, \
                 moving the rest into a quarantine folder:\n  replay truncate {} --after {intact}\n\
                 docs/replay.md, \"The journal is damaged\", \
                 has the whole procedure",
                args.common.dir.display()
            );
        }
        if let Some(deep) = &verified.deep {
            let from = deep
                .from_snapshot
                .map_or("the journal's start".to_string(), |s| {
                    format!("snapshot {s}")
                });
            outln!(
                "re-executed {} records from {from}, rules {}: {} snapshot hashes reproduced, state hash {}, {}",
                deep.replayed,
                deep.rules,
                deep.hashes_verified,
                deep.state_hash,
                human_rate(deep.records_per_sec)
            );
            if let Some(m) = &deep.mismatch {
                outln!("MISMATCH: {m}");
            }
        }
        if verified.clean() {
            outln!("clean");
        }
    }
    Ok(if verified.clean() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}
