//! API Gateway throttling: a token bucket per method (burst = capacity, rate = refill per
//! second), from the stage's `MethodSettings`. An entry for a method replaces the stage
//! default (`/*` `*`) for that method; methods without one each get a bucket with the default.

use std::{collections::HashMap, sync::Mutex, time::Instant};

/// Limits of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub burst: f64,
    pub rate: f64,
}

/// Limits from `MethodSettings`, keyed by (resource path, method).
#[derive(Debug, Default)]
pub struct Throttle {
    default: Option<Limit>,
    per_method: HashMap<(String, String), Limit>,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Throttle {
    /// From a `MethodSettings` list; `ResourcePath` uses CloudFormation's `~1` for `/`.
    pub fn from_method_settings(settings: &[serde_json::Value]) -> Self {
        let mut throttle = Self::default();
        for setting in settings {
            let (Some(burst), Some(rate)) =
                (number(&setting["ThrottlingBurstLimit"]), number(&setting["ThrottlingRateLimit"]))
            else {
                continue;
            };
            let limit = Limit { burst, rate };
            let path = setting["ResourcePath"].as_str().unwrap_or("/*").replace("~1", "/");
            let method = setting["HttpMethod"].as_str().unwrap_or("*").to_ascii_uppercase();
            if path == "/*" && method == "*" {
                throttle.default = Some(limit);
            } else {
                throttle.per_method.insert((path.replace("//", "/"), method), limit);
            }
        }
        throttle
    }

    /// Takes a token for (`resource`, `method`); `Err(seconds)` until one is available.
    pub fn admit(&self, resource: &str, method: &str) -> Result<(), f64> {
        let key = (resource.to_owned(), method.to_owned());
        let limit = self
            .per_method
            .get(&key)
            .or_else(|| self.per_method.get(&(resource.to_owned(), "*".to_owned())))
            .or(self.default.as_ref())
            .copied();
        let Some(limit) = limit else { return Ok(()) };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("throttle lock");
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: limit.burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * limit.rate).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if limit.rate > 0.0 {
            Err((1.0 - bucket.tokens) / limit.rate)
        } else {
            Err(f64::INFINITY)
        }
    }
}

fn number(value: &serde_json::Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn throttle() -> Throttle {
        Throttle::from_method_settings(&[
            json!({"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingBurstLimit": 5, "ThrottlingRateLimit": 1}),
            json!({"ResourcePath": "/~1v1~1login", "HttpMethod": "POST", "ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 0.5}),
        ])
    }

    #[test]
    fn given_a_burst_when_exceeded_then_refused_with_a_wait() {
        let t = throttle();
        assert!(t.admit("/v1/login", "POST").is_ok());
        assert!(t.admit("/v1/login", "POST").is_ok());
        let wait = t.admit("/v1/login", "POST").unwrap_err();
        assert!(wait > 1.9 && wait <= 2.0, "{wait}");
    }

    #[test]
    fn given_the_stage_default_when_used_then_each_method_has_its_own_bucket() {
        let t = throttle();
        for _ in 0..5 {
            assert!(t.admit("/v1/a", "GET").is_ok());
        }
        assert!(t.admit("/v1/a", "GET").is_err());
        assert!(t.admit("/v1/b", "GET").is_ok());
    }

    #[test]
    fn given_a_setting_for_every_method_of_a_path_when_used_then_it_applies() {
        let t = Throttle::from_method_settings(&[
            json!({"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 50}),
            json!({"ResourcePath": "/~1v1~1auth", "HttpMethod": "*", "ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 1}),
        ]);
        assert!(t.admit("/v1/auth", "POST").is_ok());
        assert!(t.admit("/v1/auth", "POST").is_err());
        assert!(t.admit("/v1/auth", "GET").is_ok(), "each method keeps its own bucket");
    }

    #[test]
    fn given_no_settings_when_used_then_unlimited() {
        let t = Throttle::from_method_settings(&[]);
        assert!((0..1000).all(|_| t.admit("/x", "GET").is_ok()));
    }
}
