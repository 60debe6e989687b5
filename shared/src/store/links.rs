//! The tokens of mailed links (`ballot_core::ports::LinkTokens`): one item per token,
//! keyed by its SHA-256 (the token itself is never stored), removed by TTL after it
//! expires. Spending one is a transaction of a conditional delete (still there, of its
//! purpose, unexpired) and its effect on the account, so a token works exactly once.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{
    Store,
    users::{PROFILE, user_pk},
};
use ballot_core::{
    Error,
    accounts::User,
    ports::{LinkPurpose, LinkToken},
};

const LINK: &str = "LINK";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkItem {
    pk: String,
    sk: String,
    purpose: LinkPurpose,
    user_id: String,
    /// Epoch seconds; also the table's TTL attribute.
    expires_at: u64,
}

fn link_pk(hash: &str) -> String {
    format!("LINK#{hash}")
}

impl Store {
    /// The put of `token`'s item, only if no item has its hash.
    pub(super) fn link_put(&self, token: &LinkToken) -> Result<TransactWriteItem, Error> {
        self.put_new(&LinkItem {
            pk: link_pk(&token.hash),
            sk: LINK.into(),
            purpose: token.purpose,
            user_id: token.user_id.clone(),
            expires_at: token.expires_at,
        })
    }

    /// The delete of `token`'s item, only while it is there, of its purpose and unexpired at `now`.
    fn link_spend(&self, token: &LinkToken, now: u64) -> Result<TransactWriteItem, Error> {
        let purpose = serde_dynamo::to_attribute_value(token.purpose).map_err(Error::internal)?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(link_pk(&token.hash), LINK)))
            .condition_expression("purpose = :purpose AND expires_at > :now")
            .expression_attribute_values(":purpose", purpose)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

impl ballot_core::ports::LinkTokens for Store {
    async fn store_link_token(&self, token: &LinkToken) -> Result<(), Error> {
        if self.transact(vec![self.link_put(token)?]).await? {
            Ok(())
        } else {
            Err(Error::internal("a link token's hash is taken"))
        }
    }

    async fn link_token(&self, hash: &str) -> Result<Option<LinkToken>, Error> {
        let item = self.get::<LinkItem>(link_pk(hash), LINK).await?;
        Ok(item.map(|item| LinkToken {
            hash: hash.to_owned(),
            purpose: item.purpose,
            user_id: item.user_id,
            expires_at: item.expires_at,
        }))
    }

    async fn spend_verification(&self, token: &LinkToken, now: u64) -> Result<Option<User>, Error> {
        let verify = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(&token.user_id), PROFILE)))
            .update_expression("SET email_verified = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(Error::internal)?;
        let steps = vec![self.link_spend(token, now)?, TransactWriteItem::builder().update(verify).build()];
        if !self.transact(steps).await? {
            return Ok(None);
        }
        self.user(&token.user_id).await
    }

    async fn spend_reset(&self, token: &LinkToken, now: u64, epoch: u64, password_hash: String) -> Result<bool, Error> {
        // Accounts stored before epochs existed have none: that is epoch 0.
        let same_epoch = if epoch == 0 { "(epoch = :epoch OR attribute_not_exists(epoch))" } else { "epoch = :epoch" };
        let reset = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(&token.user_id), PROFILE)))
            .update_expression("SET password_hash = :hash, email_verified = :true, epoch = :next")
            .condition_expression(format!("attribute_exists(pk) AND {same_epoch}"))
            .expression_attribute_values(":hash", AttributeValue::S(password_hash))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":next", AttributeValue::N((epoch + 1).to_string()))
            .expression_attribute_values(":epoch", AttributeValue::N(epoch.to_string()))
            .build()
            .map_err(Error::internal)?;
        self.transact(vec![self.link_spend(token, now)?, TransactWriteItem::builder().update(reset).build()]).await
    }
}
