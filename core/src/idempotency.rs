//! Idempotent writes (`Idempotency-Key`), the algorithm of Powertools' idempotency
//! utility apart from its storage ([`IdempotencyRecords`]) and its HTTP ([`Replayable`]):
//! - the first request with a key takes an in-progress lock (a conditional write) and runs;
//!   its response is kept for [`RETENTION_SECS`] (unless it is a server error, which
//!   releases the key so a retry can run);
//! - the same key with the same request within that time gets the kept response again;
//! - the same key with another request → 422; while the first still runs → 409;
//! - a lock whose holder died lapses at the holder's deadline (the caller names it: the
//!   end of its invocation), checked here, not by a store's TTL, which can lag by days.
//!
//! Keys are scoped (per function) and per caller, so one client cannot replay another's.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::{Error, clock::Clock, ids::sha256_hex, ports::Result};

/// How long a completed response is replayed.
pub const RETENTION_SECS: u64 = 24 * 3600;

/// A response as kept for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A response that can be kept and replayed.
pub trait Replayable: Sized {
    /// What to keep of it; `None` when it must not be replayed (a server error).
    fn to_replay(&self) -> Option<Replay>;
    /// The response again, marked as a replay.
    fn from_replay(replay: Replay) -> Self;
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Locked by a request of `payload_hash` that has not finished.
    InProgress { payload_hash: String },
    /// Finished: its response.
    Completed { payload_hash: String, response: Replay },
}

/// Where idempotency records are kept; `key` is already scoped and hashed.
pub trait IdempotencyRecords: Send + Sync {
    /// Locks `key` for a request of `payload_hash` until `lock_until`, only if there is no
    /// record, or it expired (kept since `now - RETENTION_SECS`), or it is a lock that
    /// lapsed before `now`. `false`: a record holds.
    fn lock(
        &self,
        key: &str,
        payload_hash: &str,
        lock_until: u64,
        now: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The record at `key`, if any.
    fn record(&self, key: &str) -> impl Future<Output = Result<Option<Record>>> + Send;

    /// Replaces the lock at `key` with the finished `response`, kept from `now`.
    fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        response: Replay,
        now: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Removes the record at `key`.
    fn release(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
}

/// One request that carries an `Idempotency-Key`.
pub struct Keyed<'a> {
    /// Which operation (a function's name).
    pub scope: &'a str,
    /// Who sends it (the principal's `sub`).
    pub caller: &'a str,
    /// The client's key (already checked for form).
    pub key: &'a str,
    /// What makes two requests the same: method, path and body.
    pub request: String,
    /// When this invocation ends for sure (epoch seconds).
    pub deadline: u64,
}

const IN_PROGRESS: &str = "A request with this Idempotency-Key is still in progress.";

/// Runs `handler` at most once per key of the caller at the scope (see the module): a
/// replay of the kept response, or the handler's response, kept when it may be replayed.
pub async fn once<T, E, Fut>(
    records: &impl IdempotencyRecords,
    clock: &impl Clock,
    keyed: Keyed<'_>,
    handler: impl FnOnce() -> Fut,
) -> std::result::Result<T, E>
where
    T: Replayable,
    E: From<Error>,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let key = sha256_hex(&format!("{}\n{}\n{}", keyed.scope, keyed.caller, keyed.key));
    let payload_hash = sha256_hex(&keyed.request);
    let now = clock.epoch_secs();
    if !records.lock(&key, &payload_hash, keyed.deadline.max(now + 1), now).await? {
        return match records.record(&key).await? {
            Some(record) if record.payload_hash() != payload_hash => Err(Error::Unprocessable(
                "This Idempotency-Key was used with a different request; use a new key.".into(),
            )
            .into()),
            Some(Record::Completed { response, .. }) => Ok(T::from_replay(response)),
            // Still running, or released meanwhile.
            _ => Err(Error::Conflict(IN_PROGRESS.into()).into()),
        };
    }
    let outcome = handler().await;
    match outcome.as_ref().ok().and_then(Replayable::to_replay) {
        Some(replay) => records.complete(&key, &payload_hash, replay, clock.epoch_secs()).await?,
        // Nothing to replay: let a retry run.
        None => records.release(&key).await?,
    }
    outcome
}

