//! Configuration read from the environment once per cold start.
//!
//! The same variables are set by `template.yaml` in AWS and by the local bootstrap
//! (resolved from the same template) on a laptop; `AWS_ENDPOINT_URL` is read by the AWS
//! SDK itself, so moto, LocalStack and AWS are one code path.

use std::time::Duration;

/// Who issues tokens and for whom (`TOKEN_ISSUER`, `TOKEN_AUDIENCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
}

/// At most `limit` slots per `seconds`-long window (a rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub seconds: u64,
}

/// Why configuration could not be loaded. Shown in the init error of a cold start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Settings every function receives (see `Globals.Function.Environment` in `template.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The single DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// URL of the events queue (`EVENTS_QUEUE_URL`).
    pub events_queue_url: String,
    /// Name or ARN of the signing key set secret (`SIGNING_KEYS_SECRET_ID`).
    pub signing_keys_secret_id: String,
    /// Name or ARN of its public copy, all a verifier reads (`VERIFICATION_KEYS_SECRET_ID`).
    pub verification_keys_secret_id: String,
    /// Name or ARN of the key that signs page cursors (`CURSOR_KEY_SECRET_ID`).
    pub cursor_key_secret_id: String,
    /// Webhook settings (see [`Webhooks`]).
    pub webhooks: Webhooks,
    /// Where polls' closing times are scheduled (see [`Closing`]).
    pub closing: Closing,
    /// Browser origins allowed by CORS (`CORS_ALLOWED_ORIGINS`, comma separated; empty = none).
    pub cors_allowed_origins: Vec<String>,
    /// How long a warm Lambda keeps a secret before reading it again (`SECRETS_TTL_SECONDS`, default 300).
    pub secrets_ttl: Duration,
    /// `iss` and `aud` of the tokens ballot issues (`TOKEN_ISSUER`, `TOKEN_AUDIENCE`).
    pub tokens: TokenSettings,
    /// Abuse limits (see [`Limits`]).
    pub limits: Limits,
    /// Live results (see [`Live`]).
    pub live: Live,
    /// Account mail (see [`Mail`]).
    pub mail: Mail,
    /// The optional CAPTCHA check of guest and register (see [`Captcha`]); `None`: off.
    pub captcha: Option<Captcha>,
}

/// A Turnstile-compatible CAPTCHA verifier: on when `CAPTCHA_VERIFY_URL` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captcha {
    /// Its `siteverify` endpoint (`CAPTCHA_VERIFY_URL`, a [`trusted_url`]).
    pub verify_url: String,
    /// Name or ARN of the secret it knows the site by (`CAPTCHA_SECRET_ID`).
    pub secret_id: String,
    /// The hostnames a widget may be solved on, lower-case (`CAPTCHA_HOSTNAMES`, comma
    /// separated; empty: the host of `APP_URL`). A token solved on any other site, under
    /// the same site key, is refused.
    pub hostnames: Vec<String>,
}

/// `CAPTCHA_HOSTNAMES`, or else the host of `APP_URL`.
fn captcha_hostnames(listed: &str, app_url: &str) -> Result<Vec<String>, ConfigError> {
    let listed: Vec<String> =
        listed.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    if !listed.is_empty() {
        return Ok(listed);
    }
    let host = url::Url::parse(app_url).ok().and_then(|url| url.host_str().map(str::to_ascii_lowercase));
    let invalid = || ConfigError::Invalid { name: "APP_URL", reason: "must be an absolute URL with a host".into() };
    host.map(|h| vec![h.trim_matches(['[', ']']).to_owned()]).ok_or_else(invalid)
}

/// A URL of a service ballot trusts (an issuer's JWKS, a CAPTCHA verifier): `https` with a
/// host, or `http` to the loopback host (`127.0.0.1`, `localhost`; the local stand-ins),
/// never with user information, judged on the parsed URL (so `http://localhost:@evil.example/`
/// is evil.example's, and refused).
pub fn trusted_url(raw: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information");
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https"),
    }
}

/// Account mail settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The sender, verified in SES (`MAIL_FROM`).
    pub from: String,
    /// The front end that mailed links open (`APP_URL`).
    pub app_url: String,
}

