//! Settings, parsed from a lookup function (only `main.rs` reads the real environment).
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `TABLE_NAME` | required | DynamoDB table (`userId` S hash, `itemId` S range, TTL on `expires_at`) |
//! | `MAX_BODY_BYTES` | 65536 | largest body (and largest stored document) in bytes, 1..=300000 |
//! | `MAX_JSON_DEPTH` | 32 | deepest container nesting in a body, 1..=64 |
//! | `RATE_LIMIT_PER_MINUTE` | 100 | requests per caller per clock minute; `0` disables (explicitly) |
//! | `RATE_LIMIT_SCOPE` | `deployment` | `deployment`: the limit holds across every instance (a shared counter in DynamoDB, one write per request); `instance`: per warm instance, in memory (no DynamoDB call) |
//! | `RATE_LIMIT_TABLE` | `TABLE_NAME` | the shared counters' table (name or ARN; the items table's key schema and TTL attribute) |
//! | `IDEMPOTENCY_TTL_SECONDS` | 86400 | how long an `Idempotency-Key` is remembered, 60..=2592000 |
//! | `REVOCATION_TABLE` | unset | the revocation table (name or ARN; `pk` S, TTL on `expires_at`) the sessions routes write; unset: they answer 501 `revocation_not_configured` |
//! | `REVOCATION_TTL_SECONDS` | 86700 | how long a revocation is kept: at least the longest token lifetime plus the authorizer's leeway (Cognito: 1 day at most, + 300 s), 60..=2592000 |
//! | `REVOCATION_SYNC_SECONDS` | 2 | the authorizer's setting of the same name (the template gives both the same value): with a cache flush, a revocation answers once every authorizer has read it (this + 2 s after the write) and flushes the cache again then, 1..=60 |
//! | `AUTHORIZER_CACHE_FLUSH` | `on` | `on`: every revocation flushes API Gateway's authorizer cache of the request's stage (`FlushStageAuthorizersCache`); `off`: no flush (an API without authorizer caching, or the local gateway, which flushes its own emulated cache) |
//! | `AUTHORIZER_CACHE_STAGES` | unset | comma-separated stages whose authorizer cache a revocation flushes (every stage of the API that shares the authorizer, e.g. `prod,canary`); unset: the request's own stage |
//! | `USER_POOL_ID` | unset | the Cognito user pool whose users `DELETE /users/{sub}/sessions` also signs out globally (`AdminUserGlobalSignOut`); unset: no global sign-out |
//! | `CURSOR_SECRET` | unset | comma-separated standard-base64 keys (≥ 32 bytes; alphabet [`crate::cursor::SECRET_ALPHABET`], no base64url) for cursor tags; unset: random per instance |
//!
//! A missing or invalid setting fails init with a message naming it; nothing starts permissive.

use crate::document::Limits;

pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Leaves room under DynamoDB's 400 KB item limit for the idempotency record's copy.
pub const MAX_MAX_BODY_BYTES: usize = 300_000;
pub const DEFAULT_MAX_DEPTH: usize = 32;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;
pub const DEFAULT_IDEMPOTENCY_TTL_SECONDS: u64 = 86_400;
/// The setting holding the cursor keys. `main.rs` resolves it with secret-source, so the
/// deployment gives `CURSOR_SECRET_ARN`.
pub const CURSOR_SECRET_ENV: &str = "CURSOR_SECRET";

/// Where `RATE_LIMIT_PER_MINUTE` holds (`RATE_LIMIT_SCOPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    /// Across every instance: a shared counter per caller per clock minute in DynamoDB.
    Deployment,
    /// Per warm instance, in memory (N instances allow up to N × the limit).
    Instance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table_name: String,
    pub limits: Limits,
    /// 0 = disabled.
    pub rate_limit_per_minute: u32,
    pub rate_limit_scope: RateLimitScope,
    /// The shared counters' table (`RATE_LIMIT_TABLE`, default `TABLE_NAME`).
    pub rate_limit_table: String,
    pub idempotency_ttl_seconds: u64,
    pub cursor_secret: Option<String>,
    /// `REVOCATION_TABLE` (`None`: the sessions routes answer 501).
    pub revocation_table: Option<String>,
    /// `REVOCATION_TTL_SECONDS`: an entry's lifetime (it must outlive every token it covers).
    pub revocation_ttl_seconds: u64,
    /// `REVOCATION_SYNC_SECONDS` (the authorizer's).
    pub revocation_sync_seconds: u64,
    /// `AUTHORIZER_CACHE_FLUSH` (default on).
    pub authorizer_cache_flush: bool,
    /// `AUTHORIZER_CACHE_STAGES` (empty: the request's stage).
    pub authorizer_cache_stages: Vec<String>,
    /// `USER_POOL_ID`: Cognito's global sign-out for the admin route.
    pub user_pool_id: Option<String>,
}

