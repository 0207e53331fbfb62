//! A bounded memo of recently verified tokens, keyed by SHA-256 of the raw token (the token itself
//! is never stored). An entry is used only while the token is unexpired and the key that verified
//! it is still the trusted key for its `kid` (same `Arc`): a key removed or replaced by a JWKS
//! refresh, or a JWKS past its maximum staleness, invalidates every decision it backed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;

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
}

pub struct Memo {
    cap: usize,
    map: Mutex<HashMap<TokenHash, Arc<Entry>>>,
}

impl Memo {
    pub fn new(cap: usize) -> Memo {
        Memo {
            cap,
            map: Mutex::new(HashMap::with_capacity(cap.min(1024))),
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
        if self.cap == 0 {
            return None;
        }
        let mut map = self.map.lock().ok()?;
        let e = map.get(h)?.clone();
        if now < e.valid_until && still_trusted(&e) {
            Some(e)
        } else {
            map.remove(h);
            None
        }
    }

    pub fn insert(&self, h: TokenHash, e: Entry, now: f64) -> Arc<Entry> {
        let e = Arc::new(e);
        if self.cap == 0 {
            return e;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.cap {
                map.retain(|_, v| now < v.valid_until);
                if map.len() >= self.cap {
                    // Still full of live entries: start over rather than grow without bound.
                    map.clear();
                }
            }
            map.insert(h, e.clone());
        }
        e
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// Keys are compared by identity, so a memo hit proves the same key object is still trusted.
pub fn same_key(a: &KeyRef, b: &KeyRef) -> bool {
    Arc::ptr_eq(a, b)
}
