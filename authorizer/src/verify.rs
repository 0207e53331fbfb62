//! Token verification: header checks, key pinning, signature, then every claim.
//!
//! Order matters: nothing from the payload is looked at before the signature verifies, and the
//! key is chosen only by `kid` from the configured JWKS (never `jku`, `x5u`, `jwk` or `x5c`).

use serde::Deserialize;

use crate::config::{Alg, Config, TokenUse};
use crate::jwks::{Jwks, KeyRef};
use crate::reason::Reason;
use crate::token;

/// `iat` may be at most this far in the future (plus `LEEWAY_SECONDS`): clocks drift a little,
/// issuers do not mint tokens from the future.
pub const IAT_SKEW_SECONDS: f64 = 60.0;

/// Claims as issued. Types are strict: a mistyped claim (`exp` as a string, `iss` as an array)
/// or a duplicated claim makes the whole payload malformed.
#[derive(Debug, Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Aud>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, rename = "cognito:username")]
    cognito_username: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

impl Aud {
    fn contains_any(&self, allowed: &[String]) -> bool {
        match self {
            Aud::One(a) => allowed.iter().any(|c| c == a),
            Aud::Many(v) => v.iter().any(|a| allowed.iter().any(|c| c == a)),
        }
    }
    fn first(&self) -> &str {
        match self {
            Aud::One(a) => a,
            Aud::Many(v) => v.first().map(String::as_str).unwrap_or(""),
        }
    }
}

/// What a verified token says about its principal (everything the policy and context need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub username: String,
    pub client_id: String,
    pub token_use: String,
    pub scope: String,
    pub groups: Vec<String>,
    /// `exp` in whole seconds (floor), for the memo.
    pub exp: i64,
}

impl Principal {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

/// A successfully verified token: the principal and the key that verified it.
pub struct Verified {
    pub principal: Principal,
    pub key: KeyRef,
}

/// Checks header and claims; holds the key cache.
pub struct Verifier {
    cfg: Config,
    pub jwks: Jwks,
}

impl Verifier {
    pub fn new(cfg: Config, jwks: Jwks) -> Verifier {
        Verifier { cfg, jwks }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Verify `token` (already extracted, within the size cap) at `now` (seconds since epoch).
    pub async fn verify(&self, token: &str, now: f64) -> Result<Verified, Reason> {
        let parts = token::split(token)?;
        let alg = Alg::from_name(&parts.header.alg).ok_or(Reason::AlgNotAllowed)?;
        if !self.cfg.algorithms.contains(&alg) {
            return Err(Reason::AlgNotAllowed);
        }
        if parts.header.crit.is_some() {
            return Err(Reason::CritHeader);
        }
        let kid = parts
            .header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(Reason::MissingKid)?;
        let key = self.jwks.key(kid).await?;
        let pk = key.for_alg(alg).ok_or(Reason::KeyMismatch)?;
        pk.verify_sig(parts.signing_input, &parts.signature)
            .map_err(|_| Reason::BadSignature)?;
        let principal = self.check_claims(&parts.payload, now)?;
        Ok(Verified { principal, key })
    }

    /// Claim checks on a payload whose signature has verified.
    pub fn check_claims(&self, payload: &[u8], now: f64) -> Result<Principal, Reason> {
        let c: RawClaims = serde_json::from_slice(payload).map_err(|_| Reason::MalformedClaims)?;
        let leeway = self.cfg.leeway_seconds as f64;

        let iss = c.iss.as_deref().ok_or(Reason::WrongIssuer)?;
        if !self.cfg.issuers.iter().any(|i| i == iss) {
            return Err(Reason::WrongIssuer);
        }

        let client = match self.cfg.token_use {
            TokenUse::Access => {
                if c.token_use.as_deref() != Some("access") {
                    return Err(Reason::WrongTokenUse);
                }
                // Access tokens name their client in client_id; an aud claim is no substitute.
                let cid = c.client_id.as_deref().ok_or(Reason::WrongClient)?;
                if !self.cfg.client_ids.iter().any(|a| a == cid) {
                    return Err(Reason::WrongClient);
                }
                cid.to_string()
            }
            TokenUse::Id | TokenUse::None => {
                if self.cfg.token_use == TokenUse::Id && c.token_use.as_deref() != Some("id") {
                    return Err(Reason::WrongTokenUse);
                }
                let aud = c.aud.as_ref().ok_or(Reason::WrongClient)?;
                if !aud.contains_any(&self.cfg.client_ids) {
                    return Err(Reason::WrongClient);
                }
                match aud {
                    Aud::One(a) => a.clone(),
                    Aud::Many(_) => self
                        .cfg
                        .client_ids
                        .iter()
                        .find(|cid| aud.contains_any(std::slice::from_ref(cid)))
                        .cloned()
                        .unwrap_or_else(|| aud.first().to_string()),
                }
            }
        };

        let exp = c.exp.ok_or(Reason::MissingExp)?;
        if !exp.is_finite() || now >= exp + leeway {
            return Err(Reason::Expired);
        }
        if let Some(nbf) = c.nbf {
            if !nbf.is_finite() || nbf > now + leeway {
                return Err(Reason::NotYetValid);
            }
        }
        if let Some(iat) = c.iat {
            if !iat.is_finite() || iat > now + IAT_SKEW_SECONDS + leeway {
                return Err(Reason::IatInFuture);
            }
        }
        let sub = c.sub.filter(|s| !s.is_empty()).ok_or(Reason::MissingSub)?;

        Ok(Principal {
            sub,
            username: c.username.or(c.cognito_username).unwrap_or_default(),
            client_id: client,
            token_use: c.token_use.unwrap_or_default(),
            scope: c.scope.unwrap_or_default(),
            groups: c.groups.unwrap_or_default(),
            exp: exp.floor() as i64,
        })
    }
}
