//! The revocation table (`REVOCATION_TABLE`): one layout, written by crud (`DELETE /sessions…`)
//! and read by the authorizer's synced copy. A token is never stored, only a hash naming it.
//!
//! | `pk` (S, partition key) | what | other attributes |
//! |---|---|---|
//! | `jti#<32 hex>` | one session: tokens whose `origin_jti` or `jti` hashes to it ([`jti_key`]) | `expires_at` |
//! | `sub#<32 hex>` | every token of one owner ([`sub_key`]) with `iat` at or before `revoked_before` | `revoked_before`, `expires_at` |
//!
//! `expires_at` (N, Unix seconds) is the table's TTL attribute: the moment every token the entry
//! covers has expired. DynamoDB deletes expired items lazily (within days), so readers also
//! ignore an entry whose `expires_at` has passed.
//!
//! Keys are the first 128 bits of SHA-256 over a domain-separated input: the issuer and the
//! claim for a session (a `jti` is unique per issuer, never across issuers), the owner id (the
//! authorizer's `sub`, already unique across issuers) for a user.

use aws_lc_rs::digest;

/// The partition key attribute.
pub const PK: &str = "pk";
/// A user-wide entry's cutoff (N, Unix seconds, millisecond precision): tokens with `iat` at or
/// before it (or without `iat`) are revoked.
pub const REVOKED_BEFORE: &str = "revoked_before";
/// The TTL attribute (N, Unix seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// `pk` prefix of a session entry.
pub const JTI_PREFIX: &str = "jti#";
/// `pk` prefix of a user-wide entry.
pub const SUB_PREFIX: &str = "sub#";

/// A hashed key: 128 bits.
pub type Key = [u8; 16];

fn hash(parts: &[&[u8]]) -> Key {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

/// The key of a session: `iss` (the token's issuer) and its `origin_jti`, or its `jti`.
pub fn jti_key(iss: &str, jti: &str) -> Key {
    hash(&[b"revocation/jti/v1", iss.as_bytes(), jti.as_bytes()])
}

/// The key of every session of an owner (the authorizer's `sub`).
pub fn sub_key(owner: &str) -> Key {
    hash(&[b"revocation/sub/v1", owner.as_bytes()])
}

fn hex(k: &Key) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in k {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// The `pk` of a session entry.
pub fn jti_pk(k: &Key) -> String {
    format!("{JTI_PREFIX}{}", hex(k))
}

/// The `pk` of a user-wide entry.
pub fn sub_pk(k: &Key) -> String {
    format!("{SUB_PREFIX}{}", hex(k))
}

/// What a stored `pk` names, or `None` for anything else (ignored by readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Jti(Key),
    Sub(Key),
}

impl Entry {
    pub fn parse(pk: &str) -> Option<Entry> {
        let (ctor, rest): (fn(Key) -> Entry, &str) = if let Some(r) = pk.strip_prefix(JTI_PREFIX) {
            (Entry::Jti, r)
        } else if let Some(r) = pk.strip_prefix(SUB_PREFIX) {
            (Entry::Sub, r)
        } else {
            return None;
        };
        let b = rest.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut k = [0u8; 16];
        for (i, out) in k.iter_mut().enumerate() {
            *out = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
        }
        Some(ctor(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_domain_separated() {
        let k = jti_key("https://iss", "abc");
        assert_eq!(Entry::parse(&jti_pk(&k)), Some(Entry::Jti(k)));
        let s = sub_key("abc");
        assert_eq!(Entry::parse(&sub_pk(&s)), Some(Entry::Sub(s)));
        assert_ne!(
            jti_key("https://iss", "abc"),
            jti_key("https://iss2", "abc")
        );
        // the length prefix keeps ("a", "bc") and ("ab", "c") apart
        assert_ne!(jti_key("a", "bc"), jti_key("ab", "c"));
        assert_ne!(jti_pk(&k)[4..], sub_pk(&sub_key("abc"))[4..]);
        for bad in [
            "",
            "jti#",
            "jti#00",
            "sub#XYZ",
            "x#00000000000000000000000000000000",
        ] {
            assert_eq!(Entry::parse(bad), None, "{bad}");
        }
        assert_eq!(jti_pk(&k).len(), 36);
    }
}
