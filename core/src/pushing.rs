//! Live pushes: what the tally starts after a batch ([`start_pushes`]) and what a pusher
//! does with each message of the live queue ([`push`]). The rules (coalescing, who sees
//! what, the frames) are [`crate::live`]'s.
//!
//! - **Starting.** For each poll whose counts a batch changed and that someone watches, the
//!   live mark decides: push now, schedule the trailing push, or nothing (covered). The
//!   mark is written (conditional on its version) before the message is sent, so two
//!   shards never both push in one window; a message not sent fails the batch, whose
//!   retry decides again (its changed polls are reported again) and finds the push now
//!   due or the trailing one to schedule. A closing or deletion sends the poll's final
//!   message.
//! - **Fan-out.** A push reads the results once (strongly consistent) and sends one frame
//!   text to every watcher, shard by shard, a page of [`PAGE`] at a time: the first
//!   message reads every shard's first page; a shard with more sends the next page's
//!   message before it posts its own page, so a pusher that dies mid-page loses nothing
//!   (its page comes again; a frame may then reach a client twice, with the same ETag).
//!   A connection that is gone (`410`) is forgotten; one whose admission the poll's
//!   audience no longer passes (the owner hid the results) gets `hidden` and its
//!   subscription ends; a final push ends every subscription it reaches.

use futures_util::{StreamExt, future::try_join_all, stream};

use crate::{
    Error,
    clock::Clock,
    live::{
        CLOSE_DELAY_SECS, End, Frame, LiveMark, LiveMessage, PAGE, Push, WATCHER_SHARDS, audience, delay_secs, marked,
        next_push,
    },
    polls::{ResultsVisibility, Status},
    ports::{Connections, LiveMarks, LiveQueue, Polls, Result, Tallies, Watchers},
    results::current_results,
};

/// Attempts at a conditional write of a live mark before giving up (each lost one means
/// another shard or pusher wrote it meanwhile).
const ATTEMPTS: usize = 5;

/// Frames posted at once by one page.
const POSTS_AT_ONCE: usize = 8;

/// After a batch at `now_ms`: the pushes of the `changed` polls (coalesced over
/// `window_ms`) and the final messages of the polls that closed or were deleted (`ends`),
/// for the polls someone watches (see the module).
pub async fn start_pushes(
    marks: &impl LiveMarks,
    queue: &impl LiveQueue,
    changed: &[String],
    ends: &[(String, End)],
    now_ms: u64,
    window_ms: u64,
) -> Result<()> {
    let now = now_ms / 1000;
    for poll_id in changed {
        decide(marks, queue, poll_id, now_ms, window_ms).await?;
    }
    for (poll_id, end) in ends {
        if marks.live_mark(poll_id, now).await?.is_some() {
            let delay = if *end == End::Closed { CLOSE_DELAY_SECS as u32 } else { 0 };
            queue.send_live(&LiveMessage::Final { poll_id: poll_id.clone(), end: *end }, delay).await?;
        }
    }
    Ok(())
}

/// The push a change of poll `poll_id` at `now_ms` calls for, marked and sent.
async fn decide(
    marks: &impl LiveMarks,
    queue: &impl LiveQueue,
    poll_id: &str,
    now_ms: u64,
    window_ms: u64,
) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let Some(read) = marks.live_mark(poll_id, now_ms / 1000).await? else { return Ok(()) };
        let push = next_push(Some(&read.mark), now_ms, window_ms);
        let Some(mark) = marked(Some(&read.mark), push, now_ms) else { return Ok(()) };
        if !marks.replace_live_mark(poll_id, &read, &mark).await? {
            continue;
        }
        let (trailing_at_ms, delay) = match push {
            Push::Trailing { at_ms } => (Some(at_ms), delay_secs(now_ms, at_ms)),
            _ => (None, 0),
        };
        return queue.send_live(&LiveMessage::Results { poll_id: poll_id.to_owned(), trailing_at_ms }, delay).await;
    }
    Err(Error::Unavailable("A live mark kept changing; retry.".into()))
}

/// What one message's push did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Connections that got the frames.
    pub sent: usize,
    /// Connections that were gone (`410`) and are forgotten.
    pub dropped: usize,
    /// Connections whose frames failed otherwise (logged; the next push reaches them).
    pub failed: usize,
    /// Messages sent for further pages.
    pub pages: usize,
}

