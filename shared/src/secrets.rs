//! Secrets Manager values cached per warm Lambda.
//!
//! Invariants: a value is fetched at most once per `ttl` per secret id while the process is
//! warm (concurrent callers for the same id wait for one fetch); a failed fetch is not
//! cached; the value is never written to a log (`Debug` is redacted).

use std::{collections::HashMap, fmt, future::Future, sync::Arc, time::Duration};

use tokio::{sync::Mutex, time::Instant};

use crate::error::ApiError;

/// A secret's value. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<str>);

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Where secret values come from: Secrets Manager in production, anything in tests.
pub trait SecretSource: Send + Sync {
    fn fetch(&self, id: &str) -> impl Future<Output = Result<String, ApiError>> + Send;
}

impl SecretSource for aws_sdk_secretsmanager::Client {
    async fn fetch(&self, id: &str) -> Result<String, ApiError> {
        let out = self.get_secret_value().secret_id(id).send().await.map_err(ApiError::internal)?;
        out.secret_string()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::internal(format!("secret {id} has no string value")))
    }
}

/// A TTL cache in front of a [`SecretSource`].
pub struct SecretCache<S> {
    source: S,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, SecretValue)>>,
}

impl<S: SecretSource> SecretCache<S> {
    pub fn new(source: S, ttl: Duration) -> Self {
        Self { source, ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The value of secret `id`, from the cache while it is younger than the TTL.
    pub async fn get(&self, id: &str) -> Result<SecretValue, ApiError> {
        // Holding the lock across the fetch makes concurrent cold callers share one fetch.
        let mut entries = self.entries.lock().await;
        if let Some((fetched_at, value)) = entries.get(id)
            && fetched_at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = SecretValue(Arc::from(self.source.fetch(id).await?));
        entries.insert(id.to_owned(), (Instant::now(), value.clone()));
        Ok(value)
    }

    /// Forgets `id`, so the next `get` fetches it (e.g. after a key rotation is detected).
    pub async fn invalidate(&self, id: &str) {
        self.entries.lock().await.remove(id);
    }
}

/// A key (or anything else) made from a secret's value: read through a [`SecretCache`]
/// and made once per distinct value, so a rotated secret is picked up within the TTL.
pub struct Parsed<S, T> {
    secrets: SecretCache<S>,
    secret_id: String,
    make: fn(&str) -> Result<T, ApiError>,
    made: Mutex<Option<(SecretValue, Arc<T>)>>,
}

impl<S: SecretSource, T> Parsed<S, T> {
    pub fn new(secrets: SecretCache<S>, secret_id: String, make: fn(&str) -> Result<T, ApiError>) -> Self {
        Self { secrets, secret_id, make, made: Mutex::new(None) }
    }

    /// What the current value makes.
    pub async fn get(&self) -> Result<Arc<T>, ApiError> {
        let value = self.secrets.get(&self.secret_id).await?;
        let mut made = self.made.lock().await;
        if let Some((seen, thing)) = made.as_ref()
            && *seen == value
        {
            return Ok(Arc::clone(thing));
        }
        let thing = Arc::new((self.make)(value.expose())?);
        *made = Some((value, Arc::clone(&thing)));
        Ok(thing)
    }

    /// Reads the secret again now, not when its TTL ends: `Some` with what it makes when
    /// the value has changed since the last [`Parsed::get`].
    pub async fn refresh(&self) -> Result<Option<Arc<T>>, ApiError> {
        let before = self.made.lock().await.as_ref().map(|(_, thing)| Arc::clone(thing));
        self.secrets.invalidate(&self.secret_id).await;
        let after = self.get().await?;
        Ok((!before.is_some_and(|before| Arc::ptr_eq(&before, &after))).then_some(after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
        fail: bool,
    }

    impl SecretSource for Counting {
        async fn fetch(&self, id: &str) -> Result<String, ApiError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            // A fetch takes a while: concurrent readers must wait for it, not start their own.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.fail {
                return Err(ApiError::internal("boom"));
            }
            Ok(format!("{id}-v{n}"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_warm_cache_when_read_within_ttl_then_one_fetch() {
        let cache = SecretCache::new(Counting::default(), Duration::from_secs(60));
        assert_eq!(cache.get("keys").await.unwrap().expose(), "keys-v1");
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(cache.get("keys").await.unwrap().expose(), "keys-v1");
        assert_eq!(cache.source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn given_an_expired_entry_when_read_then_it_is_fetched_again() {
        let cache = SecretCache::new(Counting::default(), Duration::from_secs(60));
        cache.get("keys").await.unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(cache.get("keys").await.unwrap().expose(), "keys-v2");
    }

    #[tokio::test(start_paused = true)]
    async fn given_concurrent_cold_reads_when_served_then_one_fetch() {
        let cache = Arc::new(SecretCache::new(Counting::default(), Duration::from_secs(60)));
        let reads = (0..10).map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.get("keys").await.unwrap() })
        });
        for read in reads {
            assert_eq!(read.await.unwrap().expose(), "keys-v1");
        }
        assert_eq!(cache.source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn given_a_failing_source_when_read_then_the_error_is_not_cached() {
        let cache = SecretCache::new(Counting { fail: true, ..Default::default() }, Duration::from_secs(60));
        assert!(cache.get("keys").await.is_err());
        assert!(cache.get("keys").await.is_err());
        assert_eq!(cache.source.calls.load(Ordering::SeqCst), 2);
    }

    /// A secret whose value changes only when the test says so.
    struct Settable(std::sync::Mutex<&'static str>);

    impl SecretSource for Settable {
        async fn fetch(&self, _id: &str) -> Result<String, ApiError> {
            Ok(self.0.lock().unwrap().to_string())
        }
    }

    #[tokio::test]
    async fn given_a_refresh_when_the_value_changed_then_the_new_thing_else_none() {
        let cache = SecretCache::new(Settable(std::sync::Mutex::new("a")), Duration::from_secs(60));
        let parsed = Parsed::new(cache, "id".into(), |value| Ok(value.to_uppercase()));
        assert_eq!(*parsed.get().await.unwrap(), "A");
        assert!(parsed.refresh().await.unwrap().is_none(), "same value, nothing new");
        *parsed.secrets.source.0.lock().unwrap() = "b";
        assert_eq!(*parsed.get().await.unwrap(), "A", "cached within the TTL");
        assert_eq!(parsed.refresh().await.unwrap().as_deref().map(String::as_str), Some("B"));
        assert_eq!(*parsed.get().await.unwrap(), "B");
    }

    #[test]
    fn given_a_secret_when_debug_printed_then_it_is_redacted() {
        let value = SecretValue(Arc::from("hunter2"));
        assert!(!format!("{value:?}").contains("hunter2"));
    }
}
