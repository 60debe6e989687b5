//! In-memory adapters of every port, for the use cases' unit tests. They keep the
//! stores' conditions exactly (what DynamoDB checks in the same write), and let a test
//! run a racing writer between a use case's read and its write ([`Memory::before_next_write`])
//! or make the next write lose a race ([`Memory::race_next_write`]).

pub mod identity;
pub mod live;
pub mod tally;

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::{
    ballots::{Ballot, StoredBallot},
    clock::{Clock, Fixed},
    counting::Tally,
    idempotency::{IdempotencyRecords, RETENTION_SECS, Record, Replay},
    polls::{Kind, OptionText, Poll, ResultsVisibility, Settings, StoredPoll, Visibility},
    ports::{Ballots, Polls, Recorded, Result, Schedules, Tallies, Watchers, Webhooks},
    webhooks::Webhook,
};

/// What the in-memory table holds.
#[derive(Default)]
pub struct State {
    pub polls: HashMap<String, StoredPoll>,
    pub deleted: HashMap<String, Poll>,
    pub ballots: HashMap<(String, String), StoredBallot>,
    /// Closing schedules: (poll, closes_at, version).
    pub schedules: Vec<(String, u64, u64)>,
    /// Webhooks: (poll, webhook, secret).
    pub webhooks: Vec<(String, Webhook, String)>,
    /// Idempotency records: the record, its lock's end, when it was kept from.
    pub records: HashMap<String, (Record, u64, u64)>,
    /// Live connections by id, and the (connection, poll) subscriptions with their admission.
    pub connections: HashMap<String, crate::live::Connection>,
    pub watching: std::collections::BTreeMap<(String, String), ResultsVisibility>,
    /// Live marks by poll (with their version), for polls someone watches.
    pub marks: HashMap<String, crate::ports::Marked>,
}

type Hook = Box<dyn FnOnce(&mut State) + Send>;

/// Every port at once, in memory.
#[derive(Default)]
pub struct Memory {
    pub state: Mutex<State>,
    hook: Mutex<Option<Hook>>,
    race: AtomicBool,
}

impl Memory {
    pub fn with_poll(poll: Poll) -> Self {
        let memory = Self::default();
        memory.state().polls.insert(poll.id.clone(), StoredPoll::new(poll));
        memory
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Runs `writer` on the table right before the next write: another writer that got
    /// there between the use case's read and its write.
    pub fn before_next_write(&self, writer: impl FnOnce(&mut State) + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(writer));
    }

    /// Makes the next write fail as a concurrent transaction would (`TransactionConflict`).
    pub fn race_next_write(&self) {
        self.race.store(true, Ordering::SeqCst);
    }

    /// Ballots counted and votes per option id, by the rule (what the tally reaches).
    pub fn counts(&self, poll_id: &str) -> (u64, HashMap<String, u64>) {
        let state = self.state();
        let Some(stored) = state.polls.get(poll_id) else { return Default::default() };
        let ballots = state.ballots.iter().filter(|((poll, _), _)| poll == poll_id).map(|(_, b)| b.ballot.as_counted());
        let tally = crate::counting::recount(&stored.openings(), ballots).expect("cast_at is a time");
        (tally.total, tally.votes)
    }

    /// The table at write time (after any racing writer), or `None` when the write races.
    fn writing(&self) -> Option<std::sync::MutexGuard<'_, State>> {
        let hook = self.hook.lock().unwrap().take();
        let mut state = self.state();
        if let Some(hook) = hook {
            hook(&mut state);
        }
        (!self.race.swap(false, Ordering::SeqCst)).then_some(state)
    }
}

impl Polls for Memory {
    async fn poll(&self, id: &str, _consistent: bool) -> Result<Option<StoredPoll>> {
        Ok(self.state().polls.get(id).cloned())
    }

