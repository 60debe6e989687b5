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
    /// An API key (`bk_…`, [`crate::api_keys`]); never a JWT's kind.
    #[serde(rename = "api_key")]
    ApiKey,
}

impl TokenKind {
    pub const ALL: [TokenKind; 4] = [TokenKind::Access, TokenKind::Guest, TokenKind::Federated, TokenKind::ApiKey];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Guest => "guest",
            Self::Federated => "federated",
            Self::ApiKey => "api_key",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Lifetime in seconds (an API key's is its own `expires_at`; this bounds what one
    /// authorizer answer vouches for).
    pub fn ttl_secs(self) -> u64 {
        match self {
            Self::Access | Self::Federated | Self::ApiKey => 15 * 60,
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

/// What an API key ([`crate::api_keys`]) may do: each scope names routes of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Read polls: list the owner's polls and public polls, read one.
    #[serde(rename = "polls:read")]
    PollsRead,
    /// Create, change, close, reopen and delete polls and manage their webhooks.
    #[serde(rename = "polls:write")]
    PollsWrite,
    /// Cast the owner's ballot and read it back.
    #[serde(rename = "votes:write")]
    VotesWrite,
    /// Read results and statistics.
    #[serde(rename = "results:read")]
    ResultsRead,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::PollsRead, Scope::PollsWrite, Scope::VotesWrite, Scope::ResultsRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PollsRead => "polls:read",
            Self::PollsWrite => "polls:write",
            Self::VotesWrite => "votes:write",
            Self::ResultsRead => "results:read",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
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
    /// The API-key scope that reaches this route (within the owner's roles); `None`: no
    /// key does (sign-in, accounts, admin, the key routes themselves).
    pub scope: Option<Scope>,
}

const EVERY_ROLE: &[Role] = &[Role::Editor, Role::Viewer, Role::Guest];
/// Poll owners. Ownership itself (owner or admin) is checked by the function.
const EDITORS: &[Role] = &[Role::Editor];
/// `admin` may call every token route, so an empty list means admins only.
const ADMIN_ONLY: &[Role] = &[];

/// Every route of the API.
pub const ROUTES: &[RouteRule] = &[
    RouteRule { method: "GET", path: "/v1/health", access: Access::Public, scope: None },
    RouteRule { method: "GET", path: "/.well-known/jwks.json", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/register", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/verify-email", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/password-reset", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/password-reset/confirm", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/login", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/federated", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/refresh", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/logout", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/auth/guest", access: Access::Public, scope: None },
    RouteRule { method: "GET", path: "/v1/me", access: Access::Roles(EVERY_ROLE), scope: None },
    RouteRule { method: "POST", path: "/v1/api-keys", access: Access::Roles(EDITORS), scope: None },
    RouteRule { method: "GET", path: "/v1/api-keys", access: Access::Roles(EDITORS), scope: None },
    RouteRule { method: "DELETE", path: "/v1/api-keys/{id}", access: Access::Roles(EDITORS), scope: None },
    RouteRule { method: "GET", path: "/v1/admin/users", access: Access::Roles(ADMIN_ONLY), scope: None },
    RouteRule { method: "PATCH", path: "/v1/admin/users/{id}", access: Access::Roles(ADMIN_ONLY), scope: None },
    RouteRule { method: "GET", path: "/v1/openapi.json", access: Access::Public, scope: None },
    RouteRule { method: "GET", path: "/v1/docs", access: Access::Public, scope: None },
    RouteRule { method: "GET", path: "/v1/docs/{file}", access: Access::Public, scope: None },
    RouteRule { method: "POST", path: "/v1/polls", access: Access::Roles(EDITORS), scope: Some(Scope::PollsWrite) },
    RouteRule { method: "GET", path: "/v1/polls", access: Access::Roles(EDITORS), scope: Some(Scope::PollsRead) },
    RouteRule {
        method: "GET",
        path: "/v1/polls/public",
        access: Access::Roles(EVERY_ROLE),
        scope: Some(Scope::PollsRead),
    },
    RouteRule {
        method: "GET",
        path: "/v1/polls/{id}",
        access: Access::Roles(EVERY_ROLE),
        scope: Some(Scope::PollsRead),
    },
    RouteRule {
        method: "PATCH",
        path: "/v1/polls/{id}",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
    RouteRule {
        method: "DELETE",
        path: "/v1/polls/{id}",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
    RouteRule {
        method: "POST",
        path: "/v1/polls/{id}/close",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
    RouteRule {
        method: "POST",
        path: "/v1/polls/{id}/reopen",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
    RouteRule {
        method: "POST",
        path: "/v1/polls/{id}/votes",
        access: Access::Roles(EVERY_ROLE),
        scope: Some(Scope::VotesWrite),
    },
    RouteRule {
        method: "GET",
        path: "/v1/polls/{id}/votes/me",
        access: Access::Roles(EVERY_ROLE),
        scope: Some(Scope::VotesWrite),
    },
    RouteRule {
        method: "GET",
        path: "/v1/polls/{id}/results",
        access: Access::Roles(EVERY_ROLE),
        scope: Some(Scope::ResultsRead),
    },
    RouteRule { method: "GET", path: "/v1/polls/{id}/results.svg", access: Access::Public, scope: None },
    RouteRule { method: "GET", path: "/v1/polls/{id}/live", access: Access::Public, scope: None },
    RouteRule {
        method: "GET",
        path: "/v1/polls/{id}/stats",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::ResultsRead),
    },
    RouteRule {
        method: "POST",
        path: "/v1/polls/{id}/webhooks",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
    RouteRule {
        method: "GET",
        path: "/v1/polls/{id}/webhooks",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
    RouteRule {
        method: "DELETE",
        path: "/v1/polls/{id}/webhooks/{webhook_id}",
        access: Access::Roles(EDITORS),
        scope: Some(Scope::PollsWrite),
    },
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

    /// A resource part of a request to this route: `GET/v1/polls/x` for `GET /v1/polls/{id}`.
    fn example_resource(&self) -> String {
        let path: Vec<&str> =
            self.path.split('/').map(|segment| if segment.starts_with('{') { "x" } else { segment }).collect();
        format!("{}{}", self.method, path.join("/"))
    }

    /// The resource part of the method ARN: `GET/v1/polls/*` for `GET /v1/polls/{id}`.
    fn arn_resource(&self) -> String {
        let path: Vec<&str> =
            self.path.split('/').map(|segment| if segment.starts_with('{') { "*" } else { segment }).collect();
        format!("{}{}", self.method, path.join("/"))
    }
}

/// The IAM policy document an authorizer returns for a token with `roles`.
///
/// `method_arn` is the ARN of the request being authorized; its API and stage prefix is
/// reused. Allows list every route the roles may call. A `*` in an ARN also matches `/`,
/// so an allowed `GET/v1/polls/*` would cover `GET/v1/polls/p1/stats` too: every
/// token-route the roles may *not* call whose ARN an allow covers gets an explicit deny,
/// which wins. The policy is cached per token for every route, so it must be exact.
pub fn policy(method_arn: &str, roles: &[Role]) -> serde_json::Value {
    policy_where(method_arn, |rule| rule.allows(roles))
}

/// The policy of an API key: the routes its owner's `roles` allow *and* one of its
/// `scopes` reaches; never more than the owner may, never a route no scope names.
pub fn key_policy(method_arn: &str, roles: &[Role], scopes: &[Scope]) -> serde_json::Value {
    policy_where(method_arn, |rule| rule.allows_key(roles, scopes))
}

impl RouteRule {
    /// Whether an API key with `scopes` of an owner with `roles` may call this route.
    pub fn allows_key(&self, roles: &[Role], scopes: &[Scope]) -> bool {
        self.allows(roles) && self.scope.is_some_and(|scope| scopes.contains(&scope))
    }
}

fn policy_where(method_arn: &str, allows: impl Fn(&RouteRule) -> bool) -> serde_json::Value {
    let prefix: Vec<&str> = method_arn.splitn(3, '/').take(2).collect();
    let prefix = prefix.join("/");
    let arn = |rule: &RouteRule| format!("{prefix}/{}", rule.arn_resource());
    let allowed_rules: Vec<&RouteRule> = ROUTES.iter().filter(|r| allows(r)).collect();
    // A deny only where an allow reaches: a deny of `GET/v1/polls/*` would also refuse an
    // allowed `GET/v1/polls/*/results`, since `*` matches `/` too.
    let covered = |rule: &RouteRule| {
        let example = rule.example_resource();
        allowed_rules.iter().any(|allowed| glob_matches(&allowed.arn_resource(), &example))
    };
    let denied: Vec<String> =
        ROUTES.iter().filter(|r| r.access != Access::Public && !allows(r) && covered(r)).map(arn).collect();
    let allowed: Vec<String> = allowed_rules.into_iter().map(arn).collect();
    let mut statements = Vec::new();
    if !allowed.is_empty() {
        statements.push(serde_json::json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": allowed}));
    }
    if !denied.is_empty() {
        statements.push(serde_json::json!({"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": denied}));
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// Whether `text` matches an IAM resource `pattern`, where `*` matches any run of
/// characters (`/` included) and `?` any one character.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer wildcard matching with one backtrack point.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(at) = star {
            pi = at + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
    fn given_iam_patterns_when_matched_then_star_spans_slashes() {
        assert!(glob_matches("GET/v1/polls/*", "GET/v1/polls/x/stats"));
        assert!(glob_matches("GET/v1/polls/*/results", "GET/v1/polls/x/results"));
        assert!(!glob_matches("GET/v1/polls/*/results", "GET/v1/polls/x"));
        assert!(!glob_matches("GET/v1/polls/*", "POST/v1/polls/x"));
        assert!(glob_matches("GET/v1/me", "GET/v1/me") && !glob_matches("GET/v1/me", "GET/v1/mee"));
        assert!(glob_matches("GET/v1/p?lls", "GET/v1/polls"));
    }

    #[test]
    fn given_any_key_when_its_routes_are_listed_then_never_beyond_its_owners_roles_or_its_scopes() {
        let role_sets = [vec![Role::Admin], vec![Role::Editor], vec![Role::Viewer], vec![Role::Guest], vec![]];
        for roles in &role_sets {
            for mask in 0..16u8 {
                let scopes: Vec<Scope> =
                    Scope::ALL.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| s).collect();
                for rule in ROUTES.iter().filter(|r| r.allows_key(roles, &scopes)) {
                    assert!(
                        rule.allows(roles) && scopes.contains(&rule.scope.unwrap()),
                        "{rule:?} {roles:?} {scopes:?}"
                    );
                    assert!(!rule.path.starts_with("/v1/api-keys") && !rule.path.starts_with("/v1/admin"));
                }
            }
        }
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
