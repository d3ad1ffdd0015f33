//! `replay dump`: the journal's records, one by one, filtered, optionally
//! with the exact messages each one produced, optionally following a live
//! journal like `tail -f`.
//!
//! A start by time is a binary search through the sparse index, not a scan.
//! With outputs, the engine is rebuilt from the nearest snapshot before the
//! first record shown and re-executed from there; without, records are only
//! decoded. Nothing is written.

use std::path::Path;
use std::time::Duration;

use engine::EngineConfig;
use engine::history::{History, Records};
use engine::sequenced::{Handover, Input, Journaled, Message, Replayer};
use engine::{OrderId, Symbol, UserId};

use crate::Error;
use crate::start::replayer_at;
use crate::time::first_at_or_after;
use crate::verify::Progress;

/// How often `follow` looks for new records at the end of the journal.
const FOLLOW_POLL: Duration = Duration::from_millis(10);

/// Which records to show.
#[derive(Clone, Debug, Default)]
pub struct DumpFilter {
    /// The first sequence.
    pub from: Option<u64>,
    /// The last sequence.
    pub to: Option<u64>,
    /// The first ingress time, ns since the epoch.
    pub since_ns: Option<u64>,
    /// The last ingress time.
    pub until_ns: Option<u64>,
    /// Only inputs about this symbol.
    pub symbol: Option<Symbol>,
    /// Only inputs of this user.
    pub user: Option<UserId>,
    /// Only inputs naming this order id.
    pub order: Option<OrderId>,
    /// Only inputs from this partition.
    pub partition: Option<i32>,
    /// Only the input at this offset (of `partition`).
    pub offset: Option<i64>,
    /// Only the last N records (of the journal as it is at the start).
    pub last: Option<u64>,
    /// At most N records.
    pub limit: Option<u64>,
    /// Re-execute, and give each record the messages it produced.
    pub outputs: bool,
    /// At the end, wait for more records instead of stopping.
    pub follow: bool,
}

/// One record as dumped.
#[derive(Clone, Debug)]
pub struct DumpRecord {
    /// The record and what it held.
    pub record: Journaled,
    /// Its messages, numbered `(seq, idx)`, with `outputs`.
    pub outputs: Vec<Message>,
}

/// Records in order, as [`DumpFilter`] selects them.
pub struct Dump {
    records: Records,
    replayer: Option<Replayer>,
    filter: DumpFilter,
    shown: u64,
}

impl Dump {
    /// Positions a dump of the journal in `dir`; `progress` sees the
    /// re-execution up to the first record when outputs are wanted.
    pub fn open(dir: &Path, filter: DumpFilter, progress: &dyn Progress) -> Result<Dump, Error> {
        let history = History::open(dir)?;
        let reader = history.reader();
        let first = reader.first_sequence()?.unwrap_or(1);
        let end = reader.end_sequence()?;
        let mut from = filter.from.unwrap_or(first).max(first);
        if let Some(last) = filter.last {
            from = from.max(end.saturating_sub(last).max(first));
        }
        if let Some(since) = filter.since_ns {
            from = from.max(first_at_or_after(&history, first, end, since)?);
        }
        let replayer = if filter.outputs {
            Some(replayer_before(&history, from, progress)?.0)
        } else {
            None
        };
        let records = history.records(from)?;
        Ok(Dump {
            records,
            replayer,
            filter,
            shown: 0,
        })
    }

    /// The next record the filter selects; `None` at the end (never, with
    /// `follow`, until `to`, `until` or `limit` is reached).
    #[allow(clippy::should_implement_trait)] // fallible, and it may wait
    pub fn next(&mut self) -> Result<Option<DumpRecord>, Error> {
        if self.filter.limit.is_some_and(|limit| self.shown >= limit) {
            return Ok(None);
        }
        loop {
            let Some(record) = self.records.next()? else {
                if !self.filter.follow {
                    return Ok(None);
                }
                std::thread::sleep(FOLLOW_POLL);
                continue;
            };
            if self.filter.to.is_some_and(|to| record.sequence > to)
                || self
                    .filter
                    .until_ns
                    .is_some_and(|until| record.timestamp_ns > until)
            {
                return Ok(None);
            }
            let mut outputs = Vec::new();
            if let Some(replayer) = &mut self.replayer {
                replayer.apply_into(&record, &mut outputs)?;
            }
            if self.selects(&record) {
                self.shown += 1;
                return Ok(Some(DumpRecord { record, outputs }));
            }
        }
    }

    fn selects(&self, record: &Journaled) -> bool {
        let f = &self.filter;
        let (symbol, user, order) = ids(&record.input);
        wants(f.symbol, symbol)
            && wants(f.user, user)
            && wants(f.order, order)
            && wants(f.partition, Some(record.source.partition))
            && wants(f.offset, Some(record.source.offset))
    }
}

/// Whether a filter value, if set, is what the record has.
fn wants<T: PartialEq>(want: Option<T>, have: Option<T>) -> bool {
    want.is_none() || want == have
}

/// The symbol, user and order an input names, as far as it names them.
pub(crate) fn ids(input: &Input) -> (Option<Symbol>, Option<UserId>, Option<OrderId>) {
    match input {
        Input::Command(c) => (Some(c.symbol), Some(c.user_id), Some(c.order_id)),
        Input::Malformed(m) | Input::MalformedAdmin(m) => (m.symbol, m.user_id, m.order_id),
        // An admin command names no order; its request id stands in, so
        // `--order` finds the request.
        Input::Admin(c) => match c.action {
            engine::AdminAction::MassCancel { symbol, user_id } => {
                (symbol, user_id, Some(c.request_id))
            }
            action => (action.symbol(), None, Some(c.request_id)),
        },
        // A move's records name the move, by its request id.
        Input::Handover(
            Handover::Piece { move_id, .. }
            | Handover::Acquire { move_id, .. }
            | Handover::Outcome { move_id, .. },
        ) => (None, None, Some(*move_id)),
    }
}

/// A replayer whose state includes every record before `sequence`, and
/// how many records it re-executed to get there (after its snapshot).
pub(crate) fn replayer_before(
    history: &History,
    sequence: u64,
    progress: &dyn Progress,
) -> Result<(Replayer, u64), Error> {
    let before = sequence.saturating_sub(1);
    let (start, _) = replayer_at(history, before, None::<&EngineConfig>)?;
    let mut replayer = start.replayer;
    let began = replayer.last_sequence();
    if began < before {
        progress.start("replay", before - began);
        let mut records = history.records(began + 1)?;
        while replayer.last_sequence() < before {
            let Some(record) = records.next()? else {
                break;
            };
            replayer.apply(&record, |_| {})?;
            if (record.sequence - began) & 0xFFFF == 0 {
                progress.set(record.sequence - began);
            }
        }
        progress.finish();
    }
    let replayed = replayer.last_sequence() - began;
    Ok((replayer, replayed))
}
