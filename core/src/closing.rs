//! Closing a poll when it reaches `closes_at`, announced once.
//!
//! - Writers of `closes_at` (create-poll, update-poll) put one EventBridge Scheduler
//!   one-time schedule per (poll, closing time, poll version that sets it) *before* they
//!   write it ([`Schedules`]), so every committed closing time has its schedule. Once the
//!   write is committed, update-poll removes the schedules of older versions; a newer
//!   writer's schedule is never among them, whatever the order of two changes. A schedule
//!   whose poll was never written, was deleted, or has another closing time since is
//!   stale and changes nothing.
//! - The scheduler runs a schedule within the minute its time names, so a schedule is set
//!   to the first whole minute at or after `closes_at` ([`fires_at`]): never early.
//! - At that time the schedule sends a [`ClosingTime`] to the events queue, and the
//!   events consumer calls [`close`].
//! - [`crate::managing::close_when_due`] closes the poll, conditional on the version it
//!   read; the tally relays `poll.closed` from that write's stream record. When the poll
//!   is closed already (a redelivered message, or a close by hand) it changes nothing. A
//!   closing time more than [`EARLY_GRACE_SECS`] ahead closes nothing: only a stray
//!   message can be that early.
//!
//! Whatever the schedule's delay, readers never see an open poll past `closes_at`
//! ([`crate::polls::Poll::effective`]): the schedule is for the announcement and the
//! stored status.

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a closing schedule sends to the events queue. Not an event: webhooks cannot
/// subscribe to it; they get the `poll.closed` it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosingTime {
    /// The poll to close.
    pub closing_poll: String,
    /// Its `closes_at` when the schedule was made, epoch seconds.
    pub closes_at: u64,
}

/// How early a [`ClosingTime`] may arrive and still close its poll: the clocks of the
/// scheduler and of this Lambda may differ a little (schedules are set at or after
/// `closes_at`, see [`fires_at`]).
pub const EARLY_GRACE_SECS: u64 = 5;

/// When the schedule of a closing at `closes_at` (epoch seconds) is set to run: the first
/// whole minute at or after it, as the scheduler may run anywhere in the minute named.
pub fn fires_at(closes_at: u64) -> u64 {
    closes_at.div_ceil(60) * 60
}

/// The schedule expression of a one-time schedule at `epoch` seconds (UTC):
/// `at(2027-01-01T12:00:00)`.
pub fn at_expression(epoch: u64) -> String {
    let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string();
    format!("at({})", text.trim_end_matches('Z'))
}

/// When a one-time schedule expression (UTC) fires, in epoch seconds; `None` for any other
/// expression.
pub fn at_epoch(expression: &str) -> Option<u64> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let at = humantime::parse_rfc3339(&format!("{inner}Z")).ok()?;
    at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// The schedule name of poll `poll_id`'s closing at `closes_at` as set by its version
/// `version`: one per triple, so scheduling it twice is a no-op, and two writers of
/// different versions never share a schedule.
pub fn schedule_name(poll_id: &str, closes_at: u64, version: u64) -> String {
    format!("{}{closes_at}-v{version}", schedule_prefix(poll_id))
}

/// The poll version in a [`schedule_name`]; `None` for any other name.
pub fn schedule_version(name: &str) -> Option<u64> {
    name.rsplit_once("-v")?.1.parse().ok()
}

/// What the names of every closing schedule of poll `poll_id` start with (poll ids have
/// one length, so no other poll's names do).
pub fn schedule_prefix(poll_id: &str) -> String {
    format!("close-{poll_id}-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_epoch_when_written_as_a_schedule_then_it_reads_back() {
        assert_eq!(at_expression(1_798_804_800), "at(2027-01-01T12:00:00)");
        assert_eq!(at_epoch("at(2027-01-01T12:00:00)"), Some(1_798_804_800));
        for other in ["rate(5 minutes)", "cron(0 12 * * ? *)", "at(2027-01-01)", "at(soon)"] {
            assert_eq!(at_epoch(other), None, "{other}");
        }
    }

    #[test]
    fn given_a_closing_time_when_scheduled_then_it_fires_at_the_next_whole_minute_or_then() {
        assert_eq!(fires_at(1_798_804_800), 1_798_804_800);
        assert_eq!(fires_at(1_798_804_801), 1_798_804_860);
        assert_eq!(fires_at(1_798_804_859), 1_798_804_860);
    }

    #[test]
    fn given_a_poll_when_named_then_names_are_valid_and_scoped_to_it() {
        let id = crate::ids::random_id();
        let name = schedule_name(&id, 1_798_804_800, u64::MAX);
        assert!(name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "{name}");
        assert!(name.starts_with(&schedule_prefix(&id)));
        assert_eq!(schedule_version(&name), Some(u64::MAX));
        assert_eq!(schedule_version(&schedule_name(&id, 1_798_804_800, 7)), Some(7));
        assert_eq!(schedule_version(&format!("{}1798804800", schedule_prefix(&id))), None);
    }

    #[test]
    fn given_a_closing_time_when_read_then_unknown_fields_are_refused() {
        let due: ClosingTime = serde_json::from_str(r#"{"closing_poll":"p","closes_at":5}"#).unwrap();
        assert_eq!(due, ClosingTime { closing_poll: "p".into(), closes_at: 5 });
        assert!(serde_json::from_str::<ClosingTime>(r#"{"closing_poll":"p","closes_at":5,"x":1}"#).is_err());
    }
}