impl Record {
    fn payload_hash(&self) -> &str {
        match self {
            Self::InProgress { payload_hash } | Self::Completed { payload_hash, .. } => payload_hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::{
        clock::Fixed,
        memory::{Memory, NOW},
    };

    /// A response: its status, and whether it is a replay.
    #[derive(Debug, PartialEq, Eq)]
    struct Answer(u16, bool);

    impl Replayable for Answer {
        fn to_replay(&self) -> Option<Replay> {
            (self.0 < 500).then(|| Replay { status: self.0, headers: vec![], body: String::new() })
        }

        fn from_replay(replay: Replay) -> Self {
            Self(replay.status, true)
        }
    }

    fn keyed(body: &str, deadline: u64) -> Keyed<'_> {
        Keyed { scope: "cast-vote", caller: "u1", key: "k-1", request: format!("POST /v1/x\n{body}"), deadline }
    }

    async fn run(
        memory: &Memory,
        at: u64,
        body: &str,
        status: u16,
        runs: &AtomicU32,
    ) -> std::result::Result<Answer, Error> {
        once(memory, &Fixed::at(at), keyed(body, at + 10), || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(Answer(status, false))
        })
        .await
    }

    #[tokio::test]
    async fn given_a_finished_request_when_sent_again_then_replayed_without_running() {
        let (memory, runs) = (Memory::default(), AtomicU32::new(0));
        assert_eq!(run(&memory, NOW, "{}", 201, &runs).await.unwrap(), Answer(201, false));
        assert_eq!(run(&memory, NOW + 60, "{}", 201, &runs).await.unwrap(), Answer(201, true));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // After the retention the key is free again.
        assert_eq!(run(&memory, NOW + RETENTION_SECS + 1, "{}", 201, &runs).await.unwrap(), Answer(201, false));
    }

    #[tokio::test]
    async fn given_the_key_with_another_request_then_422_and_the_handler_does_not_run() {
        let (memory, runs) = (Memory::default(), AtomicU32::new(0));
        run(&memory, NOW, r#"{"a":1}"#, 201, &runs).await.unwrap();
        let other = run(&memory, NOW, r#"{"a":2}"#, 201, &runs).await;
        assert!(matches!(other, Err(Error::Unprocessable(_))), "{other:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn given_a_request_in_progress_then_409_until_its_holder_s_deadline_passes() {
        let (memory, runs) = (Memory::default(), AtomicU32::new(0));
        // A holder that died at NOW with its deadline at NOW + 10.
        assert!(
            memory.lock(&sha256_hex("cast-vote\nu1\nk-1"), &sha256_hex("POST /v1/x\n{}"), NOW + 10, NOW).await.unwrap()
        );
        let meanwhile = run(&memory, NOW + 10, "{}", 201, &runs).await;
        assert!(matches!(meanwhile, Err(Error::Conflict(_))), "{meanwhile:?}");
        assert_eq!(run(&memory, NOW + 11, "{}", 201, &runs).await.unwrap(), Answer(201, false));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn given_a_server_error_then_nothing_is_kept_and_a_retry_runs() {
        let (memory, runs) = (Memory::default(), AtomicU32::new(0));
        assert_eq!(run(&memory, NOW, "{}", 503, &runs).await.unwrap(), Answer(503, false));
        assert!(memory.state().records.is_empty());
        assert_eq!(run(&memory, NOW, "{}", 201, &runs).await.unwrap(), Answer(201, false));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn given_two_callers_with_one_key_then_neither_replays_the_other() {
        let (memory, clock) = (Memory::default(), Fixed::at(NOW));
        let ran = |caller: &'static str| {
            let keyed = Keyed { caller, ..keyed("{}", NOW + 10) };
            once(&memory, &clock, keyed, || async { Ok::<_, Error>(Answer(201, false)) })
        };
        assert_eq!(ran("u1").await.unwrap(), Answer(201, false));
        assert_eq!(ran("u2").await.unwrap(), Answer(201, false));
    }
}
