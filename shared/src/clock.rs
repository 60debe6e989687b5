//! The world's clock for the use cases: [`System`], on tokio's timer.

use std::time::Duration;

use ballot_core::clock::{epoch_ms, epoch_secs, rfc3339_now};

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl ballot_core::clock::Clock for System {
    fn epoch_secs(&self) -> u64 {
        epoch_secs()
    }

    fn epoch_ms(&self) -> u64 {
        epoch_ms()
    }

    fn rfc3339_now(&self) -> String {
        rfc3339_now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