impl std::ops::Add for Pushed {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            sent: self.sent + other.sent,
            dropped: self.dropped + other.dropped,
            failed: self.failed + other.failed,
            pages: self.pages + other.pages,
        }
    }
}

/// A push on its way to the watchers of one poll.
struct Fan<'a> {
    poll_id: &'a str,
    frames: &'a [String],
    audience: ResultsVisibility,
    end: bool,
}

/// Runs one message of the live queue (see the module). `hidden` is the error frame of
/// a watcher who may no longer see the results.
pub async fn push<S, C, Q>(
    store: &S,
    connections: &C,
    queue: &Q,
    clock: &impl Clock,
    message: &LiveMessage,
    hidden: &str,
) -> Result<Pushed>
where
    S: Polls + Tallies + Watchers + LiveMarks,
    C: Connections,
    Q: LiveQueue,
{
    let now_ms = clock.epoch_ms();
    let pusher = Pusher { store, connections, queue, now: now_ms / 1000, hidden };
    match message {
        LiveMessage::Results { poll_id, trailing_at_ms } => {
            if let Some(at_ms) = trailing_at_ms
                && !take_trailing(store, poll_id, *at_ms, now_ms).await?
            {
                return Ok(Pushed::default());
            }
            // A deleted poll's watchers get its final frame instead.
            let Some((poll, results)) = current_results(store, store, clock, poll_id).await? else {
                return Ok(Pushed::default());
            };
            let frames = [results_frame(&results)];
            pusher.fan_out(&Fan { poll_id, frames: &frames, audience: audience(&poll), end: false }).await
        }
        LiveMessage::Final { poll_id, end: End::Closed } => {
            let Some((poll, results)) = current_results(store, store, clock, poll_id).await? else {
                return Ok(Pushed::default());
            };
            if poll.status != Status::Closed {
                return Ok(Pushed::default()); // reopened since: it goes on
            }
            let frames = [results_frame(&results), Frame::Closed { poll_id: poll_id.clone() }.to_text()];
            pusher.fan_out(&Fan { poll_id, frames: &frames, audience: audience(&poll), end: true }).await
        }
        LiveMessage::Final { poll_id, end: End::Deleted } => {
            let frames = [Frame::Deleted { poll_id: poll_id.clone() }.to_text()];
            pusher.fan_out(&Fan { poll_id, frames: &frames, audience: ResultsVisibility::Always, end: true }).await
        }
        LiveMessage::Page { poll_id, shard, start, frames, audience, end } => {
            pusher.page(&Fan { poll_id, frames, audience: *audience, end: *end }, *shard, Some(start)).await
        }
        LiveMessage::Expire { connection_id, at } => {
            if pusher.now < *at {
                queue.send_live(message, delay_secs(now_ms, at * 1000)).await?;
                return Ok(Pushed::default());
            }
            connections.close(connection_id).await?;
            store.disconnected(connection_id).await?;
            Ok(Pushed { dropped: 1, ..Pushed::default() })
        }
    }
}

/// The `results` frame of `results`.
pub fn results_frame(results: &crate::polls::Results) -> String {
    let body = serde_json::to_value(results).expect("results serialize");
    Frame::Results { poll_id: results.poll_id.clone(), etag: results.etag(), results: body }.to_text()
}

/// Marks the trailing push scheduled for `at_ms` as done at `now_ms`: `false` when a
/// push since made it needless (the mark no longer schedules it) or nobody watches.
async fn take_trailing(marks: &impl LiveMarks, poll_id: &str, at_ms: u64, now_ms: u64) -> Result<bool> {
    for _ in 0..ATTEMPTS {
        let Some(read) = marks.live_mark(poll_id, now_ms / 1000).await? else { return Ok(false) };
        if read.mark.trailing_at_ms != Some(at_ms) {
            return Ok(false);
        }
        let mark = LiveMark { pushed_at_ms: now_ms, trailing_at_ms: None };
        if marks.replace_live_mark(poll_id, &read, &mark).await? {
            return Ok(true);
        }
    }
    Err(Error::Unavailable("A live mark kept changing; retry.".into()))
}

struct Pusher<'a, S, C, Q> {
    store: &'a S,
    connections: &'a C,
    queue: &'a Q,
    now: u64,
    hidden: &'a str,
}

