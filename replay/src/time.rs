//! Times on the command line and in output: ISO-8601 UTC with nanoseconds
//! out, several spellings in, and finding the records at a time.
//!
//! The journal's timestamps are the ingress stamps, in nanoseconds since
//! the Unix epoch, non-decreasing along the log (with `--clock sequence`
//! they are the sequence numbers themselves). Seeking by time is a binary
//! search over sequences, each probe a seek through the sparse index, never
//! a scan.

use engine::history::History;
use jiff::Timestamp;

use crate::Error;

/// `ts` as ISO-8601 UTC with nanoseconds: `2026-11-29T10:31:05.123456789Z`.
pub fn format_ts(ns: u64) -> String {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => format!("{ts:.9}"),
        Err(_) => ns.to_string(),
    }
}

/// Parses a time: RFC 3339 (`2026-11-29T10:31:05Z`, any offset, any
/// fraction), a date and time without a zone (taken as UTC), a time of day
/// alone (`10:31:05.5`, UTC, on the day of `day_of` in ns), or an integer
/// count of nanoseconds since the Unix epoch.
pub fn parse_time(text: &str, day_of: u64) -> Result<u64, String> {
    let text = text.trim();
    let to_ns = |ts: Timestamp| u64::try_from(ts.as_nanosecond()).ok();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().map_err(|e| e.to_string());
    }
    if let Some(ns) = text.parse::<Timestamp>().ok().and_then(to_ns) {
        return Ok(ns);
    }
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>()
        && let Some(ns) = civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
            .and_then(to_ns)
    {
        return Ok(ns);
    }
    if let Ok(time) = text.parse::<jiff::civil::Time>() {
        let day = Timestamp::from_nanosecond(i128::from(day_of))
            .map(|ts| ts.to_zoned(jiff::tz::TimeZone::UTC).date())
            .map_err(|e| e.to_string())?;
        let ns = day
            .to_datetime(time)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
            .and_then(to_ns);
        if let Some(ns) = ns {
            return Ok(ns);
        }
    }
    Err(format!(
        "{text:?} is not a time; write e.g. 2026-11-29T10:31:05Z, 2026-11-29T10:31:05.25, \
         10:31:05 (UTC, on the journal's last day) or nanoseconds since the epoch"
    ))
}

/// The timestamp of record `sequence`.
pub fn ts_at(history: &History, sequence: u64) -> Result<u64, Error> {
    let mut cursor = history.reader().read_from(sequence)?;
    match cursor.next()? {
        Some(record) => Ok(record.meta().timestamp_ns),
        None => Err(Error::Usage(format!(
            "sequence {sequence} is past the end of the journal"
        ))),
    }
}

/// The first sequence in `first..end` whose timestamp is at or after `ns`;
/// `end` if none is.
pub fn first_at_or_after(history: &History, first: u64, end: u64, ns: u64) -> Result<u64, Error> {
    let (mut low, mut high) = (first, end);
    while low < high {
        let mid = low + (high - low) / 2;
        if ts_at(history, mid)? < ns {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    const DAY: u64 = 1_795_901_465_123_456_789; // 2026-11-28T21:31:05.123456789Z

    #[test]
    fn formats_with_nanoseconds() {
        assert_eq!(format_ts(DAY), "2026-11-28T21:31:05.123456789Z");
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn parses_every_documented_spelling() {
        assert_eq!(parse_time("2026-11-28T21:31:05.123456789Z", 0), Ok(DAY));
        assert_eq!(
            parse_time("2026-11-28T22:31:05.123456789+01:00", 0),
            Ok(DAY)
        );
        assert_eq!(parse_time("2026-11-28T21:31:05.123456789", 0), Ok(DAY));
        assert_eq!(
            parse_time("21:31:05.123456789", DAY - 3_600_000_000_000),
            Ok(DAY)
        );
        assert_eq!(parse_time("1795901465123456789", 0), Ok(DAY));
        let err = parse_time("yesterday", 0).unwrap_err();
        assert!(err.contains("2026-11-29T10:31:05Z"), "{err}");
    }
}
