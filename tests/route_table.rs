//! Deny by default, checked against the template: every route of `template.yaml` is in
//! the one route table (`shared::auth::routes`) and the other way round; public routes are
//! exactly those without an authorizer; and the IAM policy the authorizer builds for each
//! role allows exactly the routes the table gives it, evaluated the way API Gateway (and
//! the local gateway) evaluates it.

use ballot_core::access::{Access, ROUTES, Role, policy, rule};
use ballot_local::gateway::policy::{Decision, evaluate};
use ballot_tests::{concrete_path, template};

const PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:api1/prod";

#[test]
fn given_template_yaml_when_compared_with_the_route_table_then_they_list_the_same_routes() {
    let routes = template().routes().unwrap();
    for route in &routes {
        let rule = rule(&route.method, &route.path)
            .unwrap_or_else(|| panic!("{} {} is not in ballot_core::access::ROUTES", route.method, route.path));
        let public_in_template = route.authorizer.as_deref() == Some("NONE");
        assert_eq!(
            rule.access == Access::Public,
            public_in_template,
            "{} {}: public in one, not the other",
            route.method,
            route.path
        );
    }
    for rule in ROUTES {
        assert!(
            routes.iter().any(|r| r.method == rule.method && r.path == rule.path),
            "{} {} is in the route table but not in template.yaml",
            rule.method,
            rule.path
        );
    }
}

#[test]
fn given_each_role_when_its_policy_is_evaluated_on_every_route_then_it_matches_the_table() {
    let mut role_sets: Vec<Vec<Role>> = Role::ALL.iter().map(|r| vec![*r]).collect();
    role_sets.push(vec![]);
    role_sets.push(vec![Role::Viewer, Role::Editor]);
    for roles in role_sets {
        for (i, rule) in ROUTES.iter().enumerate().filter(|(_, r)| r.access != Access::Public) {
            // The policy is built for one route and cached for all: build it on another.
            let built_on = &ROUTES[(i + 1) % ROUTES.len()];
            let policy = policy(&format!("{PREFIX}/{}{}", built_on.method, concrete_path(built_on.path)), &roles);
            let arn = format!("{PREFIX}/{}{}", rule.method, concrete_path(rule.path));
            let expected = if rule.allows(&roles) { Decision::Allow } else { Decision::Deny };
            assert_eq!(evaluate(&policy, &arn), Ok(expected), "{roles:?} on {} {}", rule.method, rule.path);
        }
    }
}

/// The same for API keys: for each owner role and each set of scopes, the key's policy,
/// built on one route and cached for all, allows exactly the routes `allows_key` names.
#[test]
fn given_each_key_when_its_policy_is_evaluated_on_every_route_then_it_matches_the_table() {
    use ballot_core::access::{Scope, key_policy};
    for role in Role::ALL {
        for mask in 0..16u8 {
            let scopes: Vec<Scope> =
                Scope::ALL.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| s).collect();
            for (i, rule) in ROUTES.iter().enumerate().filter(|(_, r)| r.access != Access::Public) {
                let built_on = &ROUTES[(i + 1) % ROUTES.len()];
                let arn =
                    |r: &ballot_core::access::RouteRule| format!("{PREFIX}/{}{}", r.method, concrete_path(r.path));
                let policy = key_policy(&arn(built_on), &[role], &scopes);
                let expected = if rule.allows_key(&[role], &scopes) { Decision::Allow } else { Decision::Deny };
                assert_eq!(
                    evaluate(&policy, &arn(rule)),
                    Ok(expected),
                    "{role:?} {scopes:?} on {} {}",
                    rule.method,
                    rule.path
                );
            }
        }
    }
}
