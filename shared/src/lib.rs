//! The edge and the adapters of ballot's Lambdas, over the rules of `ballot-core`:
//! - the edge: HTTP ([`http`]: problem+json, security headers, CORS, the per-request log
//!   span; [`body`]; [`error`], which maps the domain error to statuses and problem types
//!   in one place), the caller ([`identity`]), [`idempotency`], cursors, SQS consumers
//!   ([`queue`]), pages and their CSP ([`page`]);
//! - configuration ([`config`], a leaf) and wiring ([`app`]: config, AWS clients, caches,
//!   built once per cold start; [`poll_cache`], the vote path's copies of polls);
//! - the adapters that implement `ballot_core::ports` and the rest of AWS: DynamoDB
//!   ([`store`], and idempotency records), SQS ([`events`]), EventBridge Scheduler
//!   ([`closing`]), Secrets Manager ([`secrets`]), argon2 and token signing ([`auth`]),
//!   webhook sealing and delivery ([`webhooks`]), the live queue and the WebSocket
//!   API's `@connections` ([`pushes`]), account mail through SES (`mail`, feature
//!   `mail`); the WebSocket routes' edge ([`live`]).
//!
//! Function crates only wire these pieces to a use case of `ballot-core`.

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod aws;
pub mod body;
#[cfg(feature = "captcha")]
pub mod captcha;
pub mod clock;
pub mod closing;
pub mod config;
pub mod cursor;
#[cfg(feature = "custom-resource")]
pub mod custom_resource;
#[cfg(feature = "deploy-hook")]
pub mod deploy_hook;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod lifecycle;
pub mod listing;
pub mod live;
#[cfg(feature = "mail")]
pub mod mail;
pub mod manage;
pub mod metrics;
pub mod page;
pub mod poll_cache;
pub mod pushes;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod webhooks;

pub use ballot_core::FieldError;
pub use error::{ApiError, Problem};
