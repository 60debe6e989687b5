//! The closing schedules in EventBridge Scheduler: one one-time schedule per (poll,
//! closing time, version) in the configured group, sending a [`ClosingTime`] to the
//! events queue (or, when it cannot, to the events DLQ) and deleting itself once it has
//! run.

use aws_sdk_scheduler::{
    Client,
    error::DisplayErrorContext,
    types::{ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, Target},
};

use ballot_core::Error;

use crate::config::Closing;
use ballot_core::closing::{ClosingTime, at_expression, fires_at, schedule_name, schedule_prefix, schedule_version};

/// Puts and removes closing schedules.
#[derive(Debug, Clone)]
pub struct Schedules {
    client: Client,
    settings: Closing,
}

impl Schedules {
    pub fn new(sdk: &aws_config::SdkConfig, settings: Closing) -> Self {
        Self { client: Client::new(sdk), settings }
    }

    /// Schedules the closing of poll `poll_id` at `closes_at` (epoch seconds, in the
    /// future) that its version `version` sets; one already there is kept.
    pub async fn schedule(&self, poll_id: &str, closes_at: u64, version: u64) -> Result<(), Error> {
        let input = ClosingTime { closing_poll: poll_id.to_owned(), closes_at };
        let dead_letters = DeadLetterConfig::builder().arn(&self.settings.dead_letter_arn).build();
        let target = Target::builder()
            .arn(&self.settings.events_queue_arn)
            .role_arn(&self.settings.role_arn)
            .dead_letter_config(dead_letters)
            .input(serde_json::to_string(&input).map_err(Error::internal)?)
            .build()
            .map_err(Error::internal)?;
        let window =
            FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(Error::internal)?;
        let name = schedule_name(poll_id, closes_at, version);
        let created = self
            .client
            .create_schedule()
            .group_name(&self.settings.schedule_group)
            .name(&name)
            .schedule_expression(at_expression(fires_at(closes_at)))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match created {
            Ok(_) => tracing::info!(poll = %poll_id, schedule = %name, "closing scheduled"),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conflict_exception()) => {}
            Err(err) => {
                tracing::error!(poll = %poll_id, error = %DisplayErrorContext(&err), "closing not scheduled");
                return Err(Error::Unavailable("The poll's closing time could not be scheduled; retry.".into()));
            }
        }
        Ok(())
    }

    /// Removes the closing schedules that versions of poll `poll_id` older than `version`
    /// put (its closing time changed in `version`). Returns how many.
    pub async fn cancel_older(&self, poll_id: &str, version: u64) -> Result<usize, Error> {
        let names = self.names(poll_id).await?;
        let older: Vec<_> = names.iter().filter(|name| schedule_version(name).is_none_or(|v| v < version)).collect();
        for name in &older {
            self.remove(name).await?;
        }
        Ok(older.len())
    }

    /// Removes every closing schedule of poll `poll_id` (its deletion). Returns how many.
    pub async fn cancel_all(&self, poll_id: &str) -> Result<usize, Error> {
        self.cancel_older(poll_id, u64::MAX).await
    }

    /// The names of poll `poll_id`'s closing schedules.
    async fn names(&self, poll_id: &str) -> Result<Vec<String>, Error> {
        let mut pages = self
            .client
            .list_schedules()
            .group_name(&self.settings.schedule_group)
            .name_prefix(schedule_prefix(poll_id))
            .into_paginator()
            .items()
            .send();
        let mut names = Vec::new();
        while let Some(summary) = pages.next().await {
            names.extend(summary.map_err(Error::internal)?.name().map(str::to_owned));
        }
        Ok(names)
    }

    async fn remove(&self, name: &str) -> Result<(), Error> {
        let deleted = self.client.delete_schedule().group_name(&self.settings.schedule_group).name(name).send().await;
        match deleted {
            Ok(_) => tracing::info!(schedule = %name, "closing schedule removed"),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(err) => return Err(Error::internal(err)),
        }
        Ok(())
    }
}

impl ballot_core::ports::Schedules for Schedules {
    async fn schedule(&self, poll_id: &str, closes_at: u64, version: u64) -> Result<(), Error> {
        Schedules::schedule(self, poll_id, closes_at, version).await
    }

    async fn cancel_older(&self, poll_id: &str, version: u64) -> Result<usize, Error> {
        Schedules::cancel_older(self, poll_id, version).await
    }
}
