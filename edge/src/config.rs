//! The edge configuration: one JSON document, the same natively (`EDGE_CONFIG`) and at the edge
//! (`edge-config.json` in the Lambda@Edge package). Every key is optional and takes a safe
//! default; unknown keys are refused (a typo must not silently disable a check). Validation that
//! needs more than the types (origins, header names, secrets) happens when [`crate::Edge`] is
//! built, and each failure says how to fix it.
//!
//! The full reference is in `docs/edge.md`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The whole configuration document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub cors: CorsConfig,
    pub security_headers: SecurityHeadersConfig,
    pub rate_limit: RateLimitConfig,
    pub limits: LimitsConfig,
    pub hygiene: HygieneConfig,
    /// The secret header the edge adds to every origin request; absent → no header is added
    /// (and an origin that requires one refuses everything: fail closed).
    pub origin_verify: Option<OriginVerifyConfig>,
    pub canary: CanaryConfig,
}

impl Config {
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(redacted_json_error(&e, "")))
    }
}

/// serde_json's message without the document's values: a string where an object was expected
/// must not quote the string (it may be a secret). Key names (unknown or missing fields) and the
/// position stay, so the message still says what to fix.
pub(crate) fn redacted_json_error(e: &serde_json::Error, context: &str) -> String {
    let full = e.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) if e.line() > 0 => &full[..i],
        _ => full.as_str(),
    };
    let redacted = if let Some(rest) = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))
    {
        let kind = if msg.starts_with("invalid type") {
            "invalid type"
        } else {
            "invalid value"
        };
        let what = rest.split([' ', ',']).next().unwrap_or("value");
        match rest.rfind(", expected ") {
            Some(i) => format!("{kind}: {what}{}", &rest[i..]),
            None => format!("{kind}: {what}"),
        }
    } else if msg.starts_with("unknown variant") {
        match msg.rfind(", expected ") {
            Some(i) => format!("unknown variant{}", &msg[i..]),
            None => "unknown variant".to_string(),
        }
    } else {
        msg.to_string()
    };
    let prefix = if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    };
    if e.line() > 0 {
        format!(
            "{prefix}{redacted} at line {} column {}",
            e.line(),
            e.column()
        )
    } else {
        format!("{prefix}{redacted}")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Exact origins (`scheme://host[:port]`), or `["*"]` (any origin, only without credentials).
    /// Default: none (no cross-origin access).
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age`; `null` → not sent.
    pub max_age_seconds: Option<u32>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            allow_credentials: false,
            allowed_methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: [
                "authorization",
                "content-type",
                "if-match",
                "idempotency-key",
            ]
            .map(String::from)
            .to_vec(),
            expose_headers: ["etag", "location", "retry-after"]
                .map(String::from)
                .to_vec(),
            max_age_seconds: Some(600),
        }
    }
}

/// Each header: absent → the default below, a string → that value, `null` → not set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityHeadersConfig {
    pub strict_transport_security: Option<String>,
    pub content_security_policy: Option<String>,
    pub x_content_type_options: Option<String>,
    pub x_frame_options: Option<String>,
    pub referrer_policy: Option<String>,
    pub permissions_policy: Option<String>,
    /// Response headers removed because they leak internals.
    pub remove: Vec<String>,
}

impl Default for SecurityHeadersConfig {
    fn default() -> Self {
        SecurityHeadersConfig {
            strict_transport_security: Some("max-age=63072000; includeSubDomains".into()),
            content_security_policy: Some(
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
                    .into(),
            ),
            x_content_type_options: Some("nosniff".into()),
            x_frame_options: Some("DENY".into()),
            referrer_policy: Some("no-referrer".into()),
            permissions_policy: Some(
                "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), \
                 microphone=(), payment=(), usb=()"
                    .into(),
            ),
            remove: [
                "server",
                "x-powered-by",
                "x-aspnet-version",
                "x-aspnetmvc-version",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `false` turns the limit off (explicitly; it is on by default).
    pub enabled: bool,
    pub requests_per_minute: u32,
    /// Requests allowed at once before the rate applies; default = `requests_per_minute`.
    pub burst: Option<u32>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            requests_per_minute: 1000,
            burst: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// URI plus query string, in bytes (414 above).
    pub max_uri_bytes: usize,
    /// One header value, in bytes (431 above).
    pub max_header_value_bytes: usize,
    /// All header names and values together, in bytes (431 above).
    pub max_total_header_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_uri_bytes: 4096,
            max_header_value_bytes: 8192,
            max_total_header_bytes: 16384,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HygieneConfig {
    /// Client-sent request headers to drop, on top of the built-in list (the origin-verify and
    /// canary headers and common identity headers).
    pub strip_headers: Vec<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginVerifyConfig {
    /// Header name; default `x-origin-verify`.
    #[serde(default = "default_origin_verify_header")]
    pub header: String,
    /// Key id, so the secret can rotate: the header value is `<key_id>:<secret>`.
    pub key_id: String,
    pub secret: String,
}

fn default_origin_verify_header() -> String {
    crate::names::ORIGIN_VERIFY_HEADER.into()
}

impl fmt::Debug for OriginVerifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginVerifyConfig")
            .field("header", &self.header)
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A secret with its id. The first key of a list signs; every key verifies.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub id: String,
    pub secret: String,
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryConfig {
    /// Share of visitors sent to the canary, 0-100. Default 0.
    pub weight_percent: u8,
    /// Keys signing the sticky cookie (first signs, all verify). None → no cookie is trusted and
    /// every visitor gets the stable variant.
    pub cookie_keys: Vec<KeyConfig>,
    /// Tester credentials allowing `x-canary-force`. None → nobody can force a variant.
    pub tester_keys: Vec<KeyConfig>,
    pub cookie_name: String,
    pub cookie_max_age_seconds: u32,
    /// Where canary requests go (applied at origin-request).
    pub origin: Option<CanaryOriginConfig>,
    /// Run-time weight and kill switch from a store (see [`crate::rollout`]); set, it replaces
    /// `weight_percent` (which must then be 0).
    pub rollout: Option<RolloutConfig>,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        CanaryConfig {
            weight_percent: 0,
            cookie_keys: Vec::new(),
            tester_keys: Vec::new(),
            cookie_name: "__Host-canary".into(),
            cookie_max_age_seconds: 30 * 24 * 3600,
            origin: None,
            rollout: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryOriginConfig {
    /// Replaces the origin's domain name (and the `Host` header) for canary requests.
    pub domain_name: Option<String>,
    /// Replaces the origin path (e.g. an API Gateway stage: `/canary`) for canary requests.
    pub path: Option<String>,
}

/// A configuration that cannot be used, with the fix in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("edge config is not valid JSON for the schema: {0}")]
    Json(String),
    #[error(
        "cors: allow_credentials = true cannot be combined with the wildcard origin \"*\" \
         (browsers refuse it and it would expose credentialed responses to every site); \
         list the exact origins in cors.allowed_origins instead"
    )]
    CredentialsWithWildcard,
    #[error("cors.allowed_origins: {origin:?} is not a valid origin: {reason}; write it as scheme://host[:port], e.g. \"https://app.example.com\"")]
    InvalidOrigin {
        origin: String,
        reason: &'static str,
    },
    #[error("cors.{field}: {value:?} is not allowed: {reason}")]
    InvalidCorsEntry {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{field}: {value:?} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)")]
    InvalidHeaderName { field: &'static str, value: String },
    #[error("{field}: {name:?} is read-only for Lambda@Edge (CloudFront answers 502 if a function changes it); remove it from the list")]
    ReadOnlyHeader { field: &'static str, name: String },
    #[error("{field}: the value contains control characters (CR, LF, NUL...); remove them")]
    InvalidHeaderValue { field: String },
    #[error("origin_verify.secret must not contain ',' (the authorizer reads ORIGIN_VERIFY_SECRET as a comma-separated list of accepted values, so it would never match)")]
    CommaInOriginVerifySecret,
    #[error("canary.weight_percent must be between 0 and 100, got {0}")]
    WeightOutOfRange(u8),
    #[error("{field}: key id {id:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    InvalidKeyId { field: &'static str, id: String },
    #[error("{field}: key id {id:?} appears twice; give every key its own id")]
    DuplicateKeyId { field: &'static str, id: String },
    #[error("{field}: the secret of key {id:?} is {len} bytes; use at least 32 random bytes (e.g. `openssl rand -base64 32`)")]
    ShortSecret {
        field: &'static str,
        id: String,
        len: usize,
    },
    #[error(
        "canary.weight_percent is {0} but canary.origin names no target; set canary.origin.domain_name \
         and/or canary.origin.path (or set weight_percent to 0)"
    )]
    CanaryWithoutTarget(u8),
    #[error(
        "canary.weight_percent is {0} but canary.rollout is set: the weight comes from the rollout \
         store; set weight_percent to 0 (or remove canary.rollout)"
    )]
    WeightWithRollout(u8),
    #[error("canary.rollout: {0}")]
    InvalidRollout(&'static str),
    #[error(
        "canary.rollout is set but canary.origin names no target; set canary.origin.domain_name \
         and/or canary.origin.path"
    )]
    RolloutWithoutTarget,
    #[error("canary.origin.path {0:?} must be empty or start with '/' and not end with '/'")]
    InvalidCanaryPath(String),
    #[error("canary.origin.domain_name {0:?} is not a valid host name")]
    InvalidCanaryDomain(String),
    #[error("canary.cookie_name {0:?} is not a valid cookie name")]
    InvalidCookieName(String),
    #[error(
        "rate_limit.{0} must be at least 1 (set rate_limit.enabled = false to turn the limit off)"
    )]
    ZeroRate(&'static str),
    #[error("limits.{0} must be at least 1")]
    ZeroLimit(&'static str),
}

/// `token` characters (RFC 9110 §5.6.2), as header and cookie names need.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A header value free of control characters (tab allowed).
pub(crate) fn is_clean_value(s: &str) -> bool {
    !s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

pub(crate) fn check_header_name(field: &'static str, name: &str) -> Result<(), ConfigError> {
    if is_token(name) {
        Ok(())
    } else {
        Err(ConfigError::InvalidHeaderName {
            field,
            value: name.to_string(),
        })
    }
}

pub(crate) fn check_keys(field: &'static str, keys: &[KeyConfig]) -> Result<(), ConfigError> {
    for (i, k) in keys.iter().enumerate() {
        let id_ok = (1..=32).contains(&k.id.len())
            && k.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(ConfigError::InvalidKeyId {
                field,
                id: k.id.clone(),
            });
        }
        if keys[..i].iter().any(|o| o.id == k.id) {
            return Err(ConfigError::DuplicateKeyId {
                field,
                id: k.id.clone(),
            });
        }
        if k.secret.len() < 32 {
            return Err(ConfigError::ShortSecret {
                field,
                id: k.id.clone(),
                len: k.secret.len(),
            });
        }
    }
    Ok(())
}

/// Where the host reads the state and how often (the `canary.rollout` config section).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    /// `s3://bucket/key` (Lambda@Edge: read with the function's role), `https://…`,
    /// `http://127.0.0.1…` / `http://localhost…` (local stand-ins), or `file:///abs/path` (local).
    pub source: String,
    /// Re-read the source when the last read is older than this. Default 10.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u32,
    /// After this long without a successful read, everyone is on stable. Default 300.
    #[serde(default = "default_max_stale")]
    pub max_stale_seconds: u32,
    /// One read may take this long before the host gives up (keeping the last state). Default 1000.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
}

