//! Percentiles of a set of timings.

use std::time::Duration;

/// The distribution of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// Summarises `samples` with nearest-rank percentiles (so with fewer than 100 samples the
    /// p99 is the maximum); `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Self {
            count: sorted.len(),
            p50: nearest_rank(&sorted, 50)?,
            p99: nearest_rank(&sorted, 99)?,
            max: *sorted.last()?,
        })
    }
}

/// The smallest sample that at least `percent`% of `sorted` samples do not exceed.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Option<Duration> {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_micros).collect()
    }

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        let summary = Summary::of(&micros((1..=100).rev())).unwrap();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_micros(50));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.max, Duration::from_micros(100));
    }

    #[test]
    fn p99_of_few_samples_is_the_maximum() {
        let summary = Summary::of(&micros([3, 1, 2])).unwrap();
        assert_eq!(summary.p50, Duration::from_micros(2));
        assert_eq!(summary.p99, Duration::from_micros(3));
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }
}
