//! DynamoDB: the one table and the items ballot keeps in it. Handlers never build
//! attribute maps: each item is a Rust type converted with `serde_dynamo`, and every
//! uniqueness rule is a conditional write, never a read-then-write.
//!
//! Keys (`pk` / `sk`):
//! - `USER#<id>` / `PROFILE` — an account ([`users::User`]); `gsi1pk` `USER`, `gsi1sk`
//!   `<created_at>#<id>` list accounts for admins;
//! - `EMAIL#<email>` / `EMAIL` — the claim that makes an email unique;
//! - `REFRESH#<sha256>` / `REFRESH` and `FAMILY#<id>` / `FAMILY` — refresh tokens
//!   ([`sessions`]);
//! - `LIMIT#<scope>#<key>#<window>` / `LIMIT` — rate-limit windows ([`limits`]);
//! - `POLL#<id>…` — polls, ballots, the tally's counts and statistics ([`polls`],
//!   [`ballots`], [`tally`], [`stats`]);
//! - `IDEMPOTENCY#<hash>` / `IDEMPOTENCY` — idempotent requests (`crate::idempotency`);
//! - `APIKEYS#<owner>` / `<id>` and `APIKEYCOUNT#<owner>` / `COUNT` — API keys
//!   ([`api_keys`]).
//!
//! Items that expire carry `expires_at` (epoch seconds), the table's TTL attribute; code
//! checks expiry itself, since TTL deletion can lag by days.

pub mod api_keys;
pub mod ballots;
pub mod deliveries;
pub mod limits;
mod links;
pub mod live;
pub mod polls;
pub mod sessions;
pub mod stats;
pub mod tally;
pub mod users;
pub mod webhooks;

use aws_sdk_dynamodb::{
    error::SdkError, operation::transact_write_items::TransactWriteItemsError, types::AttributeValue,
};

use ballot_core::Error;

/// The table, and the client to reach it.
#[derive(Debug, Clone)]
pub struct Store {
    pub db: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl Store {
    pub fn new(db: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { db, table }
    }

    /// The primary key attributes of an item.
    fn key(pk: String, sk: &str) -> Item {
        std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    /// A transaction step that writes `item` only if no item has its key yet.
    fn put_new<T: serde::Serialize>(&self, item: &T) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, Error> {
        self.put_if(item, Some("attribute_not_exists(pk)"))
    }

    fn put_if<T: serde::Serialize>(
        &self,
        item: &T,
        condition: Option<&str>,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, Error> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(Error::internal)?))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(Error::internal)?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build())
    }

    /// A transaction step that moves the counter `n` of the item at `pk` / `COUNT` by
    /// `delta`; with `max`, only while it stays at most `max` (a cap that holds under any
    /// number of concurrent steps).
    fn count_step(
        &self,
        pk: String,
        delta: i64,
        max: Option<usize>,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, Error> {
        let mut update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, "COUNT")))
            .update_expression("ADD n :delta")
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
        if let Some(max) = max {
            update = update
                .condition_expression("attribute_not_exists(n) OR n < :max")
                .expression_attribute_values(":max", AttributeValue::N(max.to_string()));
        }
        let update = update.build().map_err(Error::internal)?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().update(update).build())
    }

    /// A transaction step that deletes the item at `pk` / `sk`, which must exist.
    fn delete_existing(&self, pk: String, sk: &str) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, Error> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(Error::internal)?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().delete(delete).build())
    }

    /// Runs `items` as one transaction: `true` when it committed, `false` when one of its
    /// conditions did not hold or a concurrent transaction won ([`condition_failed`]).
    async fn transact(&self, items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>) -> Result<bool, Error> {
        match self.db.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(Error::internal(err)),
        }
    }

    /// An `UpdateItem` of the item at `pk` / `sk`.
    fn update_item(
        &self,
        pk: String,
        sk: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.db.update_item().table_name(&self.table).set_key(Some(Self::key(pk, sk)))
    }

    /// Reads one item (strongly consistent), converted to `T`, for modules outside `store`.
    pub(crate) async fn get_item_as<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, Error> {
        self.get(pk, sk).await
    }

    /// Reads one item (strongly consistent), converted to `T`.
    async fn get<T: serde::de::DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, Error> {
        self.get_with(pk, sk, true).await
    }

    /// Reads one item, converted to `T` (`consistent`: a strongly consistent read; else
    /// eventually consistent, half the read units).
    async fn get_with<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
        consistent: bool,
    ) -> Result<Option<T>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(Error::internal)?;
        out.item.map(|item| serde_dynamo::from_item(item).map_err(Error::internal)).transpose()
    }
}

/// A query of one partition: of the table (`index` `None`, key `pk`) or of an index.
pub(crate) struct Query<'a> {
    pub index: Option<&'a str>,
    /// The partition key attribute and its value.
    pub key: &'a str,
    pub value: String,
    pub limit: Option<i32>,
    /// Highest sort key first (listings are newest first).
    pub descending: bool,
}

/// One page of a query: its items, and where the next page starts (the
/// `LastEvaluatedKey` as JSON, to seal in a cursor; `None` on the last page).
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<serde_json::Value>,
}

impl Store {
    /// One page of `query`, from `start` (a previous page's `next`).
    pub(crate) async fn query_page<T: serde::de::DeserializeOwned>(
        &self,
        query: &Query<'_>,
        start: Option<serde_json::Value>,
    ) -> Result<Page<T>, Error> {
        let start = start.map(serde_dynamo::to_item::<_, Item>).transpose().map_err(Error::internal)?;
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(str::to_owned))
            .key_condition_expression("#key = :value")
            .expression_attribute_names("#key", query.key)
            .expression_attribute_values(":value", AttributeValue::S(query.value.clone()))
            .scan_index_forward(!query.descending)
            .set_limit(query.limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(Error::internal)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<_, _>>()
            .map_err(Error::internal)?;
        let next = out
            .last_evaluated_key
            .map(serde_dynamo::from_item::<_, serde_json::Value>)
            .transpose()
            .map_err(Error::internal)?;
        Ok(Page { items, next })
    }

    /// Every item of `query`, page after page.
    pub(crate) async fn query_all<T: serde::de::DeserializeOwned>(&self, query: &Query<'_>) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self.query_page(query, start).await?;
            items.extend(page.items);
            start = page.next;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// The outcome of a conditional `UpdateItem`: `None` when its condition did not hold
/// (an expected answer, not an error), the output otherwise.
fn condition_held(result: UpdateResult) -> Result<Option<UpdateItemOutput>, Error> {
    condition_held_or_item(result).map(Result::ok)
}

/// Like [`condition_held`], but a failed condition yields the item as it stood, when the
/// request asked for it (`ReturnValuesOnConditionCheckFailure::AllOld`) and there was one.
fn condition_held_or_item(result: UpdateResult) -> Result<Result<UpdateItemOutput, Option<Item>>, Error> {
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    match result {
        Ok(out) => Ok(Ok(out)),
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(Err(failed.item().cloned())),
            _ => Err(Error::internal(err)),
        },
    }
}

type UpdateItemOutput = aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
type UpdateResult = Result<UpdateItemOutput, SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>>;
type Item = std::collections::HashMap<String, AttributeValue>;

/// Whether a transaction lost a race: one of its conditions failed, or DynamoDB cancelled
/// it for a concurrent transaction on the same item (`TransactionConflict`, which AWS
/// reports and moto does not) — as opposed to a throttle or an outage.
fn condition_failed(err: &SdkError<TransactWriteItemsError>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict"))),
        _ => false,
    }
}
