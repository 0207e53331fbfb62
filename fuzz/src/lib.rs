//! Shared pieces of the fuzz targets: an independent check that a JSON text is an object whose
//! member names are unique at every depth (so the authorizer's own strict reader is not its own
//! oracle), and an in-memory authorizer with a fixed JWKS (no network) plus the signing key.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use authorizer::config::Config;
use authorizer::jwks::{FetchError, FetchFuture, Fetcher, Jwks, SystemClock};
use authorizer::verify::Verifier;
use authorizer::Authorizer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

pub const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_FuzzPool1";
pub const CLIENT: &str = "fuzzclient0123456789abcdef";
pub const KID: &str = "fuzz-key-1";

/// Any JSON value, refusing a map with a repeated member name (compared after unescaping).
struct UniqueValue;

impl<'de> DeserializeSeed<'de> for UniqueValue {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueValue {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element_seed(UniqueValue)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = m.next_key::<String>()? {
            if !seen.insert(k) {
                return Err(de::Error::custom("duplicate member"));
            }
            m.next_value_seed(UniqueValue)?;
        }
        Ok(())
    }
}

/// Is `data` one JSON object, every member name unique at every depth?
pub fn is_unique_object(data: &[u8]) -> bool {
    let object = matches!(
        serde_json::from_slice::<serde_json::Value>(data),
        Ok(serde_json::Value::Object(_))
    );
    let mut d = serde_json::Deserializer::from_slice(data);
    object && UniqueValue.deserialize(&mut d).is_ok() && d.end().is_ok()
}

/// The JWKS document, served from memory.
struct StaticFetcher(bytes::Bytes);

impl Fetcher for StaticFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        let b = self.0.clone();
        Box::pin(async move { Ok::<_, FetchError>(b) })
    }
}

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub auth: Authorizer,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Harness {
    /// ES256-sign `header.payload` (raw bytes, base64url-encoded here) into a compact JWS.
    pub fn sign(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .expect("ecdsa sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// One authorizer per process: TOKEN_USE=access, ES256 and RS256 allowed, the JWKS holding one
/// P-256 key generated at start (so no input can carry a valid signature unless the target signs).
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("keygen");
        let p = key.public_key().as_ref().to_vec();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65]),
        }]});
        let env = [
            ("ISSUER", ISS),
            ("JWKS_URI", "http://127.0.0.1:9/.well-known/jwks.json"),
            ("CLIENT_IDS", CLIENT),
            ("ALGORITHMS", "ES256,RS256"),
        ];
        let cfg = Config::from_lookup(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("config");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let set = Jwks::new(
            Box::new(StaticFetcher(bytes::Bytes::from(
                serde_json::to_vec(&jwks).expect("jwks"),
            ))),
            Arc::new(SystemClock),
            cfg.algorithms.clone(),
            cfg.jwks,
        );
        rt.block_on(set.hydrate()).expect("hydrate");
        let auth = Authorizer::new(Verifier::new(cfg, vec![set]));
        Harness {
            rt,
            auth,
            key,
            rng: SystemRandom::new(),
        }
    })
}

/// Did the authorizer's answer grant anything?
pub fn is_allow(answer: &Result<String, authorizer::Unauthorized>) -> bool {
    match answer {
        Ok(s) => s.contains("\"Effect\":\"Allow\"") || s.contains("\"isAuthorized\":true"),
        Err(_) => false,
    }
}
