//! API keys: long-lived credentials a team's server uses instead of a user's 15-minute
//! token. A key speaks for the account that made it (its *owner*), for the routes of its
//! [`Scope`]s only, and never for more than the owner's roles allow now
//! ([`crate::access::key_policy`]).
//!
//! Invariants:
//! - A key is `bk_<owner>.<id>.<secret>`; the secret is 256 random bits. Only its SHA-256
//!   is stored, and it is compared in constant time. The key is shown once, at creation.
//! - A key of a disabled or deleted account, a revoked (deleted) key and an expired key
//!   are refused ([`admit_key`]); the authorizer reads only, and every request a key makes
//!   is also metered on the key's own item, which fails for a revoked or expired key
//!   (`shared::api_keys`), so revocation holds at once for the functions behind the
//!   authorizer's cache.
//! - A key votes as its owner: one ballot per owner and poll, like the owner's token.
//!   There is no field to vote on behalf of end users: one key could then cast any number
//!   of ballots; end users vote with their own (or guest) tokens.
//! - An account holds at most [`KEYS_MAX`] keys (a conditional count, not a read).

use serde::{Deserialize, Serialize};

pub use crate::access::Scope;
use crate::{
    Error, FieldError,
    access::{Principal, Role, TokenKind},
    accounts::User,
    clock::Clock,
    ids,
    polls::{normalise, parse_instant},
    ports::{Accounts, Result},
};

/// Keys an account may hold at once.
pub const KEYS_MAX: usize = 10;
/// Characters of a key's name.
pub const NAME_MAX: usize = 100;
/// The prefix that tells a key from a JWT (and lets secret scanners find leaked keys).
pub const PREFIX: &str = "bk_";
/// Random bytes of a key's secret (256 bits).
const SECRET_BYTES: usize = 32;
/// base64url characters of the secret.
const SECRET_CHARS: usize = 43;

/// A key as its owner sees it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// When a request last used it (metered requests only; none yet: `null`).
    pub last_used_at: Option<String>,
}

/// A key as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub owner_id: String,
    pub key: ApiKey,
    /// SHA-256 (hex) of the secret.
    pub secret_hash: String,
    /// `key.expires_at` in epoch seconds.
    pub expires: Option<u64>,
}

/// The body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Keys as stored.
pub trait ApiKeys: Send + Sync {
    /// Stores `key` (the owner's [`KEYS_MAX`]th at most: [`Error::Conflict`] beyond).
    fn create_key(&self, key: &StoredKey) -> impl std::future::Future<Output = Result<()>> + Send;
    /// The owner's keys, oldest first.
    fn keys_of(&self, owner_id: &str) -> impl std::future::Future<Output = Result<Vec<ApiKey>>> + Send;
    /// Deletes the owner's key `id`; `false` when the owner has no such key.
    fn revoke_key(&self, owner_id: &str, id: &str) -> impl std::future::Future<Output = Result<bool>> + Send;
    /// The owner's key `id` as stored (read consistently: the authorizer's question).
    fn stored_key(
        &self,
        owner_id: &str,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Option<StoredKey>>> + Send;
}

/// The parts of a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    pub owner_id: &'a str,
    pub id: &'a str,
    pub secret: &'a str,
}

/// Whether a bearer token is an API key (and not a JWT).
pub fn is_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// Splits `bk_<owner>.<id>.<secret>`; `None` for anything else.
pub fn parse(token: &str) -> Option<Presented<'_>> {
    let mut parts = token.strip_prefix(PREFIX)?.split('.');
    let (owner_id, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let id_like =
        |s: &str| (1..=64).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    let well_formed =
        parts.next().is_none() && id_like(owner_id) && id_like(id) && secret.len() == SECRET_CHARS && id_like(secret);
    well_formed.then_some(Presented { owner_id, id, secret })
}

