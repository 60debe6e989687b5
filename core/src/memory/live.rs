//! The live ports in memory: marks (in [`super::State`]), a queue that keeps what it is
//! sent, and connections that keep the frames they get.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use super::Memory;
use crate::{
    live::{LiveMark, LiveMessage},
    ports::{Connections, LiveMarks, LiveQueue, Marked, Result},
};

impl LiveMarks for Memory {
    async fn live_mark(&self, poll_id: &str, _now: u64) -> Result<Option<Marked>> {
        Ok(self.state().marks.get(poll_id).copied())
    }

    async fn replace_live_mark(&self, poll_id: &str, read: &Marked, mark: &LiveMark) -> Result<bool> {
        let Some(mut state) = self.writing() else { return Ok(false) };
        match state.marks.get_mut(poll_id) {
            Some(stored) if stored.version == read.version => {
                *stored = Marked { mark: *mark, version: read.version + 1 };
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The messages sent, with their delays.
#[derive(Default)]
pub struct Queue {
    pub sent: Mutex<Vec<(LiveMessage, u32)>>,
}

impl Queue {
    /// Takes the messages sent so far.
    pub fn take(&self) -> Vec<(LiveMessage, u32)> {
        std::mem::take(&mut self.sent.lock().unwrap())
    }
}

impl LiveQueue for Queue {
    async fn send_live(&self, message: &LiveMessage, delay_secs: u32) -> Result<()> {
        self.sent.lock().unwrap().push((message.clone(), delay_secs));
        Ok(())
    }
}

/// Open connections and the frames each got; a connection not open is gone (`410`).
#[derive(Default)]
pub struct Clients {
    pub open: Mutex<BTreeSet<String>>,
    pub frames: Mutex<BTreeMap<String, Vec<String>>>,
}

impl Clients {
    pub fn open(ids: impl IntoIterator<Item = String>) -> Self {
        Self { open: Mutex::new(ids.into_iter().collect()), ..Self::default() }
    }

    pub fn frames_of(&self, id: &str) -> Vec<String> {
        self.frames.lock().unwrap().get(id).cloned().unwrap_or_default()
    }
}

impl Connections for Clients {
    async fn post(&self, id: &str, frame: &str) -> Result<bool> {
        if !self.open.lock().unwrap().contains(id) {
            return Ok(false);
        }
        self.frames.lock().unwrap().entry(id.to_owned()).or_default().push(frame.to_owned());
        Ok(true)
    }

    async fn close(&self, id: &str) -> Result<()> {
        self.open.lock().unwrap().remove(id);
        Ok(())
    }
}
