//! Item ids: ULIDs made by the server (time-sortable, so the newest-first list is a plain
//! descending key order). Ids from clients are accepted only in the canonical form: 26 characters
//! of Crockford base32, upper case, first character `0`-`7`. Anything else (other lengths, lower
//! case, control characters, `%`-escapes, path separators) is `invalid_id`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(ulid::Ulid);

const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl ItemId {
    pub fn parse(s: &str) -> Option<ItemId> {
        let b = s.as_bytes();
        if b.len() != 26
            || !(b'0'..=b'7').contains(&b[0])
            || !b.iter().all(|c| CROCKFORD.contains(c))
        {
            return None;
        }
        ulid::Ulid::from_string(s).ok().map(ItemId)
    }

    pub fn from_bytes(b: [u8; 16]) -> ItemId {
        ItemId(ulid::Ulid::from_bytes(b))
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_ulid(u: ulid::Ulid) -> ItemId {
        ItemId(u)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 26];
        f.write_str(self.0.array_to_str(&mut buf))
    }
}

/// Makes ids: monotonic within one instance (two items created in the same millisecond still
/// list in creation order), random across instances.
pub struct IdGenerator(std::sync::Mutex<ulid::Generator>);

impl Default for IdGenerator {
    fn default() -> Self {
        IdGenerator(std::sync::Mutex::new(ulid::Generator::new()))
    }
}

impl IdGenerator {
    pub fn next_id(&self, now: std::time::SystemTime) -> ItemId {
        let generated = match self.0.lock() {
            Ok(mut g) => g.generate_from_datetime(now).ok(),
            Err(_) => None,
        };
        ItemId(generated.unwrap_or_else(|| ulid::Ulid::from_datetime(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_canonical_ulids() {
        let g = IdGenerator::default();
        let id = g.next_id(std::time::SystemTime::now());
        let s = id.to_string();
        assert_eq!(ItemId::parse(&s), Some(id));
        assert_eq!(ItemId::from_bytes(id.to_bytes()), id);
        for bad in [
            "",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVV",
            "01arz3ndektsv4rrffq69g5fav",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
            "01ARZ3NDEKTSV4RRFFQ69G5FAI",
            "01ARZ3NDEKTSV4RRFFQ69G5FA\0",
            "01ARZ3NDEKTSV4RRFFQ69G5F%0",
            "../../profile",
        ] {
            assert_eq!(ItemId::parse(bad), None, "{bad:?}");
        }
        assert!(ItemId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").is_some());
    }

    #[test]
    fn ids_from_one_generator_increase() {
        let g = IdGenerator::default();
        let now = std::time::SystemTime::now();
        let a = g.next_id(now);
        let b = g.next_id(now);
        assert!(b > a);
        assert!(b.to_string() > a.to_string());
    }
}
