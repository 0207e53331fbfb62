//! Configuration, read once at init from a key → value lookup (the process environment in
//! `main.rs`, a map in tests). Every setting is validated here; a bad value fails the init phase
//! with a message that names the setting and the fix. Nothing starts permissive.

use std::time::Duration;

use crate::alg::Alg;
pub use crate::claims::TokenUse;
pub use crate::jwks::JwksTimings;
use crate::jwks::{url_scheme_host, JwksUri};
use crate::policy::{RouteDefault, RouteRules};

/// How HTTP API (payload 2.0) requests are answered (`HTTP_API_RESPONSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpApiResponse {
    /// `{"isAuthorized": bool, "context": {...}}` (the authorizer must have
    /// `EnableSimpleResponses: true`). Default when no route rules are set.
    Simple,
    /// An IAM policy document (`EnableSimpleResponses: false`). Required with route rules.
    Iam,
}

/// Largest `LEEWAY_SECONDS` accepted.
pub const MAX_LEEWAY_SECONDS: u64 = 300;

/// The setting holding the accepted `x-origin-verify` values (comma-separated). `main.rs`
/// resolves it with secret-source, so the deployment gives `ORIGIN_VERIFY_SECRET_ARN`.
pub const ORIGIN_VERIFY_SECRET_ENV: &str = "ORIGIN_VERIFY_SECRET";

/// Validated authorizer configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Accepted `iss` values (exact string match).
    pub issuers: Vec<String>,
    /// The owner namespace of each issuer (the first issuer and its other Cognito form keep the
    /// plain `sub`; see `owner`).
    pub namespaces: crate::owner::Namespaces,
    /// Where each issuer's keys come from (`jwks_uris[i]` serves `issuers[i]` only); never from
    /// the token. Parsed and checked once, by the type the fetcher uses.
    pub jwks_uris: Vec<JwksUri>,
    /// `JWKS_CA_FILE`: a PEM file of extra trust anchors for the JWKS fetch (an identity provider
    /// behind a private CA). Off by default: only the Mozilla roots are trusted. Read at init.
    pub jwks_ca_file: Option<String>,
    /// Accepted app client ids.
    pub client_ids: Vec<String>,
    pub token_use: TokenUse,
    /// Clock-skew allowance for `exp`/`nbf` (and added to the fixed `iat` skew).
    pub leeway_seconds: u64,
    /// Accepted values of the `x-origin-verify` header (several during a rotation); empty = check off.
    pub origin_verify_secrets: Vec<String>,
    /// Accepted algorithms (`ALGORITHMS`, default `RS256`, Cognito's only algorithm).
    pub algorithms: Vec<Alg>,
    /// Raw token size cap in bytes (`MAX_TOKEN_BYTES`, default 8192).
    pub max_token_bytes: usize,
    pub http_api_response: HttpApiResponse,
    /// `ROUTE_RULES`, compiled against `API_ROUTES` when it is set (see `policy`).
    pub route_rules: RouteRules,
    /// `API_STAGES`: other stages of the same API whose same routes each policy also covers
    /// (for an authorizer result cache shared across stages); empty: the request's stage only.
    pub api_stages: Vec<String>,
    pub route_default: RouteDefault,
    pub jwks: JwksTimings,
    /// Verified-token memo capacity (`MEMO_CAPACITY`, default 4096; 0 disables).
    pub memo_capacity: usize,
    /// `JWKS_JSON`: keys known before any fetch, one JWKS document per issuer (`jwks_seed[i]`
    /// seeds `issuers[i]`'s key set), each checked here to hold at least one usable key. Set,
    /// the init phase and the first request make no JWKS fetch; the keys then follow the same
    /// rules as fetched ones (refresh on an unknown kid or after `JWKS_REFRESH_SECONDS`, replaced
    /// by the next successful fetch). Unset: the JWKS is fetched during init.
    pub jwks_seed: Option<SeededKeys>,
    /// `REVOCATION_TABLE` and its timings; `None`: no revocation check (logged at init).
    pub revocation: Option<RevocationSettings>,
}

/// Where revocations are read and how fresh they must be (see `revocation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSettings {
    /// `REVOCATION_TABLE`: a DynamoDB table name or ARN.
    pub table: String,
    /// `REVOCATION_SYNC_SECONDS` (default 2, 1..=60): one read per this many seconds.
    pub sync_every: Duration,
    /// `REVOCATION_MAX_STALE_SECONDS` (default 60, `REVOCATION_SYNC_SECONDS`..=3600): how long
    /// the last set stays in force while the table cannot be read; then fail closed.
    pub max_stale: Duration,
}

