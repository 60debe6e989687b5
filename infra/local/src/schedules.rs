//! Plays EventBridge Scheduler: moto keeps schedules but never runs them. Every [`TICK`],
//! each one-time schedule (`at(…)`, UTC) in the template's schedule groups that is due
//! sends its input to its target queue, once, and is deleted when it says so
//! (`ActionAfterCompletion: DELETE`), as the scheduler does. A schedule is read once per
//! modification, so a tick costs one ListSchedules per group while nothing is due.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use aws_sdk_scheduler::types::{ActionAfterCompletion, ScheduleState};

use crate::{stack::Stack, template::Template};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often schedules are looked at: a schedule fires within this of its time.
pub const TICK: Duration = Duration::from_millis(250);

/// The schedule groups of one stack and the queues their schedules may target.
pub struct Player {
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    groups: Vec<String>,
    /// Queue ARN → URL.
    queues: HashMap<String, String>,
    /// Schedules that ran and stay (no `DELETE` after completion): one-time, so never again.
    done: HashSet<String>,
    /// What each listed schedule does, by `group/name`, as of its last modification.
    read: HashMap<String, (Option<aws_sdk_scheduler::primitives::DateTime>, Plan)>,
}

/// One schedule, as far as playing it goes.
#[derive(Clone)]
struct Plan {
    /// Epoch seconds; `None` for anything but `at(…)`, which is not played.
    at: Option<u64>,
    enabled: bool,
    target: String,
    input: String,
    delete_after: bool,
}

impl Player {
    /// `stack` must be bootstrapped or discovered.
    pub fn new(
        template: &Template,
        stack: &Stack,
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Self {
        let physical = |id: &str| stack.physical.get(id);
        let groups = template
            .of_type("AWS::Scheduler::ScheduleGroup")
            .filter_map(|(id, _)| physical(id))
            .map(|p| p.reference.clone());
        let queues = template
            .of_type("AWS::SQS::Queue")
            .filter_map(|(id, _)| physical(id))
            .filter_map(|p| Some((p.attributes.get("Arn")?.clone(), p.reference.clone())));
        Self {
            scheduler,
            sqs,
            groups: groups.collect(),
            queues: queues.collect(),
            done: HashSet::new(),
            read: HashMap::new(),
        }
    }

    /// Whether the template has schedule groups to play.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Plays the schedules until the runtime stops.
    pub async fn run(mut self) {
        loop {
            if let Err(err) = self.tick(ballot_core::clock::epoch_secs()).await {
                tracing::warn!(error = %shared::aws::DisplayErrorContext(&*err), "schedules not played");
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// Runs every schedule due at `now` (epoch seconds). Returns how many ran. A schedule
    /// that cannot be played is logged and skipped; the others still run.
    pub async fn tick(&mut self, now: u64) -> Result<usize, BoxError> {
        let mut ran = 0;
        let mut listed = HashSet::new();
        for group in self.groups.clone() {
            let mut pages = self.scheduler.list_schedules().group_name(&group).into_paginator().items().send();
            let mut summaries = Vec::new();
            while let Some(summary) = pages.next().await {
                let summary = summary?;
                summaries.push((summary.name().unwrap_or_default().to_owned(), summary.last_modification_date));
            }
            for (name, modified) in summaries {
                let key = format!("{group}/{name}");
                listed.insert(key.clone());
                match self.play(&group, &name, modified, now).await {
                    Ok(played) => ran += usize::from(played),
                    Err(err) => {
                        tracing::warn!(schedule = %key, error = %shared::aws::DisplayErrorContext(&*err), "schedule not played")
                    }
                }
            }
        }
        self.read.retain(|key, _| listed.contains(key));
        Ok(ran)
    }

    /// Runs schedule `group/name` (last modified at `modified`) if it is due at `now`;
    /// whether it ran.
    async fn play(
        &mut self,
        group: &str,
        name: &str,
        modified: Option<aws_sdk_scheduler::primitives::DateTime>,
        now: u64,
    ) -> Result<bool, BoxError> {
        let key = format!("{group}/{name}");
        if self.done.contains(&key) {
            return Ok(false);
        }
        let plan = match self.read.get(&key) {
            Some((seen, plan)) if *seen == modified => plan.clone(),
            _ => {
                let plan = self.plan(group, name).await?;
                self.read.insert(key.clone(), (modified, plan.clone()));
                plan
            }
        };
        if !(plan.enabled && plan.at.is_some_and(|at| at <= now)) {
            return Ok(false);
        }
        let Some(url) = self.queues.get(&plan.target) else {
            // Never playable: said once, not every tick (the scheduler would dead-letter it).
            self.done.insert(key);
            return Err(format!("{} is not a queue of this stack", plan.target).into());
        };
        self.sqs.send_message().queue_url(url).message_body(plan.input).send().await?;
        tracing::info!(schedule = %key, "schedule ran");
        if plan.delete_after {
            self.scheduler.delete_schedule().group_name(group).name(name).send().await?;
        } else {
            self.done.insert(key);
        }
        Ok(true)
    }

    async fn plan(&self, group: &str, name: &str) -> Result<Plan, BoxError> {
        let schedule = self.scheduler.get_schedule().group_name(group).name(name).send().await?;
        let target = schedule.target().ok_or_else(|| format!("schedule {group}/{name} has no target"))?;
        Ok(Plan {
            at: schedule.schedule_expression().and_then(ballot_core::closing::at_epoch),
            enabled: schedule.state() != Some(&ScheduleState::Disabled),
            target: target.arn().to_owned(),
            input: target.input().unwrap_or_default().to_owned(),
            delete_after: schedule.action_after_completion() == Some(&ActionAfterCompletion::Delete),
        })
    }
}
