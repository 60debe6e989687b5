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
    ports::{
        AccountMail, Accounts, Limit, Limits, LinkPurpose, LinkToken, LinkTokens, Mailer, Passwords, Result, Rotated,
        SessionRefused, Sessions, Tokens,
    },
};

/// Slots of every limit but [`Limit::LoginAccount`].
pub const LIMIT: u32 = 3;
/// Slots of [`Limit::LoginAccount`].
pub const ACCOUNT_LIMIT: u32 = 10;

#[derive(Default)]
pub struct State {
    /// Accounts by id, with their password hashes.
    pub accounts: HashMap<String, Credentials>,
    /// Refresh tokens: the account, the sign-in epoch of its family, and whether spent.
    pub sessions: HashMap<String, (String, u64, bool)>,
    /// Link tokens by hash.
    pub links: HashMap<String, LinkToken>,
    /// Mail sent, in order: to whom, what.
    pub mail: Vec<(String, AccountMail)>,
    /// Passwords hashed.
    pub hashed: u32,
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
            email_verified: false,
            epoch: 0,
        };
        self.state().accounts.insert(id.into(), Credentials { user, password_hash: format!("hash:{password}") });
        self
    }

    pub fn slots(&self, limit: Limit, key: &str) -> u32 {
        self.state().slots.get(&(limit, key.to_owned())).copied().unwrap_or_default()
    }
}

impl Accounts for Identity {
    async fn create_user(&self, user: &User, password_hash: String, verification: &LinkToken) -> Result<()> {
        let mut state = self.state();
        if state.accounts.values().any(|c| c.user.email == user.email) {
            return Err(Error::Conflict("An account with this email already exists.".into()));
        }
        state.accounts.insert(user.id.clone(), Credentials { user: user.clone(), password_hash });
        state.links.insert(verification.hash.clone(), verification.clone());
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.state().accounts.get(id).map(|c| c.user.clone()))
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        Ok(self.state().accounts.values().find(|c| c.user.email == email).cloned())
    }

    async fn federated_user(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        self.user(&format!("{issuer}|{subject}")).await
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
            email_verified: false,
            epoch: 0,
        };
        let entry = state.accounts.entry(id).or_insert(Credentials { user, password_hash: String::new() });
        Ok(entry.user.clone())
    }
}

impl Sessions for Identity {
    async fn start_session(&self, user_id: &str, epoch: u64) -> Result<String> {
        let mut state = self.state();
        let token = format!("refresh-{}", state.sessions.len() + 1);
        state.sessions.insert(token.clone(), (user_id.to_owned(), epoch, false));
        Ok(token)
    }

    async fn rotate_session(&self, token: &str) -> Result<std::result::Result<Rotated, SessionRefused>> {
        let (user_id, epoch) = {
            let mut state = self.state();
            match state.sessions.get_mut(token) {
                None => return Ok(Err(SessionRefused::Invalid)),
                Some((_, _, true)) => return Ok(Err(SessionRefused::Reused)),
                Some((user_id, epoch, used)) => {
                    *used = true;
                    (user_id.clone(), *epoch)
                }
            }
        };
        let token = self.start_session(&user_id, epoch).await?;
        Ok(Ok(Rotated { user_id, epoch, token }))
    }
}

impl LinkTokens for Identity {
    async fn store_link_token(&self, token: &LinkToken) -> Result<()> {
        self.state().links.insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn link_token(&self, hash: &str) -> Result<Option<LinkToken>> {
        Ok(self.state().links.get(hash).cloned())
    }

    async fn spend_verification(&self, token: &LinkToken, now: u64) -> Result<Option<User>> {
        let mut state = self.state();
        if !spend(&mut state, token, LinkPurpose::VerifyEmail, now) {
            return Ok(None);
        }
        let account = state.accounts.get_mut(&token.user_id).map(|c| &mut c.user);
        Ok(account.map(|user| {
            user.email_verified = true;
            user.clone()
        }))
    }

    async fn spend_reset(&self, token: &LinkToken, now: u64, epoch: u64, password_hash: String) -> Result<bool> {
        let mut state = self.state();
        let current = state.accounts.get(&token.user_id).map(|c| c.user.epoch);
        if current != Some(epoch) || !spend(&mut state, token, LinkPurpose::ResetPassword, now) {
            return Ok(false);
        }
        let account = state.accounts.get_mut(&token.user_id).expect("checked above");
        account.password_hash = password_hash;
        account.user.epoch += 1;
        account.user.email_verified = true;
        Ok(true)
    }
}

/// Removes `token` if it is stored, of `purpose` and unexpired at `now`.
fn spend(state: &mut State, token: &LinkToken, purpose: LinkPurpose, now: u64) -> bool {
    let spendable = state.links.get(&token.hash).is_some_and(|l| l.purpose == purpose && now < l.expires_at);
    if spendable {
        state.links.remove(&token.hash);
    }
    spendable
}

impl Mailer for Identity {
    async fn send(&self, to: &str, mail: &AccountMail) -> Result<()> {
        self.state().mail.push((to.to_owned(), mail.clone()));
        Ok(())
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
        self.state().hashed += 1;
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
    async fn issue(&self, sub: &str, roles: &[Role], kind: TokenKind, _epoch: u64) -> Result<(String, u64)> {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Ok((format!("{}:{sub}:{}", kind.as_str(), roles.join(",")), kind.ttl_secs()))
    }
}
