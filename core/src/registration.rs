//! Registering an account and recovering it, through mail to its address: register,
//! verifying the email, asking for a password reset, and resetting.
//!
//! Invariants:
//! - register gives the same answer whether or not the email has an account: both paths
//!   hash the password, try the same one transaction and send one mail (a verification
//!   link, or "you have an account here"), so neither the answer nor its timing tells
//!   which emails are registered. A reset request answers the same for every email too.
//! - mails to one address are limited per window ([`Limit::MailTo`]); past the limit the
//!   mail is left unsent and the answer does not change.
//! - a link's token is 256 random bits, stored only as its SHA-256, has one purpose, is
//!   short-lived ([`VERIFY_TTL_SECS`], [`RESET_TTL_SECS`]) and is spent once: the spend is
//!   conditional and one transaction with its effect.
//! - a reset moves the account's sign-in epoch on, so every access token and
//!   refresh-token family issued before it is refused from then on.

use crate::{
    Error, FieldError,
    access::Role,
    accounts::{NewAccount, User, normalize_email},
    clock::Clock,
    ids, passwords,
    ports::{AccountMail, Accounts, Limit, Limits, LinkPurpose, LinkToken, LinkTokens, Mailer, Passwords, Result},
};

/// How long a verification link works.
pub const VERIFY_TTL_SECS: u64 = 24 * 3600;
/// How long a password-reset link works.
pub const RESET_TTL_SECS: u64 = 30 * 60;

/// What registering and recovering need.
pub struct Registration<'a, A, L, P, M, C> {
    pub accounts: &'a A,
    pub limits: &'a L,
    pub passwords: &'a P,
    pub mailer: &'a M,
    pub clock: &'a C,
}

impl<A, L, P, M, C> Registration<'_, A, L, P, M, C>
where
    A: Accounts + LinkTokens,
    L: Limits,
    P: Passwords,
    M: Mailer,
    C: Clock,
{
    /// `POST /v1/auth/register` from client `address`: a new unverified `editor` account
    /// and a mail with its verification link, or, when the email is taken, a mail saying
    /// so. Every attempt takes a slot of the address's registration limit.
    pub async fn register(&self, new: NewAccount, address: &str) -> Result<()> {
        self.limits.take_slot(Limit::RegisterAddress, address).await?;
        let email = normalize_email(&new.email);
        if let Some(problem) = passwords::policy_violation(&new.password, &email) {
            return Err(Error::Validation(vec![FieldError::new("#/password", problem)]));
        }
        let password_hash = self.passwords.hash(new.password).await?;
        let user = User {
            id: ids::random_id(),
            email,
            display_name: new.display_name.trim().to_owned(),
            roles: vec![Role::Editor],
            created_at: self.clock.rfc3339_now(),
            disabled: false,
            email_verified: false,
            epoch: 0,
        };
        let (token, verification) = self.link(LinkPurpose::VerifyEmail, &user.id);
        let mail = match self.accounts.create_user(&user, password_hash, &verification).await {
            Ok(()) => {
                tracing::info!(user = %user.id, "account created");
                AccountMail::Verify { token }
            }
            Err(Error::Conflict(_)) => AccountMail::AlreadyRegistered,
            Err(other) => return Err(other),
        };
        if self.mail_slot(&user.email).await? {
            self.mailer.send(&user.email, &mail).await?;
        }
        Ok(())
    }

    /// `POST /v1/auth/verify-email`: spends a verification link's `token`; the account,
    /// now verified.
    pub async fn verify_email(&self, token: &str) -> Result<User> {
        let link = self.spendable(token, LinkPurpose::VerifyEmail).await?;
        let user = self.accounts.spend_verification(&link, self.clock.epoch_secs()).await?.ok_or_else(bad_link)?;
        tracing::info!(user = %user.id, "email verified");
        Ok(user)
    }

    /// `POST /v1/auth/password-reset` from client `address`: mails a reset link to
    /// `email` if it has an account that may sign in, else a mail saying it has none.
    /// Limited per address, and per recipient like all mail.
    pub async fn request_reset(&self, email: &str, address: &str) -> Result<()> {
        self.limits.take_slot(Limit::ResetAddress, address).await?;
        let email = normalize_email(email);
        let account = self.accounts.credentials(&email).await?.filter(|c| !c.user.disabled);
        if !self.mail_slot(&email).await? {
            return Ok(());
        }
        let mail = match account {
            Some(credentials) => {
                let (token, link) = self.link(LinkPurpose::ResetPassword, &credentials.user.id);
                self.accounts.store_link_token(&link).await?;
                AccountMail::Reset { token }
            }
            None => AccountMail::NoAccount,
        };
        self.mailer.send(&email, &mail).await
    }

    /// `POST /v1/auth/password-reset/confirm`: spends a reset link's `token` to set
    /// `password` (checked by the policy first, so a weak one does not spend the link),
    /// ending every session of the account.
    pub async fn reset_password(&self, token: &str, password: String) -> Result<()> {
        let link = self.spendable(token, LinkPurpose::ResetPassword).await?;
        let user = self.accounts.user(&link.user_id).await?.filter(|u| !u.disabled).ok_or_else(bad_link)?;
        if let Some(problem) = passwords::policy_violation(&password, &user.email) {
            return Err(Error::Validation(vec![FieldError::new("#/password", problem)]));
        }
        let password_hash = self.passwords.hash(password).await?;
        if !self.accounts.spend_reset(&link, self.clock.epoch_secs(), user.epoch, password_hash).await? {
            return Err(bad_link());
        }
        tracing::info!(user = %user.id, "password reset: every session ended");
        Ok(())
    }

    /// A new link token for `user_id`: the token to mail, and what is stored of it.
    fn link(&self, purpose: LinkPurpose, user_id: &str) -> (String, LinkToken) {
        let token = ids::random_token(32);
        let ttl = match purpose {
            LinkPurpose::VerifyEmail => VERIFY_TTL_SECS,
            LinkPurpose::ResetPassword => RESET_TTL_SECS,
        };
        let stored = LinkToken {
            hash: ids::sha256_hex(&token),
            purpose,
            user_id: user_id.to_owned(),
            expires_at: self.clock.epoch_secs() + ttl,
        };
        (token, stored)
    }

    /// The stored link of `token` if it has `purpose` and has not expired.
    async fn spendable(&self, token: &str, purpose: LinkPurpose) -> Result<LinkToken> {
        if !looks_like_link_token(token) {
            return Err(bad_link());
        }
        let now = self.clock.epoch_secs();
        let link = self.accounts.link_token(&ids::sha256_hex(token)).await?;
        link.filter(|l| l.purpose == purpose && now < l.expires_at).ok_or_else(bad_link)
    }

    /// Whether one more mail may go to `email` this window.
    async fn mail_slot(&self, email: &str) -> Result<bool> {
        match self.limits.take_slot(Limit::MailTo, email).await {
            Ok(_) => Ok(true),
            Err(Error::TooManyRequests { .. }) => {
                tracing::info!("mail limit of the recipient reached: not sent");
                Ok(false)
            }
            Err(other) => Err(other),
        }
    }
}

