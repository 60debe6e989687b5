//! Matching a request path and method to a route, as API Gateway REST APIs do: a literal
//! segment beats `{param}`, which beats a greedy `{param+}`; `ANY` matches every method.

use std::collections::HashMap;

use crate::template::Route;

/// What the router decided for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    Found {
        route: &'a Route,
        path_parameters: HashMap<String, String>,
    },
    /// The path exists but not with this method; the methods it has, and its API.
    WrongMethod {
        allowed: Vec<String>,
        api: Option<String>,
    },
    NotFound,
}

#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The best route for the raw (still percent-encoded) `path` and `method`;
    /// path parameters come back decoded.
    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut candidates: Vec<(Vec<u8>, &Route, HashMap<String, String>)> = self
            .routes
            .iter()
            .filter_map(|route| match_path(&route.path, &segments).map(|(rank, params)| (rank, route, params)))
            .collect();
        if candidates.is_empty() {
            return Match::NotFound;
        }
        // The most specific path template wins; all routes on it share that template.
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        let best = candidates[0].0.clone();
        candidates.retain(|c| c.0 == best);
        if let Some(i) = candidates.iter().position(|c| c.1.method == method) {
            let (_, route, path_parameters) = candidates.swap_remove(i);
            return Match::Found { route, path_parameters };
        }
        if let Some(i) = candidates.iter().position(|c| c.1.method == "ANY") {
            let (_, route, path_parameters) = candidates.swap_remove(i);
            return Match::Found { route, path_parameters };
        }
        let api = candidates[0].1.api.clone();
        let mut allowed: Vec<String> = candidates.iter().map(|c| c.1.method.clone()).collect();
        allowed.sort();
        allowed.dedup();
        Match::WrongMethod { allowed, api }
    }
}

/// Matches `template` against `segments`; the rank orders matches by specificity
/// (0 literal, 1 parameter, 2 greedy, per segment).
fn match_path(template: &str, segments: &[&str]) -> Option<(Vec<u8>, HashMap<String, String>)> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let mut params = HashMap::new();
    let mut rank = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            let rest = &segments[i.min(segments.len())..];
            if i != parts.len() - 1 || rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                return None;
            }
            params.insert(name.to_owned(), decode(&rest.join("/"))?);
            rank.push(2);
            return Some((rank, params));
        }
        let segment = segments.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), decode(segment).filter(|v| !v.contains('/'))?);
            rank.push(1);
        } else if part == segment {
            rank.push(0);
        } else {
            return None;
        }
    }
    (parts.len() == segments.len()).then_some((rank, params))
}

/// Percent-decodes a path segment or query component. `None` for what no parameter may
/// hold: a bad escape, invalid UTF-8, or a control character (NUL included). A route
/// that does not match is answered like an unknown path.
pub fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.chars().any(char::is_control))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            function: path.into(),
            binary: "f".into(),
            method: method.into(),
            path: path.into(),
            api: None,
            authorizer: None,
        }
    }

    fn router() -> Router {
        Router::new(vec![
            route("GET", "/v1/health"),
            route("GET", "/v1/polls/{id}"),
            route("DELETE", "/v1/polls/{id}"),
            route("GET", "/v1/polls/public"),
            route("ANY", "/v1/files/{path+}"),
        ])
    }

    #[test]
    fn given_a_literal_and_a_parameter_route_when_matched_then_the_literal_wins() {
        let router = router();
        let Match::Found { route, path_parameters } = router.find("GET", "/v1/polls/public") else { panic!() };
        assert_eq!(route.path, "/v1/polls/public");
        assert!(path_parameters.is_empty());
    }

    #[test]
    fn given_a_parameter_when_matched_then_it_is_decoded() {
        let router = router();
        let Match::Found { route, path_parameters } = router.find("DELETE", "/v1/polls/a%20b") else { panic!() };
        assert_eq!(route.method, "DELETE");
        assert_eq!(path_parameters["id"], "a b");
    }

    #[test]
    fn given_a_known_path_and_another_method_when_matched_then_the_allowed_methods_are_listed() {
        assert_eq!(
            router().find("DELETE", "/v1/health"),
            Match::WrongMethod { allowed: vec!["GET".into()], api: None }
        );
        assert_eq!(
            router().find("POST", "/v1/polls/x"),
            Match::WrongMethod { allowed: vec!["DELETE".into(), "GET".into()], api: None }
        );
    }

    #[test]
    fn given_a_parameter_no_id_may_hold_when_matched_then_not_found() {
        for path in ["/v1/polls/a%2Fb", "/v1/polls/a%00", "/v1/polls/%FF", "/v1/polls/%+5", "/v1/polls/%4"] {
            assert_eq!(router().find("GET", path), Match::NotFound, "{path}");
        }
    }

    #[test]
    fn given_unknown_paths_when_matched_then_not_found() {
        for path in ["/v1/nope", "/v1/health/x", "/v1/polls", "/v1/polls//", "/"] {
            assert_eq!(router().find("GET", path), Match::NotFound, "{path}");
        }
    }

    #[test]
    fn given_a_greedy_route_when_matched_then_the_rest_of_the_path_is_one_parameter() {
        let Match::Found { path_parameters, .. } = router().find("PUT", "/v1/files/a/b/c") else { panic!() };
        assert_eq!(path_parameters["path"], "a/b/c");
        assert_eq!(router().find("PUT", "/v1/files"), Match::NotFound);
    }
}