impl<S: Watchers, C: Connections, Q: LiveQueue> Pusher<'_, S, C, Q> {
    /// Every shard's first page, at once.
    async fn fan_out(&self, fan: &Fan<'_>) -> Result<Pushed> {
        let shards = try_join_all((0..WATCHER_SHARDS).map(|shard| self.page(fan, shard, None))).await?;
        Ok(shards.into_iter().fold(Pushed::default(), |a, b| a + b))
    }

    /// One page of shard `shard` from `start`; the next page's message is sent first.
    async fn page(&self, fan: &Fan<'_>, shard: u32, start: Option<&str>) -> Result<Pushed> {
        let (watchers, next) = self.store.watchers_page(fan.poll_id, shard, self.now, PAGE, start).await?;
        let mut pushed = Pushed::default();
        if let Some(next) = next {
            let message = LiveMessage::Page {
                poll_id: fan.poll_id.to_owned(),
                shard,
                start: next,
                frames: fan.frames.to_vec(),
                audience: fan.audience,
                end: fan.end,
            };
            self.queue.send_live(&message, 0).await?;
            pushed.pages = 1;
        }
        let hidden = [self.hidden.to_owned()];
        let outcomes = stream::iter(watchers)
            .map(|watcher| {
                let sees = watcher.sees(fan.audience);
                let frames: &[String] = if sees { fan.frames } else { &hidden };
                async move {
                    let outcome = self.send(&watcher.connection_id, frames, fan.poll_id, fan.end || !sees).await;
                    if let Err(err) = &outcome {
                        tracing::warn!(error = %err, connection = %watcher.connection_id, "live frame not sent");
                    }
                    outcome
                }
            })
            .buffer_unordered(POSTS_AT_ONCE)
            .collect::<Vec<_>>()
            .await;
        for outcome in outcomes {
            match outcome {
                Ok(true) => pushed.sent += 1,
                Ok(false) => pushed.dropped += 1,
                Err(_) => pushed.failed += 1,
            }
        }
        Ok(pushed)
    }

    /// Sends `frames` to connection `id`, then ends its subscription to `poll_id` if
    /// `end`: `false` when the client was gone (forgotten).
    async fn send(&self, id: &str, frames: &[String], poll_id: &str, end: bool) -> Result<bool> {
        for frame in frames {
            if !self.connections.post(id, frame).await? {
                self.store.disconnected(id).await?;
                return Ok(false);
            }
        }
        if end {
            self.store.unwatch(id, poll_id).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::Fixed,
        live::Watcher,
        memory::{
            Memory, NOW,
            live::{Clients, Queue},
            open_poll,
        },
        polls::{Poll, StoredPoll},
    };

    const T: u64 = NOW * 1000;
    const HIDDEN: &str = r#"{"type":"error","poll_id":"p1","problem":{"status":403}}"#;

    fn watched(memory: &Memory, ids: &[&str], admitted: ResultsVisibility) {
        let mut state = memory.state();
        for id in ids {
            state.watching.insert(((*id).to_owned(), "p1".to_owned()), admitted);
        }
        state.marks.entry("p1".into()).or_default();
    }

    fn results_of(frame: &str) -> serde_json::Value {
        let frame: serde_json::Value = serde_json::from_str(frame).unwrap();
        assert_eq!(frame["type"], "results", "{frame}");
        frame
    }

    #[tokio::test]
    async fn given_changes_of_a_watched_poll_then_one_push_now_one_trailing_and_the_rest_covered() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        let changed = ["p1".to_owned()];
        start_pushes(&memory, &queue, &changed, &[], T, 1_000).await.unwrap();
        assert!(queue.take().is_empty(), "nobody watches it: no push");
        watched(&memory, &["c1"], ResultsVisibility::Always);
        for at in [T, T + 300, T + 600] {
            start_pushes(&memory, &queue, &changed, &[], at, 1_000).await.unwrap();
        }
        let now = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: None };
        let trailing = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: Some(T + 1_000) };
        assert_eq!(queue.take(), [(now, 0), (trailing, 1)], "the third change is covered by the trailing push");
    }

    #[tokio::test]
    async fn given_two_shards_deciding_at_once_then_one_push_between_them() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        watched(&memory, &["c1"], ResultsVisibility::Always);
        // The other shard marks a push between this one's read and its write.
        memory.before_next_write(|state| {
            let mark = state.marks.get_mut("p1").unwrap();
            *mark = crate::ports::Marked { mark: LiveMark { pushed_at_ms: T, trailing_at_ms: None }, version: 1 };
        });
        start_pushes(&memory, &queue, &["p1".to_owned()], &[], T + 10, 1_000).await.unwrap();
        let trailing = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: Some(T + 1_000) };
        assert_eq!(queue.take(), [(trailing, 1)], "read again: the other's push is recent, so a trailing one");
    }

    #[tokio::test]
    async fn given_watchers_when_pushed_then_each_gets_the_results_and_the_gone_are_forgotten() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        watched(&memory, &["c1", "c2", "gone"], ResultsVisibility::Always);
        let clients = Clients::open(["c1".to_owned(), "c2".to_owned()]);
        let message = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: None };
        let pushed = push(&memory, &clients, &queue, &Fixed::at(NOW), &message, HIDDEN).await.unwrap();
        assert_eq!((pushed.sent, pushed.dropped, pushed.pages), (2, 1, 0));
        assert_eq!(results_of(&clients.frames_of("c1")[0])["results"]["poll_id"], "p1");
        assert_eq!(clients.frames_of("c1"), clients.frames_of("c2"), "one frame text for all");
        assert!(!memory.state().watching.keys().any(|(id, _)| id == "gone"), "a 410 forgets the connection");
    }

    #[tokio::test]
    async fn given_more_watchers_than_a_page_then_the_rest_is_a_message_of_its_own() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        let ids: Vec<String> = (0..PAGE + 50).map(|n| format!("c{n:04}")).collect();
        watched(&memory, &ids.iter().map(String::as_str).collect::<Vec<_>>(), ResultsVisibility::Always);
        let clients = Clients::open(ids.clone());
        let message = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: None };
        let first = push(&memory, &clients, &queue, &Fixed::at(NOW), &message, HIDDEN).await.unwrap();
        assert_eq!((first.sent, first.pages), (PAGE as usize, 1));
        let sent: [(LiveMessage, u32); 1] = queue.take().try_into().unwrap();
        let [(page, 0)] = sent else { panic!("one page message, not delayed") };
        let rest = push(&memory, &clients, &queue, &Fixed::at(NOW), &page, HIDDEN).await.unwrap();
        assert_eq!((rest.sent, rest.pages), (50, 0));
        assert!(ids.iter().all(|id| clients.frames_of(id).len() == 1), "everyone once");
    }

    #[tokio::test]
    async fn given_results_hidden_after_watchers_came_then_only_the_owner_s_watchers_still_get_them() {
        let mut poll = open_poll(&["A", "B"]);
        poll.results_visibility = ResultsVisibility::Owner;
        let (memory, queue) = (Memory::with_poll(poll), Queue::default());
        watched(&memory, &["anyone"], ResultsVisibility::Always);
        watched(&memory, &["owner"], ResultsVisibility::Owner);
        let clients = Clients::open(["anyone".to_owned(), "owner".to_owned()]);
        let message = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: None };
        push(&memory, &clients, &queue, &Fixed::at(NOW), &message, HIDDEN).await.unwrap();
        assert_eq!(clients.frames_of("anyone"), [HIDDEN]);
        results_of(&clients.frames_of("owner")[0]);
        let watching: Vec<_> = memory.state().watching.keys().map(|(id, _)| id.clone()).collect();
        assert_eq!(watching, ["owner"], "the hidden one's subscription ends");
    }

    #[tokio::test]
    async fn given_a_closed_or_deleted_poll_then_final_frames_and_no_subscription_left() {
        let mut poll = open_poll(&["A", "B"]);
        poll.status = Status::Closed;
        let (memory, queue) = (Memory::with_poll(poll), Queue::default());
        watched(&memory, &["c1"], ResultsVisibility::Always);
        let clients = Clients::open(["c1".to_owned()]);
        let closed = LiveMessage::Final { poll_id: "p1".into(), end: End::Closed };
        push(&memory, &clients, &queue, &Fixed::at(NOW), &closed, HIDDEN).await.unwrap();
        let frames = clients.frames_of("c1");
        assert_eq!(results_of(&frames[0])["results"]["status"], "closed");
        assert_eq!(frames[1], r#"{"type":"closed","poll_id":"p1"}"#);
        assert!(memory.state().watching.is_empty());

        watched(&memory, &["c1"], ResultsVisibility::Always);
        memory.state().polls.clear();
        let deleted = LiveMessage::Final { poll_id: "p1".into(), end: End::Deleted };
        push(&memory, &clients, &queue, &Fixed::at(NOW), &deleted, HIDDEN).await.unwrap();
        assert_eq!(clients.frames_of("c1")[2], r#"{"type":"deleted","poll_id":"p1"}"#);
        assert!(memory.state().watching.is_empty());
    }

    #[tokio::test]
    async fn given_a_reopened_poll_then_its_closing_s_final_message_does_nothing() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        watched(&memory, &["c1"], ResultsVisibility::Always);
        let clients = Clients::open(["c1".to_owned()]);
        let closed = LiveMessage::Final { poll_id: "p1".into(), end: End::Closed };
        push(&memory, &clients, &queue, &Fixed::at(NOW), &closed, HIDDEN).await.unwrap();
        assert!(clients.frames_of("c1").is_empty());
        assert_eq!(memory.state().watching.len(), 1);
    }

    #[tokio::test]
    async fn given_the_closing_and_deletion_of_watched_polls_then_their_final_messages() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        memory.state().polls.insert("p2".into(), StoredPoll::new(Poll { id: "p2".into(), ..open_poll(&["A", "B"]) }));
        watched(&memory, &["c1"], ResultsVisibility::Always);
        let ends = [("p1".to_owned(), End::Closed), ("p2".to_owned(), End::Deleted)];
        start_pushes(&memory, &queue, &[], &ends, T, 1_000).await.unwrap();
        let closed = LiveMessage::Final { poll_id: "p1".into(), end: End::Closed };
        assert_eq!(queue.take(), [(closed, CLOSE_DELAY_SECS as u32)], "p2 has no watchers");
    }

    #[tokio::test]
    async fn given_a_trailing_push_made_needless_by_a_later_one_then_it_does_nothing() {
        let (memory, queue) = (Memory::with_poll(open_poll(&["A", "B"])), Queue::default());
        watched(&memory, &["c1"], ResultsVisibility::Always);
        let clients = Clients::open(["c1".to_owned()]);
        let stale = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: Some(T - 1_000) };
        assert_eq!(push(&memory, &clients, &queue, &Fixed::at(NOW), &stale, HIDDEN).await.unwrap().sent, 0);
        memory.state().marks.get_mut("p1").unwrap().mark.trailing_at_ms = Some(T);
        let due = LiveMessage::Results { poll_id: "p1".into(), trailing_at_ms: Some(T) };
        assert_eq!(push(&memory, &clients, &queue, &Fixed::at(NOW), &due, HIDDEN).await.unwrap().sent, 1);
        let mark = memory.state().marks["p1"].mark;
        assert_eq!(mark, LiveMark { pushed_at_ms: T, trailing_at_ms: None }, "marked as the last push");
    }

    #[tokio::test]
    async fn given_a_token_s_expiry_then_its_connection_is_closed_then_and_not_before() {
        let (memory, queue) = (Memory::default(), Queue::default());
        memory.state().watching.insert(("c1".into(), "p1".into()), ResultsVisibility::Always);
        let clients = Clients::open(["c1".to_owned()]);
        let far = LiveMessage::Expire { connection_id: "c1".into(), at: NOW + 3_600 };
        push(&memory, &clients, &queue, &Fixed::at(NOW), &far, HIDDEN).await.unwrap();
        assert_eq!(queue.take(), [(far, 900)], "sent again: SQS delays at most 15 minutes");
        let due = LiveMessage::Expire { connection_id: "c1".into(), at: NOW };
        push(&memory, &clients, &queue, &Fixed::at(NOW), &due, HIDDEN).await.unwrap();
        assert!(clients.open.lock().unwrap().is_empty() && memory.state().watching.is_empty());
    }

    #[test]
    fn given_watchers_admitted_at_a_level_then_they_see_audiences_up_to_it() {
        let voter = Watcher { connection_id: "c".into(), admitted: ResultsVisibility::AfterVote };
        assert!(voter.sees(ResultsVisibility::Always) && voter.sees(ResultsVisibility::AfterVote));
        assert!(!voter.sees(ResultsVisibility::AfterClose) && !voter.sees(ResultsVisibility::Owner));
    }
}
