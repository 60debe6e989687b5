//! Access: who a caller is ([`Principal`]), what they may be ([`Role`]), and the one route
//! table: which roles may call which route. The authorizer turns the table into the IAM
//! policy it returns; a test checks that every route of `template.yaml` is in it.
//!
//! Deny by default: a route missing here is refused to everyone, and a role not listed
//! for a route is refused it. `admin` may call every route that needs a token.

use serde::{Deserialize, Serialize};

/// The authenticated caller of a request, as the authorizer vouched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable subject id (user id, or a random id for guests).
    pub sub: String,
    /// The roles the token grants; names the authorizer sent that are no role are dropped
    /// (deny by default).
    pub roles: Vec<Role>,
    /// What kind of token authenticated the call.
    pub token_kind: TokenKind,
    /// Whether the account's email is verified, as the authorizer last read it (never
    /// for guests).
    pub email_verified: bool,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// An anonymous voter.
    pub fn is_guest(&self) -> bool {
        self.token_kind == TokenKind::Guest
    }
}

/// What kind of token a caller holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A signed-in user's access token (15 minutes).
    Access,
    /// An anonymous voter's token (1 hour, no refresh).
    Guest,
    /// Another issuer's ID token (federated sign-in); ballot never issues these.
    Federated,
}

impl TokenKind {
    pub const ALL: [TokenKind; 3] = [TokenKind::Access, TokenKind::Guest, TokenKind::Federated];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Guest => "guest",
            Self::Federated => "federated",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Lifetime in seconds.
    pub fn ttl_secs(self) -> u64 {
        match self {
            Self::Access | Self::Federated => 15 * 60,
            Self::Guest => 60 * 60,
        }
    }
}

/// What a token holder may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Creates and manages their own polls, votes.
    Editor,
    /// Votes and reads.
    Viewer,
    /// An anonymous voter: votes where guests are allowed, reads.
    Guest,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Editor, Role::Viewer, Role::Guest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
            Self::Guest => "guest",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: the API has no authorizer on this route.
    Public,
    /// A token with one of these roles (or `admin`).
    Roles(&'static [Role]),
}

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    pub method: &'static str,
    /// Path template as in `template.yaml`, e.g. `/v1/polls/{id}`.
    pub path: &'static str,
    pub access: Access,
}

const EVERY_ROLE: &[Role] = &[Role::Editor, Role::Viewer, Role::Guest];
/// Poll owners. Ownership itself (owner or admin) is checked by the function.
const EDITORS: &[Role] = &[Role::Editor];
/// `admin` may call every token route, so an empty list means admins only.
const ADMIN_ONLY: &[Role] = &[];

