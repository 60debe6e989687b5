//! Signing in: logging in, refreshing, guest tokens, and whom a verified token speaks
//! for (the authorizer's account check). Registering is [`crate::registration`].
//!
//! Invariants: every refusal of credentials is the same [`Error::Unauthenticated`], after
//! the same password work, so neither the answer nor its timing tells which emails have
//! accounts; a failed login holds a slot of each of its limits, taken before the password
//! is checked (parallel guesses cannot overrun a limit) and given back when it was right;
//! no number of failures from other addresses refuses an address its first try of a
//! window at an account (see [`Limit::LoginAccountAddressOnceFull`]);
//! a disabled account gets no token of any kind; a token or refresh-token family of an
//! older sign-in epoch than its account's (a password reset since) is refused.

use crate::{
    Error,
    access::{Role, TokenKind},
    accounts::{Login, User, normalize_email},
    ids,
    ports::{Accounts, Limit, Limits, Passwords, Result, Sessions, Tokens},
};

/// Tokens handed to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// None for guests.
    pub refresh_token: Option<String>,
}

/// What login needs.
pub struct SignIn<'a, A, L, P, T, S> {
    pub accounts: &'a A,
    pub limits: &'a L,
    pub passwords: &'a P,
    pub tokens: &'a T,
    pub sessions: &'a S,
}

impl<A: Accounts, L: Limits, P: Passwords, T: Tokens, S: Sessions> SignIn<'_, A, L, P, T, S> {
    /// `POST /v1/auth/login` from client `address`: an access and a refresh token.
    pub async fn login(&self, login: Login, address: &str) -> Result<Issued> {
        let email = normalize_email(&login.email);
        let account_address = format!("{email}\n{address}");
        let mut slots = vec![
            self.limits.take_slot(Limit::LoginAddress, address).await?,
            self.limits.take_slot(Limit::LoginAccountAddress, &account_address).await?,
        ];
        slots.push(match self.limits.take_slot(Limit::LoginAccount, &email).await {
            Ok(slot) => slot,
            // Strangers filled the ceiling: each address keeps one try a window, so the
            // owner, anywhere, with the right password, still gets in.
            Err(Error::TooManyRequests { .. }) => {
                self.limits.take_slot(Limit::LoginAccountAddressOnceFull, &account_address).await?
            }
            Err(other) => return Err(other),
        });
        let credentials = self.accounts.credentials(&email).await?;
        let hash = credentials.as_ref().filter(|c| !c.user.disabled).map(|c| c.password_hash.clone());
        let accepted = self.passwords.verify_or_waste(login.password, hash).await?;
        let Some(credentials) = credentials.filter(|_| accepted) else { return Err(Error::Unauthenticated) };
        for slot in slots {
            self.limits.give_back(slot).await?;
        }
        tracing::info!(user = %credentials.user.id, "signed in");
        new_session(self.tokens, self.sessions, &credentials.user).await
    }
}

/// `POST /v1/auth/refresh`: spends `refresh_token` for new tokens, unless it is spent,
/// unknown or its account is disabled.
pub async fn refresh(
    sessions: &impl Sessions,
    accounts: &impl Accounts,
    tokens: &impl Tokens,
    refresh_token: &str,
) -> Result<Issued> {
    let rotated = match sessions.rotate_session(refresh_token).await? {
        Ok(rotated) => rotated,
        Err(refused) => {
            tracing::info!(?refused, "refresh refused");
            return Err(Error::Unauthenticated);
        }
    };
    let user = of_epoch(active(accounts.user(&rotated.user_id).await?)?, rotated.epoch)?;
    let (access_token, expires_in) = tokens.issue(&user.id, &user.roles, TokenKind::Access, user.epoch).await?;
    Ok(Issued { access_token, expires_in, refresh_token: Some(rotated.token) })
}

/// `POST /v1/auth/guest` from client `address`: a guest token (role `guest`, a fresh
/// random `sub`, no refresh token), limited per address.
pub async fn guest(limits: &impl Limits, tokens: &impl Tokens, address: &str) -> Result<Issued> {
    limits.take_slot(Limit::GuestAddress, address).await?;
    let sub = format!("guest-{}", ids::random_id());
    let (access_token, expires_in) = tokens.issue(&sub, &[Role::Guest], TokenKind::Guest, 0).await?;
    Ok(Issued { access_token, expires_in, refresh_token: None })
}

