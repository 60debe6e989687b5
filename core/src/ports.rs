//! The ports: what the use cases need of storage, messaging, rate limits, password
//! hashing and token signing, as traits (the clock is [`crate::clock::Clock`], idempotency
//! records [`crate::idempotency::IdempotencyRecords`]). `shared` implements them on
//! DynamoDB, SQS, EventBridge Scheduler, Secrets Manager and argon2; the tests of this
//! crate implement them in memory. Every method answers the domain [`Error`]: an adapter maps
//! its own failures to [`Error::Internal`] or [`Error::Unavailable`].
//!
//! The futures are `Send`, so a use case runs on any multi-threaded executor.

use std::future::Future;

use crate::{
    Error,
    access::{Role, TokenKind},
    accounts::{Credentials, User},
    ballots::{Ballot, StoredBallot},
    counting::{Openings, Tally},
    events::{Event, EventKind},
    polls::{Poll, StoredPoll},
    tally::{Delta, Item, Seq, Watermark},
    webhooks::Webhook,
};

pub type Result<T> = std::result::Result<T, Error>;

/// Polls as stored.
pub trait Polls: Send + Sync {
    /// Poll `id` unless it does not exist or is deleted; `consistent` reads the latest
    /// write (else a read may be a moment stale).
    fn poll(&self, id: &str, consistent: bool) -> impl Future<Output = Result<Option<StoredPoll>>> + Send;

    /// Writes `next` over `read` (or a tombstone of it, when `delete`), only if the
    /// stored poll is still `read` (version, `voting_started`, not deleted). `false`: the
    /// poll changed meanwhile, nothing was written.
    fn replace_poll(
        &self,
        read: &StoredPoll,
        next: &StoredPoll,
        delete: bool,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Marks `read` as `voting_started` (freezing its options), only if the stored poll
    /// is still that version and not deleted. `false`: it changed meanwhile.
    fn start_voting(&self, read: &StoredPoll) -> impl Future<Output = Result<bool>> + Send;

    /// Poll `id` if it is deleted and its purge has not finished yet.
    fn tombstone(&self, id: &str) -> impl Future<Output = Result<Option<Poll>>> + Send;

    /// Writes a new poll, only if no poll has its id.
    fn create_poll(&self, poll: &Poll) -> impl Future<Output = Result<()>> + Send;
}

/// What writing a first ballot came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Written.
    Done,
    /// The voter has a ballot already (this one, as stored): nothing written.
    Exists(StoredBallot),
}

/// Ballots: one per voter per poll. Writing one is a single conditional write; the tally
/// counts it from the table's stream ([`crate::tallying`]), by the rule of
/// [`crate::counting`], which the vote path applied before writing.
pub trait Ballots: Send + Sync {
    /// `voter`'s ballot on poll `poll_id`.
    fn ballot(&self, poll_id: &str, voter: &str) -> impl Future<Output = Result<Option<StoredBallot>>> + Send;

    /// Writes `ballot` as `voter`'s first (version 1), only if the voter has none.
    fn record_new(&self, voter: &str, ballot: &Ballot) -> impl Future<Output = Result<Recorded>> + Send;