pub const DEFAULT_REVOCATION_SYNC_SECONDS: u64 = 2;
pub const DEFAULT_REVOCATION_MAX_STALE_SECONDS: u64 = 60;

fn valid_table(t: &str) -> bool {
    if let Some(rest) = t.strip_prefix("arn:") {
        return rest.contains(":table/") && !t.chars().any(|c| c.is_whitespace() || c.is_control());
    }
    (3..=255).contains(&t.len())
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// The key sets of `JWKS_JSON`, one per issuer in `ISSUER` order, parsed and vetted once here
/// (weak keys refused and logged once); the caches take them as they are.
#[derive(Clone)]
pub struct SeededKeys(pub Vec<crate::jwk::KeyMap>);

impl std::fmt::Debug for SeededKeys {
    /// Key counts only (the parsed keys carry no `Debug`, and a log needs no key material).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<usize> = self.0.iter().map(|k| k.len()).collect();
        write!(f, "SeededKeys(keys per issuer: {counts:?})")
    }
}

/// The setting holding pre-seeded JWKS documents.
pub const JWKS_JSON_ENV: &str = "JWKS_JSON";

/// `JWKS_JSON`: one JWKS document (a single issuer) or a JSON array of them in `ISSUER` order;
/// each must hold at least one key usable with `algorithms` (weak and unsupported keys are
/// skipped exactly as in a fetched document). Errors name the document's position, never a key.
fn parse_jwks_json(
    raw: &str,
    issuers: &[String],
    algorithms: &[Alg],
) -> Result<SeededKeys, ConfigError> {
    let e = |p: String| err(JWKS_JSON_ENV, p);
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|_| e("is not JSON: give a JWKS document ({\"keys\": [...]}) or a JSON array of them in ISSUER order".into()))?;
    let docs = match v {
        serde_json::Value::Array(docs) => docs,
        doc @ serde_json::Value::Object(_) => vec![doc],
        _ => {
            return Err(e(
                "must be a JWKS document ({\"keys\": [...]}) or a JSON array of them".into(),
            ))
        }
    };
    if docs.len() != issuers.len() {
        return Err(e(format!(
            "{} JWKS document(s) for {} issuer(s): give one per issuer, in ISSUER order (each issuer's keys serve only that issuer)",
            docs.len(),
            issuers.len()
        )));
    }
    let mut out = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        let which = if issuers.len() == 1 {
            "the document".to_string()
        } else {
            format!("document {} (issuer {})", i + 1, issuers[i])
        };
        if !doc.get("keys").is_some_and(serde_json::Value::is_array) {
            return Err(e(format!(
                "{which} is not a JWKS document (no \"keys\" array)"
            )));
        }
        let bytes = serde_json::to_vec(doc).map_err(|_| e(format!("{which} cannot be read")))?;
        let usable = crate::jwk::parse_jwks(&bytes, algorithms)
            .map_err(|_| e(format!("{which} is not a JWKS document")))?;
        if usable.is_empty() {
            return Err(e(format!(
                "{which} holds no usable key: every key is unsupported, weak, for encryption, or of an algorithm outside ALGORITHMS"
            )));
        }
        out.push(usable);
    }
    Ok(SeededKeys(out))
}

/// A configuration error: which setting, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

