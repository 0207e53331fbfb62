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

/// Verify `signature` over `input` with `pk`, the key parsed for `alg` ([`Key::for_alg`]).
///
/// RSA: the digest is computed here (its context on the stack) and the signature checked
/// against it (`ParsedPublicKey::verify_digest_sig`, aws-lc's `EVP_PKEY_verify` with the
/// algorithm's digest and padding: the same PKCS #1 v1.5 or PSS checks as `verify_sig`, which
/// hashes through an `EVP_MD_CTX` it sets up and tears down on every call). Measured: about
/// 0.7 % more RS256 verifications per second than `verify_sig` (five interleaved runs:
/// 1.001–1.014 ×). The other algorithms go through `verify_sig`.
pub fn verify(
    pk: &ParsedPublicKey,
    alg: Alg,
    input: &[u8],
    signature: &[u8],
) -> Result<(), aws_lc_rs::error::Unspecified> {
    match alg.rsa_digest() {
        Some(d) => pk.verify_digest_sig(&aws_lc_rs::digest::digest(d, input), signature),
        None => pk.verify_sig(input, signature),
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

/// One JWK as published (the members read here).
#[derive(Deserialize)]
pub struct Jwk {
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

/// The usable keys of a JWKS document, by `kid`. Hashed with foldhash (seeded per process), not
/// SipHash, the default, which costs more than the rest of a verification's one lookup: the map's
/// keys are the issuer's few `kid`s, never a stranger's, and a stranger's `kid` is only looked up.
pub type KeyMap = HashMap<String, Arc<Key>, foldhash::fast::RandomState>;

/// Parse a JWKS document, keeping only keys usable for one of `algs`. A document that lists no
/// usable key (an empty `keys` array, only `enc` or `oct` keys) is a valid, empty key set: the
/// issuer has withdrawn its keys, and nothing it signed before is trusted any more. Only a body
/// that is not a JWKS document at all is an error (treated as an outage by the cache).
///
/// Two JWKs with the same `kid` are ambiguous: that `kid` is dropped altogether (a token naming
/// it cannot say which key it means).
pub fn parse_jwks(body: &[u8], algs: &[Alg]) -> Result<KeyMap, JwksError> {
    let doc: Doc = serde_json::from_slice(body).map_err(|_| JwksError::NotAJwks)?;
    let mut out = KeyMap::default();
    let mut dup: Vec<String> = Vec::new();
    for v in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
            continue;
        };
        let key = match vet_key(&jwk, algs) {
            Ok(k) => k,
            Err(Skip::Weak(w)) => {
                // The kid and the class only: never the key material.
                tracing::warn!(
                    event = "jwk_refused",
                    kid = jwk.kid.as_deref().unwrap_or(""),
                    reason = w.code(),
                    "a weak JWK is never trusted"
                );
                continue;
            }
            Err(Skip::NotUsable) => continue,
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

/// Why a JWK is not used. [`Skip::Weak`] keys are logged (`jwk_refused`, with the kid and the
/// code); the others are simply not verification keys here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A key nobody should trust (DESIGN.md's weak-key classes): the code is logged.
    Weak(WeakKey),
    /// Not a usable verification key for the configured algorithms (`oct`, `use: enc`, no
    /// `verify` in `key_ops`, an algorithm not configured, malformed members, no kid).
    NotUsable,
}

/// The weak-key classes: a JWK of one of them is never trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakKey {
    /// An RSA modulus below 2048 bits.
    RsaTooSmall,
    /// An RSA public exponent below 3, or even.
    RsaBadExponent,
    /// An RSA modulus with the ROCA fingerprint (CVE-2017-15361, Infineon RSALib): it can be
    /// factored.
    RsaRoca,
    /// EC coordinates that are not a point of the named curve.
    EcPointNotOnCurve,
    /// A `crv` that does not fit the key: unknown or non-signing curve, coordinates of another
    /// size, or a JWK `alg` of another curve.
    CrvMismatch,
}

impl WeakKey {
    /// The code logged with `event: jwk_refused` (stable; listed in docs/authorizer.md).
    pub fn code(self) -> &'static str {
        match self {
            WeakKey::RsaTooSmall => "rsa_too_small",
            WeakKey::RsaBadExponent => "rsa_bad_exponent",
            WeakKey::RsaRoca => "rsa_roca_fingerprint",
            WeakKey::EcPointNotOnCurve => "ec_point_not_on_curve",
            WeakKey::CrvMismatch => "crv_mismatch",
        }
    }

    pub const ALL: [WeakKey; 5] = [
        WeakKey::RsaTooSmall,
        WeakKey::RsaBadExponent,
        WeakKey::RsaRoca,
        WeakKey::EcPointNotOnCurve,
        WeakKey::CrvMismatch,
    ];
}

/// Small primes of the ROCA fingerprint test (the published detector's, crocs-muni/roca): an
/// Infineon RSALib prime is `k·M + (65537^a mod M)` with `M` a primorial, so a modulus made of two
/// of them is, modulo each of these primes, a power of 65537.
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// Bit `r` set when `r` is in the subgroup of `(Z/pZ)*` generated by 65537 (the detector's
/// "markers"; every prime above is below 192, so three words hold a set).
fn roca_marker(p: u32) -> [u64; 3] {
    let g = 65537 % p;
    let mut set = [0u64; 3];
    let mut x = 1u32;
    loop {
        set[(x / 64) as usize] |= 1 << (x % 64);
        x = x * g % p;
        if x == 1 {
            break;
        }
    }
    set
}

/// `n mod p` for a big-endian `n`.
fn rem_small(n: &[u8], p: u32) -> u32 {
    n.iter().fold(0u32, |r, b| (r * 256 + u32::from(*b)) % p)
}

/// The ROCA fingerprint test (CVE-2017-15361): `n` modulo every prime of [`ROCA_PRIMES`] lies in
/// the subgroup generated by 65537. A random modulus passes with probability about 2^-150.
pub fn roca_fingerprint(n: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let r = rem_small(n, p);
        roca_marker(p)[(r / 64) as usize] & (1 << (r % 64)) != 0
    })
}

