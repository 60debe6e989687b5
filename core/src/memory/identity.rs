//! In-memory accounts, sessions, limits, password hashing and token signing, for the
//! signing-in use cases' tests. Each limit holds [`LIMIT`] slots but the ceiling per
//! account from anywhere, which holds [`ACCOUNT_LIMIT`], as in ballot's defaults; a "hash" is readable,
//! and every verification is counted, so a test sees that work was done (or wasted).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use crate::{
    Error,
    access::{Role, TokenKind},
    accounts::{Credentials, User},
    ports::{Accounts, Limit, Limits, Passwords, Result, SessionRefused, Sessions, Tokens},
};

/// Slots of every limit but [`Limit::LoginAccount`].
pub const LIMIT: u32 = 3;
/// Slots of [`Limit::LoginAccount`].
pub const ACCOUNT_LIMIT: u32 = 10;

#[derive(Default)]
pub struct State {
    /// Accounts by id, with their password hashes.
    pub accounts: HashMap<String, Credentials>,
    /// Refresh tokens: the account, and whether spent.
    pub sessions: HashMap<String, (String, bool)>,
    /// Slots held per (limit, key).
    pub slots: HashMap<(Limit, String), u32>,
    /// Password verifications done, with a real hash or wasted.
    pub verified: u32,
    pub wasted: u32,
}

/// Signing in's ports, in memory.
#[derive(Default)]
pub struct Identity {
    state: Mutex<State>,
}

impl Identity {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// An account `id` with `email` and `password`.
    pub fn with_account(self, id: &str, email: &str, password: &str, disabled: bool) -> Self {
        let user = User {
            id: id.into(),
            email: email.into(),
            display_name: id.into(),
            roles: vec![Role::Viewer],
            created_at: "2027-01-15T08:00:00Z".into(),
            disabled,
        };
        self.state().accounts.insert(id.into(), Credentials { user, password_hash: format!("hash:{password}") });
        self
    }

    pub fn slots(&self, limit: Limit, key: &str) -> u32 {
        self.state().slots.get(&(limit, key.to_owned())).copied().unwrap_or_default()
    }
}

impl Accounts for Identity {
    async fn create_user(&self, user: &User, password_hash: String) -> Result<()> {
        let mut state = self.state();
        if state.accounts.values().any(|c| c.user.email == user.email) {
            return Err(Error::Conflict("An account with this email already exists.".into()));
        }
        state.accounts.insert(user.id.clone(), Credentials { user: user.clone(), password_hash });
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.state().accounts.get(id).map(|c| c.user.clone()))
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        Ok(self.state().accounts.values().find(|c| c.user.email == email).cloned())
    }

    async fn linked_user(&self, issuer: &str, subject: &str, _email: Option<&str>) -> Result<User> {
        let id = format!("{issuer}|{subject}");
        let mut state = self.state();
        let user = User {
            id: id.clone(),
            email: String::new(),
            display_name: subject.into(),
            roles: vec![Role::Viewer],
            created_at: "2027-01-15T08:00:00Z".into(),
            disabled: false,
        };
        let entry = state.accounts.entry(id).or_insert(Credentials { user, password_hash: String::new() });
        Ok(entry.user.clone())
    }
}

impl Sessions for Identity {
    async fn start_session(&self, user_id: &str) -> Result<String> {
        let mut state = self.state();
        let token = format!("refresh-{}", state.sessions.len() + 1);
        state.sessions.insert(token.clone(), (user_id.to_owned(), false));
        Ok(token)
    }

    async fn rotate_session(&self, token: &str) -> Result<std::result::Result<(String, String), SessionRefused>> {
        let user_id = {
            let mut state = self.state();
            match state.sessions.get_mut(token) {
                None => return Ok(Err(SessionRefused::Invalid)),
                Some((_, true)) => return Ok(Err(SessionRefused::Reused)),
                Some((user_id, used)) => {
                    *used = true;
                    user_id.clone()
                }
            }
        };
        Ok(Ok((user_id.clone(), self.start_session(&user_id).await?)))
    }
}

impl Limits for Identity {
    type Slot = (Limit, String);

    async fn take_slot(&self, limit: Limit, key: &str) -> Result<Self::Slot> {
        let mut state = self.state();
        let held = state.slots.entry((limit, key.to_owned())).or_default();
        let size = match limit {
            Limit::LoginAccount => ACCOUNT_LIMIT,
            Limit::LoginAccountAddressOnceFull => crate::ports::ONCE_FULL,
            _ => LIMIT,
        };
        if *held >= size {
            return Err(Error::TooManyRequests { retry_after_secs: 60 });
        }
        *held += 1;
        Ok((limit, key.to_owned()))
    }

    async fn give_back(&self, slot: Self::Slot) -> Result<()> {
        if let Some(held) = self.state().slots.get_mut(&slot) {
            *held = held.saturating_sub(1);
        }
        Ok(())
    }
}

impl Passwords for Identity {
    async fn hash(&self, password: String) -> Result<String> {
        Ok(format!("hash:{password}"))
    }

    async fn verify_or_waste(&self, password: String, hash: Option<String>) -> Result<bool> {
        let mut state = self.state();
        match hash {
            Some(hash) => {
                state.verified += 1;
                Ok(hash == format!("hash:{password}"))
            }
            None => {
                state.wasted += 1;
                Ok(false)
            }
        }
    }
}

impl Tokens for Identity {
    async fn issue(&self, sub: &str, roles: &[Role], kind: TokenKind) -> Result<(String, u64)> {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Ok((format!("{}:{sub}:{}", kind.as_str(), roles.join(",")), kind.ttl_secs()))
    }
}
