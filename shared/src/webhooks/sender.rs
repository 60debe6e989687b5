//! Sends one delivery over HTTP, and decides what its outcome means.
//!
//! Invariants of every request: the host is resolved here and each address it resolves
//! to is checked ([`address::refusal`]); the connection goes to those checked addresses
//! only (the client's resolver is this check, and a literal IP is checked before the
//! request), so nothing internal is ever connected to. No proxy, no redirect followed, 10
//! seconds at most. The body is the event as JSON, signed per Standard Webhooks with the
//! event's id as `webhook-id`, stable across retries so receivers de-duplicate on it.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use ballot_core::events::Event;
use ballot_core::webhooks::{address, signature};

/// How long a delivery may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a delivery did not succeed; the text goes to the webhook's `last_error`, so it
/// names what the owner can fix and nothing of ballot's internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The address is not one ballot connects to: not retried.
    Refused(String),
    /// The endpoint failed or could not be reached: retried.
    Failed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why) => write!(f, "refused: {why}"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// The resolver's refusal, found again in the error chain of a failed request.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Resolves names (fixed answers first, then the system resolver) and lets through only
/// names whose every address may be connected to.
struct CheckedResolver {
    allowed: Arc<[IpAddr]>,
    hosts: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (allowed, hosts) = (Arc::clone(&self.allowed), Arc::clone(&self.hosts));
        let name = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let ips: Vec<IpAddr> = match hosts.get(&name) {
                Some(ips) => ips.clone(),
                None => tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .map_err(|_| Refusal(format!("{name} does not resolve")))?
                    .map(|socket| socket.ip())
                    .collect(),
            };
            if ips.is_empty() {
                return Err(Refusal(format!("{name} does not resolve")).into());
            }
            if let Some((ip, why)) = ips.iter().find_map(|ip| address::refusal(*ip, &allowed).map(|why| (ip, why))) {
                return Err(Refusal(format!("{name} resolves to {ip}, a {why} address")).into());
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The HTTP client of deliveries; built once per cold start.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allowed: Arc<[IpAddr]>,
}

impl Sender {
    /// `allowed`: internal addresses admitted anyway (local tests); `hosts`: fixed answers
    /// to name lookups (local tests).
    pub fn new(allowed: &[IpAddr], hosts: &[(String, IpAddr)]) -> Result<Self, reqwest::Error> {
        let allowed: Arc<[IpAddr]> = allowed.into();
        let mut table: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in hosts {
            table.entry(name.clone()).or_default().push(*ip);
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver { allowed: Arc::clone(&allowed), hosts: Arc::new(table) }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent("ballot-webhooks/1")
            .build()?;
        Ok(Self { client, allowed })
    }

    /// Sends `event` to `url`, signed with `secret` at `timestamp` (Unix seconds); `Ok`
    /// with the status when the endpoint answered 2xx.
    pub async fn send(&self, url: &str, secret: &str, event: &Event, timestamp: u64) -> Result<u16, Failure> {
        let url = url::Url::parse(url).map_err(|_| Failure::Refused("the URL is not valid".into()))?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(Failure::Refused("the URL has no host".into())),
        };
        if let Some(ip) = literal
            && let Some(why) = address::refusal(ip, &self.allowed)
        {
            return Err(Failure::Refused(format!("{ip} is a {why} address")));
        }
        let body = serde_json::to_vec(event).map_err(|_| Failure::Failed("the event could not be encoded".into()))?;
        let signed = signature::sign(secret, &event.id, timestamp, &body)
            .ok_or_else(|| Failure::Refused("the webhook's secret is malformed".into()))?;
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await
            .map_err(|err| failure_of(&err))?;
        let status = response.status();
        match status.as_u16() {
            200..=299 => Ok(status.as_u16()),
            300..=399 => Err(Failure::Failed(format!("HTTP {} (redirects are not followed)", status.as_u16()))),
            code => Err(Failure::Failed(format!("HTTP {code}"))),
        }
    }
}

/// What a request error means for the owner.
fn failure_of(err: &reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<Refusal>() {
            return Failure::Refused(refusal.0.clone());
        }
        source = current.source();
    }
    if err.is_timeout() {
        Failure::Failed(format!("no answer within {} seconds", TIMEOUT.as_secs()))
    } else if err.is_connect() {
        Failure::Failed("could not connect".into())
    } else {
        Failure::Failed("the request failed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::{io::AsyncReadExt, net::TcpListener};

    fn event() -> Event {
        Event {
            id: "evt_1".into(),
            kind: ballot_core::events::EventKind::VoteCast,
            poll_id: "p".into(),
            occurred_at: "2027-01-01T00:00:00Z".into(),
            data: serde_json::json!({}),
        }
    }

    /// A listener on 127.0.0.1 that counts the connections it accepts.
    async fn listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                use tokio::io::AsyncWriteExt;
                let _ = socket.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn given_no_allowlist_when_sending_to_loopback_by_ip_or_name_then_refused_and_nothing_connects() {
        let (port, accepted) = listener().await;
        let sender = Sender::new(&[], &[("hooks.test".into(), "127.0.0.1".parse().unwrap())]).unwrap();
        let secret = signature::new_secret();
        for url in [format!("http://127.0.0.1:{port}/hook"), format!("http://hooks.test:{port}/hook")] {
            let outcome = sender.send(&url, &secret, &event(), 1).await;
            assert!(
                matches!(outcome, Err(Failure::Refused(ref why)) if why.contains("loopback")),
                "{url}: {outcome:?}"
            );
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn given_the_allowlist_when_sending_to_loopback_then_it_is_delivered() {
        let (port, accepted) = listener().await;
        let sender = Sender::new(&["127.0.0.1".parse().unwrap()], &[]).unwrap();
        let outcome =
            sender.send(&format!("http://127.0.0.1:{port}/hook"), &signature::new_secret(), &event(), 1).await;
        assert_eq!(outcome, Ok(204));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