    async fn replace_poll(&self, read: &StoredPoll, next: &StoredPoll, delete: bool) -> Result<bool> {
        let Some(mut state) = self.writing() else { return Ok(false) };
        let id = &read.poll.id;
        let unchanged = state
            .polls
            .get(id)
            .is_some_and(|p| p.poll.version == read.poll.version && p.voting_started == read.voting_started);
        if !unchanged {
            return Ok(false);
        }
        if delete {
            state.polls.remove(id);
            state.deleted.insert(id.clone(), next.poll.clone());
            return Ok(true);
        }
        state.polls.insert(id.clone(), next.clone());
        Ok(true)
    }

    async fn start_voting(&self, read: &StoredPoll) -> Result<bool> {
        let Some(mut state) = self.writing() else { return Ok(false) };
        let Some(stored) = state.polls.get_mut(&read.poll.id) else { return Ok(false) };
        if stored.poll.version != read.poll.version {
            return Ok(false);
        }
        stored.voting_started = true;
        Ok(true)
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Poll>> {
        Ok(self.state().deleted.get(id).cloned())
    }

    async fn create_poll(&self, poll: &Poll) -> Result<()> {
        let mut state = self.state();
        if state.polls.contains_key(&poll.id) {
            return Err(crate::Error::Conflict("A poll has this id.".into()));
        }
        state.polls.insert(poll.id.clone(), StoredPoll::new(poll.clone()));
        Ok(())
    }
}

impl Ballots for Memory {
    async fn ballot(&self, poll_id: &str, voter: &str) -> Result<Option<StoredBallot>> {
        Ok(self.state().ballots.get(&(poll_id.to_owned(), voter.to_owned())).cloned())
    }

    async fn record_new(&self, voter: &str, ballot: &Ballot) -> Result<Recorded> {
        let Some(mut state) = self.writing() else {
            return Err(crate::Error::Unavailable("The table is busy.".into()));
        };
        let key = (ballot.poll_id.clone(), voter.to_owned());
        if let Some(current) = state.ballots.get(&key) {
            return Ok(Recorded::Exists(current.clone()));
        }
        state.ballots.insert(key, StoredBallot { ballot: ballot.clone(), version: 1 });
        Ok(Recorded::Done)
    }

    async fn record_change(&self, voter: &str, current: &StoredBallot, ballot: &Ballot) -> Result<bool> {
        let Some(mut state) = self.writing() else { return Ok(false) };
        let key = (ballot.poll_id.clone(), voter.to_owned());
        if state.ballots.get(&key).map(|b| b.version) != Some(current.version) {
            return Ok(false);
        }
        state.ballots.insert(key, StoredBallot { ballot: ballot.clone(), version: current.version + 1 });
        Ok(true)
    }
}

impl Watchers for Memory {
    async fn connected(&self, connection: &crate::live::Connection) -> Result<()> {
        self.state().connections.insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn connection(&self, id: &str, now: u64) -> Result<Option<crate::live::Connection>> {
        Ok(self.state().connections.get(id).filter(|c| c.expires_at > now).cloned())
    }

    async fn watch(
        &self,
        connection: &crate::live::Connection,
        poll_id: &str,
        admitted: ResultsVisibility,
    ) -> Result<()> {
        let mut state = self.state();
        state.watching.insert((connection.id.clone(), poll_id.to_owned()), admitted);
        state.marks.entry(poll_id.to_owned()).or_default();
        Ok(())
    }

    async fn unwatch(&self, id: &str, poll_id: &str) -> Result<()> {
        self.state().watching.remove(&(id.to_owned(), poll_id.to_owned()));
        Ok(())
    }

    async fn disconnected(&self, id: &str) -> Result<()> {
        let mut state = self.state();
        state.connections.remove(id);
        state.watching.retain(|(connection, _), _| connection != id);
        Ok(())
    }

    /// Every watcher is in shard 0; a page key is the index of the page's first watcher.
    async fn watchers_page(
        &self,
        poll_id: &str,
        shard: u32,
        _now: u64,
        limit: u32,
        start: Option<&str>,
    ) -> Result<(Vec<crate::live::Watcher>, Option<String>)> {
        if shard != 0 {
            return Ok((Vec::new(), None));
        }
        let state = self.state();
        let all: Vec<_> = state.watching.iter().filter(|((_, poll), _)| poll == poll_id).collect();
        let from: usize = start.map_or(0, |s| s.parse().expect("a page key"));
        let to = (from + limit as usize).min(all.len());
        let page = all[from..to]
            .iter()
            .map(|((id, _), admitted)| crate::live::Watcher { connection_id: id.clone(), admitted: **admitted })
            .collect();
        Ok((page, (to < all.len()).then(|| to.to_string())))
    }
}

impl Tallies for Memory {
    async fn tally(&self, poll_id: &str) -> Result<Tally> {
        let (total, votes) = self.counts(poll_id);
        Ok(Tally { total, votes })
    }
}

impl Schedules for Memory {
    async fn schedule(&self, poll_id: &str, closes_at: u64, version: u64) -> Result<()> {
        let entry = (poll_id.to_owned(), closes_at, version);
        let mut state = self.state();
        if !state.schedules.contains(&entry) {
            state.schedules.push(entry);
        }
        Ok(())
    }