/// 43 characters of base64url: what [`ids::random_token`] makes of 32 bytes.
fn looks_like_link_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every unusable link gets this one answer (unknown, used, expired, of another purpose).
fn bad_link() -> Error {
    Error::Validation(vec![FieldError::new("#/token", "is not a usable link: it is unknown, used or expired")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::Fixed, memory::NOW, memory::identity::*};

    const PASSWORD: &str = "correct horse battery staple";
    const ADDRESS: &str = "203.0.113.50";

    fn desk<'a>(
        identity: &'a Identity,
        clock: &'a Fixed,
    ) -> Registration<'a, Identity, Identity, Identity, Identity, Fixed> {
        Registration { accounts: identity, limits: identity, passwords: identity, mailer: identity, clock }
    }

    fn new(email: &str) -> NewAccount {
        NewAccount { email: email.into(), password: PASSWORD.into(), display_name: " Cy ".into() }
    }

    fn token_of(mail: &AccountMail) -> String {
        match mail {
            AccountMail::Verify { token } | AccountMail::Reset { token } => token.clone(),
            other => panic!("no link in {other:?}"),
        }
    }

    #[tokio::test]
    async fn given_a_free_and_a_taken_email_when_registering_then_the_same_answer_the_same_work_and_other_mail() {
        let identity = Identity::default().with_account("u1", "ann@example.com", PASSWORD, false);
        let clock = Fixed::at(NOW);
        desk(&identity, &clock).register(new(" Cy@Example.com"), ADDRESS).await.unwrap();
        desk(&identity, &clock).register(new("ANN@example.com"), ADDRESS).await.unwrap();
        let state = identity.state();
        assert_eq!(state.hashed, 2, "both paths hash the password");
        assert_eq!(state.accounts.len(), 2);
        let cy = state.accounts.values().find(|c| c.user.email == "cy@example.com").unwrap();
        assert_eq!((cy.user.display_name.as_str(), cy.user.roles.as_slice()), ("Cy", &[Role::Editor][..]));
        assert!(!cy.user.email_verified);
        assert!(matches!(&state.mail[0], (to, AccountMail::Verify { .. }) if to == "cy@example.com"));
        assert_eq!(state.mail[1], ("ann@example.com".into(), AccountMail::AlreadyRegistered));
        assert_eq!(state.links.len(), 1, "only the new account's link is stored");
        assert!(state.links.values().all(|l| l.hash.len() == 64), "stored as SHA-256");
    }

    #[tokio::test]
    async fn given_registrations_from_one_address_then_refused_past_its_limit_and_nothing_written() {
        let identity = Identity::default();
        let clock = Fixed::at(NOW);
        for n in 0..LIMIT {
            desk(&identity, &clock).register(new(&format!("cy{n}@example.com")), ADDRESS).await.unwrap();
        }
        let refused = desk(&identity, &clock).register(new("cy9@example.com"), ADDRESS).await;
        assert!(matches!(refused, Err(Error::TooManyRequests { .. })), "{refused:?}");
        assert_eq!(identity.state().accounts.len(), LIMIT as usize);
        assert!(desk(&identity, &clock).register(new("cy9@example.com"), "192.0.2.8").await.is_ok());
    }

    #[tokio::test]
    async fn given_a_weak_password_when_registering_then_refused_before_any_work() {
        let identity = Identity::default();
        let weak = NewAccount { email: "cy@example.com".into(), password: "short".into(), display_name: "Cy".into() };
        let refused = desk(&identity, &Fixed::at(NOW)).register(weak, ADDRESS).await;
        assert!(matches!(&refused, Err(Error::Validation(e)) if e[0].pointer == "#/password"), "{refused:?}");
        assert!(identity.state().accounts.is_empty() && identity.state().mail.is_empty());
    }

    #[tokio::test]
    async fn given_many_registrations_of_one_email_then_its_mail_stops_at_the_limit_and_the_answer_does_not() {
        let identity = Identity::default();
        let clock = Fixed::at(NOW);
        for n in 0..LIMIT + 2 {
            desk(&identity, &clock).register(new("cy@example.com"), &format!("192.0.2.{n}")).await.unwrap();
        }
        assert_eq!(identity.state().mail.len(), LIMIT as usize);
    }

    #[tokio::test]
    async fn given_a_verification_link_when_spent_then_verified_once_and_never_after_expiry() {
        let identity = Identity::default();
        let clock = Fixed::at(NOW);
        desk(&identity, &clock).register(new("cy@example.com"), ADDRESS).await.unwrap();
        let token = token_of(&identity.state().mail[0].1);
        let user = desk(&identity, &clock).verify_email(&token).await.unwrap();
        assert!(user.email_verified);
        for used in [token.as_str(), "not-a-token", &"A".repeat(43)] {
            let refused = desk(&identity, &clock).verify_email(used).await;
            assert!(matches!(&refused, Err(Error::Validation(e)) if e[0].pointer == "#/token"), "{refused:?}");
        }
        desk(&identity, &clock).register(new("dee@example.com"), "192.0.2.9").await.unwrap();
        let late = token_of(&identity.state().mail[1].1);
        let later = Fixed::at(NOW + VERIFY_TTL_SECS);
        assert!(matches!(desk(&identity, &later).verify_email(&late).await, Err(Error::Validation(_))));
    }

    #[tokio::test]
    async fn given_a_reset_when_spent_then_a_new_password_a_new_epoch_and_the_link_spent() {
        let identity = Identity::default().with_account("u1", "ann@example.com", PASSWORD, false);
        let clock = Fixed::at(NOW);
        desk(&identity, &clock).request_reset(" ANN@example.com", ADDRESS).await.unwrap();
        desk(&identity, &clock).request_reset("nobody@example.com", ADDRESS).await.unwrap();
        let mail = identity.state().mail.clone();
        let (reset, none) = (mail[0].clone(), mail[1].clone());
        assert_eq!(none, ("nobody@example.com".into(), AccountMail::NoAccount));
        let token = token_of(&reset.1);
        // A verification link is no reset link, and a weak password spends nothing.
        let weak = desk(&identity, &clock).reset_password(&token, "short".into()).await;
        assert!(matches!(&weak, Err(Error::Validation(e)) if e[0].pointer == "#/password"), "{weak:?}");
        desk(&identity, &clock).reset_password(&token, "a brand new passphrase".into()).await.unwrap();
        let account = identity.state().accounts["u1"].clone();
        assert_eq!(account.password_hash, "hash:a brand new passphrase");
        assert_eq!(account.user.epoch, 1);
        assert!(account.user.email_verified, "the link reached the mailbox");
        let again = desk(&identity, &clock).reset_password(&token, "another new passphrase".into()).await;
        assert!(matches!(&again, Err(Error::Validation(e)) if e[0].pointer == "#/token"), "{again:?}");
        assert!(matches!(desk(&identity, &clock).verify_email(&token).await, Err(Error::Validation(_))));
    }

    #[tokio::test]
    async fn given_an_expired_reset_link_or_reset_requests_past_the_limit_then_refused() {
        let identity = Identity::default().with_account("u1", "ann@example.com", PASSWORD, false);
        let clock = Fixed::at(NOW);
        desk(&identity, &clock).request_reset("ann@example.com", ADDRESS).await.unwrap();
        let token = token_of(&identity.state().mail[0].1);
        let later = Fixed::at(NOW + RESET_TTL_SECS);
        let late = desk(&identity, &later).reset_password(&token, "a new passphrase x".into()).await;
        assert!(matches!(late, Err(Error::Validation(_))));
        for _ in 1..LIMIT {
            desk(&identity, &clock).request_reset("ann@example.com", ADDRESS).await.unwrap();
        }
        let refused = desk(&identity, &clock).request_reset("ann@example.com", ADDRESS).await;
        assert!(matches!(refused, Err(Error::TooManyRequests { .. })), "{refused:?}");
    }
}