    /// Replaces `current` with `ballot` (version + 1), only if the stored ballot is still
    /// `current`. `false`: it changed meanwhile, nothing was written.
    fn record_change(
        &self,
        voter: &str,
        current: &StoredBallot,
        ballot: &Ballot,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// The counts of polls.
pub trait Tallies: Send + Sync {
    /// Poll `poll_id`'s counts, including every ballot whose write has been answered.
    fn tally(&self, poll_id: &str) -> impl Future<Output = Result<Tally>> + Send;
}

/// The closing schedules: one per (poll, closing time, poll version that sets it).
pub trait Schedules: Send + Sync {
    /// Schedules the closing of poll `poll_id` at `closes_at` (epoch seconds, ahead)
    /// that its version `version` sets; one already there is kept.
    fn schedule(&self, poll_id: &str, closes_at: u64, version: u64) -> impl Future<Output = Result<()>> + Send;

    /// Removes poll `poll_id`'s schedules set by versions older than `version`; how many.
    fn cancel_older(&self, poll_id: &str, version: u64) -> impl Future<Output = Result<usize>> + Send;
}

/// The events queue, which the tally relays committed changes to ([`crate::relaying`]).
pub trait Outbox: Send + Sync {
    /// Sends `events` in order: how many of the first were taken (all, or those before
    /// the first the queue did not take). Consumers de-duplicate on ids, so sending an
    /// event again is safe.
    fn send_all(&self, events: &[Event]) -> impl Future<Output = Result<usize>> + Send;
}

/// Who listens to a poll's events.
pub trait Subscriptions: Send + Sync {
    /// Whether poll `poll_id` has a webhook for `kind`.
    fn watched(&self, poll_id: &str, kind: EventKind) -> impl Future<Output = Result<bool>> + Send;
}

/// Accounts as stored.
pub trait Accounts: Send + Sync {
    /// Creates `user` with `password_hash`, claiming its email, and stores its
    /// `verification` token, in one transaction: of any number of concurrent
    /// registrations of one email exactly one succeeds, the others get
    /// [`Error::Conflict`] and write nothing.
    fn create_user(
        &self,
        user: &User,
        password_hash: String,
        verification: &LinkToken,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The account with `id`.
    fn user(&self, id: &str) -> impl Future<Output = Result<Option<User>>> + Send;

    /// The account registered with `email` (normalised) and its password hash.
    fn credentials(&self, email: &str) -> impl Future<Output = Result<Option<Credentials>>> + Send;

    /// The account already linked to `subject` at `issuer`, if any; reads only (the
    /// authorizer's question, which must never write).
    fn federated_user(&self, issuer: &str, subject: &str) -> impl Future<Output = Result<Option<User>>> + Send;

    /// The account linked to `subject` at `issuer`; at first sight, one is created (as
    /// `viewer`) and linked. Concurrent first sights link one account.
    fn linked_user(
        &self,
        issuer: &str,
        subject: &str,
        email: Option<&str>,
    ) -> impl Future<Output = Result<User>> + Send;
}

/// Why a refresh token was refused; every case is the same 401 to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefused {
    /// Unknown, malformed, expired, revoked, or lost a concurrent race.
    Invalid,
    /// Already used: its family is now revoked.
    Reused,
}

/// A refresh token spent for the next of its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub user_id: String,
    /// The account's sign-in epoch when the family started.
    pub epoch: u64,
    /// The family's next refresh token.
    pub token: String,
}

/// Refresh-token families.
pub trait Sessions: Send + Sync {
    /// Signs `user_id` in, in its sign-in `epoch`: a new family and its first refresh
    /// token, which is returned.
    fn start_session(&self, user_id: &str, epoch: u64) -> impl Future<Output = Result<String>> + Send;

    /// Spends refresh token `token` for the next of its family, or says why it was
    /// refused (a reuse revokes the family).
    fn rotate_session(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<std::result::Result<Rotated, SessionRefused>>> + Send;
}

/// What a mailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
}

/// A mailed link's token as stored: only its SHA-256, what it is for, whose, and until
/// when (epoch seconds) it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub hash: String,
    pub purpose: LinkPurpose,
    pub user_id: String,
    pub expires_at: u64,
}

/// The tokens of mailed links. Spending one is conditional on it being there, of its
/// purpose and unexpired, and is one transaction with its effect: a token works once.
pub trait LinkTokens: Send + Sync {
    /// Stores `token` (a new one; its hash is random).
    fn store_link_token(&self, token: &LinkToken) -> impl Future<Output = Result<()>> + Send;

    /// The stored token with `hash`, if any (expired or not).
    fn link_token(&self, hash: &str) -> impl Future<Output = Result<Option<LinkToken>>> + Send;

    /// Spends `token` (a [`LinkPurpose::VerifyEmail`] one) if it is still unspent and
    /// unexpired at `now`, marking its account's email verified: the account, or `None`
    /// when the token was not spendable.
    fn spend_verification(&self, token: &LinkToken, now: u64) -> impl Future<Output = Result<Option<User>>> + Send;

