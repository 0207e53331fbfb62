//! The authorizer's identity sources: the `Authorization` header and, when configured,
//! `x-origin-verify` (the edge's origin-verify header). Each must be present exactly once, or API
//! Gateway answers 401 without calling the authorizer. Their values, with the stage (API Gateway
//! keeps one authorizer cache per stage), key the result cache.

use edge::event::Headers;

use crate::cloudfront::single;

/// The authorizer result cache key for a request to `stage`, or `None` when an identity source
/// is missing or repeated (API Gateway's 401).
pub fn cache_key(stage: &str, headers: &Headers, origin_verify: bool) -> Option<String> {
    let Ok(Some(authz)) = single(headers, "authorization") else {
        return None;
    };
    let mut key = format!("{stage}\u{0}{authz}");
    if origin_verify {
        let Ok(Some(ov)) = single(headers, "x-origin-verify") else {
            return None;
        };
        key.push('\u{0}');
        key.push_str(ov);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::cf_headers;

    fn h(p: &[(&str, &str)]) -> Headers {
        let pairs: Vec<(String, String)> = p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cf_headers(&pairs)
    }

    #[test]
    fn the_authorization_header_is_required_once() {
        assert_eq!(
            cache_key("prod", &h(&[("Authorization", "Bearer t")]), false),
            Some("prod\u{0}Bearer t".into())
        );
        assert_eq!(cache_key("prod", &h(&[]), false), None);
        assert_eq!(
            cache_key(
                "prod",
                &h(&[("Authorization", "a"), ("authorization", "b")]),
                false
            ),
            None
        );
    }

    #[test]
    fn origin_verify_is_a_source_only_when_configured() {
        let both = h(&[("authorization", "t"), ("X-Origin-Verify", "s")]);
        assert_eq!(
            cache_key("prod", &both, true),
            Some("prod\u{0}t\u{0}s".into())
        );
        assert_eq!(cache_key("prod", &both, false), Some("prod\u{0}t".into()));
        assert_eq!(cache_key("prod", &h(&[("authorization", "t")]), true), None);
        let twice = h(&[
            ("authorization", "t"),
            ("x-origin-verify", "s"),
            ("x-origin-verify", "s"),
        ]);
        assert_eq!(cache_key("prod", &twice, true), None);
    }

    #[test]
    fn stages_and_secrets_key_separately() {
        let a = h(&[("authorization", "t"), ("x-origin-verify", "s1")]);
        let b = h(&[("authorization", "t"), ("x-origin-verify", "s2")]);
        assert_ne!(cache_key("prod", &a, true), cache_key("prod", &b, true));
        assert_ne!(cache_key("prod", &a, true), cache_key("canary", &a, true));
    }
}
