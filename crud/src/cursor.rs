//! Opaque, caller-bound pagination cursors.
//!
//! A cursor is `base64url(version ‖ last item id (16 bytes) ‖ tag (16 bytes))`, where
//! `tag = HMAC-SHA256(key, "crud-cursor-v1" ‖ 0 ‖ sub ‖ 0 ‖ version ‖ id)` truncated to 128 bits.
//! A cursor minted for another caller, edited, truncated or made up fails the tag check and is
//! `invalid_cursor` (400); it is never turned into a query. (Even a cursor that passed would only
//! position a query inside the caller's own partition: the partition key is always the caller's.)
//!
//! Keys: `CURSOR_SECRET` holds one or more comma-separated base64 keys of at least 32 bytes; the
//! first signs, all verify (rotate by prepending a new key, drop the old one after a while). Without
//! it, every instance draws a random key at init: cursors then work only on the instance that
//! issued them (another warm instance answers `invalid_cursor` and the client restarts the list).
//! There is no built-in fallback key.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::ids::ItemId;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const RAW_LEN: usize = 1 + 16 + TAG_LEN;
/// Longest cursor text considered at all.
pub const MAX_CURSOR_CHARS: usize = 64;
/// Shortest accepted secret.
pub const MIN_SECRET_BYTES: usize = 32;
/// The one alphabet of a `CURSOR_SECRET` key: standard base64 (RFC 4648 §4) with `=` padding,
/// canonical. Not base64url: `-` and `_` are refused. Whatever generates keys (the template's
/// Secrets Manager secret, `openssl rand -base64 32`) must draw from these characters only.
pub const SECRET_ALPHABET: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

pub struct CursorKeys {
    keys: Vec<hmac::Key>,
    /// Whether the keys came from configuration (false: random per instance).
    pub configured: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorConfigError {
    #[error("CURSOR_SECRET: key #{0} is not valid base64")]
    NotBase64(usize),
    #[error("CURSOR_SECRET: key #{0} is shorter than {MIN_SECRET_BYTES} bytes (generate one with `openssl rand -base64 32`)")]
    TooShort(usize),
    #[error("CURSOR_SECRET is set but holds no key")]
    Empty,
    #[error("no system randomness to generate a cursor key")]
    NoRandomness,
}

impl CursorKeys {
    /// Keys from `CURSOR_SECRET` (comma-separated standard base64, first one signs).
    pub fn from_secret(secret: &str) -> Result<CursorKeys, CursorConfigError> {
        let mut keys = Vec::new();
        for (i, part) in secret
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            if !part.chars().all(|c| SECRET_ALPHABET.contains(c)) {
                return Err(CursorConfigError::NotBase64(i + 1));
            }
            let raw = STANDARD
                .decode(part)
                .map_err(|_| CursorConfigError::NotBase64(i + 1))?;
            if raw.len() < MIN_SECRET_BYTES {
                return Err(CursorConfigError::TooShort(i + 1));
            }
            keys.push(hmac::Key::new(hmac::HMAC_SHA256, &raw));
        }
        if keys.is_empty() {
            return Err(CursorConfigError::Empty);
        }
        Ok(CursorKeys {
            keys,
            configured: true,
        })
    }