    /// Spends `token` (a [`LinkPurpose::ResetPassword`] one) if it is still unspent and
    /// unexpired at `now`, and in the same transaction sets its account's password hash,
    /// marks the email verified (the link reached the mailbox) and moves the sign-in
    /// epoch on, only if the epoch is still `epoch`. `false`: nothing was written.
    fn spend_reset(
        &self,
        token: &LinkToken,
        now: u64,
        epoch: u64,
        password_hash: String,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// The mail ballot sends to an account's address; the adapter writes and sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountMail {
    /// A new account's link to verify its email.
    Verify { token: String },
    /// Someone registered with an email that has an account already.
    AlreadyRegistered,
    /// A link to set a new password.
    Reset { token: String },
    /// Someone asked to reset the password of an email that has no usable account.
    NoAccount,
}

/// Sending account mail.
pub trait Mailer: Send + Sync {
    /// Sends `mail` to `to`.
    fn send(&self, to: &str, mail: &AccountMail) -> impl Future<Output = Result<()>> + Send;
}

/// The rate limits of signing in; the adapter knows each one's size and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Failed logins from one client address.
    LoginAddress,
    /// Failed logins to one account from one client address (the tight one).
    LoginAccountAddress,
    /// Failed logins to one account from anywhere (a ceiling).
    LoginAccount,
    /// Logins to one account from one client address once [`Limit::LoginAccount`] is
    /// full: one per window ([`ONCE_FULL`]), so strangers filling the ceiling never lock
    /// the owner out, and each address has one guess more at most.
    LoginAccountAddressOnceFull,
    /// Guest tokens for one client address.
    GuestAddress,
    /// Registrations from one client address.
    RegisterAddress,
    /// Password-reset requests from one client address.
    ResetAddress,
    /// Mails to one address (normalised): register and reset cannot mail-bomb it. Past
    /// it, mail is left unsent and the answer stays the same.
    MailTo,
}

/// The size of [`Limit::LoginAccountAddressOnceFull`].
pub const ONCE_FULL: u32 = 1;

impl Limit {
    /// The name of its counters.
    pub fn scope(self) -> &'static str {
        match self {
            Self::LoginAddress => "login-address",
            Self::LoginAccountAddress => "login-account-address",
            Self::LoginAccount => "login-account",
            Self::LoginAccountAddressOnceFull => "login-account-address-once-full",
            Self::GuestAddress => "guest-address",
            Self::RegisterAddress => "register-address",
            Self::ResetAddress => "reset-address",
            Self::MailTo => "mail-to",
        }
    }
}

/// Fixed-window rate limits that hold under any number of parallel requests.
pub trait Limits: Send + Sync {
    /// A slot taken, which can be given back.
    type Slot: Send;

    /// Takes one slot of `limit` for `key`; [`Error::TooManyRequests`] when it is full.
    fn take_slot(&self, limit: Limit, key: &str) -> impl Future<Output = Result<Self::Slot>> + Send;

    /// Gives a slot back (a login that succeeded does not count as a failure).
    fn give_back(&self, slot: Self::Slot) -> impl Future<Output = Result<()>> + Send;
}

/// Password hashing.
pub trait Passwords: Send + Sync {
    /// The stored form of `password` (salted, slow).
    fn hash(&self, password: String) -> impl Future<Output = Result<String>> + Send;

    /// Whether `password` matches `hash`; with no hash, as much work is wasted and the
    /// answer is `false`, so timing does not tell which accounts exist.
    fn verify_or_waste(&self, password: String, hash: Option<String>) -> impl Future<Output = Result<bool>> + Send;
}

/// Access-token signing.
pub trait Tokens: Send + Sync {
    /// A signed token of `kind` for `sub` with `roles`, of the account's sign-in `epoch`
    /// (0 for guests), and its lifetime in seconds.
    fn issue(
        &self,
        sub: &str,
        roles: &[Role],
        kind: TokenKind,
        epoch: u64,
    ) -> impl Future<Output = Result<(String, u64)>> + Send;
}

/// Webhooks as stored.
pub trait Webhooks: Send + Sync {
    /// Adds `webhook` to poll `poll_id` with its signing `secret` (which the adapter keeps
    /// sealed); [`Error::Conflict`] when the poll has its most webhooks already.
    fn create_webhook(&self, poll_id: &str, webhook: &Webhook, secret: &str)
    -> impl Future<Output = Result<()>> + Send;
}

/// What a tally item's conditional write came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Counts and watermark moved together.
    Done,
    /// The shard's watermark is no longer the one read: nothing written; read again.
    Raced,
    /// The item's poll is deleted (its items are being purged): nothing written.
    Gone,
}

/// The tally's items: counts and hourly statistics, with their shards' watermarks.
pub trait TallyItems: Send + Sync {
    /// The watermarks of `item` by shard (empty for an item not written yet); `None` when
    /// the item's poll is deleted. Strongly consistent.
    fn watermarks(
        &self,
        item: &Item,
    ) -> impl Future<Output = Result<Option<std::collections::BTreeMap<String, Watermark>>>> + Send;

