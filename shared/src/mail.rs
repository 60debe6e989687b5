//! Account mail through SES v2 (`ballot_core::ports::Mailer`): plain text, from the
//! template's `MailFrom`, with links to the front end at `AppUrl`. A link carries its
//! token in the fragment (`#token=…`), which browsers never send to a server, so no
//! access log or `Referer` sees it. A failed send is `Unavailable` (503): nothing is
//! retried behind the caller's back, and the caller's answer says to try again.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use ballot_core::{
    Error,
    ports::{AccountMail, Mailer},
    registration::{RESET_TTL_SECS, Registration, VERIFY_TTL_SECS},
};

use crate::{auth::password::Argon2id, clock::System};

/// The one answer of every registration and reset request that passes the checks.
pub const CHECK_YOUR_INBOX: &str = "Check your inbox: we sent a mail to this address with what to do next.";

/// What registering and recovering an account need, built once per cold start.
pub struct Desk {
    pub store: crate::store::Store,
    pub limits: crate::store::limits::RateLimits,
    pub mailer: Ses,
}

impl Desk {
    /// The use cases of `ballot_core::registration` on the table, argon2id, SES and the
    /// system clock.
    pub fn registration(
        &self,
    ) -> Registration<'_, crate::store::Store, crate::store::limits::RateLimits, Argon2id, Ses, System> {
        Registration {
            accounts: &self.store,
            limits: &self.limits,
            passwords: &Argon2id,
            mailer: &self.mailer,
            clock: &System,
        }
    }
}

/// Sends account mail.
pub struct Ses {
    pub client: aws_sdk_sesv2::Client,
    /// The sender (`MAIL_FROM`).
    pub from: String,
    /// The front end the links open (`APP_URL`), without a trailing `/`.
    pub app_url: String,
}

impl Ses {
    /// The subject and text of `mail`.
    pub fn render(&self, mail: &AccountMail) -> (String, String) {
        let app = self.app_url.trim_end_matches('/');
        match mail {
            AccountMail::Verify { token } => (
                "Verify your email for ballot".into(),
                format!(
                    "Welcome to ballot.\n\nOpen this link to verify your email (it works once, for {} hours):\n\n{app}/verify-email#token={token}\n\nIf you did not register, ignore this mail.\n",
                    VERIFY_TTL_SECS / 3600
                ),
            ),
            AccountMail::AlreadyRegistered => (
                "You already have a ballot account".into(),
                format!(
                    "Someone tried to register with this email, which already has an account.\n\nIf it was you, sign in at {app}, or reset your password at {app}/reset-password.\nIf it was not you, ignore this mail: nothing changed.\n"
                ),
            ),
            AccountMail::Reset { token } => (
                "Reset your ballot password".into(),
                format!(
                    "Open this link to set a new password (it works once, for {} minutes):\n\n{app}/reset-password#token={token}\n\nSetting it signs you out everywhere. If you did not ask, ignore this mail: nothing changed.\n",
                    RESET_TTL_SECS / 60
                ),
            ),
            AccountMail::NoAccount => (
                "ballot password reset".into(),
                format!(
                    "Someone asked to reset the ballot password of this email, but it has no account.\n\nTo create one, register at {app}. If it was not you, ignore this mail.\n"
                ),
            ),
        }
    }
}

impl Mailer for Ses {
    async fn send(&self, to: &str, mail: &AccountMail) -> Result<(), Error> {
        let (subject, text) = self.render(mail);
        let utf8 = |data: String| Content::builder().data(data).charset("UTF-8").build().map_err(Error::internal);
        let message =
            Message::builder().subject(utf8(subject)?).body(Body::builder().text(utf8(text)?).build()).build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|err| {
                tracing::error!(error = %crate::aws::DisplayErrorContext(&err), "mail not sent");
                Error::Unavailable("Mail could not be sent; try again shortly.".into())
            })?;
        Ok(())
    }
}
