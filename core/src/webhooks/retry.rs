//! When failed webhook deliveries are tried again.

use std::time::Duration;

/// When failed deliveries are tried again: after each delay in turn, with ±20 % jitter
/// (so endpoints coming back are not hit by every retry at once). Attempts are one more
/// than the delays. SQS holds a message back at most 12 hours, so no wait is longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    delays: Vec<u64>,
}

/// The longest SQS visibility timeout.
pub const MAX_DELAY_SECS: u64 = 12 * 3600;

impl Backoff {
    /// 6 attempts over about a day: at once, then after 1 minute, 10 minutes, 1 hour,
    /// 6 hours and 12 hours.
    pub const DEFAULT: &str = "60,600,3600,21600,43200";

    /// Parses comma-separated delays in seconds (`WEBHOOK_RETRY_DELAYS`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(|part| part.trim().parse::<u64>().map_err(|_| format!("{part:?} is not a number of seconds")))
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 10 || delays.iter().any(|d| *d == 0 || *d > MAX_DELAY_SECS) {
            return Err(format!("must list 1 to 10 delays of 1 to {MAX_DELAY_SECS} seconds"));
        }
        Ok(Self { delays })
    }

    /// How many times a delivery is sent at most.
    pub fn attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// How long to wait after failed attempt `attempt` (1-based); `None` after the last.
    /// `unit` in `[0, 1)` picks the jitter.
    pub fn after(&self, attempt: u32, unit: f64) -> Option<Duration> {
        let base = *self.delays.get(attempt.checked_sub(1)? as usize)? as f64;
        let jittered = base * (0.8 + 0.4 * unit.clamp(0.0, 1.0));
        Some(Duration::from_secs((jittered.round() as u64).clamp(1, MAX_DELAY_SECS)))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).expect("the default parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_default_when_read_then_six_attempts_over_about_a_day() {
        let backoff = Backoff::default();
        assert_eq!(backoff.attempts(), 6);
        let total: u64 = (1..6).map(|n| backoff.after(n, 0.5).unwrap().as_secs()).sum();
        assert!((18 * 3600..24 * 3600).contains(&total), "{total} s");
        assert_eq!(backoff.after(6, 0.5), None);
        assert_eq!(backoff.after(0, 0.5), None);
    }

    #[test]
    fn given_jitter_when_applied_then_it_stays_within_a_fifth_and_under_12_hours() {
        let backoff = Backoff::default();
        assert_eq!(backoff.after(1, 0.0), Some(Duration::from_secs(48)));
        assert_eq!(backoff.after(1, 0.999_999), Some(Duration::from_secs(72)));
        assert_eq!(backoff.after(5, 1.0), Some(Duration::from_secs(MAX_DELAY_SECS)));
        assert_eq!(Backoff::parse("1,1").unwrap().after(2, 0.0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn given_bad_delays_when_parsed_then_refused() {
        for bad in ["", "0", "a,1", "43201", "1,,2"] {
            assert!(Backoff::parse(bad).is_err(), "{bad:?}");
        }
    }
}
