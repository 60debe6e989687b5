//! What ballot tells the rest of the system: typed events on the events queue.
//!
//! Invariants: an event's `id` is derived from what it announces (a ballot's version, a
//! poll's closing version, a deletion), never random, so publishing it again after a
//! failure or a retried request yields the same id and consumers de-duplicate on it.
//! Events are relayed from the table's stream once the change they announce is committed
//! ([`crate::relaying`], through [`crate::ports::Outbox`]); a batch relayed again relays
//! the same events, with the same ids.

use serde::{Deserialize, Serialize};

use crate::ids::sha256_hex;

/// The kinds of event, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "vote.cast")]
    VoteCast,
    #[serde(rename = "vote.changed")]
    VoteChanged,
    #[serde(rename = "poll.closed")]
    PollClosed,
    #[serde(rename = "poll.deleted")]
    PollDeleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VoteCast => "vote.cast",
            Self::VoteChanged => "vote.changed",
            Self::PollClosed => "poll.closed",
            Self::PollDeleted => "poll.deleted",
        }
    }
}

/// What the events queue carries: events, and what closing schedules send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Message {
    Event(Event),
    ClosingTime(crate::closing::ClosingTime),
}

/// One event on the events queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Stable: the same change always has the same id (`evt_…`).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub poll_id: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// What the change was: for votes `{"option_ids", "cast_at"}`, for polls the poll.
    pub data: serde_json::Value,
}

impl Event {
    /// A poll-level event; its id is stable per poll, kind and `version` (the poll's
    /// version the change produced).
    pub fn of_poll(kind: EventKind, poll: &crate::polls::Poll, version: u64) -> Self {
        let id = stable_id(&format!("{}\n{}\n{version}", kind.as_str(), poll.id));
        let data = serde_json::to_value(poll).unwrap_or_default();
        Self { id, kind, poll_id: poll.id.clone(), occurred_at: crate::clock::rfc3339_now(), data }
    }
}

/// An event id derived from `what` (the announced change, spelled out): `evt_` and 32 hex
/// digits of its SHA-256.
pub fn stable_id(what: &str) -> String {
    format!("evt_{}", &sha256_hex(what)[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_event_when_serialised_then_the_wire_names_are_used_and_unknown_fields_refused() {
        let event = Event {
            id: "evt_1".into(),
            kind: EventKind::VoteCast,
            poll_id: "p".into(),
            occurred_at: "2027-01-01T00:00:00Z".into(),
            data: serde_json::json!({}),
        };
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""type":"vote.cast""#));
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
        assert!(serde_json::from_str::<Event>(&text.replace("vote.cast", "vote.eaten")).is_err());
        assert!(serde_json::from_str::<Event>(&text.replace(r#""id""#, r#""extra":1,"id""#)).is_err());
    }
}