fn default_ttl() -> u32 {
    10
}
fn default_max_stale() -> u32 {
    300
}
fn default_timeout() -> u32 {
    1000
}

impl RolloutConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        use ConfigError::InvalidRollout;
        let s = self.source.as_str();
        let ok = if let Some(rest) = s.strip_prefix("s3://") {
            matches!(rest.split_once('/'), Some((b, k)) if !b.is_empty() && !k.is_empty())
        } else if let Some(rest) = s.strip_prefix("http://") {
            // Plain HTTP only for loopback stand-ins.
            let host = rest.split(['/', ':']).next().unwrap_or("");
            matches!(host, "127.0.0.1" | "localhost" | "[::1]")
        } else if let Some(rest) = s.strip_prefix("https://") {
            !rest.is_empty()
        } else if let Some(rest) = s.strip_prefix("file://") {
            rest.starts_with('/')
        } else {
            false
        };
        if !ok || !is_clean_value(s) || s.contains(' ') {
            return Err(InvalidRollout(
                "source must be s3://bucket/key, https://…, http://127.0.0.1… or file:///absolute/path",
            ));
        }
        if self.ttl_seconds == 0 {
            return Err(InvalidRollout("ttl_seconds must be at least 1"));
        }
        if self.max_stale_seconds < self.ttl_seconds {
            return Err(InvalidRollout(
                "max_stale_seconds must be at least ttl_seconds",
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 5000 {
            return Err(InvalidRollout(
                "timeout_ms must be 1-5000 (viewer triggers have 5 s in all)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_takes_defaults() {
        let c = Config::from_json(b"{}").unwrap();
        assert!(c.cors.allowed_origins.is_empty());
        assert!(!c.cors.allow_credentials);
        assert_eq!(c.canary.weight_percent, 0);
        assert!(c.rate_limit.enabled);
        assert_eq!(c.rate_limit.requests_per_minute, 1000);
        assert!(c.origin_verify.is_none());
        assert_eq!(c.security_headers.x_frame_options.as_deref(), Some("DENY"));
    }

    #[test]
    fn null_disables_a_security_header() {
        let c = Config::from_json(br#"{"security_headers": {"x_frame_options": null}}"#).unwrap();
        assert_eq!(c.security_headers.x_frame_options, None);
        assert!(c.security_headers.strict_transport_security.is_some());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::from_json(br#"{"cors": {"allowed_origin": ["https://a.example"]}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("allowed_origin"), "{e}");
    }

    /// `edge-config.schema.json` and these types agree: a document made of every default the
    /// schema states loads (so every schema key exists here) and equals the built-in defaults.
    #[test]
    fn schema_defaults_match_the_types() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../edge-config.schema.json")).unwrap();
        let mut doc = serde_json::Map::new();
        for (section, spec) in schema["properties"].as_object().unwrap() {
            let Some(props) = spec["properties"].as_object() else {
                continue;
            };
            if spec.get("required").is_some() {
                continue; // origin_verify: no default document
            }
            let mut obj = serde_json::Map::new();
            for (key, p) in props {
                let default = p
                    .get("default")
                    .cloned()
                    .unwrap_or_else(|| panic!("{section}.{key}: no default"));
                obj.insert(key.clone(), default);
            }
            doc.insert(section.clone(), obj.into());
        }
        let from_schema =
            Config::from_json(serde_json::to_string(&doc).unwrap().as_bytes()).unwrap();
        assert_eq!(
            format!("{from_schema:?}"),
            format!("{:?}", Config::default())
        );
        // The packaged example loads too.
        Config::from_json(include_bytes!("../edge-config.json")).unwrap();
    }

    #[test]
    fn config_errors_never_quote_values() {
        for doc in [
            &br#"{"canary": {"cookie_keys": ["SUPERSECRETSUPERSECRETSUPERSECRET"]}}"#[..],
            br#"{"origin_verify": "SUPERSECRETSUPERSECRETSUPERSECRET"}"#,
            br#"{"canary": {"cookie_keys": [{"id": "k1", "secret": 12}], "x": "SUPERSECRET"}}"#,
            br#"{"canary": {"weight_percent": "SUPERSECRET, expected a"}}"#,
            br#"{"canary": {"cookie_keys": [{"id": "k1", "secret": ["SUPERSECRET"]}]}}"#,
        ] {
            let e = Config::from_json(doc).unwrap_err().to_string();
            assert!(!e.contains("SUPERSECRET"), "{e}");
            assert!(e.contains("line 1 column"), "{e}");
        }
        let e = Config::from_json(br#"{"origin_verify": "SUPERSECRETSUPERSECRET"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid type: string, expected"), "{e}");
    }

    #[test]
    fn an_origin_verify_secret_with_a_comma_is_refused_without_quoting_it() {
        let doc = br#"{"origin_verify": {"key_id": "v1", "secret": "SUPERSECRETSUPERSECRET,SUPERSECRETSUPERSECRET"}}"#;
        let e = crate::Edge::new(&Config::from_json(doc).unwrap()).unwrap_err();
        assert!(matches!(e, ConfigError::CommaInOriginVerifySecret), "{e}");
        assert!(!e.to_string().contains("SUPERSECRET"), "{e}");
        let ok = br#"{"origin_verify": {"key_id": "v1", "secret": "SUPERSECRETSUPERSECRET;SUPERSECRETSUPERSECRET"}}"#;
        assert!(crate::Edge::new(&Config::from_json(ok).unwrap()).is_ok());
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let c = Config::from_json(
            br#"{"canary": {"cookie_keys": [{"id": "k1", "secret": "SUPERSECRETSUPERSECRETSUPERSECRET"}]},
                 "origin_verify": {"key_id": "v1", "secret": "ANOTHERSECRETANOTHERSECRETANOTHER"}}"#,
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("SUPERSECRET") && !dbg.contains("ANOTHERSECRET"),
            "{dbg}"
        );
    }
}
