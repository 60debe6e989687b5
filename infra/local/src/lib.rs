//! ballot on a laptop. Everything here reads `template.yaml`, so the local stack cannot
//! drift from what `sam deploy` creates:
//! - [`bootstrap`] creates its tables, queues (with redrive) and secrets on moto/LocalStack;
//! - [`gateway`] serves its REST API like API Gateway, invoking the real functions;
//! - [`live`] serves its WebSocket API and the `@connections` management API;
//! - [`event_sources`] plays its SQS event-source mappings;
//! - [`stream_source`] plays its DynamoDB stream event-source mappings;
//! - [`schedules`] plays EventBridge Scheduler's one-time schedules.

pub mod bootstrap;
pub mod captcha;
pub mod event_sources;
pub mod gateway;
pub mod invoke;
pub mod issuer;
pub mod keys;
pub mod live;
pub mod ops;
pub mod schedules;
pub mod stack;
pub mod stream_source;
pub mod template;

/// The account id ARNs carry locally (moto's default account).
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

/// Whether `url` is `http(s)://` on this machine (127.0.0.0/8, `localhost`, `[::1]`).
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

use std::{sync::Arc, time::Duration};

/// Serves `template`'s API on `listener`, plays its enabled SQS event sources and its
/// schedules against `stack` (which must already be bootstrapped or discovered),
/// invoking functions at `invoke_url`. Returns the running gateway; everything stops
/// when the runtime does.
pub fn serve(
    template: &template::Template,
    stack: &stack::Stack,
    clients: &bootstrap::Clients,
    invoke_url: &str,
    listener: tokio::net::TcpListener,
) -> Result<Arc<gateway::Gateway>, Box<dyn std::error::Error + Send + Sync>> {
    let mut pollers = Vec::new();
    for source in template.sqs_event_sources()?.into_iter().filter(|s| s.enabled) {
        let invoker = invoke::Invoker::new(invoke_url, function_timeout(template, &source.function)?);
        pollers.push(event_sources::Poller::new(source, stack, clients.sqs.clone(), invoker)?);
    }
    let mut players = Vec::new();
    for source in template.stream_event_sources()?.into_iter().filter(|s| s.enabled) {
        let invoker = invoke::Invoker::new(invoke_url, function_timeout(template, &source.function)?);
        let player = stream_source::Player::new(source, stack, clients, invoker)?;
        players.push(
            player.with_rollover(stream_source::rollover_from_env()).with_repeat(stream_source::repeat_from_env()),
        );
    }
    let mut served: Vec<String> =
        pollers.iter().map(|p| format!("SQS {} -> {}", p.source.queue, p.source.binary)).collect();
    served.extend(players.iter().map(|p| format!("DynamoDB {} stream -> {}", p.source.table, p.source.binary)));
    let schedules = schedules::Player::new(template, stack, clients.scheduler.clone(), clients.sqs.clone());
    if !schedules.is_empty() {
        served.push("EventBridge Scheduler one-time schedules -> SQS".to_owned());
        tokio::spawn(schedules.run());
    }
    let gateway = Arc::new(gateway::Gateway::new(template, stack, invoke_url)?.with_event_sources(served));
    for poller in pollers {
        tokio::spawn(poller.run());
    }
    for player in players {
        tokio::spawn(player.run());
    }
    tokio::spawn(Arc::clone(&gateway).serve(listener));
    Ok(gateway)
}

/// Serves `template`'s WebSocket API, if it has one, on `listener` (see [`live`]).
pub fn serve_live(
    template: &template::Template,
    stack: &stack::Stack,
    invoke_url: &str,
    listener: tokio::net::TcpListener,
) -> Result<Option<Arc<live::LiveGateway>>, template::TemplateError> {
    let Some(api) = live::LiveApi::from_template(template, stack)? else { return Ok(None) };
    let gateway = Arc::new(live::LiveGateway::new(api, invoke_url, live::Lifetimes::from_env()));
    tokio::spawn(Arc::clone(&gateway).serve(listener));
    Ok(Some(gateway))
}

/// Lambda stops a consumer at its `Timeout` (default 3 s); so does a local mapping.
fn function_timeout(template: &template::Template, function: &str) -> Result<Duration, String> {
    let resource = template.resource(function).ok_or(format!("event source of an unknown function {function}"))?;
    Ok(Duration::from_secs(template.function_property(resource, "Timeout").and_then(|t| t.as_u64()).unwrap_or(3)))
}

#[cfg(test)]
mod tests {
    use super::is_loopback_url;

    #[test]
    fn given_endpoints_when_checked_then_only_this_machine_is_local() {
        for local in ["http://127.0.0.1:4566", "http://localhost:4566/", "http://[::1]:4566", "http://127.0.0.2"] {
            assert!(is_loopback_url(local), "{local}");
        }
        for remote in [
            "",
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://10.0.0.1:4566",
            "http://127.0.0.1.evil.example",
            "localhost:4566",
        ] {
            assert!(!is_loopback_url(remote), "{remote}");
        }
    }
}
