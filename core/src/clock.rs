//! Time, as the rules see it: a [`Clock`] port, so use cases can be driven by a test's
//! clock (and sleep without a runtime), and the two text forms ballot uses.

use std::{
    future::Future,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The time and a way to wait: what a use case needs of the world's clock.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn epoch_secs(&self) -> u64;
    /// Milliseconds since the Unix epoch (when a ballot is cast: the counting rule's unit).
    fn epoch_ms(&self) -> u64 {
        self.epoch_secs() * 1000
    }
    /// RFC 3339 in UTC, second precision.
    fn rfc3339_now(&self) -> String;
    /// Waits `duration` (a retry's back-off).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// Seconds since the Unix epoch (token dates, expiries, rate-limit windows).
pub fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// RFC 3339 in UTC with second precision (timestamps in API responses).
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ms` since the epoch as RFC 3339 in UTC with millisecond precision (a ballot's `cast_at`).
pub fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Parses an RFC 3339 date-time into epoch milliseconds (a ballot's `cast_at`).
pub fn parse_instant_ms(text: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A clock that stands still at an epoch second, and whose sleeps take no time: for
/// tests and replays that decide "now" themselves.
#[derive(Debug)]
pub struct Fixed(pub std::sync::atomic::AtomicU64);

impl Fixed {
    pub fn at(epoch: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(epoch))
    }
}

impl Clock for Fixed {
    fn epoch_secs(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn rfc3339_now(&self) -> String {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.epoch_secs())).to_string()
    }

    async fn sleep(&self, _duration: Duration) {}
}
