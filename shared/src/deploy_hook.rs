//! The pre-traffic hook of the canary deploys. Before CodeDeploy shifts any traffic to new
//! versions of the hot-path functions (the authorizer, cast-vote, the tally and the queue
//! consumers), each version is invoked with a probe that at most reads and never writes
//! (a token no key signed, a vote on a poll that does not exist, an empty batch) and its
//! answer is judged; the signing keys must be in place too. CodeDeploy is then told
//! `Succeeded`, or `Failed`, and rolls back before a single request reached the version.
//!
//! The versions come from `PRE_TRAFFIC_<NAME>` variables (`!Ref <Function>.Version`); a
//! name says what kind of function it is ([`Kind::of`]).

use serde_json::{Value, json};

/// What a probed function is, which decides its probe and what it must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The Lambda authorizer: a token no key signed must be refused (`Unauthorized`).
    Authorizer,
    /// cast-vote: a vote on a poll that does not exist must be a 404 problem.
    CastVote,
    /// The table stream's tally: an empty batch of its shard, answered with no failures.
    Tally,
    /// An SQS consumer: an empty batch, answered with no failures.
    QueueConsumer,
}

impl Kind {
    /// The kind of the function a `PRE_TRAFFIC_<NAME>` variable names.
    pub fn of(name: &str) -> Option<Self> {
        match name {
            "AUTHORIZER" => Some(Self::Authorizer),
            "CAST_VOTE" => Some(Self::CastVote),
            "TALLY" => Some(Self::Tally),
            "POLL_EVENTS" | "WEBHOOK_DELIVERIES" | "LIVE_PUSH" => Some(Self::QueueConsumer),
            _ => None,
        }
    }

    /// The event the probe sends.
    pub fn probe(self) -> Value {
        match self {
            Self::Authorizer => sample(include_str!("../../events/authorizer.json")),
            Self::CastVote => {
                // Without its Idempotency-Key: the probe must not leave a record behind.
                let mut event = sample(include_str!("../../events/cast-vote.json"));
                for headers in ["headers", "multiValueHeaders"] {
                    if let Some(map) = event[headers].as_object_mut() {
                        map.remove("Idempotency-Key");
                    }
                }
                event
            }
            Self::Tally => json!({
                "Records": [], "window": {"start": "2027-01-01T00:00:00Z", "end": "2027-01-01T00:15:00Z"},
                "state": {}, "shardId": "shardId-pre-traffic-probe", "eventSourceARN": "arn:aws:dynamodb:probe",
                "isFinalInvokeForWindow": false, "isWindowTerminatedEarly": false,
            }),
            Self::QueueConsumer => json!({"Records": []}),
        }
    }

    /// Whether `answer` (the invocation's payload; `function_error` when Lambda reported
    /// the function failed) is what a healthy version answers the probe.
    pub fn judge(self, answer: &Value, function_error: bool) -> Result<(), String> {
        let no_failures = || match answer["batchItemFailures"].as_array() {
            Some(failures) if failures.is_empty() && !function_error => Ok(()),
            _ => Err(format!("an empty batch was not answered with no failures: {answer}")),
        };
        match self {
            Self::Authorizer if function_error && answer["errorMessage"] == "Unauthorized" => Ok(()),
            Self::Authorizer => Err(format!("a token no key signed was not refused: {answer}")),
            Self::CastVote => {
                let problem = answer["headers"]["content-type"] == "application/problem+json"
                    || answer["multiValueHeaders"]["content-type"][0] == "application/problem+json";
                if !function_error && answer["statusCode"] == 404 && problem {
                    Ok(())
                } else {
                    Err(format!("a vote on no poll was not a 404 problem: {answer}"))
                }
            }
            Self::Tally | Self::QueueConsumer => no_failures(),
        }
    }
}

fn sample(text: &str) -> Value {
    serde_json::from_str(text).expect("the events/ samples are JSON (tests/invoke.rs)")
}

/// One function version to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: Kind,
    /// The version's ARN (or, locally, the function's name).
    pub function: String,
}

