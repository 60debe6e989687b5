//! `Idempotency-Key` at the edge: the header's form, the invocation's deadline, and
//! responses kept and replayed (marked `Idempotent-Replayed: true`); the algorithm is
//! `ballot_core::idempotency`, and its records live in the table ([`Store`] implements
//! [`IdempotencyRecords`]).
//!
//! A lock whose holder died lapses at the invocation's deadline: the Lambda context's
//! `deadline`, which Lambda sets to the start of the invocation plus the function's
//! `Timeout`. `cargo lambda watch` hands every invocation the same fixed deadline
//! (600,000 ms after the epoch, in 1970), so a deadline that is not ahead counts as
//! none and the lock lasts [`FUNCTION_TIMEOUT`].

use std::{collections::HashMap, future::Future, time::Duration};

use aws_sdk_dynamodb::{operation::put_item::PutItemError, types::AttributeValue};
use lambda_http::{Body, Request, RequestExt, Response, http::HeaderValue};
use serde::{Deserialize, Serialize};

use crate::{ApiError, clock::System, store::Store};
use ballot_core::{
    Error,
    clock::epoch_secs,
    idempotency::{self, IdempotencyRecords, Keyed, RETENTION_SECS, Record, Replay, Replayable},
};

/// The functions' timeout (`Globals.Function.Timeout` in `template.yaml`; a test keeps
/// them equal): how long a lock lasts when the runtime names no deadline ahead.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The header clients send.
pub const HEADER: &str = "idempotency-key";

/// The stored item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Item {
    pk: String,
    sk: String,
    /// `in_progress` or `completed`.
    status: String,
    payload_hash: String,
    /// While `in_progress`: when the lock lapses.
    lock_expires_at: u64,
    /// When the record stops counting (and the table's TTL may delete it).
    expires_at: u64,
    #[serde(default)]
    response: Option<Replay>,
}

const SK: &str = "IDEMPOTENCY";

fn pk(key: &str) -> String {
    format!("IDEMPOTENCY#{key}")
}

/// Runs `handler` at most once per `Idempotency-Key` of `caller` at `scope` (see
/// `ballot_core::idempotency`). Without the header the handler just runs.
pub async fn once<F, Fut>(
    store: &Store,
    scope: &str,
    caller: &str,
    req: &Request,
    handler: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let Some(key) = req.headers().get(HEADER) else { return handler().await };
    let key = key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()));
    let key = key.ok_or_else(|| {
        ApiError::BadRequest("The Idempotency-Key header must be 1 to 255 visible ASCII characters.".into())
    })?;
    let request = format!("{} {}\n{}", req.method(), req.uri().path(), String::from_utf8_lossy(req.body().as_ref()));
    let keyed = Keyed { scope, caller, key, request, deadline: deadline_secs(req) };
    let Http(response) = idempotency::once(store, &System, keyed, || async { handler().await.map(Http) }).await?;
    Ok(response)
}

/// The invocation's deadline (epoch seconds, rounded up) from the Lambda context, or
/// [`FUNCTION_TIMEOUT`] from now when the context names none ahead (see the module).
fn deadline_secs(req: &Request) -> u64 {
    let now = epoch_secs();
    match req.lambda_context_ref().map(|context| context.deadline.div_ceil(1000)) {
        Some(deadline) if deadline > now => deadline,
        _ => now + FUNCTION_TIMEOUT.as_secs(),
    }
}

/// An HTTP response as the algorithm keeps and replays it.
struct Http(Response<Body>);

impl Replayable for Http {
    fn to_replay(&self) -> Option<Replay> {
        let response = &self.0;
        if response.status().is_server_error() {
            return None;
        }
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        Some(Replay { status: response.status().as_u16(), headers, body })
    }

    fn from_replay(stored: Replay) -> Self {
        let mut response = Response::new(Body::Text(stored.body));
        *response.status_mut() = lambda_http::http::StatusCode::from_u16(stored.status).unwrap_or_default();
        for (name, value) in stored.headers {
            if let (Ok(name), Ok(value)) =
                (name.parse::<lambda_http::http::HeaderName>(), HeaderValue::from_str(&value))
            {
                response.headers_mut().append(name, value);
            }
        }
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        Self(response)
    }
}

impl IdempotencyRecords for Store {
    async fn lock(&self, key: &str, payload_hash: &str, lock_until: u64, now: u64) -> Result<bool, Error> {
        let item = Item {
            pk: pk(key),
            sk: SK.into(),
            status: "in_progress".into(),
            payload_hash: payload_hash.to_owned(),
            lock_expires_at: lock_until,
            expires_at: now + RETENTION_SECS,
            response: None,
        };
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(Error::internal)?))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now OR (#status = :in_progress AND lock_expires_at < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":in_progress", AttributeValue::S("in_progress".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(err) => Err(Error::internal(err)),
        }
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, Error> {
        let item: Option<Item> = self.get_item_as(pk(key), SK).await?;
        Ok(item.map(|item| match item.response {
            Some(response) if item.status == "completed" => {
                Record::Completed { payload_hash: item.payload_hash, response }
            }
            _ => Record::InProgress { payload_hash: item.payload_hash },
        }))
    }

    async fn complete(&self, key: &str, payload_hash: &str, response: Replay, now: u64) -> Result<(), Error> {
        let item = Item {
            pk: pk(key),
            sk: SK.into(),
            status: "completed".into(),
            payload_hash: payload_hash.to_owned(),
            lock_expires_at: 0,
            expires_at: now + RETENTION_SECS,
            response: Some(response),
        };
        let item = serde_dynamo::to_item(&item).map_err(Error::internal)?;
        self.db.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(Error::internal)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), Error> {
        let key = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk(key))),
            ("sk".to_owned(), AttributeValue::S(SK.into())),
        ]);
        self.db.delete_item().table_name(&self.table).set_key(Some(key)).send().await.map_err(Error::internal)?;
        Ok(())
    }
}
