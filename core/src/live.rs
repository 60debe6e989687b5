//! Live results: the frames of the WebSocket API, who may watch a poll, and the rule that
//! bounds the pushes per poll (coalescing).
//!
//! **Coalescing.** A poll's live mark records when its results were last pushed and
//! whether a trailing push is scheduled. After a tally batch that changed the poll, the
//! results are pushed at once if the last push is a window old; otherwise one trailing
//! push is scheduled for the end of the window, unless one is scheduled already. The
//! mark is shared state (a conditional write on it decides, whichever tally shard asks),
//! so a poll gets at most one push per window from any number of shards. Invariant: after
//! the last change of a poll, a push runs that reads the results after that change. A
//! change either starts a push that reads later, or falls inside a window whose trailing
//! push is scheduled for after it and reads the results when it runs.

use serde::{Deserialize, Serialize};

pub use crate::polls::may_watch;
use crate::{
    access::Principal,
    polls::{Poll, ResultsVisibility, Status},
};

/// API Gateway's largest WebSocket frame.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// Partition keys the watchers of one poll are spread over, so that reading them (once
/// per push) is never a hot key: 100,000 watchers are 6,250 per key.
pub const WATCHER_SHARDS: u32 = 16;

/// API Gateway ends a WebSocket connection after 2 hours.
pub const CONNECTION_SECS: u64 = 2 * 60 * 60;

/// An open WebSocket connection, as recorded at `$connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    /// The token's holder (`None`: anonymous).
    pub watcher: Option<Principal>,
    /// When the token expires (epoch seconds): the connection is closed then.
    pub token_expires_at: Option<u64>,
    /// When API Gateway ends the connection at the latest (epoch seconds).
    pub expires_at: u64,
}

impl Connection {
    /// A connection opened at `now` by `watcher`, whose token expires at `token_expires_at`.
    pub fn opened(id: &str, watcher: Option<Principal>, token_expires_at: Option<u64>, now: u64) -> Self {
        Self { id: id.to_owned(), watcher, token_expires_at, expires_at: now + CONNECTION_SECS }
    }

    /// Whether its token has expired by `now`.
    pub fn token_expired(&self, now: u64) -> bool {
        self.token_expires_at.is_some_and(|at| at <= now)
    }
}

/// A connection watching a poll, as recorded at `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    pub connection_id: String,
    /// The strictest `results_visibility` under which it still sees the poll's results
    /// ([`admission`]).
    pub admitted: ResultsVisibility,
}

/// The strictest `results_visibility` under which `watcher` would see `poll`'s results
/// while it runs: `Owner` for its owner and admins, `AfterVote` for a voter, `Always`
/// for anyone else. Recorded with a subscription, since the owner may hide results
/// after watchers came (visibility may narrow once voting started, never widen).
pub fn admission(poll: &Poll, watcher: Option<&Principal>, has_voted: bool) -> ResultsVisibility {
    use ResultsVisibility::{AfterClose, AfterVote, Always, Owner};
    let open_with = |visibility| Poll { results_visibility: visibility, status: Status::Open, ..poll.clone() };
    [Owner, AfterClose, AfterVote].into_iter().find(|v| may_watch(&open_with(*v), watcher, has_voted)).unwrap_or(Always)
}

/// Who sees `poll`'s results now, as the strictest admission needed: its
/// `results_visibility`, or `Always` once it is closed (unless only its owner sees them).
pub fn audience(poll: &Poll) -> ResultsVisibility {
    match (poll.status, poll.results_visibility) {
        (Status::Closed, visibility) if visibility != ResultsVisibility::Owner => ResultsVisibility::Always,
        (_, visibility) => visibility,
    }
}

impl Watcher {
    /// Whether it sees results that `audience` may see.
    pub fn sees(&self, audience: ResultsVisibility) -> bool {
        audience <= self.admitted
    }
}

/// What a client sends, selected on `action` (API Gateway's `$request.body.action`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Subscribe { poll_id: String },
    Unsubscribe { poll_id: String },
    Ping {},
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// The poll's results: the body of `GET …/results` and its ETag.
    Results {
        poll_id: String,
        etag: String,
        results: serde_json::Value,
    },
    /// A refusal or failure, as a problem+json object.
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        poll_id: Option<String>,
        problem: serde_json::Value,
    },
    Pong,
    /// The poll closed: its final frame; the subscription ends.
    Closed {
        poll_id: String,
    },
    /// The poll was deleted: its final frame; the subscription ends.
    Deleted {
        poll_id: String,
    },
}

impl Frame {
    /// The frame as sent (JSON).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("frames serialize")
    }
}

/// How a poll's watching ends: its final frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Closed: a last `results` frame, then `closed`.
    Closed,
    /// Deleted: `deleted`.
    Deleted,
}

/// SQS's longest delay: a later push or expiry is sent again when its delay ends.
pub const MAX_DELAY_SECS: u64 = 900;

