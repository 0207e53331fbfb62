//! Reason codes: one per way a request can be refused. They appear in the JSON log line of every
//! decision (`"reason"`) and in the README; they are stable.

/// Why a request was refused (or, for `RouteDenied`, why some routes are denied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The event carries no token (no `Authorization` header / `authorizationToken`).
    NoToken,
    /// The `Authorization` value is not `Bearer <jwt>` or a bare JWT.
    MalformedAuthorization,
    /// More than one `Authorization` header or more than one token.
    MultipleTokens,
    /// The raw token is over `MAX_TOKEN_BYTES`.
    TokenTooLarge,
    /// Not three strictly base64url-encoded parts with a JSON object header.
    MalformedToken,
    /// `alg` is not one of the configured asymmetric algorithms (`none`, `HS*`, unknown, ...).
    AlgNotAllowed,
    /// The header has no `kid` (or an absurd one).
    MissingKid,
    /// The header has `crit`: no extension is understood, so the token is refused.
    CritHeader,
    /// No usable key with this `kid` in the JWKS (after a refresh when one was allowed).
    UnknownKid,
    /// The key exists but its `alg`/`kty`/`crv` does not fit the token's `alg`.
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The payload is not a JSON object of well-typed claims (duplicate or mistyped claims).
    MalformedClaims,
    /// `iss` is not exactly one of the configured issuers.
    WrongIssuer,
    /// `token_use` is not the configured one.
    WrongTokenUse,
    /// `client_id` (access tokens) or `aud` (id and other tokens) is not an allowed client.
    WrongClient,
    /// `exp` is missing.
    MissingExp,
    /// `exp` (plus leeway) is in the past.
    Expired,
    /// `nbf` is later than now plus leeway.
    NotYetValid,
    /// `iat` is later than now plus the fixed skew plus leeway.
    IatInFuture,
    /// `sub` is missing or empty.
    MissingSub,
    /// The JWKS could not be fetched and no trusted copy is left.
    JwksUnavailable,
    /// The last successful JWKS fetch is older than the maximum staleness.
    JwksStale,
    /// The last successful JWKS fetch listed no usable key (an empty set, only `enc`/`oct` keys):
    /// every token of that issuer is refused until a fetch lists one.
    JwksNoUsableKeys,
    /// `x-origin-verify` missing or wrong (when `ORIGIN_VERIFY_SECRET` is set).
    OriginVerifyFailed,
    /// The event is not one of the shapes API Gateway sends to an authorizer.
    UnsupportedEvent,
    /// The token is valid but the route rules deny every route for this principal.
    RouteDenied,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::NoToken => "no_token",
            Reason::MalformedAuthorization => "malformed_authorization",
            Reason::MultipleTokens => "multiple_tokens",
            Reason::TokenTooLarge => "token_too_large",
            Reason::MalformedToken => "malformed_token",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::MissingKid => "missing_kid",
            Reason::CritHeader => "crit_header",
            Reason::UnknownKid => "unknown_kid",
            Reason::KeyMismatch => "key_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::MalformedClaims => "malformed_claims",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongTokenUse => "wrong_token_use",
            Reason::WrongClient => "wrong_client",
            Reason::MissingExp => "missing_exp",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IatInFuture => "iat_in_future",
            Reason::MissingSub => "missing_sub",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::JwksStale => "jwks_stale",
            Reason::JwksNoUsableKeys => "jwks_no_usable_keys",
            Reason::OriginVerifyFailed => "origin_verify_failed",
            Reason::UnsupportedEvent => "unsupported_event",
            Reason::RouteDenied => "route_denied",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
