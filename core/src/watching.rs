//! Watching a poll's live results: the use cases of the WebSocket routes over the
//! [`Watchers`] port (the rules are [`crate::live`]).

use crate::{
    Error,
    clock::Clock,
    live::{admission, may_watch},
    polls::Results,
    ports::{Ballots, Polls, Result, Tallies, Watchers},
    results::read_results,
};

/// Connection `connection_id` subscribes to poll `poll_id`: the poll's current results,
/// if the connection's watcher may see them ([`may_watch`], as `GET …/results` decides).
/// The subscription is recorded, with the watcher's [`admission`], before the results
/// are read, so no push after the read can miss it; a refusal by that read (the poll
/// changed meanwhile) takes it back, a failure leaves it (it may be an earlier one). A
/// connection unknown, expired or whose token has expired is `Unauthenticated`.
pub async fn subscribe(
    polls: &impl Polls,
    ballots: &impl Ballots,
    tallies: &impl Tallies,
    watchers: &impl Watchers,
    clock: &impl Clock,
    connection_id: &str,
    poll_id: &str,
) -> Result<Results> {
    let now = clock.epoch_secs();
    let connection = watchers.connection(connection_id, now).await?.ok_or(Error::Unauthenticated)?;
    if connection.token_expired(now) {
        return Err(Error::Unauthenticated);
    }
    let watcher = connection.watcher.as_ref();
    let poll = polls.poll(poll_id, false).await?.ok_or(Error::NotFound)?.poll.effective(now);
    let has_voted = match watcher {
        Some(watcher) => ballots.ballot(poll_id, &watcher.sub).await?.is_some(),
        None => false,
    };
    if !may_watch(&poll, watcher, has_voted) {
        return Err(Error::ResultsHidden);
    }
    watchers.watch(&connection, poll_id, admission(&poll, watcher, has_voted)).await?;
    match read_results(polls, ballots, tallies, clock, poll_id, watcher).await {
        Ok((results, _)) => Ok(results),
        Err(refused @ (Error::ResultsHidden | Error::NotFound | Error::Forbidden | Error::Unauthenticated)) => {
            if let Err(err) = watchers.unwatch(connection_id, poll_id).await {
                tracing::warn!(error = %err, "a refused subscription was not taken back; it expires with its connection");
            }
            Err(refused)
        }
        Err(failed) => Err(failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        access::{Principal, Role, TokenKind},
        live::Connection,
        polls::{Poll, Settings},
    };

    fn poll(id: &str, visibility: &str) -> Poll {
        let settings: Settings = serde_json::from_value(serde_json::json!({
            "question": "Q?", "options": [{"text": "A"}, {"text": "B"}], "results_visibility": visibility,
        }))
        .unwrap();
        let checked = settings.check(0).unwrap();
        Poll::new(id.into(), "owner".into(), &settings, checked, "2026-12-01T00:00:00Z")
    }

    fn someone(sub: &str, roles: &[Role]) -> Principal {
        Principal { sub: sub.into(), roles: roles.to_vec(), token_kind: TokenKind::Access, email_verified: false }
    }

    #[tokio::test]
    async fn given_connections_when_they_subscribe_then_results_for_those_who_may_see_them() {
        use crate::{clock::Fixed, memory::Memory};
        let now = 1_800_000_000;
        let memory = Memory::with_poll(poll("open", "always"));
        memory.state().polls.insert("hidden".into(), crate::polls::StoredPoll::new(poll("hidden", "after_vote")));
        let clock = Fixed::at(now);
        let anonymous = Connection::opened("c1", None, None, now);
        let expired = Connection::opened("c2", Some(someone("v", &[])), Some(now - 1), now);
        for connection in [&anonymous, &expired] {
            Watchers::connected(&memory, connection).await.unwrap();
        }
        let watch = |id: &'static str, poll: &'static str| {
            let memory = &memory;
            let clock = &clock;
            async move { subscribe(memory, memory, memory, memory, clock, id, poll).await }
        };
        assert_eq!(watch("c1", "open").await.unwrap().poll_id, "open");
        assert!(matches!(watch("c1", "hidden").await, Err(Error::ResultsHidden)));
        assert!(matches!(watch("c2", "open").await, Err(Error::Unauthenticated)), "its token expired");
        assert!(matches!(watch("c9", "open").await, Err(Error::Unauthenticated)), "no such connection");
        assert!(matches!(watch("c1", "gone").await, Err(Error::NotFound)));
        let watching: Vec<_> = memory.state().watching.keys().cloned().collect();
        assert_eq!(watching, [("c1".to_owned(), "open".to_owned())], "refusals leave no subscription");
        Watchers::disconnected(&memory, "c1").await.unwrap();
        assert!(memory.state().watching.is_empty());
    }
}