/// Every route of the API.
pub const ROUTES: &[RouteRule] = &[
    RouteRule { method: "GET", path: "/v1/health", access: Access::Public },
    RouteRule { method: "GET", path: "/.well-known/jwks.json", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/register", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/verify-email", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/password-reset", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/password-reset/confirm", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/login", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/federated", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/refresh", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/logout", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/auth/guest", access: Access::Public },
    RouteRule { method: "GET", path: "/v1/me", access: Access::Roles(EVERY_ROLE) },
    RouteRule { method: "GET", path: "/v1/admin/users", access: Access::Roles(ADMIN_ONLY) },
    RouteRule { method: "PATCH", path: "/v1/admin/users/{id}", access: Access::Roles(ADMIN_ONLY) },
    RouteRule { method: "GET", path: "/v1/openapi.json", access: Access::Public },
    RouteRule { method: "GET", path: "/v1/docs", access: Access::Public },
    RouteRule { method: "GET", path: "/v1/docs/{file}", access: Access::Public },
    RouteRule { method: "POST", path: "/v1/polls", access: Access::Roles(EDITORS) },
    RouteRule { method: "GET", path: "/v1/polls", access: Access::Roles(EDITORS) },
    RouteRule { method: "GET", path: "/v1/polls/public", access: Access::Roles(EVERY_ROLE) },
    RouteRule { method: "GET", path: "/v1/polls/{id}", access: Access::Roles(EVERY_ROLE) },
    RouteRule { method: "PATCH", path: "/v1/polls/{id}", access: Access::Roles(EDITORS) },
    RouteRule { method: "DELETE", path: "/v1/polls/{id}", access: Access::Roles(EDITORS) },
    RouteRule { method: "POST", path: "/v1/polls/{id}/close", access: Access::Roles(EDITORS) },
    RouteRule { method: "POST", path: "/v1/polls/{id}/reopen", access: Access::Roles(EDITORS) },
    RouteRule { method: "POST", path: "/v1/polls/{id}/votes", access: Access::Roles(EVERY_ROLE) },
    RouteRule { method: "GET", path: "/v1/polls/{id}/votes/me", access: Access::Roles(EVERY_ROLE) },
    RouteRule { method: "GET", path: "/v1/polls/{id}/results", access: Access::Roles(EVERY_ROLE) },
    RouteRule { method: "GET", path: "/v1/polls/{id}/results.svg", access: Access::Public },
    RouteRule { method: "GET", path: "/v1/polls/{id}/live", access: Access::Public },
    RouteRule { method: "GET", path: "/v1/polls/{id}/stats", access: Access::Roles(EDITORS) },
    RouteRule { method: "POST", path: "/v1/polls/{id}/webhooks", access: Access::Roles(EDITORS) },
    RouteRule { method: "GET", path: "/v1/polls/{id}/webhooks", access: Access::Roles(EDITORS) },
    RouteRule { method: "DELETE", path: "/v1/polls/{id}/webhooks/{webhook_id}", access: Access::Roles(EDITORS) },
];

/// The rule for a route, if the table has it.
pub fn rule(method: &str, path: &str) -> Option<&'static RouteRule> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

impl RouteRule {
    /// Whether a caller with `roles` may call this route with a token.
    pub fn allows(&self, roles: &[Role]) -> bool {
        match self.access {
            Access::Public => false,
            Access::Roles(allowed) => roles.iter().any(|r| *r == Role::Admin || allowed.contains(r)),
        }
    }

    /// The resource part of the method ARN: `GET/v1/polls/*` for `GET /v1/polls/{id}`.
    fn arn_resource(&self) -> String {
        let path: Vec<&str> =
            self.path.split('/').map(|segment| if segment.starts_with('{') { "*" } else { segment }).collect();
        format!("{}{}", self.method, path.join("/"))
    }
}

/// The IAM policy document an authorizer returns for `roles`.
///
/// `method_arn` is the ARN of the request being authorized; its API and stage prefix is
/// reused. Allows list every route the roles may call. A `*` in an ARN also matches `/`,
/// so an allowed `GET/v1/polls/*` would cover `GET/v1/polls/p1/stats` too: every
/// token-route the roles may *not* call whose ARN an allow covers gets an explicit deny,
/// which wins. The policy is cached per token for every route, so it must be exact.
pub fn policy(method_arn: &str, roles: &[Role]) -> serde_json::Value {
    let prefix: Vec<&str> = method_arn.splitn(3, '/').take(2).collect();
    let prefix = prefix.join("/");
    let arn = |rule: &RouteRule| format!("{prefix}/{}", rule.arn_resource());
    let allowed: Vec<String> = ROUTES.iter().filter(|r| r.allows(roles)).map(arn).collect();
    let needs_token = |r: &&RouteRule| r.access != Access::Public;
    let denied: Vec<String> = ROUTES.iter().filter(needs_token).filter(|r| !r.allows(roles)).map(arn).collect();
    let mut statements = Vec::new();
    if !allowed.is_empty() {
        statements.push(serde_json::json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": allowed}));
    }
    if !denied.is_empty() {
        statements.push(serde_json::json!({"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": denied}));
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// Ownership: only a resource's owner or an admin may change it. Every handler that
/// changes something owned calls this.
pub fn may_change(caller: &Principal, owner_id: &str) -> bool {
    caller.sub == owner_id || caller.has_role(Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v1/me";

    #[test]
    fn given_the_table_when_read_then_every_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(ROUTES[i + 1..].iter().all(|b| (a.method, a.path) != (b.method, b.path)), "{a:?} twice");
        }
    }

    #[test]
    fn given_a_guest_when_the_policy_is_built_then_it_allows_me_and_keeps_the_prefix() {
        let policy = policy(ARN, &[Role::Guest]);
        let allow = &policy["Statement"][0];
        assert_eq!(allow["Effect"], "Allow");
        assert!(
            allow["Resource"]
                .as_array()
                .unwrap()
                .contains(&"arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v1/me".into())
        );
    }

    #[test]
    fn given_no_roles_when_the_policy_is_built_then_nothing_is_allowed() {
        let policy = policy(ARN, &[]);
        assert!(policy["Statement"].as_array().unwrap().iter().all(|s| s["Effect"] == "Deny"));
    }

    #[test]
    fn given_public_routes_when_asked_then_no_token_route_allows_them() {
        assert!(!rule("GET", "/v1/health").unwrap().allows(&[Role::Admin]));
        assert!(rule("GET", "/v1/me").unwrap().allows(&[Role::Admin]));
        assert!(rule("DELETE", "/v1/me").is_none());
    }

    #[test]
    fn given_roles_when_parsed_then_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn given_an_owner_or_admin_when_changing_then_allowed_and_nobody_else() {
        let caller = |sub: &str, role| Principal {
            sub: sub.into(),
            roles: vec![role],
            token_kind: TokenKind::Access,
            email_verified: false,
        };
        assert!(may_change(&caller("u1", Role::Editor), "u1"));
        assert!(may_change(&caller("u2", Role::Admin), "u1"));
        assert!(!may_change(&caller("u2", Role::Editor), "u1"));
    }
}
