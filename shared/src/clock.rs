//! Wall-clock time, in the two forms ballot uses.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (token dates, expiries, rate-limit windows).
pub fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// RFC 3339 in UTC with second precision (timestamps in API responses).
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
