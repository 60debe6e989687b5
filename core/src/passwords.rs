//! The password policy of registration. Hashing is an adapter's work (argon2 in
//! `shared`, behind [`crate::ports::Passwords`]); the rule of which passwords may be
//! chosen is here.
//!
//! Invariant: a password is never logged, stored or returned; only its hash is stored.

use std::sync::LazyLock;

/// Length bounds, in characters.
pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

/// The common-password list (see `core/data/README.md`), sorted, one per line.
pub static COMMON: &str = include_str!("../data/common-passwords.txt");

/// Why a password may not be used, as a sentence for the client; `None` if it may.
pub fn policy_violation(password: &str, email: &str) -> Option<&'static str> {
    let length = password.chars().count();
    if length < MIN_LEN {
        return Some("must be at least 12 characters");
    }
    if length > MAX_LEN {
        return Some("must be at most 128 characters");
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Some("must not be the email address");
    }
    if is_common(password) {
        return Some("is one of the most common passwords; choose another");
    }
    None
}

fn is_common(password: &str) -> bool {
    static LIST: LazyLock<Vec<&'static str>> = LazyLock::new(|| COMMON.lines().collect());
    LIST.binary_search(&password.to_lowercase().as_str()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_shipped_list_then_it_is_sorted_and_large() {
        let lines: Vec<&str> = COMMON.lines().collect();
        assert!(lines.len() >= 10_000, "{}", lines.len());
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }

    #[test]
    fn given_candidate_passwords_when_checked_then_the_policy_applies() {
        assert_eq!(policy_violation("short", "a@b.c"), Some("must be at least 12 characters"));
        assert_eq!(policy_violation(&"x".repeat(129), "a@b.c"), Some("must be at most 128 characters"));
        assert_eq!(policy_violation("Alice@Example.com", "alice@example.com"), Some("must not be the email address"));
        assert!(policy_violation("1234567890123", "a@b.c").is_some() || is_common("1234567890"));
        assert_eq!(policy_violation("PASSWORD1234", "a@b.c"), policy_violation("password1234", "a@b.c"));
        assert_eq!(policy_violation("correct horse battery staple", "a@b.c"), None);
    }

    #[test]
    fn given_common_passwords_of_length_when_checked_then_refused() {
        let long_common = COMMON.lines().find(|p| p.chars().count() >= MIN_LEN).expect("a long common password");
        assert!(policy_violation(long_common, "a@b.c").is_some());
        assert!(policy_violation(&long_common.to_uppercase(), "a@b.c").is_some());
    }
}
