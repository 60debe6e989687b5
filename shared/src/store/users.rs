//! Accounts.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::{Store, condition_failed};
use crate::{ApiError, auth::Role};

/// An account as clients see it (`GET /v1/me`, registration, admin listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub created_at: String,
    #[serde(default)]
    pub disabled: bool,
}

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmailItem {
    pk: String,
    sk: String,
    user_id: String,
}

const PROFILE: &str = "PROFILE";
const EMAIL: &str = "EMAIL";

fn user_pk(id: &str) -> String {
    format!("USER#{id}")
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

/// An account and its password hash, as login needs them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

impl Store {
    /// Creates the account and claims its email in one transaction: of any number of
    /// concurrent registrations of an email, exactly one succeeds; the others get `Conflict`.
    pub async fn create_user(&self, user: &User, password_hash: String) -> Result<(), ApiError> {
        let item = UserItem {
            pk: user_pk(&user.id),
            sk: PROFILE.into(),
            gsi1pk: "USER".into(),
            gsi1sk: format!("{}#{}", user.created_at, user.id),
            user: user.clone(),
            password_hash,
        };
        let claim = EmailItem { pk: email_pk(&user.email), sk: EMAIL.into(), user_id: user.id.clone() };
        let put = |item: std::collections::HashMap<_, _>| -> Result<TransactWriteItem, ApiError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(ApiError::internal)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .db
            .transact_write_items()
            .transact_items(put(serde_dynamo::to_item(&claim).map_err(ApiError::internal)?)?)
            .transact_items(put(serde_dynamo::to_item(&item).map_err(ApiError::internal)?)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
                Err(ApiError::Conflict("An account with this email already exists.".into()))
            }
            Err(err) => Err(ApiError::internal(err)),
        }
    }

    /// The account with `id`.
    pub async fn user(&self, id: &str) -> Result<Option<User>, ApiError> {
        Ok(self.get::<UserItem>(user_pk(id), PROFILE).await?.map(|item| item.user))
    }

    /// The account registered with `email` (already normalised) and its password hash.
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, ApiError> {
        let Some(claim) = self.get::<EmailItem>(email_pk(email), EMAIL).await? else { return Ok(None) };
        let item = self.get::<UserItem>(user_pk(&claim.user_id), PROFILE).await?;
        Ok(item.map(|item| Credentials { user: item.user, password_hash: item.password_hash }))
    }
}
