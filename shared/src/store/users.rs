//! Accounts.

use serde::{Deserialize, Serialize};

use super::Store;
use ballot_core::Error;
use ballot_core::access::Role;
use ballot_core::accounts::{AccountChange, Credentials, User};
use ballot_core::ports::LinkToken;

/// The stored item: the account plus what never leaves the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    user: User,
    /// argon2id PHC string; never serialised into a response (`User` has no such field).
    password_hash: String,
    /// `User::epoch`, which `User` itself never serialises.
    #[serde(default)]
    epoch: u64,
}

impl UserItem {
    /// The item of `user`, listed in the accounts index by creation time.
    fn new(user: User, password_hash: String) -> Self {
        Self {
            pk: user_pk(&user.id),
            sk: PROFILE.into(),
            gsi1pk: "USER".into(),
            gsi1sk: format!("{}#{}", user.created_at, user.id),
            epoch: user.epoch,
            user,
            password_hash,
        }
    }

    /// The account, with its epoch.
    fn into_user(self) -> User {
        User { epoch: self.epoch, ..self.user }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmailItem {
    pk: String,
    sk: String,
    user_id: String,
}

pub(super) const PROFILE: &str = "PROFILE";
const EMAIL: &str = "EMAIL";

pub(super) fn user_pk(id: &str) -> String {
    format!("USER#{id}")
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

impl Store {
    /// Creates the account, claims its email and stores its verification token in one
    /// transaction: of any number of concurrent registrations of an email, exactly one
    /// succeeds; the others get `Conflict` and write nothing.
    pub async fn create_user(&self, user: &User, password_hash: String, verification: &LinkToken) -> Result<(), Error> {
        let item = UserItem::new(user.clone(), password_hash);
        let claim = EmailItem { pk: email_pk(&user.email), sk: EMAIL.into(), user_id: user.id.clone() };
        if self.transact(vec![self.put_new(&claim)?, self.put_new(&item)?, self.link_put(verification)?]).await? {
            Ok(())
        } else {
            Err(Error::Conflict("An account with this email already exists.".into()))
        }
    }

    /// The account with `id`.
    pub async fn user(&self, id: &str) -> Result<Option<User>, Error> {
        Ok(self.get::<UserItem>(user_pk(id), PROFILE).await?.map(UserItem::into_user))
    }

    /// The account registered with `email` (already normalised) and its password hash.
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, Error> {
        let Some(claim) = self.get::<EmailItem>(email_pk(email), EMAIL).await? else { return Ok(None) };
        let item = self.get::<UserItem>(user_pk(&claim.user_id), PROFILE).await?;
        Ok(item.map(|item| Credentials { password_hash: item.password_hash.clone(), user: item.into_user() }))
    }
}

/// One page of accounts, newest first, and where the next page starts.
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The `LastEvaluatedKey`, to seal in a cursor (`shared::cursor`).
    pub next: Option<serde_json::Value>,
}

impl Store {
    /// Accounts newest first, `limit` at a time, from `start` (a previous page's `next`).
    pub async fn list_users(&self, limit: i32, start: Option<serde_json::Value>) -> Result<UserPage, Error> {
        let query = super::Query {
            index: Some("gsi1"),
            key: "gsi1pk",
            value: "USER".into(),
            limit: Some(limit),
            descending: true,
        };
        let page = self.query_page::<UserItem>(&query, start).await?;
        Ok(UserPage { users: page.items.into_iter().map(UserItem::into_user).collect(), next: page.next })
    }

    /// Applies `change` to account `id`; `None` if there is no such account.
    pub async fn update_user(&self, id: &str, change: &AccountChange) -> Result<Option<User>, Error> {
        use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
        let mut sets = Vec::new();
        let mut request = self.update_item(user_pk(id), PROFILE);
        if let Some(roles) = &change.roles {
            sets.push("#roles = :roles");
            request = request.expression_attribute_names("#roles", "roles").expression_attribute_values(
                ":roles",
                serde_dynamo::to_attribute_value(roles).map_err(Error::internal)?,
            );
        }
        if let Some(disabled) = change.disabled {
            sets.push("disabled = :disabled");
            request = request.expression_attribute_values(":disabled", AttributeValue::Bool(disabled));
        }
        if sets.is_empty() {
            return self.user(id).await;
        }
        let result = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let Some(out) = super::condition_held(result)? else { return Ok(None) };
        let item: UserItem = serde_dynamo::from_item(out.attributes.unwrap_or_default()).map_err(Error::internal)?;
        Ok(Some(item.into_user()))
    }

    /// The id of the account registered with `email` (already normalised).
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>, Error> {
        Ok(self.get::<EmailItem>(email_pk(email), EMAIL).await?.map(|claim| claim.user_id))
    }
}

/// The link from an identity at another issuer to a ballot account.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdentityItem {
    pk: String,
    sk: String,
    user_id: String,
}

fn identity_pk(issuer: &str, subject: &str) -> String {
    format!("IDENTITY#{}", ballot_core::ids::sha256_hex(&format!("{issuer}\n{subject}")))
}

impl Store {
    /// The account already linked to (`issuer`, `subject`): two reads, no write.
    pub async fn federated_user(&self, issuer: &str, subject: &str) -> Result<Option<User>, Error> {
        let Some(link) = self.get::<IdentityItem>(identity_pk(issuer, subject), "IDENTITY").await? else {
            return Ok(None);
        };
        let user = self.user(&link.user_id).await?;
        user.ok_or_else(|| Error::internal("identity links a missing account")).map(Some)
    }