/// The targets the `PRE_TRAFFIC_<NAME>` variables of `vars` name; an unknown name is an
/// error, so a hook never silently skips a function it was given.
pub fn targets(vars: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for (key, function) in vars {
        let Some(name) = key.strip_prefix("PRE_TRAFFIC_") else { continue };
        let kind = Kind::of(name).ok_or_else(|| format!("{key}: no probe for {name}"))?;
        targets.push(Target { name: name.to_ascii_lowercase().replace('_', "-"), kind, function });
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(targets)
}

/// Probes every target and checks the signing keys; the reasons it found, if any.
pub async fn check(
    lambda: &aws_sdk_lambda::Client,
    keys: &crate::auth::keys::SigningKeys<crate::aws::secretsmanager::Client>,
    targets: &[Target],
) -> Vec<String> {
    let mut problems = Vec::new();
    match keys.get().await {
        Ok(set) if set.verifier(set.current_kid()).is_some() => {}
        Ok(_) => problems.push("the verification key set has no current key".to_owned()),
        Err(err) => problems.push(format!("the verification key set could not be read: {err}")),
    }
    for target in targets {
        let payload = serde_json::to_vec(&target.kind.probe()).expect("a probe is JSON");
        let invoked = lambda
            .invoke()
            .function_name(&target.function)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await;
        let verdict = match invoked {
            Ok(out) => {
                let answer: Value =
                    out.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or(Value::Null);
                target.kind.judge(&answer, out.function_error().is_some())
            }
            Err(err) => match reported_function_error(&err) {
                Some(answer) => target.kind.judge(&answer, true),
                None => Err(format!("could not be invoked: {}", aws_sdk_lambda::error::DisplayErrorContext(err))),
            },
        };
        match verdict {
            Ok(()) => tracing::info!(function = %target.name, version = %target.function, "probe passed"),
            Err(reason) => {
                tracing::error!(function = %target.name, version = %target.function, %reason, "probe failed");
                problems.push(format!("{}: {reason}", target.name));
            }
        }
    }
    problems
}

/// The function's own error, when the Invoke API answered it as an HTTP error rather than
/// as a 200 with `X-Amz-Function-Error` (Lambda's way): `cargo lambda watch` answers a
/// function's error 500 with `{"errorType", "errorMessage"}`.
fn reported_function_error(
    err: &aws_sdk_lambda::error::SdkError<
        aws_sdk_lambda::operation::invoke::InvokeError,
        aws_sdk_lambda::config::http::HttpResponse,
    >,
) -> Option<Value> {
    let body: Value = serde_json::from_slice(err.raw_response()?.body().bytes()?).ok()?;
    body.get("errorType").is_some().then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_hook_variables_then_each_names_a_target_and_an_unknown_one_is_refused() {
        let vars = [
            ("PRE_TRAFFIC_CAST_VOTE".to_owned(), "arn:v:3".to_owned()),
            ("TABLE_NAME".to_owned(), "t".to_owned()),
            ("PRE_TRAFFIC_AUTHORIZER".to_owned(), "arn:a:7".to_owned()),
        ];
        let found = targets(vars).unwrap();
        assert_eq!(
            found.iter().map(|t| (t.name.as_str(), t.kind)).collect::<Vec<_>>(),
            [("authorizer", Kind::Authorizer), ("cast-vote", Kind::CastVote)]
        );
        assert!(targets([("PRE_TRAFFIC_NEW_THING".to_owned(), "x".to_owned())]).is_err());
    }

    #[test]
    fn given_answers_then_only_the_healthy_ones_pass() {
        let refused = json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"});
        assert!(Kind::Authorizer.judge(&refused, true).is_ok());
        assert!(Kind::Authorizer.judge(&json!({"principalId": "x"}), false).is_err(), "an allowed probe token");
        let not_found = json!({"statusCode": 404, "headers": {"content-type": "application/problem+json"}});
        assert!(Kind::CastVote.judge(&not_found, false).is_ok());
        let broken = json!({"statusCode": 500, "headers": {"content-type": "application/problem+json"}});
        assert!(Kind::CastVote.judge(&broken, false).is_err());
        assert!(Kind::QueueConsumer.judge(&json!({"batchItemFailures": []}), false).is_ok());
        assert!(Kind::QueueConsumer.judge(&json!({"errorMessage": "boom"}), true).is_err());
        assert!(Kind::Tally.judge(&json!({"batchItemFailures": [{"itemIdentifier": "1"}]}), false).is_err());
        assert!(Kind::CastVote.probe()["headers"].get("Idempotency-Key").is_none(), "the probe writes no record");
    }
}
