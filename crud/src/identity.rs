//! Who is calling. The only source is the authorizer context API Gateway adds after our
//! authorizer allowed the request (REST: `requestContext.authorizer.sub`; HTTP API:
//! `requestContext.authorizer.lambda.sub`) — never a path, query, header or body value.
//! Missing, empty, over-long or control-character subs are refused (401): fail closed.

use crate::error::ApiError;

/// Longest accepted `sub` in bytes: the authorizer's owner id. Cognito's subs are 36 bytes and
/// OIDC allows up to 255 ASCII characters; a token of a second issuer carries its sub behind the
/// 21-byte issuer tag `iss:<16 hex>:` (authorizer/src/owner.rs), so 255 + 21.
pub const MAX_SUB_BYTES: usize = 276;

/// The caller's `sub` (the authorizer's owner id, unique across its issuers), validated.
pub fn caller(sub: Option<&str>) -> Result<&str, ApiError> {
    match sub {
        Some(s)
            if !s.is_empty() && s.len() <= MAX_SUB_BYTES && !s.chars().any(char::is_control) =>
        {
            Ok(s)
        }
        _ => Err(ApiError::Unauthenticated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_missing_or_odd_subs() {
        assert_eq!(caller(Some("3f1c-…")), Ok("3f1c-…"));
        for bad in [None, Some(""), Some("a\0b"), Some("a\nb")] {
            assert_eq!(caller(bad), Err(ApiError::Unauthenticated), "{bad:?}");
        }
        assert!(caller(Some(&format!("iss:0123456789abcdef:{}", "s".repeat(255)))).is_ok());
        let long = "x".repeat(277);
        assert_eq!(caller(Some(&long)), Err(ApiError::Unauthenticated));
    }
}