fn err(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        problem: problem.into(),
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An integer setting in `min..=max` (`init_settings::bounded`: one rule and one error shape,
/// naming the setting and the range, for every function). `raw` is the non-blank value, if any.
fn bounded(
    setting: &'static str,
    raw: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    init_settings::bounded(setting, raw.as_deref(), default, min, max)
        .map_err(|e| err(setting, e.problem()))
}

/// Derive the Cognito issuer from a pool id `<region>_<id>`.
pub fn cognito_issuer(pool_id: &str) -> Result<String, ConfigError> {
    let (region, id) = pool_id.split_once('_').ok_or_else(|| {
        err(
            "USER_POOL_ID",
            format!("expected <region>_<id>, got {pool_id:?}"),
        )
    })?;
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-');
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !region_ok || !id_ok {
        return Err(err(
            "USER_POOL_ID",
            format!("expected <region>_<id> like eu-west-1_AbC123, got {pool_id:?}"),
        ));
    }
    Ok(format!(
        "https://cognito-idp.{region}.amazonaws.com/{pool_id}"
    ))
}

impl Config {
    /// The claim rules (issuers, clients, token use, leeway), as the claim checks take them.
    pub fn claim_rules(&self) -> crate::claims::ClaimRules<'_> {
        crate::claims::ClaimRules {
            issuers: &self.issuers,
            client_ids: &self.client_ids,
            token_use: self.token_use,
            leeway_seconds: self.leeway_seconds,
        }
    }

    /// Build the configuration from a lookup function (`std::env::var` in `main.rs`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());

        let issuers = match (nonempty("ISSUER"), nonempty("USER_POOL_ID")) {
            (Some(iss), _) => {
                let l = list(&iss);
                for i in &l {
                    if url_scheme_host(i).is_none() {
                        return Err(err("ISSUER", format!("not an http(s) URL: {i:?}")));
                    }
                }
                l
            }
            (None, Some(pool)) => vec![cognito_issuer(pool.trim())?],
            (None, None) => {
                return Err(err(
                    "USER_POOL_ID",
                    "set USER_POOL_ID (<region>_<id>) or ISSUER (explicit issuer URL(s))",
                ))
            }
        };
        if issuers.is_empty() {
            return Err(err("ISSUER", "no issuer given"));
        }

        // One key set per issuer: JWKS_URI is a list aligned with ISSUER, or derived per issuer.
        let jwks_uris = match nonempty("JWKS_URI") {
            Some(u) => {
                let l = list(&u);
                if l.len() != issuers.len() {
                    return Err(err(
                        "JWKS_URI",
                        format!(
                            "{} URI(s) for {} issuer(s): give one JWKS URI per issuer, in ISSUER order (each issuer's keys serve only that issuer), or leave JWKS_URI unset to use <issuer>/.well-known/jwks.json for each",
                            l.len(),
                            issuers.len()
                        ),
                    ));
                }
                l
            }
            None => issuers
                .iter()
                .map(|i| format!("{}/.well-known/jwks.json", i.trim_end_matches('/')))
                .collect(),
        };
        let jwks_uris = jwks_uris
            .iter()
            .map(|u| JwksUri::parse(u).map_err(|p| err("JWKS_URI", p)))
            .collect::<Result<Vec<_>, _>>()?;
        let jwks_ca_file = nonempty("JWKS_CA_FILE").map(|v| v.trim().to_string());
        let mut sorted = issuers.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != issuers.len() {
            return Err(err("ISSUER", "an issuer is listed twice"));
        }

        let client_ids = nonempty("CLIENT_IDS").map(|v| list(&v)).unwrap_or_default();
        if client_ids.is_empty() {
            return Err(err(
                "CLIENT_IDS",
                "required: the comma-separated app client id(s) whose tokens are accepted",
            ));
        }

        let token_use = match nonempty("TOKEN_USE").as_deref().map(str::trim) {
            None | Some("access") => TokenUse::Access,
            Some("id") => TokenUse::Id,
            Some("none") => TokenUse::None,
            Some(other) => {
                return Err(err(
                    "TOKEN_USE",
                    format!("expected access, id or none, got {other:?}"),
                ))
            }
        };

        let leeway_seconds = bounded(
            "LEEWAY_SECONDS",
            nonempty("LEEWAY_SECONDS"),
            0,
            0,
            MAX_LEEWAY_SECONDS,
        )?;

        let origin_verify_secrets = match nonempty(ORIGIN_VERIFY_SECRET_ENV) {
            None => Vec::new(),
            Some(v) => {
                let secrets = list(&v);
                // Set but naming no secret (e.g. ","): never read as "origin verification off".
                if secrets.is_empty() {
                    return Err(err(
                        ORIGIN_VERIFY_SECRET_ENV,
                        "is set but lists no secret (unset it to turn origin verification off)",
                    ));
                }
                secrets
            }
        };
        for s in &origin_verify_secrets {
            if s.len() < 16 {
                return Err(err(
                    ORIGIN_VERIFY_SECRET_ENV,
                    "each secret must be at least 16 characters (use a random value)",
                ));
            }
        }

        let algorithms = match nonempty("ALGORITHMS") {
            None => vec![Alg::RS256],
            Some(v) => {
                let mut out = Vec::new();
                for name in list(&v) {
                    let a = Alg::from_name(&name).ok_or_else(|| {
                        err(
                            "ALGORITHMS",
                            format!(
                                "{name:?} is not an accepted asymmetric algorithm (RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)"
                            ),
                        )
                    })?;
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                if out.is_empty() {
                    return Err(err("ALGORITHMS", "empty list"));
                }
                out
            }
        };

        let max_token_bytes = bounded(
            "MAX_TOKEN_BYTES",
            nonempty("MAX_TOKEN_BYTES"),
            8192,
            512,
            65_536,
        )? as usize;

        let route_rules = match nonempty("ROUTE_RULES") {
            Some(v) => crate::policy::parse_rules(&v).map_err(|p| err("ROUTE_RULES", p))?,
            None => Vec::new(),
        };
        let route_default = match nonempty("ROUTE_DEFAULT").as_deref().map(str::trim) {
            None if route_rules.is_empty() => RouteDefault::Allow,
            None => RouteDefault::Deny,
            Some("allow") => RouteDefault::Allow,
            Some("deny") => RouteDefault::Deny,
            Some(o) => {
                return Err(err(
                    "ROUTE_DEFAULT",
                    format!("expected allow or deny, got {o:?}"),
                ))
            }
        };
        // API_ROUTES: the API's own routes, which make route-rule policies exact; a rule set no
        // exact policy expresses over them is refused here, naming the routes.
        let route_rules = RouteRules::new(
            route_rules,
            route_default,
            nonempty("API_ROUTES").as_deref(),
        )
        .map_err(|(setting, problem)| err(setting, problem))?;

        // API_STAGES: stage names (as in a method ARN), at most 10.
        let api_stages = nonempty("API_STAGES").map(|v| list(&v)).unwrap_or_default();
        if let Some(bad) = api_stages.iter().find(|s| !crate::policy::valid_stage(s)) {
            return Err(err(
                "API_STAGES",
                format!("{bad:?} is not a stage name (letters, digits, -_$.)"),
            ));
        }
        if api_stages.len() > 10 {
            return Err(err("API_STAGES", "at most 10 stages"));
        }

        let http_api_response = match nonempty("HTTP_API_RESPONSE").as_deref().map(str::trim) {
            None if route_rules.is_empty() => HttpApiResponse::Simple,
            None => HttpApiResponse::Iam,
            Some("simple") if !route_rules.is_empty() => {
                return Err(err(
                    "HTTP_API_RESPONSE",
                    "simple responses are all-or-nothing per cached identity and cannot express ROUTE_RULES; use iam (EnableSimpleResponses: false)",
                ))
            }
            Some("simple") => HttpApiResponse::Simple,
            Some("iam") => HttpApiResponse::Iam,
            Some(o) => {
                return Err(err(
                    "HTTP_API_RESPONSE",
                    format!("expected simple or iam, got {o:?}"),
                ))
            }
        };

        let mut jwks = JwksTimings::default();
        let ms = |d: Duration| d.as_millis() as u64;
        let (timeout, refresh, stale, cooldown) = (
            "JWKS_TIMEOUT_MS",
            "JWKS_REFRESH_SECONDS",
            "JWKS_MAX_STALE_SECONDS",
            "JWKS_COOLDOWN_SECONDS",
        );
        jwks.timeout = Duration::from_millis(bounded(
            timeout,
            nonempty(timeout),
            ms(jwks.timeout),
            3000,
            30_000,
        )?);
        jwks.refresh_after = Duration::from_secs(bounded(
            refresh,
            nonempty(refresh),
            jwks.refresh_after.as_secs(),
            1,
            86_400,
        )?);
        jwks.max_stale = Duration::from_secs(bounded(
            stale,
            nonempty(stale),
            jwks.max_stale.as_secs(),
            1,
            7 * 86_400,
        )?);
        if jwks.max_stale < jwks.refresh_after {
            return Err(err(
                "JWKS_MAX_STALE_SECONDS",
                "must not be shorter than JWKS_REFRESH_SECONDS",
            ));
        }
        jwks.cooldown = Duration::from_secs(bounded(
            cooldown,
            nonempty(cooldown),
            jwks.cooldown.as_secs(),
            1,
            3600,
        )?);

        let memo_capacity = bounded(
            "MEMO_CAPACITY",
            nonempty("MEMO_CAPACITY"),
            4096,
            0,
            1_000_000,
        )? as usize;

        let revocation = match nonempty("REVOCATION_TABLE") {
            None => None,
            Some(t) => {
                let t = t.trim().to_string();
                if !valid_table(&t) {
                    return Err(err(
                        "REVOCATION_TABLE",
                        format!("{t:?} is not a DynamoDB table name or ARN"),
                    ));
                }
                let sync = bounded(
                    "REVOCATION_SYNC_SECONDS",
                    nonempty("REVOCATION_SYNC_SECONDS"),
                    DEFAULT_REVOCATION_SYNC_SECONDS,
                    1,
                    60,
                )?;
                let stale = bounded(
                    "REVOCATION_MAX_STALE_SECONDS",
                    nonempty("REVOCATION_MAX_STALE_SECONDS"),
                    DEFAULT_REVOCATION_MAX_STALE_SECONDS.max(sync),
                    1,
                    3600,
                )?;
                if stale < sync {
                    return Err(err(
                        "REVOCATION_MAX_STALE_SECONDS",
                        "must not be shorter than REVOCATION_SYNC_SECONDS",
                    ));
                }
                Some(RevocationSettings {
                    table: t,
                    sync_every: Duration::from_secs(sync),
                    max_stale: Duration::from_secs(stale),
                })
            }
        };

        let jwks_seed = nonempty(JWKS_JSON_ENV)
            .map(|raw| parse_jwks_json(&raw, &issuers, &algorithms))
            .transpose()?;

        Ok(Config {
            namespaces: crate::owner::Namespaces::new(&issuers),
            issuers,
            jwks_uris,
            jwks_ca_file,
            client_ids,
            token_use,
            leeway_seconds,
            origin_verify_secrets,
            algorithms,
            max_token_bytes,
            http_api_response,
            route_rules,
            api_stages,
            route_default,
            jwks,
            memo_capacity,
            jwks_seed,
            revocation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    /// The modulus of a real 2048-bit RSA key (`openssl genrsa 2048`), base64url.
    const RSA_2048_N: &str = "u2_4f5ht28mLXK9u0-CJk-W7wJCkViE2Fryc8Ufe1iiDm3AlzNAHEDrGDJ5Z6Jq3Y45qogf1t-n0HqLL9Kxs1jn5Qu03EBQwO_QIpVKoEi0WicFGEZI8sYRlteQy_yDR1iwUF6MWb6286dbmGyexs1bWXxBPM01gMukmfJuJGBMCfKNwSqs2ye4yLyQ0GF7nm6kvKR92oTHjHhqDQQRHMFm7u1-wExapVukWAvwoTjIcYEbUfrlpDw36X2PWy_7zuDFI8P_M_113CmJnddVh1lBXKJMaIgsH77uUvtSevqDJCltlMdvC7kNIC445rxckNJBk9KLRE547pjkiTE8fRQ";

    /// A JWKS document with one usable RS256 key and `extra` keys.
    fn rsa_jwks(kid: &str, extra: &str) -> String {
        let n = RSA_2048_N;
        format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"{kid}","alg":"RS256","use":"sig","n":"{n}","e":"AQAB"}}{extra}]}}"#
        )
    }

    #[test]
    fn jwks_json_seeds_one_document_per_issuer() {
        let one = rsa_jwks("k1", "");
        let c = cfg(&[
            ("USER_POOL_ID", "us-east-1_abc"),
            ("CLIENT_IDS", "c"),
            ("JWKS_JSON", &one),
        ])
        .unwrap();
        let seed = c.jwks_seed.expect("seeded");
        assert_eq!(seed.0.len(), 1);
        assert_eq!(seed.0[0].len(), 1);
        assert!(seed.0[0].contains_key("k1"));
        assert_eq!(format!("{seed:?}"), "SeededKeys(keys per issuer: [1])");
        let two = format!("[{},{}]", rsa_jwks("a", ""), rsa_jwks("b", ""));
        let c = cfg(&[
            ("ISSUER", "https://a.example,https://b.example"),
            ("CLIENT_IDS", "c"),
            ("JWKS_JSON", &two),
        ])
        .unwrap();
        assert_eq!(c.jwks_seed.map(|s| s.0.len()), Some(2));
        let c = cfg(&[("USER_POOL_ID", "us-east-1_abc"), ("CLIENT_IDS", "c")]).unwrap();
        assert!(c.jwks_seed.is_none(), "unset: fetched at init");
    }

    #[test]
    fn jwks_json_refusals_name_the_setting_and_never_a_key() {
        let n = RSA_2048_N;
        // A 1024-bit RSA key (below the 2048-bit floor): weak, never trusted.
        let weak = r#"{"keys":[{"kty":"RSA","kid":"w","alg":"RS256","n":"4cg7V1YVAAh7iZkq5zC-WumammaLn1wWmyVHt15JJ7sC8s15d71mlz9PwogwZb2snbMQ7fBBZmjAgpcLzZQIEMf6XIBCnoRhUz1zUJ7sWldTyBqPasxrEx8JLpYSjGSItai-8aybxliI_sKsIcWjTtQtkC3qzcEK_3nOjE_QBss","e":"AQAB"}]}"#.to_string();
        let enc_only =
            format!(r#"{{"keys":[{{"kty":"RSA","kid":"x","use":"enc","n":"{n}","e":"AQAB"}}]}}"#);
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (vec![("JWKS_JSON", "not json".into())], "is not JSON"),
            (vec![("JWKS_JSON", "42".into())], "must be a JWKS document"),
            (
                vec![("JWKS_JSON", r#"{"nokeys":[]}"#.into())],
                "no \"keys\" array",
            ),
            (
                vec![("JWKS_JSON", r#"{"keys":[]}"#.into())],
                "holds no usable key",
            ),
            (vec![("JWKS_JSON", weak)], "holds no usable key"),
            (vec![("JWKS_JSON", enc_only)], "holds no usable key"),
            (
                vec![(
                    "JWKS_JSON",
                    format!("[{},{}]", rsa_jwks("a", ""), rsa_jwks("b", "")),
                )],
                "2 JWKS document(s) for 1 issuer(s)",
            ),
        ];
        for (extra, problem) in cases {
            let mut pairs: Vec<(&str, &str)> =
                vec![("USER_POOL_ID", "us-east-1_abc"), ("CLIENT_IDS", "c")];
            pairs.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            let e = cfg(&pairs).unwrap_err();
            assert_eq!(e.setting, "JWKS_JSON", "{e}");
            assert!(e.problem.contains(problem), "{problem:?} not in {e}");
            assert!(!e.to_string().contains(&n[..40]), "key material in {e}");
        }
        // With two issuers, the refusal names the document's issuer.
        let e = cfg(&[
            ("ISSUER", "https://a.example,https://b.example"),
            ("CLIENT_IDS", "c"),
            (
                "JWKS_JSON",
                &format!(r#"[{},{{"keys":[]}}]"#, rsa_jwks("a", "")),
            ),
        ])
        .unwrap_err();
        assert!(
            e.problem.contains("document 2 (issuer https://b.example)"),
            "{e}"
        );
        // A key outside ALGORITHMS does not count as usable.
        let e = cfg(&[
            ("USER_POOL_ID", "us-east-1_abc"),
            ("CLIENT_IDS", "c"),
            ("ALGORITHMS", "ES256"),
            ("JWKS_JSON", &rsa_jwks("k1", "")),
        ])
        .unwrap_err();
        assert!(e.problem.contains("no usable key"), "{e}");
    }

    #[test]
    fn derives_cognito_issuer_and_jwks() {
        let c = cfg(&[
            ("USER_POOL_ID", "eu-west-1_AbC123xyz9"),
            ("CLIENT_IDS", "a, b"),
        ])
        .unwrap();
        assert_eq!(
            c.issuers,
            vec!["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz9"]
        );
        assert_eq!(
            c.jwks_uris,
            vec!["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz9/.well-known/jwks.json"]
        );
        assert_eq!(c.client_ids, vec!["a", "b"]);
        assert_eq!(c.token_use, TokenUse::Access);
        assert_eq!(c.leeway_seconds, 0);
        assert_eq!(c.algorithms, vec![Alg::RS256]);
        assert_eq!(c.http_api_response, HttpApiResponse::Simple);
        assert!(c.api_stages.is_empty(), "the request's stage only");
    }

    #[test]
    fn api_stages_are_stage_names() {
        let base = [
            ("USER_POOL_ID", "eu-west-1_AbC123xyz9"),
            ("CLIENT_IDS", "a"),
        ];
        let with = |v: &str| {
            let mut p = base.to_vec();
            p.push(("API_STAGES", v));
            cfg(&p)
        };
        assert_eq!(with("v1, canary").unwrap().api_stages, ["v1", "canary"]);
        assert_eq!(
            with("v1,*").unwrap_err(),
            err(
                "API_STAGES",
                "\"*\" is not a stage name (letters, digits, -_$.)"
            )
        );
        assert_eq!(
            with("a,b,c,d,e,f,g,h,i,j,k").unwrap_err(),
            err("API_STAGES", "at most 10 stages")
        );
    }

    #[test]
    fn refuses_bad_settings_with_the_setting_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("CLIENT_IDS", "a")], "USER_POOL_ID"),
            (
                &[("USER_POOL_ID", "nounderscore"), ("CLIENT_IDS", "a")],
                "USER_POOL_ID",
            ),
            (
                &[("USER_POOL_ID", "us-east-1_x/../y"), ("CLIENT_IDS", "a")],
                "USER_POOL_ID",
            ),
            (&[("USER_POOL_ID", "us-east-1_abc")], "CLIENT_IDS"),
            (
                &[("USER_POOL_ID", "us-east-1_abc"), ("CLIENT_IDS", " , ")],
                "CLIENT_IDS",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("TOKEN_USE", "both"),
                ],
                "TOKEN_USE",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("LEEWAY_SECONDS", "301"),
                ],
                "LEEWAY_SECONDS",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("LEEWAY_SECONDS", "-1"),
                ],
                "LEEWAY_SECONDS",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("JWKS_URI", "http://example.com/jwks"),
                ],
                "JWKS_URI",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("JWKS_URI", "http://127.0.0.1@evil.com/jwks"),
                ],
                "JWKS_URI",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("JWKS_URI", "file:///etc/passwd"),
                ],
                "JWKS_URI",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("ALGORITHMS", "HS256"),
                ],
                "ALGORITHMS",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("ALGORITHMS", "none"),
                ],
                "ALGORITHMS",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("ORIGIN_VERIFY_SECRET", "short"),
                ],
                "ORIGIN_VERIFY_SECRET",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("ORIGIN_VERIFY_SECRET", " , ,"),
                ],
                "ORIGIN_VERIFY_SECRET",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("JWKS_TIMEOUT_MS", "100"),
                ],
                "JWKS_TIMEOUT_MS",
            ),
            (
                &[
                    ("ISSUER", "https://a,https://b"),
                    ("JWKS_URI", "https://a/jwks"),
                    ("CLIENT_IDS", "a"),
                ],
                "JWKS_URI",
            ),
            (
                &[
                    ("ISSUER", "https://a,https://b"),
                    ("JWKS_URI", "https://a/jwks,http://b.example/jwks"),
                    ("CLIENT_IDS", "a"),
                ],
                "JWKS_URI",
            ),
            (
                &[("ISSUER", "https://a,https://a"), ("CLIENT_IDS", "a")],
                "ISSUER",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    (
                        "ROUTE_RULES",
                        r#"[{"route":"GET /admin/*","groups_any":["admin"]}]"#,
                    ),
                    ("HTTP_API_RESPONSE", "simple"),
                ],
                "HTTP_API_RESPONSE",
            ),
            (
                &[
                    ("USER_POOL_ID", "us-east-1_abc"),
                    ("CLIENT_IDS", "a"),
                    ("ROUTE_RULES", "not json"),
                ],
                "ROUTE_RULES",
            ),
        ];
        for (pairs, setting) in cases {
            let e = cfg(pairs).expect_err(&format!("{pairs:?} must be refused"));
            assert_eq!(e.setting, *setting, "{pairs:?}: {e}");
        }
    }

    #[test]
    fn explicit_issuers_and_loopback_http() {
        let c = cfg(&[
            ("ISSUER", "http://127.0.0.1:5000/us-east-1_abc"),
            (
                "JWKS_URI",
                "http://127.0.0.1:5000/us-east-1_abc/.well-known/jwks.json",
            ),
            ("CLIENT_IDS", "c1"),
            ("TOKEN_USE", "none"),
            ("LEEWAY_SECONDS", "300"),
            ("ALGORITHMS", "RS256,ES256,EdDSA"),
        ])
        .unwrap();
        assert_eq!(c.token_use, TokenUse::None);
        assert_eq!(c.leeway_seconds, 300);
        assert_eq!(c.algorithms, vec![Alg::RS256, Alg::ES256, Alg::EdDSA]);
        let c = cfg(&[("ISSUER", "http://localhost:1/x"), ("CLIENT_IDS", "c1")]).unwrap();
        assert_eq!(
            c.jwks_uris,
            vec!["http://localhost:1/x/.well-known/jwks.json"]
        );
        let c = cfg(&[
            ("ISSUER", "https://a.example/p1, https://b.example/p2/"),
            ("CLIENT_IDS", "c1"),
        ])
        .unwrap();
        assert_eq!(
            c.jwks_uris,
            vec![
                "https://a.example/p1/.well-known/jwks.json",
                "https://b.example/p2/.well-known/jwks.json"
            ]
        );
        let c = cfg(&[
            ("ISSUER", "http://127.0.0.1:1/a,http://127.0.0.1:2/b"),
            ("JWKS_URI", "http://127.0.0.1:1/a/k,http://127.0.0.1:2/b/k"),
            ("CLIENT_IDS", "c1"),
        ])
        .unwrap();
        assert_eq!(c.jwks_uris[1], "http://127.0.0.1:2/b/k");
    }

    #[test]
    fn integer_settings_share_one_rule_and_one_error() {
        let base = [("USER_POOL_ID", "us-east-1_abc"), ("CLIENT_IDS", "a")];
        let ranges: &[(&str, u64, u64)] = &[
            ("LEEWAY_SECONDS", 0, MAX_LEEWAY_SECONDS),
            ("MAX_TOKEN_BYTES", 512, 65_536),
            ("JWKS_TIMEOUT_MS", 3000, 30_000),
            ("JWKS_REFRESH_SECONDS", 1, 86_400),
            ("JWKS_MAX_STALE_SECONDS", 1, 604_800),
            ("JWKS_COOLDOWN_SECONDS", 1, 3600),
            ("MEMO_CAPACITY", 0, 1_000_000),
        ];
        for &(setting, min, max) in ranges {
            let bad = [
                min.checked_sub(1).map(|v| v.to_string()),
                Some((max + 1).to_string()),
            ];
            for v in bad
                .into_iter()
                .flatten()
                .chain(["x".to_string(), "-1".to_string()])
            {
                let mut pairs = base.to_vec();
                pairs.push((setting, &v));
                let e = cfg(&pairs).expect_err(setting);
                assert_eq!(e.setting, setting);
                assert_eq!(
                    e.problem,
                    format!("must be an integer in {min}..={max} (got {v:?})")
                );
            }
            // the bounds themselves are accepted (the stale/refresh order aside)
            for v in [min, max] {
                let v = v.to_string();
                let mut pairs = base.to_vec();
                pairs.push((setting, &v));
                match setting {
                    "JWKS_REFRESH_SECONDS" => pairs.push(("JWKS_MAX_STALE_SECONDS", "604800")),
                    "JWKS_MAX_STALE_SECONDS" => pairs.push(("JWKS_REFRESH_SECONDS", "1")),
                    _ => {}
                }
                assert!(cfg(&pairs).is_ok(), "{setting}={v}");
            }
        }
        let mut pairs = base.to_vec();
        pairs.push(("MEMO_CAPACITY", " 7 "));
        assert_eq!(cfg(&pairs).unwrap().memo_capacity, 7);
        let c = cfg(&base).unwrap();
        assert_eq!(
            (c.leeway_seconds, c.max_token_bytes, c.memo_capacity),
            (0, 8192, 4096)
        );
        assert_eq!(c.jwks.timeout, Duration::from_millis(3000));
        assert_eq!(c.jwks.cooldown, Duration::from_secs(10));
    }

    #[test]
    fn jwks_uris_are_parsed_once_by_the_type_the_fetcher_uses() {
        let with = |uri: &str| {
            cfg(&[
                ("ISSUER", "https://a.example/p"),
                ("JWKS_URI", uri),
                ("CLIENT_IDS", "c"),
            ])
        };
        for ok in [
            "https://a.example/jwks",
            "http://127.0.0.2:8080/jwks",
            "http://[::1]:1/k",
            "http://localhost/k",
        ] {
            assert_eq!(with(ok).unwrap().jwks_uris, vec![ok]);
        }
        for (bad, problem) in [
            ("HTTPS://a.example/jwks", r#"unsupported scheme "HTTPS"; use https"#),
            ("https://a b.example/jwks", r#"not an http(s) URL: "https://a b.example/jwks""#),
            ("https://u@a.example/jwks", r#"not an http(s) URL: "https://u@a.example/jwks""#),
            ("a.example/jwks", r#"not an http(s) URL: "a.example/jwks""#),
            (
                "http://10.0.0.1/jwks",
                "plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost); use https",
            ),
        ] {
            let e = with(bad).unwrap_err();
            assert_eq!((e.setting, e.problem.as_str()), ("JWKS_URI", problem), "{bad}");
        }
    }

    #[test]
    fn route_rules_switch_defaults_to_deny_and_iam() {
        let c = cfg(&[
            ("USER_POOL_ID", "us-east-1_abc"),
            ("CLIENT_IDS", "a"),
            (
                "ROUTE_RULES",
                r#"[{"route":"GET /admin/*","groups_any":["admin"]}]"#,
            ),
        ])
        .unwrap();
        assert_eq!(c.route_default, RouteDefault::Deny);
        assert_eq!(c.http_api_response, HttpApiResponse::Iam);
    }
}
