//! What every ballot Lambda shares. Function crates only wire these pieces together:
//! `main.rs` builds [`config::Config`] and [`aws::AwsClients`] once per cold start and hands
//! a plain async handler to [`http::serve`], which owns error mapping, security headers,
//! CORS and the per-request log span.

pub mod app;
pub mod auth;
pub mod aws;
pub mod body;
pub mod clock;
pub mod closing;
pub mod config;
pub mod cursor;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod lifecycle;
pub mod listing;
pub mod manage;
pub mod polls;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod webhooks;

pub use error::{ApiError, FieldError, Problem};
