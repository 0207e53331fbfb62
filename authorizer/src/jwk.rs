//! JSON Web Keys: parsing a JWKS document into pre-parsed verification keys.
//!
//! Each usable JWK becomes one [`Key`] holding an `aws-lc-rs` `ParsedPublicKey` per algorithm it
//! may verify, parsed once here so verification never parses key material again. A JWK is pinned
//! to what it declares: its `alg` (when present) must be the token's, its `kty`/`crv` must fit,
//! `use` must be `sig` (when present) and `key_ops` (when present) must allow `verify`. Symmetric
//! (`oct`) keys, encryption keys, RSA keys under 2048 bits, and anything malformed are skipped —
//! never used, and never a reason to throw away the good keys of the same document.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::alg::Alg;

/// What a JWK says about its own use (`alg`, `use`, `key_ops`), as published: two JWKs with the
/// same material but different pins are different keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pins {
    alg: Option<String>,
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
}

/// A verification key: the JWK's `kid`, its canonical material and pins (to tell an unchanged key
/// from a replaced one across refreshes) and one parsed public key per permitted algorithm.
pub struct Key {
    pub kid: String,
    material: Vec<u8>,
    pins: Pins,
    parsed: Vec<(Alg, ParsedPublicKey)>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field(
                "algs",
                &self
                    .parsed
                    .iter()
                    .map(|(a, _)| a.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Key {
    /// The parsed key for `alg`, if this JWK may verify that algorithm.
    pub fn for_alg(&self, alg: Alg) -> Option<&ParsedPublicKey> {
        self.parsed.iter().find(|(a, _)| *a == alg).map(|(_, k)| k)
    }

    /// Whether `other` is the same key for every purpose: the same material and the same `alg`,
    /// `use` and `key_ops`. A refresh keeps an unchanged key (and the memo entries it backs) and
    /// replaces any other, so a JWK narrowed to fewer algorithms or uses takes effect at once.
    pub fn unchanged(&self, other: &Key) -> bool {
        self.material == other.material && self.pins == other.pins
    }
}

#[derive(Deserialize)]
struct Doc {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// Why a JWKS document as a whole was refused (individual bad keys are only skipped).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("JWKS is not a JSON object with a \"keys\" array")]
    NotAJwks,
}

/// The usable keys of a JWKS document, by `kid`.
pub type KeyMap = HashMap<String, Arc<Key>>;

/// Parse a JWKS document, keeping only keys usable for one of `algs`. A document that lists no
/// usable key (an empty `keys` array, only `enc` or `oct` keys) is a valid, empty key set: the
/// issuer has withdrawn its keys, and nothing it signed before is trusted any more. Only a body
/// that is not a JWKS document at all is an error (treated as an outage by the cache).
///
/// Two JWKs with the same `kid` are ambiguous: that `kid` is dropped altogether (a token naming
/// it cannot say which key it means).
pub fn parse_jwks(body: &[u8], algs: &[Alg]) -> Result<KeyMap, JwksError> {
    let doc: Doc = serde_json::from_slice(body).map_err(|_| JwksError::NotAJwks)?;
    let mut out: KeyMap = HashMap::new();
    let mut dup: Vec<String> = Vec::new();
    for v in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
            continue;
        };
        let Some(key) = parse_key(&jwk, algs) else {
            continue;
        };
        if out.contains_key(&key.kid) {
            dup.push(key.kid.clone());
            continue;
        }
        out.insert(key.kid.clone(), Arc::new(key));
    }
    for k in dup {
        out.remove(&k);
    }
    Ok(out)
}

fn b64(s: &Option<String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.as_deref()?).ok()
}

fn rsa_params(alg: Alg) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn parse_key(jwk: &Jwk, algs: &[Alg]) -> Option<Key> {
    let kid = jwk
        .kid
        .clone()
        .filter(|k| !k.is_empty() && k.len() <= 256)?;
    if let Some(u) = &jwk.use_ {
        if u != "sig" {
            return None;
        }
    }
    if let Some(ops) = &jwk.key_ops {
        if !ops.iter().any(|o| o == "verify") {
            return None;
        }
    }
    // The JWK's own alg pins it; without one, every algorithm its type supports is allowed.
    let declared = match &jwk.alg {
        Some(a) => Some(Alg::from_name(a)?),
        None => None,
    };
    let allowed = |a: Alg| algs.contains(&a) && declared.is_none_or(|d| d == a);

    match jwk.kty.as_str() {
        "RSA" => {
            let n = b64(&jwk.n)?;
            let e = b64(&jwk.e)?;
            // canonical big-endian, no leading zero; at least 2048 bits
            if n.first() == Some(&0) || e.first() == Some(&0) || n.len() < 256 || e.is_empty() {
                return None;
            }
            let comps = PublicKeyComponents {
                n: &n[..],
                e: &e[..],
            };
            let mut parsed = Vec::new();
            for a in [
                Alg::RS256,
                Alg::RS384,
                Alg::RS512,
                Alg::PS256,
                Alg::PS384,
                Alg::PS512,
            ] {
                if allowed(a) {
                    let params = rsa_params(a)?;
                    parsed.push((a, comps.to_parsed_public_key(params).ok()?));
                }
            }
            let mut material = n;
            material.extend_from_slice(&e);
            finish(kid, material, pins(jwk), parsed)
        }
        "EC" => {
            let (alg, len, valg): (Alg, usize, &'static dyn VerificationAlgorithm) =
                match jwk.crv.as_deref()? {
                    "P-256" => (Alg::ES256, 32, &signature::ECDSA_P256_SHA256_FIXED),
                    "P-384" => (Alg::ES384, 48, &signature::ECDSA_P384_SHA384_FIXED),
                    _ => return None,
                };
            if !allowed(alg) {
                return None;
            }
            let x = b64(&jwk.x)?;
            let y = b64(&jwk.y)?;
            if x.len() != len || y.len() != len {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let pk = ParsedPublicKey::new(valg, &point).ok()?;
            finish(kid, point, pins(jwk), vec![(alg, pk)])
        }
        "OKP" => {
            if jwk.crv.as_deref()? != "Ed25519" || !allowed(Alg::EdDSA) {
                return None;
            }
            let x = b64(&jwk.x)?;
            if x.len() != 32 {
                return None;
            }
            let pk = ParsedPublicKey::new(&signature::ED25519, &x).ok()?;
            finish(kid, x, pins(jwk), vec![(Alg::EdDSA, pk)])
        }
        // "oct" (symmetric) and anything else: never a verification key here.
        _ => None,
    }
}

fn pins(jwk: &Jwk) -> Pins {
    Pins {
        alg: jwk.alg.clone(),
        use_: jwk.use_.clone(),
        key_ops: jwk.key_ops.clone(),
    }
}

fn finish(
    kid: String,
    material: Vec<u8>,
    pins: Pins,
    parsed: Vec<(Alg, ParsedPublicKey)>,
) -> Option<Key> {
    if parsed.is_empty() {
        return None;
    }
    Some(Key {
        kid,
        material,
        pins,
        parsed,
    })
}