    async fn cancel_older(&self, poll_id: &str, version: u64) -> Result<usize> {
        let mut state = self.state();
        let before = state.schedules.len();
        state.schedules.retain(|(poll, _, v)| poll != poll_id || *v >= version);
        Ok(before - state.schedules.len())
    }
}

/// Webhooks a poll may have, as in the table.
pub const WEBHOOKS_PER_POLL: usize = 5;

impl Webhooks for Memory {
    async fn create_webhook(&self, poll_id: &str, webhook: &Webhook, secret: &str) -> Result<()> {
        let mut state = self.state();
        if state.webhooks.iter().filter(|(poll, ..)| poll == poll_id).count() >= WEBHOOKS_PER_POLL {
            return Err(crate::Error::Conflict("A poll has at most 5 webhooks; delete one first.".into()));
        }
        state.webhooks.push((poll_id.to_owned(), webhook.clone(), secret.to_owned()));
        Ok(())
    }
}

impl IdempotencyRecords for Memory {
    async fn lock(&self, key: &str, payload_hash: &str, lock_until: u64, now: u64) -> Result<bool> {
        let mut state = self.state();
        let free = match state.records.get(key) {
            None => true,
            Some((record, until, kept)) => {
                kept + RETENTION_SECS < now || (matches!(record, Record::InProgress { .. }) && *until < now)
            }
        };
        if free {
            let record = Record::InProgress { payload_hash: payload_hash.to_owned() };
            state.records.insert(key.to_owned(), (record, lock_until, now));
        }
        Ok(free)
    }

    async fn record(&self, key: &str) -> Result<Option<Record>> {
        Ok(self.state().records.get(key).map(|(record, ..)| record.clone()))
    }

    async fn complete(&self, key: &str, payload_hash: &str, response: Replay, now: u64) -> Result<()> {
        let record = Record::Completed { payload_hash: payload_hash.to_owned(), response };
        self.state().records.insert(key.to_owned(), (record, 0, now));
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        self.state().records.remove(key);
        Ok(())
    }
}

/// When the tests run, by their clock.
pub const NOW: u64 = 1_800_000_000;

/// The settings of a single-choice poll "Lunch?" with these options, defaults otherwise.
pub fn settings(options: &[&str]) -> Settings {
    Settings {
        question: "Lunch?".into(),
        options: options.iter().map(|t| OptionText { text: (*t).into() }).collect(),
        kind: Kind::Single,
        min_choices: None,
        max_choices: None,
        visibility: Visibility::Unlisted,
        voters: None,
        allow_guests: None,
        results_visibility: ResultsVisibility::Always,
        allow_vote_change: false,
        closes_at: None,
    }
}

/// An open single-choice poll `p1` of `owner` with these options, made at [`NOW`].
pub fn open_poll(options: &[&str]) -> Poll {
    let settings = settings(options);
    let checked = settings.check(NOW).expect("valid settings");
    Poll::new("p1".into(), "owner".into(), &settings, checked, &Fixed::at(NOW).rfc3339_now())
}