/// How long after a closing its final frames are sent: ballots cast before it reach the
/// counts within the stream tally's delay (about a second), so the last `results` frame
/// counts them. One folded later still (a tally retrying) is in `GET …/results`.
pub const CLOSE_DELAY_SECS: u64 = 5;

/// Watchers read per page, and so frames sent per page of one shard: bounds the work of
/// one message of the live queue (a push's first message reads the first page of every
/// shard; each further page is a message of its own).
pub const PAGE: u32 = 250;

/// A message of the live queue: a push to run, now or when its delay ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiveMessage {
    /// Push poll `poll_id`'s results to its watchers. `trailing_at_ms`: this is the
    /// trailing push the live mark scheduled for then (see the module).
    Results {
        poll_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trailing_at_ms: Option<u64>,
    },
    /// Send poll `poll_id`'s final frames and end its subscriptions.
    Final { poll_id: String, end: End },
    /// The rest of a push: `frames` to the watchers of shard `shard` from `start` (a page
    /// key, opaque) whose admission `audience` passes (the others get `hidden` and their
    /// subscription ends), ending every subscription if `end`.
    Page { poll_id: String, shard: u32, start: String, frames: Vec<String>, audience: ResultsVisibility, end: bool },
    /// Close connection `connection_id` at `at` (epoch seconds), when its token expires.
    Expire { connection_id: String, at: u64 },
}

impl LiveMessage {
    /// The poll it is about (none for an expiry).
    pub fn poll_id(&self) -> Option<&str> {
        match self {
            Self::Results { poll_id, .. } | Self::Final { poll_id, .. } | Self::Page { poll_id, .. } => Some(poll_id),
            Self::Expire { .. } => None,
        }
    }

    /// Its kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Results { .. } => "results",
            Self::Final { end: End::Closed, .. } => "closed",
            Self::Final { end: End::Deleted, .. } => "deleted",
            Self::Page { .. } => "page",
            Self::Expire { .. } => "expire",
        }
    }
}

/// The delay of a message sent at `now_ms` for `at_ms`: whole seconds, rounded up so it is
/// never early, at most [`MAX_DELAY_SECS`].
pub fn delay_secs(now_ms: u64, at_ms: u64) -> u32 {
    let secs = at_ms.saturating_sub(now_ms).div_ceil(1000).min(MAX_DELAY_SECS);
    u32::try_from(secs).unwrap_or(MAX_DELAY_SECS as u32)
}

/// The partition of the watchers of a poll that connection `connection_id` is in.
pub fn watcher_shard(connection_id: &str) -> u32 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, connection_id.as_bytes());
    let first: [u8; 4] = digest.as_ref()[..4].try_into().expect("SHA-256 has 32 bytes");
    u32::from_be_bytes(first) % WATCHER_SHARDS
}

/// A poll's live mark, as stored (`Default`: never pushed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveMark {
    /// When its results were last pushed (ms).
    pub pushed_at_ms: u64,
    /// When the scheduled trailing push runs, if one is (ms).
    pub trailing_at_ms: Option<u64>,
}

/// What a change of a poll's results calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Push now; the mark becomes `{pushed_at_ms: now}`.
    Now,
    /// Schedule a trailing push at `at_ms`; the mark keeps its push and records it.
    Trailing { at_ms: u64 },
    /// A trailing push scheduled for after now will read this change: nothing to do.
    Covered,
}

/// The push a change at `now_ms` calls for, given the poll's `mark` (none: never
/// pushed) and the coalescing `window_ms` (see the module).
pub fn next_push(mark: Option<&LiveMark>, now_ms: u64, window_ms: u64) -> Push {
    let Some(mark) = mark else { return Push::Now };
    if now_ms >= mark.pushed_at_ms.saturating_add(window_ms) {
        return Push::Now;
    }
    match mark.trailing_at_ms {
        Some(at) if at >= now_ms => Push::Covered,
        _ => Push::Trailing { at_ms: mark.pushed_at_ms + window_ms },
    }
}