    /// The account linked to (`issuer`, `subject`), created on first sight with role
    /// `viewer`. Concurrent first sights link one account: the link is a conditional
    /// write, and the loser reads the winner's.
    /// `email` is stored only when the issuer verified it (callers pass `None` otherwise).
    pub async fn linked_user(&self, issuer: &str, subject: &str, email: Option<&str>) -> Result<User, Error> {
        if let Some(user) = self.federated_user(issuer, subject).await? {
            return Ok(user);
        }
        let user = User {
            id: ballot_core::ids::random_id(),
            // Not claimed as unique: another issuer's email is not proof of owning it here.
            email: email.unwrap_or_default().trim().to_lowercase(),
            display_name: email.and_then(|e| e.split('@').next()).unwrap_or("member").chars().take(60).collect(),
            roles: vec![Role::Viewer],
            created_at: ballot_core::clock::rfc3339_now(),
            disabled: false,
            // The issuer verified it, or there is none.
            email_verified: email.is_some(),
            epoch: 0,
        };
        // No password: this account signs in at its issuer only.
        let item = UserItem::new(user.clone(), String::new());
        let link = IdentityItem { pk: identity_pk(issuer, subject), sk: "IDENTITY".into(), user_id: user.id.clone() };
        if self.transact(vec![self.put_new(&link)?, self.put_new(&item)?]).await? {
            return Ok(user);
        }
        // Another request linked it first; its transaction may still be committing.
        for attempt in 0..4u64 {
            if let Some(user) = self.federated_user(issuer, subject).await? {
                return Ok(user);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
        }
        Err(Error::Unavailable("The account is being created; retry.".into()))
    }
}

impl ballot_core::ports::Accounts for Store {
    async fn create_user(&self, user: &User, password_hash: String, verification: &LinkToken) -> Result<(), Error> {
        Store::create_user(self, user, password_hash, verification).await
    }

    async fn user(&self, id: &str) -> Result<Option<User>, Error> {
        Store::user(self, id).await
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, Error> {
        Store::credentials(self, email).await
    }

    async fn federated_user(&self, issuer: &str, subject: &str) -> Result<Option<User>, Error> {
        Store::federated_user(self, issuer, subject).await
    }

    async fn linked_user(&self, issuer: &str, subject: &str, email: Option<&str>) -> Result<User, Error> {
        Store::linked_user(self, issuer, subject, email).await
    }
}