/// Whom a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub roles: Vec<Role>,
    /// Whether the account's email is verified (never for guests).
    pub email_verified: bool,
}

/// Whom a verified token of ballot's own (of sign-in `epoch`) speaks for: an account's
/// token carries the account's roles as stored now (so a disabled account is refused
/// and role changes apply at once), and only while the account is still in that epoch;
/// other kinds (guests) have no account and carry their own roles.
pub async fn own_token_roles(
    accounts: &impl Accounts,
    sub: &str,
    kind: TokenKind,
    roles: Vec<Role>,
    epoch: u64,
) -> Result<Admitted> {
    match kind {
        TokenKind::Access => {
            let user = of_epoch(active(accounts.user(sub).await?)?, epoch)?;
            Ok(Admitted { roles: user.roles, email_verified: user.email_verified })
        }
        _ => Ok(Admitted { roles, email_verified: false }),
    }
}

/// The account a verified federated identity speaks for, when it is linked already and
/// not disabled. Reads only: the authorizer asks this of every federated bearer token,
/// and an identity seen for the first time is linked by [`federated_sign_in`] alone.
pub async fn federated_account(accounts: &impl Accounts, issuer: &str, subject: &str) -> Result<User> {
    let user = accounts.federated_user(issuer, subject).await?;
    if user.is_none() {
        tracing::info!("federated identity not signed in yet");
    }
    active(user)
}

/// `POST /v1/auth/federated`: a verified federated identity (`email` only when its issuer
/// verified it) exchanged for ballot's tokens, an access and a refresh token, as a login
/// gives; at first sight the identity gets an account (`viewer`) linked to it.
pub async fn federated_sign_in(
    accounts: &impl Accounts,
    tokens: &impl Tokens,
    sessions: &impl Sessions,
    (issuer, subject, email): (&str, &str, Option<&str>),
) -> Result<Issued> {
    let user = active(Some(accounts.linked_user(issuer, subject, email).await?))?;
    tracing::info!(user = %user.id, "signed in through a federated identity");
    new_session(tokens, sessions, &user).await
}

/// An access token and the first refresh token of a new session of `user`, both of its
/// current sign-in epoch.
async fn new_session(tokens: &impl Tokens, sessions: &impl Sessions, user: &User) -> Result<Issued> {
    let (access_token, expires_in) = tokens.issue(&user.id, &user.roles, TokenKind::Access, user.epoch).await?;
    let refresh_token = sessions.start_session(&user.id, user.epoch).await?;
    Ok(Issued { access_token, expires_in, refresh_token: Some(refresh_token) })
}

/// `user`, if a token or session of sign-in `epoch` still speaks for it.
fn of_epoch(user: User, epoch: u64) -> Result<User> {
    if user.epoch == epoch {
        return Ok(user);
    }
    tracing::info!(user = %user.id, "token or session from before a password reset");
    Err(Error::Unauthenticated)
}