pub const DEFAULT_REVOCATION_TTL_SECONDS: u64 = 86_400 + 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("TABLE_NAME is required (the DynamoDB table holding the items)")]
    MissingTable,
    #[error("TABLE_NAME {0:?} is not a DynamoDB table name or ARN")]
    BadTable(String),
    #[error("RATE_LIMIT_SCOPE must be deployment or instance (got {0:?})")]
    BadRateLimitScope(String),
    #[error("RATE_LIMIT_TABLE {0:?} is not a DynamoDB table name or ARN")]
    BadRateLimitTable(String),
    #[error("REVOCATION_TABLE {0:?} is not a DynamoDB table name or ARN")]
    BadRevocationTable(String),
    #[error("AUTHORIZER_CACHE_FLUSH must be on or off (got {0:?})")]
    BadCacheFlush(String),
    #[error("AUTHORIZER_CACHE_STAGES: {0:?} is not a stage name (letters, digits, -_)")]
    BadStage(String),
    #[error("USER_POOL_ID {0:?} is not a Cognito user pool id (<region>_<id>)")]
    BadUserPool(String),
    /// `{name} must be an integer in {min}..={max} (got {got:?})`
    #[error(transparent)]
    OutOfRange(#[from] init_settings::OutOfRange),
}

/// An integer setting in `min..=max` (`init_settings::bounded`; set but blank is refused).
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    Ok(init_settings::bounded(
        name,
        get(name).as_deref(),
        default,
        min,
        max,
    )?)
}

