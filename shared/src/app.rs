//! What a function builds once per cold start: telemetry, configuration, the AWS clients
//! and the pieces made from them. Every `main.rs` starts with [`App::start`].

use crate::{
    auth::keys::SigningKeys,
    aws::{AwsClients, secretsmanager},
    config::{Config, ConfigError},
    http::Cors,
    store::Store,
};

/// The per-cold-start state of a function.
pub struct App {
    pub config: Config,
    pub aws: AwsClients,
}

impl App {
    /// Installs JSON logging, reads the configuration (failing the cold start with the
    /// variable it misses) and builds the AWS clients (no network call).
    pub async fn start() -> Result<Self, ConfigError> {
        crate::telemetry::init();
        let config = Config::from_env()?;
        let aws = AwsClients::from_env().await;
        Ok(Self { config, aws })
    }

    /// The table.
    pub fn store(&self) -> Store {
        Store::new(self.aws.dynamodb.clone(), self.config.table_name.clone())
    }

    /// The signing key set, cached per the configured TTL (functions that issue tokens).
    pub fn signing_keys(&self) -> SigningKeys<secretsmanager::Client> {
        self.signing_keys_at(&self.config.signing_keys_secret_id)
    }

    /// Signs access tokens with the signing key set (login, refresh, guest).
    pub fn issuer(&self) -> crate::auth::issuer::Issuer<secretsmanager::Client> {
        crate::auth::issuer::Issuer { keys: self.signing_keys(), settings: self.config.tokens.clone() }
    }

    /// Registering and recovering accounts: the table, its limits, and account mail
    /// through SES from the configured sender.
    #[cfg(feature = "mail")]
    pub fn account_desk(&self) -> crate::mail::Desk {
        let mailer = crate::mail::Ses {
            client: aws_sdk_sesv2::Client::new(&self.aws.sdk),
            from: self.config.mail.from.clone(),
            app_url: self.config.mail.app_url.clone(),
        };
        crate::mail::Desk { store: self.store(), limits: self.rate_limits(), mailer }
    }

    /// The CAPTCHA check of guest and register, when one is configured.
    #[cfg(feature = "captcha")]
    pub fn captcha(&self) -> Option<crate::captcha::Captcha<secretsmanager::Client>> {
        let settings = self.config.captcha.as_ref()?;
        let cache = crate::secrets::SecretCache::new(self.aws.secrets.clone(), self.config.secrets_ttl);
        Some(crate::captcha::Captcha::new(settings, cache))
    }

    /// The limits of signing in, sized by configuration.
    pub fn rate_limits(&self) -> crate::store::limits::RateLimits {
        crate::store::limits::RateLimits { store: self.store(), limits: self.config.limits.clone() }
    }

    /// Verifies ballot's own bearer tokens as the authorizer does (the authorizer, `$connect`).
    pub fn verifier(&self) -> crate::auth::verifier::Verifier {
        crate::auth::verifier::Verifier {
            keys: self.verification_keys(),
            settings: self.config.tokens.clone(),
            store: self.store(),
        }
    }

    /// The public copy of the key set (functions that only verify or publish keys).
    pub fn verification_keys(&self) -> SigningKeys<secretsmanager::Client> {
        self.signing_keys_at(&self.config.verification_keys_secret_id)
    }

    /// A key set in secret `secret_id`, cached per the configured TTL.
    fn signing_keys_at(&self, secret_id: &str) -> SigningKeys<secretsmanager::Client> {
        let cache = crate::secrets::SecretCache::new(self.aws.secrets.clone(), self.config.secrets_ttl);
        SigningKeys::new(cache, secret_id.to_owned())
    }

    /// The key that seals page cursors, cached per the configured TTL (listings).
    pub fn cursor_keys(&self) -> crate::cursor::CursorKeys<secretsmanager::Client> {
        self.parsed(&self.config.cursor_key_secret_id, crate::cursor::CursorKey::new)
    }

    /// The webhook master key, which seals webhook secrets at rest.
    pub fn webhook_key(&self) -> crate::secrets::Parsed<secretsmanager::Client, crate::webhooks::sealed::SealKey> {
        self.parsed(&self.config.webhooks.key_secret_id, crate::webhooks::sealed::SealKey::new)
    }

    /// Secret `secret_id`, cached per the configured TTL and parsed by `parse` when it changes.
    fn parsed<T>(
        &self,
        secret_id: &str,
        parse: fn(&str) -> Result<T, crate::ApiError>,
    ) -> crate::secrets::Parsed<secretsmanager::Client, T> {
        let cache = crate::secrets::SecretCache::new(self.aws.secrets.clone(), self.config.secrets_ttl);
        crate::secrets::Parsed::new(cache, secret_id.to_owned(), parse)
    }

    /// The events queue.
    pub fn publisher(&self) -> crate::events::Publisher {
        crate::events::Publisher::new(self.aws.sqs.clone(), self.config.events_queue_url.clone())
    }

    /// The live queue.
    pub fn live_messages(&self) -> crate::pushes::LiveMessages {
        crate::pushes::LiveMessages::new(self.aws.sqs.clone(), self.config.live.queue_url.clone())
    }

    /// The WebSocket API's `@connections` (the functions that send frames).
    #[cfg(feature = "live-push")]
    pub fn management_api(&self) -> crate::pushes::ManagementApi {
        crate::pushes::ManagementApi::new(&self.aws.sdk, &self.config.live.management_url)
    }

    /// The closing schedules of polls.
    #[cfg(feature = "closing-schedules")]
    pub fn schedules(&self) -> crate::closing::Schedules {
        crate::closing::Schedules::new(&self.aws.sdk, self.config.closing.clone())
    }

    /// The CORS allowlist for [`crate::http::serve`].
    pub fn cors(&self) -> Cors {
        Cors::new(self.config.cors_allowed_origins.clone())
    }

    /// What [`crate::http::serve`] applies around every handler: CORS and the API-key meter.
    pub fn edge(&self) -> crate::http::Edge {
        let keys = crate::api_keys::KeyMeter {
            store: self.store(),
            per_minute: self.config.limits.api_key_requests_per_minute,
        };
        crate::http::Edge { cors: self.cors(), keys }
    }
}