/// Live results settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The live queue: pushes to run (`LIVE_QUEUE_URL`).
    pub queue_url: String,
    /// At most one push per poll per this many milliseconds (`LIVE_COALESCE_MS`, default 1000).
    pub window_ms: u64,
    /// The `@connections` management endpoint: `https://<host>/<stage>` from the WebSocket
    /// API's endpoint (`LIVE_API_ENDPOINT`, `wss://<host>`; locally `ws://`, which gives
    /// `http://`) and its stage (`LIVE_STAGE`).
    pub management_url: String,
    /// Where clients connect: `<LIVE_API_ENDPOINT>/<LIVE_STAGE>` (`wss://<host>/<stage>`).
    pub socket_url: String,
}

/// The management endpoint of the WebSocket API at `endpoint` (`wss://…` or `ws://…`), stage `stage`.
fn management_url(endpoint: &str, stage: &str) -> Result<String, ConfigError> {
    let invalid =
        |reason: &str| ConfigError::Invalid { name: "LIVE_API_ENDPOINT", reason: format!("{endpoint:?}: {reason}") };
    let (scheme, host) = match endpoint.split_once("://") {
        Some(("wss", host)) => ("https", host),
        Some(("ws", host)) => ("http", host),
        _ => return Err(invalid("must start with wss:// or ws://")),
    };
    let host = host.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#']) {
        return Err(invalid("must be scheme://host[:port]"));
    }
    Ok(format!("{scheme}://{host}/{stage}"))
}

/// Webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhooks {
    /// The master key that seals webhook secrets (`WEBHOOK_KEY_SECRET_ID`).
    pub key_secret_id: String,
    /// Whether `http://` webhook URLs are accepted (`WEBHOOK_ALLOW_HTTP`, `true` or
    /// `false`, default `false`): local development and tests only.
    pub allow_http: bool,
    /// The queue of deliveries, one event for one webhook (`WEBHOOK_DELIVERIES_QUEUE_URL`).
    pub deliveries_queue_url: String,
    /// When failed deliveries are tried again (`WEBHOOK_RETRY_DELAYS`, seconds, comma
    /// separated; default [`Backoff::DEFAULT`](ballot_core::webhooks::retry::Backoff::DEFAULT)).
    pub retry: ballot_core::webhooks::retry::Backoff,
    /// Addresses deliveries may reach although internal (`WEBHOOK_ALLOWED_ADDRESSES`,
    /// comma separated; default none): `127.0.0.1` for local tests, never in AWS.
    pub allowed_addresses: Vec<std::net::IpAddr>,
    /// Fixed answers to name lookups, like curl's `--resolve` (`WEBHOOK_HOSTS`,
    /// `name=ip,…`; default none): lets local tests give names to internal addresses.
    pub hosts: Vec<(String, std::net::IpAddr)>,
}

/// The EventBridge Scheduler settings that close polls at `closes_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// The schedule group that holds one schedule per poll closing time
    /// (`CLOSING_SCHEDULE_GROUP`).
    pub schedule_group: String,
    /// The role the scheduler assumes to send to the events queue (`CLOSING_SCHEDULE_ROLE_ARN`).
    pub role_arn: String,
    /// The events queue, the schedules' target (`EVENTS_QUEUE_ARN`).
    pub events_queue_arn: String,
    /// Where a schedule's message goes when the events queue cannot take it
    /// (`EVENTS_DLQ_ARN`): the events DLQ, so a lost closing shows in its alarm.
    pub dead_letter_arn: String,
}