fn valid_table(t: &str) -> bool {
    if let Some(rest) = t.strip_prefix("arn:") {
        return rest.contains(":table/") && !t.chars().any(|c| c.is_whitespace() || c.is_control());
    }
    (3..=255).contains(&t.len())
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

impl Settings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let table_name = get("TABLE_NAME")
            .filter(|t| !t.is_empty())
            .ok_or(ConfigError::MissingTable)?;
        if !valid_table(&table_name) {
            return Err(ConfigError::BadTable(table_name));
        }
        let max_bytes = number(
            &get,
            "MAX_BODY_BYTES",
            DEFAULT_MAX_BODY_BYTES as u64,
            1,
            MAX_MAX_BODY_BYTES as u64,
        )?;
        let max_depth = number(&get, "MAX_JSON_DEPTH", DEFAULT_MAX_DEPTH as u64, 1, 64)?;
        let rate = number(
            &get,
            "RATE_LIMIT_PER_MINUTE",
            DEFAULT_RATE_LIMIT_PER_MINUTE.into(),
            0,
            1_000_000,
        )?;
        let rate_limit_scope = match get("RATE_LIMIT_SCOPE").as_deref() {
            None | Some("deployment") => RateLimitScope::Deployment,
            Some("instance") => RateLimitScope::Instance,
            Some(other) => return Err(ConfigError::BadRateLimitScope(other.to_owned())),
        };
        let rate_limit_table = match get("RATE_LIMIT_TABLE") {
            None => table_name.clone(),
            Some(t) if valid_table(&t) => t,
            Some(t) => return Err(ConfigError::BadRateLimitTable(t)),
        };
        let ttl = number(
            &get,
            "IDEMPOTENCY_TTL_SECONDS",
            DEFAULT_IDEMPOTENCY_TTL_SECONDS,
            60,
            2_592_000,
        )?;
        let revocation_table = match get("REVOCATION_TABLE").filter(|t| !t.is_empty()) {
            None => None,
            Some(t) if valid_table(&t) => Some(t),
            Some(t) => return Err(ConfigError::BadRevocationTable(t)),
        };
        let revocation_ttl_seconds = number(
            &get,
            "REVOCATION_TTL_SECONDS",
            DEFAULT_REVOCATION_TTL_SECONDS,
            60,
            2_592_000,
        )?;
        let authorizer_cache_flush = match get("AUTHORIZER_CACHE_FLUSH").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(o) => return Err(ConfigError::BadCacheFlush(o.to_owned())),
        };
        let user_pool_id = match get("USER_POOL_ID").filter(|p| !p.is_empty()) {
            None => None,
            Some(p)
                if p.split_once('_').is_some_and(|(r, id)| {
                    !r.is_empty()
                        && !id.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                }) =>
            {
                Some(p)
            }
            Some(p) => return Err(ConfigError::BadUserPool(p)),
        };
        let revocation_sync_seconds = number(&get, "REVOCATION_SYNC_SECONDS", 2, 1, 60)?;
        let authorizer_cache_stages: Vec<String> = get("AUTHORIZER_CACHE_STAGES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = authorizer_cache_stages.iter().find(|s| {
            s.len() > 128
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            return Err(ConfigError::BadStage(bad.clone()));
        }
        Ok(Settings {
            authorizer_cache_stages,
            revocation_sync_seconds,
            authorizer_cache_flush,
            user_pool_id,
            revocation_table,
            revocation_ttl_seconds,
            table_name,
            limits: Limits {
                max_bytes: max_bytes as usize,
                max_depth: max_depth as usize,
            },
            rate_limit_per_minute: rate as u32,
            rate_limit_scope,
            rate_limit_table,
            idempotency_ttl_seconds: ttl,
            cursor_secret: get(CURSOR_SECRET_ENV),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_errors() {
        let s = parse(&[("TABLE_NAME", "items")]).unwrap();
        assert_eq!(
            s.limits,
            Limits {
                max_bytes: 65536,
                max_depth: 32
            }
        );
        assert_eq!(s.rate_limit_per_minute, 100);
        assert_eq!(s.rate_limit_scope, RateLimitScope::Deployment);
        assert_eq!(s.rate_limit_table, "items");
        assert_eq!(s.idempotency_ttl_seconds, 86400);
        assert_eq!(s.cursor_secret, None);
        assert_eq!(parse(&[]), Err(ConfigError::MissingTable));
        assert_eq!(parse(&[("TABLE_NAME", "")]), Err(ConfigError::MissingTable));
        assert!(matches!(
            parse(&[("TABLE_NAME", "a b")]),
            Err(ConfigError::BadTable(_))
        ));
        assert!(parse(&[(
            "TABLE_NAME",
            "arn:aws:dynamodb:us-east-1:123456789012:table/items"
        )])
        .is_ok());
        assert!(parse(&[("TABLE_NAME", "t1"), ("MAX_BODY_BYTES", "10")]).is_err());
        for (k, v) in [
            ("MAX_BODY_BYTES", "0"),
            ("MAX_BODY_BYTES", "400000"),
            ("MAX_BODY_BYTES", "lots"),
            ("MAX_JSON_DEPTH", "65"),
            ("RATE_LIMIT_PER_MINUTE", "-1"),
            ("IDEMPOTENCY_TTL_SECONDS", "5"),
        ] {
            let e = parse(&[("TABLE_NAME", "items"), (k, v)]).unwrap_err();
            assert!(e.to_string().starts_with(k), "{e}");
        }
        assert_eq!(
            parse(&[("TABLE_NAME", "items"), ("RATE_LIMIT_PER_MINUTE", "0")])
                .unwrap()
                .rate_limit_per_minute,
            0
        );
    }

    #[test]
    fn rate_limit_scope_and_table() {
        let s = parse(&[
            ("TABLE_NAME", "items"),
            ("RATE_LIMIT_SCOPE", "instance"),
            ("RATE_LIMIT_TABLE", "counters"),
        ])
        .unwrap();
        assert_eq!(s.rate_limit_scope, RateLimitScope::Instance);
        assert_eq!(s.rate_limit_table, "counters");
        let s = parse(&[("TABLE_NAME", "items"), ("RATE_LIMIT_SCOPE", "deployment")]).unwrap();
        assert_eq!(s.rate_limit_scope, RateLimitScope::Deployment);
        for v in ["", "Instance", "global", " deployment"] {
            assert_eq!(
                parse(&[("TABLE_NAME", "items"), ("RATE_LIMIT_SCOPE", v)]),
                Err(ConfigError::BadRateLimitScope(v.into())),
                "{v:?}"
            );
        }
        for v in ["", "a b", "x"] {
            let e = parse(&[("TABLE_NAME", "items"), ("RATE_LIMIT_TABLE", v)]).unwrap_err();
            assert_eq!(e, ConfigError::BadRateLimitTable(v.into()));
            assert!(e.to_string().starts_with("RATE_LIMIT_TABLE"), "{e}");
        }
    }
}
