//! The vote path's copy of each poll, kept per warm function for at most
//! [`CACHE_TTL_MS`], so a hot poll's item is read about once a second per function
//! instead of once per vote.
//!
//! Invariant (what [`ballot_core::counting`] relies on): a copy handed out was read,
//! strongly consistent, by a request that *started* less than [`CACHE_TTL_MS`] ago, so
//! it misses no write committed more than that long ago. A consistent read
//! (`consistent = true`, a retry) always goes to the table and refreshes the copy;
//! marking voting started updates the copy, so a function marks a poll at most once.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use ballot_core::{
    Error,
    counting::CACHE_TTL_MS,
    polls::{Poll, StoredPoll},
    ports::Polls,
};

/// Copies kept at most; beyond it, expired copies go first, then all.
const CAPACITY: usize = 1024;

/// [`Polls`] over `P`, with cached reads for the vote path.
pub struct PollCache<P> {
    polls: P,
    copies: Mutex<HashMap<String, (Instant, StoredPoll)>>,
}

impl<P: Polls> PollCache<P> {
    pub fn new(polls: P) -> Self {
        Self { polls, copies: Mutex::new(HashMap::new()) }
    }

    fn fresh(&self, id: &str) -> Option<StoredPoll> {
        let copies = self.copies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (read_at, stored) = copies.get(id)?;
        (read_at.elapsed() < Duration::from_millis(CACHE_TTL_MS)).then(|| stored.clone())
    }

    fn keep(&self, id: &str, read_at: Instant, stored: Option<&StoredPoll>) {
        let mut copies = self.copies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(stored) = stored else {
            copies.remove(id);
            return;
        };
        if copies.len() >= CAPACITY {
            copies.retain(|_, (at, _)| at.elapsed() < Duration::from_millis(CACHE_TTL_MS));
            if copies.len() >= CAPACITY {
                copies.clear();
            }
        }
        copies.insert(id.to_owned(), (read_at, stored.clone()));
    }
}

impl<P: Polls> Polls for PollCache<P> {
    async fn poll(&self, id: &str, consistent: bool) -> Result<Option<StoredPoll>, Error> {
        if !consistent && let Some(stored) = self.fresh(id) {
            return Ok(Some(stored));
        }
        let read_at = Instant::now();
        let stored = self.polls.poll(id, true).await?;
        self.keep(id, read_at, stored.as_ref());
        Ok(stored)
    }

    async fn replace_poll(&self, read: &StoredPoll, next: &StoredPoll, delete: bool) -> Result<bool, Error> {
        self.copies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&read.poll.id);
        self.polls.replace_poll(read, next, delete).await
    }

    async fn start_voting(&self, read: &StoredPoll) -> Result<bool, Error> {
        let started = self.polls.start_voting(read).await?;
        let mut copies = self.copies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, copy)) =
            copies.get_mut(&read.poll.id).filter(|(_, copy)| copy.poll.version == read.poll.version)
        {
            // Marked, or lost to a change of the poll: either way not to be marked again from this copy.
            if started {
                copy.voting_started = true;
            } else {
                copies.remove(&read.poll.id);
            }
        }
        Ok(started)
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Poll>, Error> {
        self.polls.tombstone(id).await
    }

    async fn create_poll(&self, poll: &Poll) -> Result<(), Error> {
        self.polls.create_poll(poll).await
    }
}