/// Rate limits on sign-in and guest tokens, per fixed window of `window_secs`
/// (`LIMIT_WINDOW_SECONDS`, default 900).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub window_secs: u64,
    /// Failed logins per account from one client address per window
    /// (`LOGIN_LIMIT_PER_ACCOUNT_ADDRESS`, default 5): the tight limit on guessing.
    pub logins_per_account_address: u32,
    /// Failed logins per account from anywhere per window (`LOGIN_LIMIT_PER_ACCOUNT`,
    /// default 100): a ceiling for distributed guessing; once it is full each address has
    /// one try per window at the account, so strangers never lock the owner out.
    pub logins_per_account: u32,
    /// Failed logins per client address per window (`LOGIN_LIMIT_PER_ADDRESS`, default 20).
    pub logins_per_address: u32,
    /// Guest tokens per client address per window (`GUEST_LIMIT_PER_ADDRESS`, default 20).
    pub guests_per_address: u32,
    /// Registrations per client address per window (`REGISTER_LIMIT_PER_ADDRESS`,
    /// default 10).
    pub registrations_per_address: u32,
    /// Password-reset requests per client address per window
    /// (`RESET_LIMIT_PER_ADDRESS`, default 10).
    pub resets_per_address: u32,
    /// Mails to one address per window (`MAIL_LIMIT_PER_RECIPIENT`, default 3).
    pub mails_per_recipient: u32,
    /// Requests per API key per minute (`API_KEY_LIMIT_PER_MINUTE`, default 600): each
    /// key's own limit, on top of the stage's and the method's throttles.
    pub api_key_requests_per_minute: u32,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name))
        };
        let secrets_ttl = Duration::from_secs(number(&lookup, "SECRETS_TTL_SECONDS", 300)?);
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            events_queue_url: required("EVENTS_QUEUE_URL")?,
            signing_keys_secret_id: required("SIGNING_KEYS_SECRET_ID")?,
            verification_keys_secret_id: required("VERIFICATION_KEYS_SECRET_ID")?,
            cursor_key_secret_id: required("CURSOR_KEY_SECRET_ID")?,
            webhooks: Webhooks {
                key_secret_id: required("WEBHOOK_KEY_SECRET_ID")?,
                allow_http: match lookup("WEBHOOK_ALLOW_HTTP").as_deref().map(str::trim) {
                    None | Some("") | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            name: "WEBHOOK_ALLOW_HTTP",
                            reason: format!("{other:?} is not true or false"),
                        });
                    }
                },
                deliveries_queue_url: required("WEBHOOK_DELIVERIES_QUEUE_URL")?,
                retry: ballot_core::webhooks::retry::Backoff::parse(
                    lookup("WEBHOOK_RETRY_DELAYS").as_deref().unwrap_or(ballot_core::webhooks::retry::Backoff::DEFAULT),
                )
                .map_err(|reason| ConfigError::Invalid { name: "WEBHOOK_RETRY_DELAYS", reason })?,
                allowed_addresses: list(&lookup, "WEBHOOK_ALLOWED_ADDRESSES", |entry| entry.parse().ok())?,
                hosts: list(&lookup, "WEBHOOK_HOSTS", |entry| {
                    let (name, ip) = entry.split_once('=')?;
                    Some((name.trim().to_ascii_lowercase(), ip.trim().parse().ok()?))
                })?,
            },
            closing: Closing {
                schedule_group: required("CLOSING_SCHEDULE_GROUP")?,
                role_arn: required("CLOSING_SCHEDULE_ROLE_ARN")?,
                events_queue_arn: required("EVENTS_QUEUE_ARN")?,
                dead_letter_arn: required("EVENTS_DLQ_ARN")?,
            },
            cors_allowed_origins: parse_origins(&lookup("CORS_ALLOWED_ORIGINS").unwrap_or_default())?,
            secrets_ttl,
            tokens: TokenSettings { issuer: required("TOKEN_ISSUER")?, audience: required("TOKEN_AUDIENCE")? },
            limits: Limits {
                window_secs: number(&lookup, "LIMIT_WINDOW_SECONDS", 900)?,
                logins_per_account_address: number(&lookup, "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS", 5)?,
                logins_per_account: number(&lookup, "LOGIN_LIMIT_PER_ACCOUNT", 100)?,
                logins_per_address: number(&lookup, "LOGIN_LIMIT_PER_ADDRESS", 20)?,
                guests_per_address: number(&lookup, "GUEST_LIMIT_PER_ADDRESS", 20)?,
                registrations_per_address: number(&lookup, "REGISTER_LIMIT_PER_ADDRESS", 10)?,
                resets_per_address: number(&lookup, "RESET_LIMIT_PER_ADDRESS", 10)?,
                mails_per_recipient: number(&lookup, "MAIL_LIMIT_PER_RECIPIENT", 3)?,
                api_key_requests_per_minute: number(&lookup, "API_KEY_LIMIT_PER_MINUTE", 600)?,
            },
            captcha: match lookup("CAPTCHA_VERIFY_URL").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                None => None,
                Some(verify_url) => {
                    trusted_url(&verify_url)
                        .map_err(|why| ConfigError::Invalid { name: "CAPTCHA_VERIFY_URL", reason: why.to_owned() })?;
                    let hostnames =
                        captcha_hostnames(&lookup("CAPTCHA_HOSTNAMES").unwrap_or_default(), &required("APP_URL")?)?;
                    Some(Captcha { verify_url, secret_id: required("CAPTCHA_SECRET_ID")?, hostnames })
                }
            },
            mail: Mail { from: required("MAIL_FROM")?, app_url: required("APP_URL")? },
            live: {
                let (endpoint, stage) = (required("LIVE_API_ENDPOINT")?, required("LIVE_STAGE")?);
                Live {
                    queue_url: required("LIVE_QUEUE_URL")?,
                    window_ms: number(&lookup, "LIVE_COALESCE_MS", 1000)?,
                    management_url: management_url(&endpoint, &stage)?,
                    socket_url: format!("{}/{stage}", endpoint.trim_end_matches('/')),
                }
            },
        })
    }
}