/// Bits in a big-endian integer without leading zero bytes.
fn bit_len(n: &[u8]) -> usize {
    match n.first() {
        Some(&b) => n.len() * 8 - b.leading_zeros() as usize,
        None => 0,
    }
}

/// Parse and vet one JWK. `Err` says why it is not used (weak keys by class).
pub fn vet_key(jwk: &Jwk, algs: &[Alg]) -> Result<Key, Skip> {
    use Skip::NotUsable;
    let weak = Skip::Weak;
    let kid = jwk
        .kid
        .clone()
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .ok_or(NotUsable)?;
    if let Some(u) = &jwk.use_ {
        if u != "sig" {
            return Err(NotUsable);
        }
    }
    if let Some(ops) = &jwk.key_ops {
        if !ops.iter().any(|o| o == "verify") {
            return Err(NotUsable);
        }
    }
    // The JWK's own alg pins it; without one, every algorithm its type supports is allowed.
    let declared = match &jwk.alg {
        Some(a) => Some(Alg::from_name(a).ok_or(NotUsable)?),
        None => None,
    };
    let allowed = |a: Alg| algs.contains(&a) && declared.is_none_or(|d| d == a);

    match jwk.kty.as_str() {
        "RSA" => {
            let n = b64(&jwk.n).ok_or(NotUsable)?;
            let e = b64(&jwk.e).ok_or(NotUsable)?;
            // canonical big-endian, no leading zero
            if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                return Err(NotUsable);
            }
            if jwk.crv.is_some() {
                return Err(weak(WeakKey::CrvMismatch));
            }
            if bit_len(&n) < 2048 {
                return Err(weak(WeakKey::RsaTooSmall));
            }
            let e_even = e.last().is_some_and(|b| b & 1 == 0);
            let e_below_3 = e.len() == 1 && e[0] < 3;
            if e_even || e_below_3 {
                return Err(weak(WeakKey::RsaBadExponent));
            }
            if roca_fingerprint(&n) {
                return Err(weak(WeakKey::RsaRoca));
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
                    let params = rsa_params(a).ok_or(NotUsable)?;
                    parsed.push((
                        a,
                        comps.to_parsed_public_key(params).map_err(|_| NotUsable)?,
                    ));
                }
            }
            let mut material = n;
            material.extend_from_slice(&e);
            finish(kid, material, pins(jwk), parsed)
        }
        "EC" => {
            let (alg, len, valg): (Alg, usize, &'static dyn VerificationAlgorithm) =
                match jwk.crv.as_deref() {
                    Some("P-256") => (Alg::ES256, 32, &signature::ECDSA_P256_SHA256_FIXED),
                    Some("P-384") => (Alg::ES384, 48, &signature::ECDSA_P384_SHA384_FIXED),
                    Some("P-521") => (Alg::ES512, 66, &signature::ECDSA_P521_SHA512_FIXED),
                    None => return Err(NotUsable),
                    Some(_) => return Err(weak(WeakKey::CrvMismatch)),
                };
            let x = b64(&jwk.x).ok_or(NotUsable)?;
            let y = b64(&jwk.y).ok_or(NotUsable)?;
            if x.len() != len || y.len() != len {
                return Err(weak(WeakKey::CrvMismatch));
            }
            if declared.is_some_and(|d| d != alg) {
                return Err(weak(WeakKey::CrvMismatch));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // aws-lc checks the point is on the curve (and not the point at infinity).
            let pk =
                ParsedPublicKey::new(valg, &point).map_err(|_| weak(WeakKey::EcPointNotOnCurve))?;
            if !allowed(alg) {
                return Err(NotUsable);
            }
            finish(kid, point, pins(jwk), vec![(alg, pk)])
        }
        "OKP" => {
            match jwk.crv.as_deref() {
                Some("Ed25519") => {}
                None => return Err(NotUsable),
                // X25519/X448 are key-agreement curves; Ed448 is not supported here.
                Some(_) => return Err(weak(WeakKey::CrvMismatch)),
            }
            let x = b64(&jwk.x).ok_or(NotUsable)?;
            if x.len() != 32 {
                return Err(weak(WeakKey::CrvMismatch));
            }
            if !allowed(Alg::EdDSA) {
                return Err(NotUsable);
            }
            let pk = ParsedPublicKey::new(&signature::ED25519, &x)
                .map_err(|_| weak(WeakKey::EcPointNotOnCurve))?;
            finish(kid, x, pins(jwk), vec![(Alg::EdDSA, pk)])
        }
        // "oct" (symmetric) and anything else: never a verification key here.
        _ => Err(NotUsable),
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
) -> Result<Key, Skip> {
    if parsed.is_empty() {
        return Err(Skip::NotUsable);
    }
    Ok(Key {
        kid,
        material,
        pins,
        parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
        ECDSA_P521_SHA512_FIXED_SIGNING,
    };
    use serde_json::{json, Value};

    const ALL: &[Alg] = &Alg::ALL;

    fn enc(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn vet(v: Value) -> Result<Key, Skip> {
        let jwk: Jwk = serde_json::from_value(v).expect("jwk shape");
        vet_key(&jwk, ALL)
    }

    fn weak(w: WeakKey) -> Result<(), Skip> {
        Err(Skip::Weak(w))
    }

    fn class(r: Result<Key, Skip>) -> Result<(), Skip> {
        r.map(|_| ())
    }

    /// `(n, e)` of a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
    fn rsa_ne(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
            let (len, hdr) = match b[1] {
                l if l < 0x80 => (l as usize, 2),
                0x81 => (b[2] as usize, 3),
                _ => ((usize::from(b[2]) << 8) | usize::from(b[3]), 4),
            };
            (&b[hdr..hdr + len], &b[hdr + len..])
        }
        let (seq, _) = tlv(der);
        let (n, rest) = tlv(seq);
        let (e, _) = tlv(rest);
        let trim = |v: &[u8]| {
            v.iter()
                .skip_while(|b| **b == 0)
                .copied()
                .collect::<Vec<u8>>()
        };
        (trim(n), trim(e))
    }

    fn rsa_jwk(n: &[u8], e: &[u8]) -> Value {
        json!({"kty": "RSA", "kid": "k", "n": enc(n), "e": enc(e)})
    }

    fn ec_jwk(alg: &'static EcdsaSigningAlgorithm, crv: &str) -> (Value, usize) {
        let kp = EcdsaKeyPair::generate(alg).unwrap();
        let p = kp.public_key().as_ref();
        let len = (p.len() - 1) / 2;
        (
            json!({"kty": "EC", "kid": "k", "crv": crv,
                   "x": enc(&p[1..1 + len]), "y": enc(&p[1 + len..])}),
            len,
        )
    }

    /// `verify` (the digest computed here, then checked) decides as aws-lc's own `verify_sig`
    /// does, for every algorithm and RSA size: valid signatures, every signature with one bit
    /// flipped (a sample of positions), a changed message, a signature one byte short or long, a
    /// signature of another algorithm with the same key.
    #[test]
    fn verify_decides_as_verify_sig() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{
            RsaEncoding, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256,
            RSA_PSS_SHA384, RSA_PSS_SHA512,
        };
        let rng = SystemRandom::new();
        let pad: [(Alg, &'static dyn RsaEncoding); 6] = [
            (Alg::RS256, &RSA_PKCS1_SHA256),
            (Alg::RS384, &RSA_PKCS1_SHA384),
            (Alg::RS512, &RSA_PKCS1_SHA512),
            (Alg::PS256, &RSA_PSS_SHA256),
            (Alg::PS384, &RSA_PSS_SHA384),
            (Alg::PS512, &RSA_PSS_SHA512),
        ];
        let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0";
        for size in [KeySize::Rsa2048, KeySize::Rsa3072] {
            let kp = RsaKeyPair::generate(size).unwrap();
            let (n, e) = rsa_ne(kp.public_key().as_ref());
            let key = vet(rsa_jwk(&n, &e)).unwrap();
            let sigs: Vec<Vec<u8>> = pad
                .iter()
                .map(|(_, enc)| {
                    let mut sig = vec![0; kp.public_modulus_len()];
                    kp.sign(*enc, &rng, msg, &mut sig).unwrap();
                    sig
                })
                .collect();
            for (alg, _) in pad {
                let pk = key.for_alg(alg).unwrap();
                let same = |m: &[u8], sig: &[u8]| {
                    let ours = verify(pk, alg, m, sig).is_ok();
                    assert_eq!(ours, pk.verify_sig(m, sig).is_ok(), "{alg:?} {size:?}");
                    ours
                };
                for (j, sig) in sigs.iter().enumerate() {
                    // valid only with its own algorithm
                    assert_eq!(same(msg, sig), pad[j].0 == alg, "{alg:?} sig {j}");
                }
                let own = &sigs[pad.iter().position(|(a, _)| *a == alg).unwrap()];
                assert!(!same(b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0", own));
                assert!(!same(msg, &own[1..]));
                assert!(!same(msg, &[own.as_slice(), &[0]].concat()));
                for bit in (0..own.len() * 8).step_by(97) {
                    let mut bad = own.clone();
                    bad[bit / 8] ^= 1 << (bit % 8);
                    assert!(!same(msg, &bad), "{alg:?} bit {bit}");
                }
            }
        }
        // the others go through verify_sig itself
        for alg in [Alg::ES256, Alg::ES384, Alg::ES512, Alg::EdDSA] {
            assert!(alg.rsa_digest().is_none());
        }
    }

    /// The key map finds every kid it holds and no other, with kids of every length (a kid and
    /// the same kid with a NUL more hash apart).
    #[test]
    fn key_map_keeps_kids_apart() {
        use std::hash::BuildHasher;
        let kids: Vec<String> = (0..600)
            .map(|i| format!("{}{i}", "k".repeat(i % 19)))
            .chain([
                "".to_string(),
                "\0".to_string(),
                "a".to_string(),
                "a\0".to_string(),
            ])
            .collect();
        let mut m: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
        for (n, k) in kids.iter().enumerate() {
            assert_eq!(m.insert(k.clone(), n), None, "{k:?}");
        }
        for (n, k) in kids.iter().enumerate() {
            assert_eq!(m.get(k), Some(&n), "{k:?}");
            assert_eq!(m.get(&format!("{k}x")), None, "{k:?}");
        }
        let h = foldhash::fast::RandomState::default();
        assert_ne!(h.hash_one("a"), h.hash_one("a\0"));
        assert_ne!(h.hash_one("kid-1"), h.hash_one("kid-2"));
    }

    #[test]
    fn valid_keys_of_every_size_and_curve_are_accepted() {
        for size in [KeySize::Rsa2048, KeySize::Rsa3072, KeySize::Rsa4096] {
            let kp = RsaKeyPair::generate(size).unwrap();
            let (n, e) = rsa_ne(kp.public_key().as_ref());
            let k = vet(rsa_jwk(&n, &e)).expect("a fresh RSA key");
            assert!(k.for_alg(Alg::RS256).is_some() && k.for_alg(Alg::PS512).is_some());
            // e = 3 is odd and >= 3: allowed
            assert!(vet(rsa_jwk(&n, &[3])).is_ok());
        }
        for (alg, crv, want) in [
            (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", Alg::ES256),
            (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", Alg::ES384),
            (&ECDSA_P521_SHA512_FIXED_SIGNING, "P-521", Alg::ES512),
        ] {
            let (jwk, _) = ec_jwk(alg, crv);
            let k = vet(jwk).expect(crv);
            assert!(k.for_alg(want).is_some(), "{crv}");
        }
        let ed = Ed25519KeyPair::generate().unwrap();
        let jwk =
            json!({"kty": "OKP", "kid": "k", "crv": "Ed25519", "x": enc(ed.public_key().as_ref())});
        assert!(vet(jwk).is_ok());
    }

    /// Real RSA keys below 2048 bits (openssl genrsa 1024 and 2047, public halves in a fixture).
    #[test]
    fn rsa_below_2048_bits_is_weak() {
        let doc: Value =
            serde_json::from_str(include_str!("../tests/fixtures/weak_rsa.json")).unwrap();
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for k in keys {
            let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
            assert!(bit_len(&n) < 2048, "{}", k["kid"]);
            assert_eq!(
                class(vet(k.clone())),
                weak(WeakKey::RsaTooSmall),
                "{}",
                k["kid"]
            );
        }
        // the whole document: weak keys only = no usable key
        let body = serde_json::to_vec(&doc).unwrap();
        assert!(parse_jwks(&body, ALL).unwrap().is_empty());
    }

    #[test]
    fn rsa_exponents_below_3_or_even_are_weak() {
        let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let (n, e) = rsa_ne(kp.public_key().as_ref());
        assert_eq!(e, vec![1, 0, 1]);
        for bad in [&[1u8][..], &[2], &[4], &[1, 0, 0], &[1, 0, 0, 0, 0]] {
            assert_eq!(
                class(vet(rsa_jwk(&n, bad))),
                weak(WeakKey::RsaBadExponent),
                "{bad:?}"
            );
        }
    }

    /// The published detector's first markers (crocs-muni/roca `detect.py` "prints"): the
    /// residues of 65537's subgroup modulo 3, 5, 7, 11, 13, 17, 19, 23.
    #[test]
    fn roca_markers_match_the_published_detector() {
        for (p, marker) in [
            (3, 6u64),
            (5, 30),
            (7, 126),
            (11, 1026),
            (13, 5658),
            (17, 107286),
            (19, 199410),
            (23, 8388606),
        ] {
            assert_eq!(roca_marker(p), [marker, 0, 0], "p = {p}");
        }
    }

    /// Little-endian u32 limbs: just enough arithmetic to build a ROCA-structured modulus.
    fn mul(a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut out = vec![0u32; a.len() + b.len()];
        for (i, &x) in a.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &y) in b.iter().enumerate() {
                let t = u64::from(out[i + j]) + u64::from(x) * u64::from(y) + carry;
                out[i + j] = t as u32;
                carry = t >> 32;
            }
            out[i + b.len()] = carry as u32;
        }
        out
    }

    fn add(a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
        let mut carry = 0u64;
        for i in 0..a.len().max(b.len()) {
            let t = u64::from(*a.get(i).unwrap_or(&0)) + u64::from(*b.get(i).unwrap_or(&0)) + carry;
            out.push(t as u32);
            carry = t >> 32;
        }
        out.push(carry as u32);
        out
    }

    fn to_be(v: &[u32]) -> Vec<u8> {
        let bytes: Vec<u8> = v.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
        bytes.into_iter().skip_while(|b| *b == 0).collect()
    }

    /// A 2048-bit modulus with RSALib's structure: `n = k·M + 65537^a` with `M` the product of the
    /// fingerprint primes, so `n mod p` is a power of 65537 for each of them (as for a product of
    /// two RSALib primes `k·M + 65537^a mod M`).
    fn roca_modulus(a: u32) -> Vec<u8> {
        let m = ROCA_PRIMES
            .iter()
            .fold(vec![1u32], |acc, &p| mul(&acc, &[p]));
        let g = (0..a).fold(vec![1u32], |acc, _| mul(&acc, &[65537]));
        // k·M then has 2048 or 2049 bits; draw until n has exactly 2048
        let k_bits = 2049 - bit_len(&to_be(&m));
        for _ in 0..1000 {
            let mut k = vec![0u8; k_bits.div_ceil(8)];
            aws_lc_rs::rand::fill(&mut k).unwrap();
            k[0] &= 0xff >> (k.len() * 8 - k_bits);
            k[0] |= 0x80 >> (k.len() * 8 - k_bits);
            let last = k.len() - 1;
            k[last] &= 0xfe; // k even: M and 65537^a are odd, so n is odd
            let limbs: Vec<u32> = k
                .rchunks(4)
                .map(|c| c.iter().fold(0u32, |x, b| (x << 8) | u32::from(*b)))
                .collect();
            let n = to_be(&add(&mul(&limbs, &m), &g));
            if bit_len(&n) == 2048 {
                return n;
            }
        }
        panic!("no 2048-bit modulus drawn")
    }

    #[test]
    fn rsa_moduli_with_the_roca_fingerprint_are_weak() {
        for a in [1, 37, 100] {
            let n = roca_modulus(a);
            assert!(roca_fingerprint(&n), "a = {a}");
            assert_eq!(
                class(vet(rsa_jwk(&n, &[1, 0, 1]))),
                weak(WeakKey::RsaRoca),
                "a = {a}"
            );
            // a nearby odd modulus is not fingerprinted
            let mut n2 = n.clone();
            let last = n2.len() - 1;
            n2[last] = n2[last].wrapping_add(2);
            assert!(!roca_fingerprint(&n2), "a = {a}: n + 2");
        }
        // the fixture the end-to-end test uses (made the same way, with Python's integers)
        let doc: Value =
            serde_json::from_str(include_str!("../tests/fixtures/roca_rsa.json")).unwrap();
        let k = &doc["keys"][0];
        let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
        assert!(roca_fingerprint(&n) && bit_len(&n) == 2048);
        assert_eq!(class(vet(k.clone())), weak(WeakKey::RsaRoca));
        // real keys from a sound generator are not fingerprinted
        for _ in 0..4 {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let (n, _) = rsa_ne(kp.public_key().as_ref());
            assert!(!roca_fingerprint(&n));
        }
        let doc: Value =
            serde_json::from_str(include_str!("../tests/fixtures/weak_rsa.json")).unwrap();
        for k in doc["keys"].as_array().unwrap() {
            let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
            assert!(!roca_fingerprint(&n));
        }
    }

    #[test]
    fn ec_points_off_their_curve_are_weak() {
        for (alg, crv) in [
            (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
            (&ECDSA_P521_SHA512_FIXED_SIGNING, "P-521"),
        ] {
            let (mut jwk, len) = ec_jwk(alg, crv);
            let mut y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
            y[len - 1] ^= 1;
            jwk["y"] = json!(enc(&y));
            assert_eq!(
                class(vet(jwk.clone())),
                weak(WeakKey::EcPointNotOnCurve),
                "{crv}"
            );
            // the point at "zero" is on no curve either
            jwk["x"] = json!(enc(&vec![0; len]));
            jwk["y"] = json!(enc(&vec![0; len]));
            assert_eq!(
                class(vet(jwk)),
                weak(WeakKey::EcPointNotOnCurve),
                "{crv} zero"
            );
        }
    }

    #[test]
    fn a_crv_that_does_not_fit_the_key_is_weak() {
        let (p384, _) = ec_jwk(&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384");
        let (p256, _) = ec_jwk(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
        let ed = Ed25519KeyPair::generate().unwrap();
        let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let (n, e) = rsa_ne(kp.public_key().as_ref());
        let with = |v: &Value, k: &str, x: Value| {
            let mut v = v.clone();
            v[k] = x;
            v
        };
        for (what, jwk) in [
            (
                "P-384 coordinates as P-256",
                with(&p384, "crv", json!("P-256")),
            ),
            (
                "P-256 coordinates as P-521",
                with(&p256, "crv", json!("P-521")),
            ),
            ("secp256k1", with(&p256, "crv", json!("secp256k1"))),
            ("Ed25519 on an EC key", with(&p256, "crv", json!("Ed25519"))),
            ("P-256 pinned to ES384", with(&p256, "alg", json!("ES384"))),
            (
                "X25519",
                json!({"kty": "OKP", "kid": "k", "crv": "X25519", "x": enc(ed.public_key().as_ref())}),
            ),
            (
                "Ed25519 of 31 bytes",
                json!({"kty": "OKP", "kid": "k", "crv": "Ed25519", "x": enc(&ed.public_key().as_ref()[1..])}),
            ),
            (
                "crv on an RSA key",
                with(&rsa_jwk(&n, &e), "crv", json!("P-256")),
            ),
        ] {
            assert_eq!(class(vet(jwk)), weak(WeakKey::CrvMismatch), "{what}");
        }
    }

    #[test]
    fn weak_keys_never_displace_good_ones_and_every_class_has_a_code() {
        let (good, _) = ec_jwk(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
        let mut good = good;
        good["kid"] = json!("good");
        let doc: Value =
            serde_json::from_str(include_str!("../tests/fixtures/weak_rsa.json")).unwrap();
        let mut keys = doc["keys"].as_array().unwrap().clone();
        keys.push(good);
        let body = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
        let set = parse_jwks(&body, ALL).unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), vec!["good"]);
        let codes: std::collections::BTreeSet<&str> =
            WeakKey::ALL.iter().map(|w| w.code()).collect();
        assert_eq!(codes.len(), WeakKey::ALL.len());
    }
}
