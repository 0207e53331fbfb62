//! Token verification: header checks, issuer, key pinning, signature, then every claim.
//!
//! Order: the header is checked (`alg`, `crit`, `kid`), the payload is read strictly (a JSON
//! object of well-typed, unique members) only to learn which configured issuer's key set to use,
//! the key is chosen only by `kid` from that issuer's JWKS (never `jku`, `x5u`, `jwk` or `x5c`),
//! the signature is verified, and only then are the claims checked and trusted.

use crate::alg::Alg;
use crate::claims;
use crate::config::Config;
use crate::jwks::{Jwks, KeyRef};
use crate::reason::Reason;
use crate::token;

pub use crate::claims::{Principal, IAT_SKEW_SECONDS};

/// Longest `kid` accepted (a JWKS key id, not a place for payloads).
pub const MAX_KID_BYTES: usize = 256;

/// A successfully verified token: the principal (its `sub` is the owner id, see `owner`), and the
/// issuer (by position) and key that verified it (the memo re-checks that key is still trusted).
pub struct Verified {
    pub principal: Principal,
    pub issuer: usize,
    pub key: KeyRef,
}

/// Checks header and claims; holds one key cache per configured issuer.
pub struct Verifier {
    cfg: Config,
    jwks: Vec<Jwks>,
}

impl Verifier {
    /// `jwks[i]` is the key set of `cfg.issuers[i]`.
    pub fn new(cfg: Config, jwks: Vec<Jwks>) -> Verifier {
        Verifier { cfg, jwks }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The key set of issuer `i` (in `ISSUER` order).
    pub fn jwks(&self, i: usize) -> Option<&Jwks> {
        self.jwks.get(i)
    }

    /// Every key set, in `ISSUER` order.
    pub fn key_sets(&self) -> &[Jwks] {
        &self.jwks
    }

    /// Verify `token` (already extracted, within the size cap) at `now` (seconds since epoch).
    pub async fn verify(&self, token: &str, now: f64) -> Result<Verified, Reason> {
        let parts = token::split(token)?;
        let alg = parts
            .header
            .alg
            .as_deref()
            .and_then(Alg::from_name)
            .ok_or(Reason::AlgNotAllowed)?;
        if !self.cfg.algorithms.contains(&alg) {
            return Err(Reason::AlgNotAllowed);
        }
        if parts.header.crit {
            return Err(Reason::CritHeader);
        }
        let kid = parts
            .header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_BYTES)
            .ok_or(Reason::MissingKid)?;
        let claims = claims::parse(&parts.payload)?;
        let issuer = claims.issuer_index(&self.cfg.issuers)?;
        let jwks = self.jwks.get(issuer).ok_or(Reason::JwksUnavailable)?;
        let key = jwks.key(kid).await?;
        let pk = key.for_alg(alg).ok_or(Reason::KeyMismatch)?;
        pk.verify_sig(parts.signing_input, &parts.signature)
            .map_err(|_| Reason::BadSignature)?;
        let mut principal = claims::check(claims, &self.cfg.claim_rules(), now)?;
        // The identity handed on is the owner id: unique across issuers (see `owner`).
        principal.sub = self.cfg.namespaces.owner(issuer, principal.sub)?;
        Ok(Verified {
            principal,
            issuer,
            key,
        })
    }
}