    /// A fresh random key for this instance only.
    pub fn random() -> Result<CursorKeys, CursorConfigError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| CursorConfigError::NoRandomness)?;
        Ok(CursorKeys {
            keys: vec![key],
            configured: false,
        })
    }

    fn tag(key: &hmac::Key, sub: &str, body: &[u8]) -> [u8; TAG_LEN] {
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(b"crud-cursor-v1\0");
        ctx.update(sub.as_bytes());
        ctx.update(b"\0");
        ctx.update(body);
        let full = ctx.sign();
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full.as_ref()[..TAG_LEN]);
        out
    }

    /// The cursor continuing after `last` for caller `sub`.
    pub fn encode(&self, sub: &str, last: ItemId) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..17].copy_from_slice(&last.to_bytes());
        // `keys` is never empty (both constructors guarantee one key).
        if let Some(key) = self.keys.first() {
            let tag = Self::tag(key, sub, &raw[..17]);
            raw[17..].copy_from_slice(&tag);
        }
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position a cursor encodes, if it is genuine and was issued to `sub`.
    pub fn decode(&self, sub: &str, cursor: &str) -> Option<ItemId> {
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if raw.len() != RAW_LEN || raw[0] != VERSION {
            return None;
        }
        let genuine = self.keys.iter().any(|k| {
            let tag = Self::tag(k, sub, &raw[..17]);
            aws_lc_rs::constant_time::verify_slices_are_equal(&tag, &raw[17..]).is_ok()
        });
        if !genuine {
            return None;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&raw[1..17]);
        Some(ItemId::from_bytes(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ItemId {
        ItemId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap()
    }

    #[test]
    fn round_trips_for_its_caller_only() {
        let k = CursorKeys::from_secret(&STANDARD.encode([7u8; 32])).unwrap();
        let c = k.encode("alice", id());
        assert_eq!(k.decode("alice", &c), Some(id()));
        assert_eq!(k.decode("bob", &c), None);
        assert_eq!(k.decode("alice\0", &c), None);
        // Every single-character edit is refused.
        for i in 0..c.len() {
            let mut b = c.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(b).unwrap();
            if forged != c {
                assert_eq!(k.decode("alice", &forged), None, "edit at {i}");
            }
        }
        for junk in [
            "",
            "x",
            "!!!!",
            &"A".repeat(44),
            &"A".repeat(200),
            &c[..c.len() - 1],
        ] {
            assert_eq!(k.decode("alice", junk), None, "{junk:?}");
        }
    }

    #[test]
    fn rotation_and_instance_keys() {
        let old = STANDARD.encode([1u8; 32]);
        let new = STANDARD.encode([2u8; 48]);
        let before = CursorKeys::from_secret(&old).unwrap();
        let after = CursorKeys::from_secret(&format!("{new},{old}")).unwrap();
        let c = before.encode("u", id());
        assert_eq!(after.decode("u", &c), Some(id()));
        assert_eq!(before.decode("u", &after.encode("u", id())), None);

        let a = CursorKeys::random().unwrap();
        let b = CursorKeys::random().unwrap();
        assert!(!a.configured);
        assert_eq!(b.decode("u", &a.encode("u", id())), None);
        assert_eq!(a.decode("u", &a.encode("u", id())), Some(id()));
    }

    #[test]
    fn refuses_weak_or_broken_secrets() {
        assert_eq!(
            CursorKeys::from_secret("").err(),
            Some(CursorConfigError::Empty)
        );
        assert_eq!(
            CursorKeys::from_secret("not base64!").err(),
            Some(CursorConfigError::NotBase64(1))
        );
        assert_eq!(
            CursorKeys::from_secret(&STANDARD.encode([1u8; 31])).err(),
            Some(CursorConfigError::TooShort(1))
        );
    }

    #[test]
    fn secrets_use_exactly_the_standard_base64_alphabet() {
        // 64 characters of the alphabet (no padding) are canonical base64 of 48 bytes, as the
        // template's generated secret is: every such key decodes, whichever characters it uses.
        let chars: Vec<char> = SECRET_ALPHABET.chars().filter(|&c| c != '=').collect();
        assert_eq!(chars.len(), 64);
        for shift in 0..chars.len() {
            let key: String = chars.iter().cycle().skip(shift).take(64).collect();
            assert!(CursorKeys::from_secret(&key).is_ok(), "{key}");
        }
        assert!(CursorKeys::from_secret(&STANDARD.encode([9u8; 32])).is_ok());
        // base64url (and anything else) is refused, not silently reinterpreted.
        for bad in ['-', '_', '.', '~', ' '] {
            let key: String = std::iter::repeat_n('A', 63).chain([bad]).collect();
            assert_eq!(
                CursorKeys::from_secret(&key).err(),
                Some(CursorConfigError::NotBase64(1)),
                "{bad:?}"
            );
        }
        let url = URL_SAFE_NO_PAD.encode([0xfb_u8; 48]);
        assert!(url.contains('-') || url.contains('_'));
        assert_eq!(
            CursorKeys::from_secret(&url).err(),
            Some(CursorConfigError::NotBase64(1))
        );
    }
}
