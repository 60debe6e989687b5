//! In-memory tally items and counting rules, for the tally's tests. An item's write is
//! conditional on its shard's watermark exactly as the table's is; a test can run a
//! racing writer right before the next write ([`Items::before_next_apply`]) or make a
//! write fail as a crash would ([`Items::fail_apply`]).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use crate::{
    Error,
    counting::Openings,
    ports::{CountingRules, Result, TallyItems, Written},
    tally::{Delta, Item, Seq, Watermark},
};

/// One item: its counters and its watermarks by shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub counters: BTreeMap<String, i64>,
    pub watermarks: BTreeMap<String, Watermark>,
}

type Hook = Box<dyn FnOnce(&mut State) + Send>;

#[derive(Default)]
pub struct State {
    pub items: BTreeMap<Item, Stored>,
    pub openings: HashMap<String, Openings>,
    pub deleted: HashSet<String>,
    /// Ballots removed as late ones, (poll, voter), in order.
    pub removed_ballots: Vec<(String, String)>,
    /// Item writes done.
    pub applied: usize,
}

impl State {
    /// Adds `delta` to `item` for `shard`, as the conditional write does once it holds.
    pub fn write(&mut self, item: &Item, shard: &str, delta: &Delta, prune: &[&str], now: u64) {
        let stored = self.items.entry(item.clone()).or_default();
        for (name, by) in &delta.counters {
            *stored.counters.entry(name.clone()).or_default() += by;
        }
        for shard in prune {
            stored.watermarks.remove(*shard);
        }
        stored.watermarks.insert(shard.to_owned(), Watermark { seq: delta.last.clone(), at: now });
        self.applied += 1;
    }
}

#[derive(Default)]
pub struct Items {
    state: Mutex<State>,
    hook: Mutex<Option<Hook>>,
    /// Item writes that fail from this many on (a crash).
    fail_from: Mutex<Option<usize>>,
}

impl Items {
    /// Polls `ids`, open all the time.
    pub fn with_polls(ids: &[&str]) -> Self {
        let items = Self::default();
        for id in ids {
            items.state().openings.insert((*id).to_owned(), Openings::default());
        }
        items
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn before_next_apply(&self, writer: impl FnOnce(&mut State) + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(writer));
    }

    /// Every item write from the `n`th (0-based, counted from now) fails.
    pub fn fail_apply(&self, n: usize) {
        *self.fail_from.lock().unwrap() = Some(self.state().applied + n);
    }

    pub fn heal(&self) {
        *self.fail_from.lock().unwrap() = None;
    }

    /// Counter `name` summed over every counts item of `poll_id`.
    pub fn count(&self, poll_id: &str, name: &str) -> i64 {
        let state = self.state();
        let items =
            state.items.iter().filter(|(item, _)| matches!(item, Item::Counts { .. }) && item.poll_id() == poll_id);
        items.map(|(_, stored)| stored.counters.get(name).copied().unwrap_or_default()).sum()
    }

    /// Counter `name` of `poll_id` in `hour`, summed over buckets.
    pub fn hourly(&self, poll_id: &str, hour: &str, name: &str) -> i64 {
        let state = self.state();
        let items = state
            .items
            .iter()
            .filter(|(item, _)| matches!(item, Item::Hour { poll_id: p, hour: h, .. } if p == poll_id && h == hour));
        items.map(|(_, stored)| stored.counters.get(name).copied().unwrap_or_default()).sum()
    }
}

impl TallyItems for Items {
    async fn watermarks(&self, item: &Item) -> Result<Option<BTreeMap<String, Watermark>>> {
        let state = self.state();
        if state.deleted.contains(item.poll_id()) {
            return Ok(None);
        }
        Ok(Some(state.items.get(item).map(|s| s.watermarks.clone()).unwrap_or_default()))
    }

    async fn apply(
        &self,
        item: &Item,
        shard: &str,
        expected: Option<&Seq>,
        delta: &Delta,
        prune: &[&str],
        now: u64,
    ) -> Result<Written> {
        let hook = self.hook.lock().unwrap().take();
        let mut state = self.state();
        if let Some(hook) = hook {
            hook(&mut state);
        }
        if self.fail_from.lock().unwrap().is_some_and(|n| state.applied >= n) {
            return Err(Error::Unavailable("injected failure".into()));
        }
        if state.deleted.contains(item.poll_id()) {
            return Ok(Written::Gone);
        }
        let current = state.items.get(item).and_then(|s| s.watermarks.get(shard)).map(|m| &m.seq);
        if current != expected {
            return Ok(Written::Raced);
        }
        state.write(item, shard, delta, prune, now);
        Ok(Written::Done)
    }

    async fn remove_late_ballots(&self, poll_id: &str, voters: &[&str]) -> Result<()> {
        let mut state = self.state();
        state.removed_ballots.extend(voters.iter().map(|v| (poll_id.to_owned(), (*v).to_owned())));
        Ok(())
    }
}

impl CountingRules for Items {
    async fn openings(&self, poll_id: &str) -> Result<Option<Openings>> {
        let state = self.state();
        Ok(state.openings.get(poll_id).filter(|_| !state.deleted.contains(poll_id)).cloned())
    }
}
