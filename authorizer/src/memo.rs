//! A bounded memo of recently verified tokens, keyed by SHA-256 of the raw token (the token itself
//! is never stored). An entry is used only while the token is unexpired and the key that verified
//! it is still the trusted key for its `kid` (same `Arc`): a key removed or replaced by a JWKS
//! refresh, or a JWKS past its maximum staleness, invalidates every decision it backed.
//!
//! Bounded by `MEMO_CAPACITY` entries: the map is `bounded_keys::ClearWhenFull` (an insert into a
//! full memo drops the expired entries first and, when all are live, clears it), the same map as
//! the local gateway's authorizer result cache.

use std::sync::Arc;

use aws_lc_rs::digest;
use bounded_keys::ClearWhenFull;

use crate::claims::Principal;
use crate::jwks::KeyRef;
use crate::policy::Access;

pub type TokenHash = [u8; 32];

pub fn hash(token: &str) -> TokenHash {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A memoised decision.
pub struct Entry {
    pub principal: Principal,
    pub access: Access,
    /// The issuer (position in `ISSUER`) whose key set holds `key`.
    pub issuer: usize,
    pub key: KeyRef,
    /// Seconds since epoch after which the entry is dead (`exp + leeway`).
    pub valid_until: f64,
    /// The token's revocation keys (checked on every use, memo hits included; `None` when no
    /// revocation table is configured).
    pub revocation: Option<crate::revocation::TokenKeys>,
}

pub struct Memo {
    map: ClearWhenFull<TokenHash, Arc<Entry>>,
}

impl Memo {
    /// At most `cap` entries (0: nothing is memoised), room for up to 1024 reserved at init.
    pub fn new(cap: usize) -> Memo {
        Memo {
            map: ClearWhenFull::new(cap, 1024),
        }
    }

    /// A live entry for `h`, or `None`. `still_trusted` says whether the entry's key is still the
    /// JWKS's key for its kid.
    pub fn get(
        &self,
        h: &TokenHash,
        now: f64,
        still_trusted: impl FnOnce(&Entry) -> bool,
    ) -> Option<Arc<Entry>> {
        // a dead entry (expired, or its key no longer trusted) is removed
        self.map.get(h, |e| now < e.valid_until && still_trusted(e))
    }

    /// Memoise `e` (when full: expired entries go first, and if all are live the memo is cleared).
    pub fn insert(&self, h: TokenHash, e: Entry, now: f64) -> Arc<Entry> {
        let e = Arc::new(e);
        self.map.insert(h, e.clone(), |v| now < v.valid_until);
        e
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// Keys are compared by identity, so a memo hit proves the same key object is still trusted.
pub fn same_key(a: &KeyRef, b: &KeyRef) -> bool {
    Arc::ptr_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Alg;
    use crate::claims::Fields;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn key() -> KeyRef {
        let kp = Ed25519KeyPair::generate().unwrap();
        let x = URL_SAFE_NO_PAD.encode(kp.public_key().as_ref());
        let doc = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"{x}"}}]}}"#);
        crate::jwk::parse_jwks(doc.as_bytes(), &[Alg::EdDSA]).unwrap()["k"].clone()
    }

    fn entry(key: &KeyRef, valid_until: f64) -> Entry {
        Entry {
            principal: Principal::new(Fields {
                sub: "s".into(),
                username: "u".into(),
                client_id: "c".into(),
                token_use: "access".into(),
                exp: valid_until as i64,
                ..Fields::default()
            }),
            access: Access {
                allow: Vec::new(),
                deny: Vec::new(),
            },
            issuer: 0,
            key: key.clone(),
            valid_until,
            revocation: None,
        }
    }

    #[test]
    fn entries_live_until_expiry_while_their_key_is_trusted() {
        let (k, m) = (key(), Memo::new(16));
        let h = hash("token");
        m.insert(h, entry(&k, 100.0), 0.0);
        assert!(m.get(&h, 99.0, |e| same_key(&e.key, &k)).is_some());
        assert!(m.get(&h, 99.0, |_| false).is_none(), "key replaced");
        assert!(m.is_empty(), "a dead entry is removed");
        m.insert(h, entry(&k, 100.0), 0.0);
        assert!(m.get(&h, 100.0, |_| true).is_none(), "expired");
        assert!(Memo::new(0).get(&h, 0.0, |_| true).is_none());
    }

    /// The bound: 50,000 distinct tokens, all live, never more than MEMO_CAPACITY memoised; when
    /// full, expired entries go before live ones.
    #[test]
    fn the_memo_is_bounded_at_any_number_of_distinct_tokens() {
        let (k, m) = (key(), Memo::new(1000));
        let mut most = 0;
        for i in 0..50_000 {
            m.insert(hash(&format!("t{i}")), entry(&k, 1e9), 0.0);
            most = most.max(m.len());
        }
        assert_eq!(most, 1000);

        let m = Memo::new(3);
        m.insert(hash("old"), entry(&k, 10.0), 0.0);
        m.insert(hash("a"), entry(&k, 100.0), 0.0);
        m.insert(hash("b"), entry(&k, 100.0), 0.0);
        m.insert(hash("c"), entry(&k, 100.0), 20.0);
        assert_eq!(m.len(), 3, "only the expired entry made room");
        assert!(m.get(&hash("a"), 20.0, |_| true).is_some());
        m.insert(hash("d"), entry(&k, 100.0), 20.0);
        assert_eq!(m.len(), 1, "full of live entries: cleared");
    }
}