impl Limits {
    /// A window of this length allowing `limit` slots.
    pub fn window(&self, limit: u32) -> Window {
        Window { limit, seconds: self.window_secs }
    }
}

/// An optional positive number from the environment.
fn number<T: std::str::FromStr + PartialOrd + Default>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| *n > T::default())
            .ok_or(ConfigError::Invalid { name, reason: format!("{raw:?} is not a positive number") }),
    }
}

/// An optional comma-separated list from the environment, each entry parsed by `parse`.
fn list<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ConfigError> {
    lookup(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| parse(entry).ok_or(ConfigError::Invalid { name, reason: format!("{entry:?} is not valid") }))
        .collect()
}

/// Splits a comma-separated origin list; each entry must be `scheme://host[:port]` without
/// a path, so a typo cannot silently widen or break the allowlist. `*` is refused: ballot
/// never allows every origin.
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let invalid = |reason: &str| ConfigError::Invalid {
                name: "CORS_ALLOWED_ORIGINS",
                reason: format!("{origin:?}: {reason}"),
            };
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| invalid("must start with https:// or http://"))?;
            if rest.is_empty() || rest.contains(['/', '?', '#', '*', ' ']) {
                return Err(invalid("must be scheme://host[:port] with no path or wildcard"));
            }
            Ok(origin.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 18] = [
        ("TABLE_NAME", "ballot"),
        ("EVENTS_QUEUE_URL", "http://127.0.0.1:4566/000000000000/events"),
        ("WEBHOOK_DELIVERIES_QUEUE_URL", "http://127.0.0.1:4566/000000000000/deliveries"),
        ("SIGNING_KEYS_SECRET_ID", "keys"),
        ("VERIFICATION_KEYS_SECRET_ID", "public-keys"),
        ("CURSOR_KEY_SECRET_ID", "cursor-key"),
        ("WEBHOOK_KEY_SECRET_ID", "webhook-key"),
        ("TOKEN_ISSUER", "ballot"),
        ("TOKEN_AUDIENCE", "ballot-api"),
        ("CLOSING_SCHEDULE_GROUP", "closings"),
        ("CLOSING_SCHEDULE_ROLE_ARN", "arn:aws:iam::000000000000:role/scheduler"),
        ("EVENTS_QUEUE_ARN", "arn:aws:sqs:us-east-1:000000000000:events"),
        ("EVENTS_DLQ_ARN", "arn:aws:sqs:us-east-1:000000000000:events-dlq"),
        ("LIVE_QUEUE_URL", "http://127.0.0.1:4566/000000000000/live"),
        ("LIVE_API_ENDPOINT", "wss://abc123.execute-api.eu-west-1.amazonaws.com"),
        ("LIVE_STAGE", "v1"),
        ("MAIL_FROM", "no-reply@ballot.example"),
        ("APP_URL", "https://polls.example"),
    ];

    #[test]
    fn given_required_vars_when_loaded_then_defaults_apply() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.table_name, "ballot");
        assert!(config.cors_allowed_origins.is_empty());
        assert_eq!(config.secrets_ttl, Duration::from_secs(300));
        assert_eq!(config.captcha, None, "the CAPTCHA check is off unless configured");
    }

    #[test]
    fn given_a_captcha_verifier_then_it_needs_a_trusted_url_and_a_secret() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let pairs: Vec<(&str, &str)> = BASE.iter().chain(extra).copied().collect();
            Config::from_lookup(lookup(&pairs))
        };
        let url = ("CAPTCHA_VERIFY_URL", "https://challenges.example/siteverify");
        let on = with(&[url, ("CAPTCHA_SECRET_ID", "captcha")]).unwrap().captcha.unwrap();
        assert_eq!((on.verify_url.as_str(), on.secret_id.as_str()), (url.1, "captcha"));
        assert!(matches!(with(&[url]), Err(ConfigError::Missing("CAPTCHA_SECRET_ID"))));
        for bad in ["http://challenges.example/siteverify", "https://user:pw@challenges.example/", "siteverify"] {
            let refused = with(&[("CAPTCHA_VERIFY_URL", bad), ("CAPTCHA_SECRET_ID", "captcha")]);
            assert!(matches!(refused, Err(ConfigError::Invalid { name: "CAPTCHA_VERIFY_URL", .. })), "{bad}");
        }
        let local = with(&[("CAPTCHA_VERIFY_URL", "http://127.0.0.1:9/siteverify"), ("CAPTCHA_SECRET_ID", "c")]);
        assert!(local.unwrap().captcha.is_some(), "the local verifier");
    }

    #[test]
    fn given_captcha_hostnames_or_none_then_the_listed_ones_or_the_app_urls_host() {
        assert_eq!(captcha_hostnames("", "https://Polls.Example:8443/app").unwrap(), ["polls.example"]);
        assert_eq!(captcha_hostnames(" ", "http://[::1]:3000").unwrap(), ["::1"]);
        assert_eq!(
            captcha_hostnames("A.example, b.example,", "https://polls.example").unwrap(),
            ["a.example", "b.example"]
        );
        assert!(matches!(captcha_hostnames("", "polls"), Err(ConfigError::Invalid { name: "APP_URL", .. })));
    }

    #[test]
    fn given_the_websocket_api_s_endpoint_then_its_management_endpoint() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.live.management_url, "https://abc123.execute-api.eu-west-1.amazonaws.com/v1");
        assert_eq!(config.live.window_ms, 1000);
        assert_eq!(management_url("ws://127.0.0.1:3001", "v1").unwrap(), "http://127.0.0.1:3001/v1");
        for bad in ["https://abc.example", "wss://", "wss://abc.example/v1"] {
            assert!(management_url(bad, "v1").is_err(), "{bad}");
        }
    }

    #[test]
    fn given_a_missing_table_when_loaded_then_the_variable_is_named() {
        let err = Config::from_lookup(lookup(&BASE[1..])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("TABLE_NAME"));
    }

    #[test]
    fn given_origins_when_loaded_then_they_are_trimmed_and_lowercased() {
        let mut vars = BASE.to_vec();
        vars.push(("CORS_ALLOWED_ORIGINS", " https://App.example.com , http://localhost:5173 ,"));
        let config = Config::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(config.cors_allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
    }

    #[test]
    fn given_a_wildcard_or_path_origin_when_loaded_then_it_is_refused() {
        for bad in ["*", "https://*.example.com", "https://example.com/app", "example.com"] {
            let mut vars = BASE.to_vec();
            vars.push(("CORS_ALLOWED_ORIGINS", bad));
            assert!(
                matches!(Config::from_lookup(lookup(&vars)), Err(ConfigError::Invalid { .. })),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn given_webhook_delivery_settings_when_loaded_then_they_are_parsed_or_refused() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.webhooks.retry.attempts(), 6);
        assert!(config.webhooks.allowed_addresses.is_empty() && config.webhooks.hosts.is_empty());
        let mut vars = BASE.to_vec();
        vars.extend([
            ("WEBHOOK_RETRY_DELAYS", "1,2"),
            ("WEBHOOK_ALLOWED_ADDRESSES", "127.0.0.1"),
            ("WEBHOOK_HOSTS", "Meta.test=169.254.169.254, six.test=::1"),
        ]);
        let webhooks = Config::from_lookup(lookup(&vars)).unwrap().webhooks;
        assert_eq!(webhooks.retry.attempts(), 3);
        assert_eq!(webhooks.allowed_addresses, ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(webhooks.hosts[0], ("meta.test".to_owned(), "169.254.169.254".parse().unwrap()));
        assert_eq!(webhooks.hosts[1].1, "::1".parse::<std::net::IpAddr>().unwrap());
        for (name, bad) in
            [("WEBHOOK_ALLOWED_ADDRESSES", "localhost"), ("WEBHOOK_HOSTS", "a.test"), ("WEBHOOK_RETRY_DELAYS", "0")]
        {
            let mut vars = BASE.to_vec();
            vars.push((name, bad));
            assert!(matches!(Config::from_lookup(lookup(&vars)), Err(ConfigError::Invalid { .. })), "{name}={bad}");
        }
    }

    #[test]
    fn given_a_bad_ttl_when_loaded_then_it_is_refused() {
        let mut vars = BASE.to_vec();
        vars.push(("SECRETS_TTL_SECONDS", "soon"));
        assert!(matches!(
            Config::from_lookup(lookup(&vars)),
            Err(ConfigError::Invalid { name: "SECRETS_TTL_SECONDS", .. })
        ));
    }
}
