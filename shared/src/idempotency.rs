//! Idempotent writes (`Idempotency-Key`), with the semantics of Powertools' idempotency
//! utility, once for every function:
//! - the first request with a key takes an in-progress lock (a conditional write) and runs;
//!   its response is stored for 24 h (unless it is a 5xx, which releases the key so a
//!   retry can run);
//! - the same key with the same body within 24 h gets the stored response again, marked
//!   `Idempotent-Replayed: true`;
//! - the same key with a different body → 422; while the first is still running → 409;
//! - a lock whose holder died expires at the invocation's deadline: the Lambda context's
//!   `deadline`, which Lambda sets to the start of the invocation plus the function's
//!   `Timeout`. `cargo lambda watch` hands every invocation the same fixed deadline
//!   (600,000 ms after the epoch, in 1970), so a deadline that is not ahead counts as
//!   none and the lock lasts [`FUNCTION_TIMEOUT`]. Expiry is checked in code (DynamoDB's
//!   TTL deletion can lag by days).
//!
//! Keys are scoped per function and per caller, so one client cannot replay another's.

use std::{collections::HashMap, future::Future, time::Duration};

use aws_sdk_dynamodb::{operation::put_item::PutItemError, types::AttributeValue};
use lambda_http::{Body, Request, RequestExt, Response, http::HeaderValue};
use serde::{Deserialize, Serialize};

use crate::{ApiError, store::Store};
use ballot_core::{clock::epoch_secs, ids::sha256_hex};

/// How long a completed response is replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The functions' timeout (`Globals.Function.Timeout` in `template.yaml`; a test keeps
/// them equal): how long a lock lasts when the runtime names no deadline ahead.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The header clients send.
pub const HEADER: &str = "idempotency-key";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    pk: String,
    sk: String,
    status: String,
    payload_hash: String,
    /// While `in_progress`: when the lock lapses.
    lock_expires_at: u64,
    /// When the record stops counting (and the table's TTL may delete it).
    expires_at: u64,
    #[serde(default)]
    response: Option<StoredResponse>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct StoredResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Runs `handler` at most once per `Idempotency-Key` of `caller` at `scope` (see the
/// module). Without the header the handler just runs. An in-progress record blocks
/// others until this invocation's deadline, after which its holder is gone for sure.
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
    let pk = format!("IDEMPOTENCY#{}", sha256_hex(&format!("{scope}\n{caller}\n{key}")));
    let payload_hash =
        sha256_hex(&format!("{} {}\n{}", req.method(), req.uri().path(), String::from_utf8_lossy(req.body().as_ref())));
    if let Some(stored) = begin(store, &pk, &payload_hash, deadline_secs(req)).await? {
        return Ok(replay(stored));
    }
    match handler().await {
        Ok(response) if response.status().as_u16() < 500 => {
            let (response, stored) = capture(response);
            complete(store, &pk, &payload_hash, stored).await?;
            Ok(response)
        }
        outcome => {
            // Nothing to replay: let a retry run.
            release(store, &pk).await?;
            outcome
        }
    }
}

/// Takes the lock, or answers from the existing record (`Some` to replay it).
/// The invocation's deadline (epoch seconds, rounded up) from the Lambda context, or
/// [`FUNCTION_TIMEOUT`] from now when the context names none ahead (see the module).
fn deadline_secs(req: &Request) -> u64 {
    let now = epoch_secs();
    match req.lambda_context_ref().map(|context| context.deadline.div_ceil(1000)) {
        Some(deadline) if deadline > now => deadline,
        _ => now + FUNCTION_TIMEOUT.as_secs(),
    }
}

async fn begin(store: &Store, pk: &str, payload_hash: &str, deadline: u64) -> Result<Option<StoredResponse>, ApiError> {
    let now = epoch_secs();
    let record = Record {
        pk: pk.to_owned(),
        sk: "IDEMPOTENCY".into(),
        status: "in_progress".into(),
        payload_hash: payload_hash.to_owned(),
        lock_expires_at: deadline.max(now + 1),
        expires_at: now + RETENTION.as_secs(),
        response: None,
    };
    let result = store
        .db
        .put_item()
        .table_name(&store.table)
        .set_item(Some(serde_dynamo::to_item(&record).map_err(ApiError::internal)?))
        .condition_expression(
            "attribute_not_exists(pk) OR expires_at < :now OR (#status = :in_progress AND lock_expires_at < :now)",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":in_progress", AttributeValue::S("in_progress".into()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(None),
        Err(err) if matches!(err.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
            let existing: Record = store.get_item_as(pk.to_owned(), "IDEMPOTENCY").await?.ok_or_else(|| {
                ApiError::Domain(ballot_core::Error::Conflict(
                    "A request with this Idempotency-Key is still in progress.".into(),
                ))
            })?;
            if existing.payload_hash != payload_hash {
                return Err(ApiError::Domain(ballot_core::Error::Unprocessable(
                    "This Idempotency-Key was used with a different request; use a new key.".into(),
                )));
            }
            match existing.response {
                Some(stored) if existing.status == "completed" => Ok(Some(stored)),
                _ => Err(ApiError::Domain(ballot_core::Error::Conflict(
                    "A request with this Idempotency-Key is still in progress.".into(),
                ))),
            }
        }
        Err(err) => Err(ApiError::internal(err)),
    }
}

async fn complete(store: &Store, pk: &str, payload_hash: &str, stored: StoredResponse) -> Result<(), ApiError> {
    let record = Record {
        pk: pk.to_owned(),
        sk: "IDEMPOTENCY".into(),
        status: "completed".into(),
        payload_hash: payload_hash.to_owned(),
        lock_expires_at: 0,
        expires_at: epoch_secs() + RETENTION.as_secs(),
        response: Some(stored),
    };
    let item = serde_dynamo::to_item(&record).map_err(ApiError::internal)?;
    store.db.put_item().table_name(&store.table).set_item(Some(item)).send().await.map_err(ApiError::internal)?;
    Ok(())
}

async fn release(store: &Store, pk: &str) -> Result<(), ApiError> {
    let key = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S("IDEMPOTENCY".into())),
    ]);
    store.db.delete_item().table_name(&store.table).set_key(Some(key)).send().await.map_err(ApiError::internal)?;
    Ok(())
}

/// Splits a response into itself and what is stored to replay it.
fn capture(response: Response<Body>) -> (Response<Body>, StoredResponse) {
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let stored = StoredResponse { status: response.status().as_u16(), headers, body };
    (response, stored)
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let mut response = Response::new(Body::Text(stored.body));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(stored.status).unwrap_or_default();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (name.parse::<lambda_http::http::HeaderName>(), HeaderValue::from_str(&value)) {
            response.headers_mut().append(name, value);
        }
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