/// `POST /v1/api-keys`: a new key for the caller, who must be an editor or admin signed in
/// with a token (a key never makes keys: [`Error::Forbidden`]). Every rule at once: a name (≤ [`NAME_MAX`] characters, no control characters),
/// 1 to 4 distinct scopes, an `expires_at` in the future if any. The key (with its secret)
/// is returned once.
pub async fn create_key(
    keys: &impl ApiKeys,
    clock: &impl Clock,
    caller: &Principal,
    new: NewApiKey,
) -> Result<(ApiKey, String)> {
    if caller.token_kind == TokenKind::ApiKey || !may_hold_keys(&caller.roles) {
        return Err(Error::Forbidden);
    }
    let owner_id = caller.sub.as_str();
    let mut errors = Vec::new();
    let name =
        normalise(&new.name, NAME_MAX).map_err(|e| errors.push(FieldError::new("#/name", e))).unwrap_or_default();
    let mut scopes = new.scopes.clone();
    scopes.sort();
    scopes.dedup();
    if new.scopes.is_empty() {
        errors.push(FieldError::new("#/scopes", "must name at least one scope"));
    } else if scopes.len() != new.scopes.len() {
        errors.push(FieldError::new("#/scopes", "must not repeat a scope"));
    }
    let expires = match new.expires_at.as_deref().map(parse_instant) {
        None => None,
        Some(None) => {
            errors.push(FieldError::new("#/expires_at", "must be an RFC 3339 date-time"));
            None
        }
        Some(Some((_, at))) if at <= clock.epoch_secs() => {
            errors.push(FieldError::new("#/expires_at", "must be in the future"));
            None
        }
        Some(Some(at)) => Some(at),
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let key = ApiKey {
        id: ids::random_id(),
        name,
        scopes,
        created_at: clock.rfc3339_now(),
        expires_at: expires.as_ref().map(|(text, _)| text.clone()),
        last_used_at: None,
    };
    let secret = ids::random_token(SECRET_BYTES);
    let stored = StoredKey {
        owner_id: owner_id.to_owned(),
        key: key.clone(),
        secret_hash: ids::sha256_hex(&secret),
        expires: expires.map(|(_, at)| at),
    };
    keys.create_key(&stored).await?;
    tracing::info!(owner = %owner_id, key = %key.id, "api key created");
    Ok((key.clone(), format!("{PREFIX}{owner_id}.{}.{secret}", key.id)))
}

/// What the authorizer grants a key: its owner, the owner's roles now, the key's scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub owner: User,
    pub key_id: String,
    pub scopes: Vec<Scope>,
    pub expires: Option<u64>,
}

/// The authorizer's question for a presented key: refused ([`Error::Unauthenticated`]) when
/// malformed, unknown (or revoked), of another secret, expired, or when its owner is
/// disabled or gone. Reads only.
pub async fn admit_key(
    keys: &impl ApiKeys,
    accounts: &impl Accounts,
    clock: &impl Clock,
    token: &str,
) -> Result<Admitted> {
    let refuse = |reason: &str| {
        tracing::info!(reason, "api key refused");
        Error::Unauthenticated
    };
    let presented = parse(token).ok_or_else(|| refuse("malformed"))?;
    let stored =
        keys.stored_key(presented.owner_id, presented.id).await?.ok_or_else(|| refuse("unknown or revoked"))?;
    let hash = ids::sha256_hex(presented.secret);
    if aws_lc_rs::constant_time::verify_slices_are_equal(hash.as_bytes(), stored.secret_hash.as_bytes()).is_err() {
        return Err(refuse("wrong secret"));
    }
    if stored.expires.is_some_and(|at| at <= clock.epoch_secs()) {
        return Err(refuse("expired"));
    }
    let owner =
        accounts.user(&stored.owner_id).await?.filter(|u| !u.disabled).ok_or_else(|| refuse("owner disabled"))?;
    Ok(Admitted { owner, key_id: stored.key.id, scopes: stored.key.scopes, expires: stored.expires })
}

