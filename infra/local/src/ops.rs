//! Operator commands that never go through the public API: making the first admin,
//! rotating the signing keys, recounting a poll. They run against the configured endpoint (the local stack
//! by default; AWS with `--allow-remote`).

use ballot_core::access::Role;
use ballot_core::accounts::normalize_email;
use shared::store::Store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Gives the account registered with `email` the `admin` role (keeping its others).
pub async fn make_admin(store: &Store, email: &str) -> Result<String, BoxError> {
    let email = normalize_email(email);
    let id = store
        .user_id_by_email(&email)
        .await
        .map_err(describe)?
        .ok_or(format!("no account is registered with {email}"))?;
    let user = store.user(&id).await.map_err(describe)?.ok_or("the account disappeared")?;
    let mut roles = user.roles;
    if !roles.contains(&Role::Admin) {
        roles.insert(0, Role::Admin);
    }
    store
        .update_user(&id, &ballot_core::accounts::AccountChange { roles: Some(roles), disabled: None })
        .await
        .map_err(describe)?;
    Ok(id)
}

/// Adds a new current signing key to the key set in `secret_id` (`shared::auth::key_rotation`);
/// returns the new key id.
pub async fn rotate_signing_keys(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    verification_id: &str,
) -> Result<String, BoxError> {
    Ok(shared::auth::key_rotation::rotate_signing_keys(secrets, secret_id, verification_id).await?.kid)
}

/// What a recount found: the counts from the ballots, and what the tally says.
#[derive(Debug)]
pub struct Recount {
    pub recounted: ballot_core::counting::Tally,
    pub tallied: ballot_core::counting::Tally,
    pub repaired: bool,
}

/// Counts poll `poll_id`'s ballots by the counting rule and compares with the tally;
/// with `repair`, makes the tally say the recount when they differ (on a quiet poll: see
/// `Store::repair_tally`).
pub async fn recount(store: &Store, poll_id: &str, repair: bool) -> Result<Recount, BoxError> {
    let recounted = store.recount(poll_id).await.map_err(describe)?.ok_or(format!("no poll {poll_id}"))?;
    let tallied = store.tallied(poll_id).await.map_err(describe)?;
    let repaired = repair && recounted != tallied;
    if repaired {
        store.repair_tally(poll_id, &recounted).await.map_err(describe)?;
    }
    Ok(Recount { recounted, tallied, repaired })
}

fn describe(err: ballot_core::Error) -> BoxError {
    match err {
        ballot_core::Error::Internal(cause) => cause,
        other => other.to_string().into(),
    }
}

/// Moves every message of `queue_url`'s dead-letter queue (from its `RedrivePolicy`) back
/// to it, body and message attributes unchanged, and returns how many moved. Nothing is
/// lost: a message leaves the dead-letter queue only after the queue accepted its copy; a
/// crash in between can deliver it twice, which consumers tolerate (they are idempotent).
pub async fn replay_dead_letters(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<usize, BoxError> {
    use aws_sdk_sqs::types::{
        DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
    };
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await?;
    let policy = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
        .ok_or(format!("{queue_url} has no dead-letter queue (no RedrivePolicy)"))?;
    let policy: serde_json::Value = serde_json::from_str(policy)?;
    let dead_letter_name =
        policy["deadLetterTargetArn"].as_str().and_then(|arn| arn.rsplit(':').next()).ok_or("bad RedrivePolicy")?;
    let dead_letters = sqs.get_queue_url().queue_name(dead_letter_name).send().await?.queue_url.ok_or("no DLQ URL")?;
    let mut moved = 0;
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(&dead_letters)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body().unwrap_or_default())
                    .set_message_attributes(m.message_attributes().cloned())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = sqs.send_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await?;
        let deletes = sent
            .successful()
            .iter()
            .filter_map(|ok| ok.id().parse::<usize>().ok())
            .filter_map(|i| messages.get(i))
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !sent.failed().is_empty() {
            tracing::warn!(
                failed = sent.failed().len(),
                "some messages were not accepted; they stay in the dead-letter queue"
            );
        }
        moved += deletes.len();
        if !deletes.is_empty() {
            sqs.delete_message_batch().queue_url(&dead_letters).set_entries(Some(deletes)).send().await?;
        }
        if !sent.failed().is_empty() {
            return Err(format!(
                "{} messages were not accepted by {queue_url}; run the replay again",
                sent.failed().len()
            )
            .into());
        }
    }
}

/// What [`reschedule`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rescheduled {
    /// Open polls whose closing time is ahead: scheduled again.
    pub scheduled: Vec<String>,
    /// Open polls whose closing time passed while they had no schedule: closing now (their
    /// closing time sent to the events queue, as the schedule would have).
    pub due: Vec<String>,
}

