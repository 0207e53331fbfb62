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
    ///
    /// One synchronous pass does the whole verification when the key is at hand (a known `kid`
    /// in a key set not due for a refresh): the token's parts decoded on the stack, its header
    /// most often one read before ([`token::header`]), its claims borrowed from the payload,
    /// nothing allocated but the principal. Otherwise the key set is asked (a refresh,
    /// single-flight) and the pass runs again with the key it gives; every step before the key
    /// is deterministic, so both passes refuse or get there alike.
    pub async fn verify(&self, token: &str, now: f64) -> Result<Verified, Reason> {
        match self.pass(token, now, None) {
            Ok(v) => Ok(v),
            Err(Step::Refused(r)) => Err(r),
            Err(Step::NeedKey { issuer, kid }) => {
                let jwks = self.jwks.get(issuer).ok_or(Reason::JwksUnavailable)?;
                let key = jwks.key(&kid).await?;
                match self.pass(token, now, Some(key)) {
                    Ok(v) => Ok(v),
                    Err(Step::Refused(r)) => Err(r),
                    // not reached (a given key is used); fails closed all the same
                    Err(Step::NeedKey { .. }) => Err(Reason::JwksUnavailable),
                }
            }
        }
    }

    /// One pass over `token`, with `given` as the key when a key set was asked already, else
    /// the key its issuer's set trusts right now ([`Jwks::trusted`]).
    fn pass(&self, token: &str, now: f64, given: Option<KeyRef>) -> Result<Verified, Step> {
        let mut buf = token::Buf::new();
        let parts = token::split_raw(token, &mut buf)?;
        let header = token::header(parts.header)?;
        let alg = header
            .alg
            .as_deref()
            .and_then(Alg::from_name)
            .ok_or(Reason::AlgNotAllowed)?;
        if !self.cfg.algorithms.contains(&alg) {
            return Err(Reason::AlgNotAllowed.into());
        }
        if header.crit {
            return Err(Reason::CritHeader.into());
        }
        let kid = header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_BYTES)
            .ok_or(Reason::MissingKid)?;
        let mut claims = claims::Claims::default();
        claims::parse_into(parts.payload, &mut claims)?;
        let issuer = claims.issuer_index(&self.cfg.issuers)?;
        let jwks = self.jwks.get(issuer).ok_or(Reason::JwksUnavailable)?;
        let Some(key) = given.or_else(|| jwks.trusted(kid)) else {
            return Err(Step::NeedKey {
                issuer,
                kid: kid.to_string(),
            });
        };
        let pk = key.for_alg(alg).ok_or(Reason::KeyMismatch)?;
        // The claims are checked and the principal is built before the signature is verified,
        // and neither is used unless it holds: a refusal for the signature still comes before
        // any refusal for a claim, as if the claims were checked after it. Both are pure (no
        // I/O, nothing kept), and done here they run while this token's parsing code is still
        // in the CPU's caches and predictors, not after the RSA code has displaced it.
        let checked = claims::check(&mut claims, &self.cfg.claim_rules(), now)
            // The identity handed on is the owner id: unique across issuers (see `owner`).
            .and_then(|fields| self.cfg.namespaces.principal(issuer, fields));
        crate::jwk::verify(pk, alg, parts.signing_input, parts.signature)
            .map_err(|_| Reason::BadSignature)?;
        let principal = checked?;
        Ok(Verified {
            principal,
            issuer,
            key,
        })
    }
}

/// Why a [`Verifier::pass`] stopped short of a verified token.
enum Step {
    Refused(Reason),
    /// The key set of `issuer` has no key for `kid` it trusts right now without a refresh.
    NeedKey {
        issuer: usize,
        kid: String,
    },
}

impl From<Reason> for Step {
    fn from(r: Reason) -> Step {
        Step::Refused(r)
    }
}