/// The mark after `push` was decided at `now_ms` on `mark`.
pub fn marked(mark: Option<&LiveMark>, push: Push, now_ms: u64) -> Option<LiveMark> {
    match push {
        Push::Now => Some(LiveMark { pushed_at_ms: now_ms, trailing_at_ms: None }),
        Push::Trailing { at_ms } => Some(LiveMark { trailing_at_ms: Some(at_ms), ..mark.copied().unwrap_or_default() }),
        Push::Covered => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        access::{Role, TokenKind},
        polls::{Poll, Settings, Status},
    };

    #[test]
    fn given_client_frames_then_they_parse_by_action_and_strangers_are_refused() {
        let subscribe: Request = serde_json::from_str(r#"{"action":"subscribe","poll_id":"p1"}"#).unwrap();
        assert_eq!(subscribe, Request::Subscribe { poll_id: "p1".into() });
        assert_eq!(serde_json::from_str::<Request>(r#"{"action":"ping"}"#).unwrap(), Request::Ping {});
        for bad in [r#"{"action":"subscribe"}"#, r#"{"action":"ping","x":1}"#, r#"{"action":"shout"}"#, "[]"] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn given_server_frames_then_they_carry_their_type() {
        assert_eq!(Frame::Pong.to_text(), r#"{"type":"pong"}"#);
        assert_eq!(Frame::Closed { poll_id: "p1".into() }.to_text(), r#"{"type":"closed","poll_id":"p1"}"#);
        let error = Frame::Error { poll_id: None, problem: serde_json::json!({"status": 400}) };
        assert_eq!(error.to_text(), r#"{"type":"error","problem":{"status":400}}"#);
    }

    fn poll(visibility: &str, status: Status) -> Poll {
        let settings: Settings = serde_json::from_value(serde_json::json!({
            "question": "Q?", "options": [{"text": "A"}, {"text": "B"}], "results_visibility": visibility,
        }))
        .unwrap();
        let checked = settings.check(0).unwrap();
        let mut poll = Poll::new("p1".into(), "owner".into(), &settings, checked, "2026-12-01T00:00:00Z");
        poll.status = status;
        poll
    }

    fn someone(sub: &str, roles: &[Role]) -> Principal {
        Principal { sub: sub.into(), roles: roles.to_vec(), token_kind: TokenKind::Access, email_verified: false }
    }

    #[test]
    fn given_each_visibility_then_watchers_see_what_get_results_shows_them() {
        let always = poll("always", Status::Open);
        assert!(may_watch(&always, None, false), "anyone watches public results");
        let after_vote = poll("after_vote", Status::Open);
        assert!(!may_watch(&after_vote, None, false));
        assert!(!may_watch(&after_vote, Some(&someone("v", &[])), false));
        assert!(may_watch(&after_vote, Some(&someone("v", &[])), true));
        assert!(may_watch(&poll("after_vote", Status::Closed), None, false), "closed: visible to everyone");
        let owner_only = poll("owner", Status::Open);
        assert!(!may_watch(&owner_only, None, false));
        assert!(may_watch(&owner_only, Some(&someone("owner", &[])), false));
        assert!(may_watch(&owner_only, Some(&someone("x", &[Role::Admin])), false));
    }

    #[test]
    fn given_connections_then_they_spread_over_every_watcher_shard() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..1_000 {
            let shard = watcher_shard(&format!("conn-{n}="));
            assert!(shard < WATCHER_SHARDS);
            seen.insert(shard);
        }
        assert_eq!(seen.len(), WATCHER_SHARDS as usize);
    }

    /// Changes at `times` (ms) with a 1 s window: the pushes they make (at decision
    /// time, or at the scheduled time for trailing ones, which then run and mark).
    fn pushes(times: &[u64]) -> Vec<u64> {
        let window = 1_000;
        let (mut mark, mut sent, mut trailing): (Option<LiveMark>, Vec<u64>, Vec<u64>) = (None, vec![], vec![]);
        let mut events: Vec<u64> = times.to_vec();
        events.sort();
        let mut i = 0;
        loop {
            let next_trailing = trailing.first().copied();
            let next_change = events.get(i).copied();
            match (next_change, next_trailing) {
                (None, None) => return sent,
                (Some(change), t) if t.is_none_or(|t| change < t) => {
                    let push = next_push(mark.as_ref(), change, window);
                    if let Push::Trailing { at_ms } = push {
                        trailing.push(at_ms);
                    }
                    if push == Push::Now {
                        sent.push(change);
                    }
                    mark = marked(mark.as_ref(), push, change).or(mark);
                    i += 1;
                }
                (_, Some(at)) => {
                    trailing.remove(0);
                    sent.push(at);
                    mark = marked(mark.as_ref(), Push::Now, at);
                }
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn given_a_burst_of_changes_then_one_push_per_window_and_a_trailing_one_after_the_last() {
        let burst: Vec<u64> = (0..50).map(|n| 10_000 + n * 37).collect(); // 50 changes over 1.8 s
        let sent = pushes(&burst);
        assert_eq!(sent.first(), Some(&10_000), "the first change pushes at once");
        assert!(sent.windows(2).all(|w| w[1] >= w[0] + 1_000), "at most one push a window: {sent:?}");
        assert!(*sent.last().unwrap() >= *burst.last().unwrap(), "a push reads after the last change: {sent:?}");
        assert_eq!(sent, [10_000, 11_000, 12_000], "1.8 s of changes: three pushes");
    }

    #[test]
    fn given_a_quiet_poll_then_each_change_pushes_at_once() {
        assert_eq!(pushes(&[0, 5_000, 9_000]), [0, 5_000, 9_000]);
        assert_eq!(pushes(&[0, 500]), [0, 1_000], "a change inside the window gets a trailing push");
    }
}
