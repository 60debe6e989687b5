//! Closing a poll when it reaches `closes_at`: the EventBridge Scheduler adapter
//! ([`Schedules`]). The rules (one schedule per poll, closing time and version; when it
//! fires; what a stale one does) are `ballot_core::closing`, and the closing itself is
//! `ballot_core::managing::close_when_due`.

#[cfg(feature = "closing-schedules")]
mod schedules;
#[cfg(feature = "closing-schedules")]
pub use schedules::Schedules;
