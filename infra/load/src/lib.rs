//! What the load tools share.

use std::time::Duration;

/// p50 and p99 in milliseconds (nearest rank).
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |p: usize| samples[((samples.len() * p).div_ceil(100)).max(1) - 1].as_secs_f64() * 1e3;
    (at(50), at(99))
}