fn active(user: Option<User>) -> Result<User> {
    match user {
        Some(user) if !user.disabled => Ok(user),
        _ => {
            tracing::info!("token or session of a disabled or unknown account");
            Err(Error::Unauthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::identity::*;

    const PASSWORD: &str = "correct horse battery staple";

    fn ann() -> Identity {
        Identity::default().with_account("u1", "ann@example.com", PASSWORD, false)
    }

    fn sign_in(identity: &Identity) -> SignIn<'_, Identity, Identity, Identity, Identity, Identity> {
        SignIn { accounts: identity, limits: identity, passwords: identity, tokens: identity, sessions: identity }
    }

    fn login(email: &str, password: &str) -> Login {
        Login { email: email.into(), password: password.into() }
    }

    #[tokio::test]
    async fn given_the_right_password_when_logging_in_then_tokens_and_every_slot_back() {
        let identity = ann();
        let issued = sign_in(&identity).login(login(" Ann@Example.com ", PASSWORD), "203.0.113.9").await.unwrap();
        assert_eq!(issued.access_token, "access:u1:viewer");
        assert_eq!(issued.refresh_token.as_deref(), Some("refresh-1"));
        assert_eq!(identity.slots(Limit::LoginAccount, "ann@example.com"), 0);
        assert_eq!(identity.slots(Limit::LoginAccountAddress, "ann@example.com\n203.0.113.9"), 0);
        assert_eq!(identity.slots(Limit::LoginAddress, "203.0.113.9"), 0);
    }

    #[tokio::test]
    async fn given_a_wrong_password_an_unknown_email_or_a_disabled_account_then_the_same_refusal_after_the_same_work() {
        let identity = ann().with_account("u2", "bob@example.com", PASSWORD, true);
        for (email, password) in [
            ("ann@example.com", "wrong password here"),
            ("nobody@example.com", PASSWORD),
            ("bob@example.com", PASSWORD),
        ] {
            let refused = sign_in(&identity).login(login(email, password), "203.0.113.9").await;
            assert!(matches!(refused, Err(Error::Unauthenticated)), "{email}: {refused:?}");
        }
        let state = identity.state();
        assert_eq!((state.verified, state.wasted), (1, 2), "every refusal verified one hash");
        assert!(state.sessions.is_empty());
    }

    #[tokio::test]
    async fn given_failures_fill_a_limit_when_logging_in_then_refused_before_the_password_is_checked() {
        let identity = ann();
        for _ in 0..LIMIT {
            let _ = sign_in(&identity).login(login("ann@example.com", "wrong password here"), "198.51.100.1").await;
        }
        let verified = identity.state().verified;
        let refused = sign_in(&identity).login(login("ann@example.com", PASSWORD), "198.51.100.1").await;
        assert!(matches!(refused, Err(Error::TooManyRequests { .. })), "{refused:?}");
        assert_eq!(identity.state().verified, verified, "no password work once limited");
        // The tight limit is per account and address: the owner elsewhere still signs in.
        assert!(sign_in(&identity).login(login("ann@example.com", PASSWORD), "192.0.2.7").await.is_ok());
    }

    #[tokio::test]
    async fn given_strangers_fill_the_account_ceiling_then_the_owner_anywhere_gets_in_and_each_stranger_one_try() {
        let identity = ann();
        let strangers: Vec<String> = (0..ACCOUNT_LIMIT).map(|n| format!("198.51.100.{n}")).collect();
        for stranger in &strangers {
            let failed = sign_in(&identity).login(login("ann@example.com", "wrong password here"), stranger).await;
            assert!(matches!(failed, Err(Error::Unauthenticated)), "{failed:?}");
        }
        assert_eq!(identity.slots(Limit::LoginAccount, "ann@example.com"), ACCOUNT_LIMIT, "the ceiling is full");
        // A stranger's next try is its one try once full; the one after is refused unchecked.
        let once = sign_in(&identity).login(login("ann@example.com", "wrong password again"), &strangers[0]).await;
        assert!(matches!(once, Err(Error::Unauthenticated)), "{once:?}");
        let verified = identity.state().verified;
        let refused = sign_in(&identity).login(login("ann@example.com", "and again"), &strangers[0]).await;
        assert!(matches!(refused, Err(Error::TooManyRequests { .. })), "{refused:?}");
        assert_eq!(identity.state().verified, verified, "no password work once refused");
        // The owner, from an address of its own, with the right password.
        assert!(sign_in(&identity).login(login("ann@example.com", PASSWORD), "192.0.2.7").await.is_ok());
    }

    #[tokio::test]
    async fn given_a_refresh_token_when_spent_twice_or_for_a_disabled_account_then_refused() {
        let identity = ann();
        let first = sign_in(&identity).login(login("ann@example.com", PASSWORD), "192.0.2.7").await.unwrap();
        let spent = first.refresh_token.unwrap();
        let next = refresh(&identity, &identity, &identity, &spent).await.unwrap();
        assert_ne!(next.refresh_token.as_deref(), Some(spent.as_str()));
        assert!(matches!(refresh(&identity, &identity, &identity, &spent).await, Err(Error::Unauthenticated)));
        identity.state().accounts.get_mut("u1").unwrap().user.disabled = true;
        let disabled = refresh(&identity, &identity, &identity, next.refresh_token.as_deref().unwrap()).await;
        assert!(matches!(disabled, Err(Error::Unauthenticated)));
    }

    #[tokio::test]
    async fn given_a_password_reset_when_an_older_session_refreshes_then_refused() {
        let identity = ann();
        let before = sign_in(&identity).login(login("ann@example.com", PASSWORD), "192.0.2.7").await.unwrap();
        identity.state().accounts.get_mut("u1").unwrap().user.epoch = 1;
        let refused = refresh(&identity, &identity, &identity, before.refresh_token.as_deref().unwrap()).await;
        assert!(matches!(refused, Err(Error::Unauthenticated)), "{refused:?}");
        let after = sign_in(&identity).login(login("ann@example.com", PASSWORD), "192.0.2.7").await.unwrap();
        assert!(refresh(&identity, &identity, &identity, after.refresh_token.as_deref().unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn given_guests_when_tokens_are_asked_then_fresh_subjects_no_refresh_and_a_limit_per_address() {
        let identity = Identity::default();
        let a = guest(&identity, &identity, "192.0.2.7").await.unwrap();
        let b = guest(&identity, &identity, "192.0.2.7").await.unwrap();
        assert!(a.access_token.starts_with("guest:guest-") && a.access_token.ends_with(":guest"));
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(a.refresh_token, None);
        guest(&identity, &identity, "192.0.2.7").await.unwrap();
        assert!(matches!(guest(&identity, &identity, "192.0.2.7").await, Err(Error::TooManyRequests { .. })));
        assert!(guest(&identity, &identity, "192.0.2.8").await.is_ok());
    }

    #[tokio::test]
    async fn given_verified_tokens_when_admitted_then_accounts_speak_with_their_stored_roles() {
        let identity = ann();
        identity.state().accounts.get_mut("u1").unwrap().user.roles = vec![Role::Admin];
        let admitted = own_token_roles(&identity, "u1", TokenKind::Access, vec![Role::Viewer], 0).await.unwrap();
        assert_eq!(admitted.roles, [Role::Admin], "the account's roles now, not the token's");
        let guest = own_token_roles(&identity, "guest-1", TokenKind::Guest, vec![Role::Guest], 0).await.unwrap();
        assert_eq!(guest, Admitted { roles: vec![Role::Guest], email_verified: false });
        let unknown = own_token_roles(&identity, "gone", TokenKind::Access, vec![Role::Admin], 0).await;
        assert!(matches!(unknown, Err(Error::Unauthenticated)));
        identity.state().accounts.get_mut("u1").unwrap().user.epoch = 1;
        let before_reset = own_token_roles(&identity, "u1", TokenKind::Access, vec![Role::Admin], 0).await;
        assert!(matches!(before_reset, Err(Error::Unauthenticated)), "a token from before a reset");
    }

    #[tokio::test]
    async fn given_a_federated_identity_then_only_its_sign_in_links_an_account_and_the_authorizer_reads_only() {
        let identity = Identity::default();
        let who = ("https://idp.example", "s1", None);
        let unseen = federated_account(&identity, who.0, who.1).await;
        assert!(matches!(unseen, Err(Error::Unauthenticated)), "an identity never exchanged");
        assert!(identity.state().accounts.is_empty(), "the authorizer's question wrote nothing");

        let issued = federated_sign_in(&identity, &identity, &identity, who).await.unwrap();
        assert!(issued.refresh_token.is_some(), "a session, as a login starts");
        let linked = federated_account(&identity, who.0, who.1).await.unwrap();
        assert_eq!(linked.roles, [Role::Viewer]);
        federated_sign_in(&identity, &identity, &identity, who).await.unwrap();
        assert_eq!(identity.state().accounts.len(), 1, "one account per identity");

        identity.state().accounts.get_mut(&linked.id).unwrap().user.disabled = true;
        let disabled = federated_account(&identity, who.0, who.1).await;
        assert!(matches!(disabled, Err(Error::Unauthenticated)));
        let refused = federated_sign_in(&identity, &identity, &identity, who).await;
        assert!(matches!(refused, Err(Error::Unauthenticated)), "a disabled account gets no token");
    }
}