/// Whether `roles` may hold keys at all (the route table also says so for the key routes).
fn may_hold_keys(roles: &[Role]) -> bool {
    roles.iter().any(|r| matches!(r, Role::Admin | Role::Editor))
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Mutex};

    use super::*;
    use crate::clock::Fixed;

    #[derive(Default)]
    struct Keys(Mutex<HashMap<(String, String), StoredKey>>);

    impl ApiKeys for Keys {
        async fn create_key(&self, key: &StoredKey) -> Result<()> {
            let mut keys = self.0.lock().unwrap();
            if keys.keys().filter(|(owner, _)| *owner == key.owner_id).count() >= KEYS_MAX {
                return Err(Error::Conflict("too many keys".into()));
            }
            keys.insert((key.owner_id.clone(), key.key.id.clone()), key.clone());
            Ok(())
        }
        async fn keys_of(&self, owner_id: &str) -> Result<Vec<ApiKey>> {
            Ok(self.0.lock().unwrap().values().filter(|k| k.owner_id == owner_id).map(|k| k.key.clone()).collect())
        }
        async fn revoke_key(&self, owner_id: &str, id: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().remove(&(owner_id.to_owned(), id.to_owned())).is_some())
        }
        async fn stored_key(&self, owner_id: &str, id: &str) -> Result<Option<StoredKey>> {
            Ok(self.0.lock().unwrap().get(&(owner_id.to_owned(), id.to_owned())).cloned())
        }
    }

    fn new(name: &str, scopes: &[Scope], expires_at: Option<&str>) -> NewApiKey {
        NewApiKey { name: name.into(), scopes: scopes.to_vec(), expires_at: expires_at.map(Into::into) }
    }

    fn editor(sub: &str) -> Principal {
        Principal { sub: sub.into(), roles: vec![Role::Editor], token_kind: TokenKind::Access, email_verified: true }
    }

    fn clock() -> Fixed {
        Fixed::at(1_800_000_000)
    }

    #[tokio::test]
    async fn given_a_new_key_then_its_secret_is_shown_once_and_stored_only_hashed() {
        let keys = Keys::default();
        let (key, token) =
            create_key(&keys, &clock(), &editor("owner-1"), new(" CI ", &[Scope::VotesWrite], None)).await.unwrap();
        assert_eq!(key.name, "CI");
        let presented = parse(&token).expect("well formed");
        assert_eq!((presented.owner_id, presented.id), ("owner-1", key.id.as_str()));
        let stored = keys.stored_key("owner-1", &key.id).await.unwrap().unwrap();
        assert_eq!(stored.secret_hash, ids::sha256_hex(presented.secret));
        assert!(!stored.secret_hash.contains(presented.secret));
        assert_eq!(token.len(), PREFIX.len() + "owner-1".len() + 22 + SECRET_CHARS + 2);
    }

    #[tokio::test]
    async fn given_bad_keys_then_every_mistake_is_named() {
        let keys = Keys::default();
        let past = "2020-01-01T00:00:00Z";
        let err =
            create_key(&keys, &clock(), &editor("o"), new(" ", &[Scope::PollsRead, Scope::PollsRead], Some(past)))
                .await;
        let Err(Error::Validation(errors)) = err else { panic!("{err:?}") };
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["#/name", "#/scopes", "#/expires_at"]);
        let err = create_key(&keys, &clock(), &editor("o"), new("n", &[], Some("tomorrow"))).await;
        let Err(Error::Validation(errors)) = err else { panic!("{err:?}") };
        assert_eq!(errors.len(), 2);
        let viewer = Principal { roles: vec![Role::Viewer], ..editor("v") };
        let key = Principal { token_kind: TokenKind::ApiKey, ..editor("e") };
        for caller in [viewer, key] {
            let refused = create_key(&keys, &clock(), &caller, new("n", &[Scope::PollsRead], None)).await;
            assert!(matches!(refused, Err(Error::Forbidden)), "{caller:?}");
        }
        assert!(keys.0.lock().unwrap().is_empty(), "nothing written");
    }

    #[tokio::test]
    async fn given_presented_keys_then_only_a_live_key_of_an_active_owner_is_admitted() {
        let (keys, clock) = (Keys::default(), clock());
        let identity = crate::memory::identity::Identity::default().with_account("u1", "ann@example.com", "pw", false);
        let soon = "2027-01-15T08:00:30Z"; // 1_800_000_030
        let (key, token) =
            create_key(&keys, &clock, &editor("u1"), new("k", &[Scope::PollsRead], Some(soon))).await.unwrap();
        let admitted = admit_key(&keys, &identity, &clock, &token).await.unwrap();
        assert_eq!((admitted.owner.id.as_str(), admitted.key_id.as_str()), ("u1", key.id.as_str()));
        assert_eq!((admitted.scopes, admitted.expires), (vec![Scope::PollsRead], Some(1_800_000_030)));

        let refused = |token: String| {
            let (keys, identity, clock) = (&keys, &identity, &clock);
            async move { matches!(admit_key(keys, identity, clock, &token).await, Err(Error::Unauthenticated)) }
        };
        let forged = format!("{}{}", &token[..token.len() - 1], if token.ends_with('A') { 'B' } else { 'A' });
        assert!(refused(forged).await, "another secret");
        assert!(refused(token.replacen("bk_u1", "bk_u2", 1)).await, "another owner");
        identity.state().accounts.get_mut("u1").unwrap().user.disabled = true;
        assert!(refused(token.clone()).await, "a disabled owner");
        identity.state().accounts.get_mut("u1").unwrap().user.disabled = false;
        clock.0.store(1_800_000_030, std::sync::atomic::Ordering::SeqCst);
        assert!(refused(token.clone()).await, "expired");
        clock.0.store(1_800_000_000, std::sync::atomic::Ordering::SeqCst);
        assert!(keys.revoke_key("u1", &key.id).await.unwrap());
        assert!(refused(token).await, "revoked");
    }

    #[test]
    fn given_tokens_when_parsed_then_only_well_formed_keys() {
        let secret = "a".repeat(SECRET_CHARS);
        assert!(parse(&format!("bk_o.i.{secret}")).is_some());
        for bad in [
            format!("bk_o.i.{}", &secret[1..]),
            format!("bk_o.i.{secret}.x"),
            format!("bk_.i.{secret}"),
            format!("bk_o..{secret}"),
            format!("bk_o/x.i.{secret}"),
            format!("bK_o.i.{secret}"),
            "eyJhbGciOiJFZERTQSJ9.e30.c2ln".into(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn given_scopes_when_named_then_they_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
    }
}