/// The ids of every poll in `table` (a Scan of the poll items: an operator's tool, never
/// the API's).
pub async fn poll_ids(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<String>, BoxError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut ids = Vec::new();
    let mut pages = db
        .scan()
        .table_name(table)
        .filter_expression("sk = :poll AND begins_with(pk, :prefix)")
        .expression_attribute_values(":poll", AttributeValue::S("POLL".into()))
        .expression_attribute_values(":prefix", AttributeValue::S("POLL#".into()))
        .projection_expression("pk")
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        if let Some(AttributeValue::S(pk)) = item?.get("pk") {
            ids.extend(pk.strip_prefix("POLL#").map(str::to_owned));
        }
    }
    ids.sort();
    Ok(ids)
}

/// Re-creates what a table restored from a copy lacks for its open polls: a closing
/// schedule for each closing time ahead, and an immediate closing for each that passed
/// (`ballot_core::managing::pending_closing`). Safe to run twice: a schedule that exists
/// is kept, and a closing time of a closed poll changes nothing.
pub async fn reschedule(
    store: &Store,
    schedules: &shared::closing::Schedules,
    sqs: &aws_sdk_sqs::Client,
    events_queue_url: &str,
) -> Result<Rescheduled, BoxError> {
    use ballot_core::managing::{PendingClosing, pending_closing};
    let now = ballot_core::clock::epoch_secs();
    let mut done = Rescheduled::default();
    for id in poll_ids(&store.db, &store.table).await? {
        let Some(stored) = store.poll(&id, true).await.map_err(describe)? else { continue };
        match pending_closing(&stored.poll, now) {
            None => {}
            Some(PendingClosing::Schedule { due, version }) => {
                schedules.schedule(&id, due.closes_at, version).await.map_err(describe)?;
                done.scheduled.push(id);
            }
            Some(PendingClosing::Due(due)) => {
                let body = serde_json::to_string(&due)?;
                sqs.send_message().queue_url(events_queue_url).message_body(body).send().await?;
                done.due.push(id);
            }
        }
    }
    Ok(done)
}

/// A table restored from a point in time (or a backup), made ready to serve the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub table_arn: String,
    pub stream_arn: String,
}

/// Gives a restored `table` back what a restore does not copy, as the template's table has
/// it: its stream (`NEW_AND_OLD_IMAGES`, which the tally reads), time to live on
/// `ttl_attribute`, point-in-time recovery and deletion protection. Each step is skipped
/// when already done, so it can run again after a failure. Returns the ARNs the stack's
/// `RestoredTableArn`/`RestoredTableStreamArn` take.
pub async fn prepare_restored(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    ttl_attribute: &str,
) -> Result<Restored, BoxError> {
    use aws_sdk_dynamodb::types::{
        PointInTimeRecoverySpecification, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    };
    let described = wait_active(db, table).await?;
    let stream = described.stream_specification().is_some_and(|s| s.stream_enabled);
    if !stream {
        let spec = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()?;
        db.update_table().table_name(table).stream_specification(spec).send().await?;
    }
    let described = wait_active(db, table).await?;
    if described.deletion_protection_enabled != Some(true) {
        db.update_table().table_name(table).deletion_protection_enabled(true).send().await?;
        wait_active(db, table).await?;
    }
    let ttl = db.describe_time_to_live().table_name(table).send().await?;
    let ttl_on = ttl.time_to_live_description().and_then(|d| d.attribute_name()) == Some(ttl_attribute);
    if !ttl_on {
        let spec = TimeToLiveSpecification::builder().attribute_name(ttl_attribute).enabled(true).build()?;
        db.update_time_to_live().table_name(table).time_to_live_specification(spec).send().await?;
    }
    let pitr = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build()?;
    db.update_continuous_backups().table_name(table).point_in_time_recovery_specification(pitr).send().await?;
    let described = wait_active(db, table).await?;
    Ok(Restored {
        table_arn: described.table_arn().ok_or("the table has no ARN")?.to_owned(),
        stream_arn: described.latest_stream_arn().ok_or("the table has no stream yet")?.to_owned(),
    })
}

/// Waits (up to 20 minutes) until `table` is ACTIVE with a stream ARN if it has a stream.
async fn wait_active(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<aws_sdk_dynamodb::types::TableDescription, BoxError> {
    use aws_sdk_dynamodb::types::TableStatus;
    for _ in 0..600 {
        let described = db.describe_table().table_name(table).send().await?.table.ok_or("no table description")?;
        let streaming = described.stream_specification().is_some_and(|s| s.stream_enabled);
        let ready = described.table_status() == Some(&TableStatus::Active)
            && (!streaming || described.latest_stream_arn().is_some());
        if ready {
            return Ok(described);
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    Err(format!("table {table} did not become ACTIVE within 20 minutes").into())
}
