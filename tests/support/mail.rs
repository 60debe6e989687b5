//! The mail the local stack sent, read from moto's mailbox (`GET /_ballot/mail`, see
//! infra/moto_server.py), and the one-time tokens in its links.
//!
//! The mailbox is moto's own path, so it is read from moto directly: from
//! `BALLOT_AWS_UPSTREAM_URL` when the stack's AWS calls go through the fault proxy
//! (`make test`'s fault phase), else from `AWS_ENDPOINT_URL`. A read never meets a fault.

use std::time::Duration;

use serde_json::Value;

use crate::required_env;

/// One message SES accepted: what its recipient would read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// moto's own address (not the fault proxy's).
fn moto_endpoint() -> String {
    std::env::var("BALLOT_AWS_UPSTREAM_URL").unwrap_or_else(|_| required_env("AWS_ENDPOINT_URL"))
}

/// Every message sent to `address` (any case), oldest first.
pub async fn mail_to(address: &str) -> Vec<Mail> {
    mailbox(Some(address)).await
}

/// Every message the stack sent, to anyone, oldest first.
pub async fn all_mail() -> Vec<Mail> {
    mailbox(None).await
}

async fn mailbox(to: Option<&str>) -> Vec<Mail> {
    let url = format!("{}/_ballot/mail", moto_endpoint().trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&url, to.map(|address| ("to", address))).expect("the mailbox's URL");
    let response = crate::client().get(url).send().await.expect("moto's mailbox answers (is the stack up?)");
    assert_eq!(response.status(), 200, "GET /_ballot/mail: is AWS_ENDPOINT_URL infra/moto_server.py?");
    let answer: Value = response.json().await.expect("the mailbox answers JSON");
    let text = |message: &Value, field: &str| message[field].as_str().unwrap_or_default().to_owned();
    answer["messages"]
        .as_array()
        .expect("the mailbox lists messages")
        .iter()
        .map(|message| Mail {
            from: text(message, "from"),
            to: message["to"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            subject: text(message, "subject"),
            body: text(message, "body"),
        })
        .collect()
}

/// The newest message to `address` once more than `seen` messages went to it: polls every
/// 100 ms and panics after 20 s, naming the address and how many it found.
pub async fn next_mail(address: &str, seen: usize) -> Mail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut mail = mail_to(address).await;
        if mail.len() > seen {
            return mail.pop().expect("more than `seen` messages");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new mail to {address} within 20 s: {} messages, {seen} seen before",
            mail.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The token of the link in `body` (`…#token=<43 base64url characters>`, the encoding of
/// 32 random bytes); panics, quoting the body, when there is none.
pub fn token_in(body: &str) -> String {
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    body.match_indices("#token=")
        .map(|(at, marker)| body[at + marker.len()..].chars().take_while(|&c| base64url(c)).collect::<String>())
        .find(|token| token.len() == 43)
        .unwrap_or_else(|| panic!("no link with #token=<43 base64url characters> in the mail: {body:?}"))
}

#[cfg(test)]
mod tests {
    use super::token_in;

    const TOKEN: &str = "q3Yx0-_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";

    #[test]
    fn given_a_body_with_a_link_when_reading_the_token_then_the_43_characters_after_the_marker() {
        let body = format!("Verify your email:\n\nhttp://127.0.0.1:3000/verify-email#token={TOKEN}\n\nThanks");
        assert_eq!(token_in(&body), TOKEN);
    }

    #[test]
    #[should_panic(expected = "no link with #token=")]
    fn given_a_body_with_a_short_token_when_reading_it_then_a_panic_quoting_the_body() {
        token_in("http://127.0.0.1:3000/verify-email#token=short");
    }
}
