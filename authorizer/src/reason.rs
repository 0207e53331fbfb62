//! Reason codes: one per way a request can be refused. They appear in the JSON log line of every
//! decision (`"reason"`) and in docs/authorizer.md; they are stable.

/// Declares [`Reason`], its [`Reason::code`] and [`Reason::ALL`] from one list, so no reason can
/// be missing from `ALL` (the template's alarms are checked against it).
macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal,)+) => {
        /// Why a request was refused (or, for `RouteDenied`, why some routes are denied).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])* $variant,)+
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)+];

            /// The stable code logged as `"reason"`.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)+
                }
            }
        }
    };
}

reasons! {
    /// The event carries no token (no `Authorization` header / `authorizationToken`).
    NoToken => "no_token",
    /// The `Authorization` value is not `Bearer <jwt>` or a bare JWT.
    MalformedAuthorization => "malformed_authorization",
    /// More than one `Authorization` header or more than one token.
    MultipleTokens => "multiple_tokens",
    /// The raw token is over `MAX_TOKEN_BYTES`.
    TokenTooLarge => "token_too_large",
    /// Not three strictly base64url-encoded parts with a JSON object header.
    MalformedToken => "malformed_token",
    /// `alg` is not one of the configured asymmetric algorithms (`none`, `HS*`, unknown, ...).
    AlgNotAllowed => "alg_not_allowed",
    /// The header has no `kid` (or an absurd one).
    MissingKid => "missing_kid",
    /// The header has `crit`: no extension is understood, so the token is refused.
    CritHeader => "crit_header",
    /// No usable key with this `kid` in the JWKS (after a refresh when one was allowed).
    UnknownKid => "unknown_kid",
    /// The key exists but its `alg`/`kty`/`crv` does not fit the token's `alg`.
    KeyMismatch => "key_mismatch",
    /// The signature does not verify.
    BadSignature => "bad_signature",
    /// The payload is not a JSON object of well-typed claims (duplicate or mistyped claims).
    MalformedClaims => "malformed_claims",
    /// `iss` is not exactly one of the configured issuers.
    WrongIssuer => "wrong_issuer",
    /// `token_use` is not the configured one.
    WrongTokenUse => "wrong_token_use",
    /// `client_id` (access tokens) or `aud` (id and other tokens) is not an allowed client.
    WrongClient => "wrong_client",
    /// `exp` is missing.
    MissingExp => "missing_exp",
    /// `exp` (plus leeway) is in the past.
    Expired => "expired",
    /// `nbf` is later than now plus leeway.
    NotYetValid => "not_yet_valid",
    /// `iat` is later than now plus the fixed skew plus leeway.
    IatInFuture => "iat_in_future",
    /// `sub` is missing or empty.
    MissingSub => "missing_sub",
    /// A `cognito:groups` entry is empty or contains `,`: the comma-joined `groups` context
    /// could not be read back as the same list.
    AmbiguousGroups => "ambiguous_groups",
    /// `sub` has the reserved form of another issuer's owner id (`iss:<16 hex>:...`), which would
    /// let it name a user of that issuer.
    ReservedSub => "reserved_sub",
    /// The JWKS could not be fetched and no trusted copy is left.
    JwksUnavailable => "jwks_unavailable",
    /// The last successful JWKS fetch is older than the maximum staleness.
    JwksStale => "jwks_stale",
    /// The last successful JWKS fetch listed no usable key (an empty set, only `enc`/`oct` keys):
    /// every token of that issuer is refused until a fetch lists one.
    JwksNoUsableKeys => "jwks_no_usable_keys",
    /// `x-origin-verify` missing or wrong (when `ORIGIN_VERIFY_SECRET` is set).
    OriginVerifyFailed => "origin_verify_failed",
    /// The event is not one of the shapes API Gateway sends to an authorizer.
    UnsupportedEvent => "unsupported_event",
    /// The token's session (its `origin_jti` or `jti`) or all of its user's sessions up to its
    /// `iat` were revoked (`DELETE /sessions…`; see `revocation`).
    Revoked => "revoked",
    /// The revocation set could not be read and the last one is older than
    /// `REVOCATION_MAX_STALE_SECONDS` (or none was ever read): fail closed.
    RevocationUnavailable => "revocation_unavailable",
    /// The token is valid but the route rules deny every route for this principal.
    RouteDenied => "route_denied",
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_has_its_own_snake_case_code() {
        let codes: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len(), "two reasons share a code");
        for c in codes {
            assert!(
                !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
        }
    }
}
