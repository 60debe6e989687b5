//! ballot's rules, with no AWS, Lambda or HTTP in them: what a poll, a ballot and an
//! event are ([`polls`], [`ballots`], [`events`]), when polls close ([`closing`]), where
//! webhooks may go and how they are signed ([`webhooks`]), who may do what ([`access`]),
//! accounts and passwords ([`accounts`], [`passwords`]), what can go wrong ([`Error`]);
//! the [`ports`] the rules need of storage and messaging; and the use cases over them
//! ([`voting`], [`managing`], [`results`], [`signing_in`], [`managing::register_webhook`],
//! [`idempotency`]).
//!
//! `shared` implements the ports on AWS and maps [`Error`] to HTTP; the function crates
//! wire both. Arrows point one way: functions → shared → core.

pub mod access;
pub mod accounts;
pub mod api_keys;
pub mod ballots;
pub mod clock;
pub mod closing;
pub mod counting;
pub mod error;
pub mod events;
pub mod fields;
pub mod idempotency;
pub mod ids;
pub mod live;
pub mod managing;
pub mod passwords;
pub mod polls;
pub mod ports;
pub mod pushing;
pub mod registration;
pub mod relaying;
pub mod results;
pub mod signing_in;
pub mod tally;
pub mod tallying;
pub mod voting;
pub mod watching;
pub mod webhooks;

pub use error::{Error, FieldError};

#[cfg(test)]
pub mod memory;