    /// Adds `delta` to `item` and moves `shard`'s watermark to `delta.last` (at `now`),
    /// removing the watermarks of `prune`, only if `shard`'s watermark is still `expected`
    /// (`None`: it has none) and the poll is not deleted.
    fn apply(
        &self,
        item: &Item,
        shard: &str,
        expected: Option<&Seq>,
        delta: &Delta,
        prune: &[&str],
        now: u64,
    ) -> impl Future<Output = Result<Written>> + Send;

    /// Removes the ballots of `voters` on deleted poll `poll_id`. Ballots written after
    /// the purge began (by a vote path whose cached poll copy, at most 1 s old, still
    /// showed the poll) would outlive it otherwise; the tally removes them as their stream
    /// records pass. `voters` are distinct; removing a ballot that is gone already is no
    /// error.
    fn remove_late_ballots(&self, poll_id: &str, voters: &[&str]) -> impl Future<Output = Result<()>> + Send;
}

/// The rule of which ballots count, per poll.
pub trait CountingRules: Send + Sync {
    /// Poll `poll_id`'s [`Openings`]; `None` when it is deleted (nothing of it counts
    /// any more).
    fn openings(&self, poll_id: &str) -> impl Future<Output = Result<Option<Openings>>> + Send;
}

/// The WebSocket connections of live results and the polls each one watches.
pub trait Watchers: Send + Sync {
    /// Records connection `connection`.
    fn connected(&self, connection: &crate::live::Connection) -> impl Future<Output = Result<()>> + Send;

    /// Connection `id`, if it is recorded and has not expired by `now` (epoch seconds):
    /// TTL deletion is late in AWS and absent locally, so readers filter on `expires_at`.
    fn connection(&self, id: &str, now: u64) -> impl Future<Output = Result<Option<crate::live::Connection>>> + Send;

    /// Connection `connection` watches poll `poll_id` (until the connection expires),
    /// admitted at `admitted` ([`crate::live::admission`]).
    fn watch(
        &self,
        connection: &crate::live::Connection,
        poll_id: &str,
        admitted: crate::polls::ResultsVisibility,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Connection `id` no longer watches poll `poll_id` (no error if it did not).
    fn unwatch(&self, id: &str, poll_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Forgets connection `id` and everything it watched.
    fn disconnected(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// The connections watching poll `poll_id` in shard `shard` that have not expired by
    /// `now`: one page of at most `limit` from page key `start`, and the next page's key.
    fn watchers_page(
        &self,
        poll_id: &str,
        shard: u32,
        now: u64,
        limit: u32,
        start: Option<&str>,
    ) -> impl Future<Output = Result<(Vec<crate::live::Watcher>, Option<String>)>> + Send;
}

/// A poll's live mark as read: the mark and the version a write of it is conditional on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marked {
    pub mark: crate::live::LiveMark,
    pub version: u64,
}

/// The live marks of polls (the coalescing state of [`crate::live`]), shared by every
/// tally shard and pusher.
pub trait LiveMarks: Send + Sync {
    /// Poll `poll_id`'s mark, if anyone has watched it since `now` (epoch seconds) minus
    /// a connection's lifetime (`None`: nobody to push to).
    fn live_mark(&self, poll_id: &str, now: u64) -> impl Future<Output = Result<Option<Marked>>> + Send;

    /// Writes `mark` if the mark is still at `read`'s version: `false` when another writer
    /// changed it meanwhile (read it again).
    fn replace_live_mark(
        &self,
        poll_id: &str,
        read: &Marked,
        mark: &crate::live::LiveMark,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// The live queue: the pushes to run, now or after a delay.
pub trait LiveQueue: Send + Sync {
    /// Sends `message`, delivered after `delay_secs` (at most
    /// [`crate::live::MAX_DELAY_SECS`]).
    fn send_live(&self, message: &crate::live::LiveMessage, delay_secs: u32)
    -> impl Future<Output = Result<()>> + Send;
}

/// The open WebSocket connections, as API Gateway's `@connections` API reaches them.
pub trait Connections: Send + Sync {
    /// Sends `frame` to connection `id`; `false` when the client is gone (`410`).
    fn post(&self, id: &str, frame: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Closes connection `id` (one already gone is fine); API Gateway then sends `$disconnect`.
    fn close(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
}
