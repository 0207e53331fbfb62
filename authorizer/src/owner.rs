//! Owner identities: one namespace per issuer, so a `sub` of one issuer never names a user of
//! another.
//!
//! `sub` is unique only within its issuer (OIDC Core §2), and it is not secret: with two issuers
//! configured, whoever administers the second could mint a token whose `sub` equals a user's `sub`
//! at the first. The identity the authorizer hands on (`principalId`, context `sub`, what crud keys
//! items on and the local gateway sends as `x-guard-sub`) is therefore the **owner id**:
//!
//! - the **primary** namespace — the first issuer of `ISSUER` (or the one `USER_POOL_ID` derives),
//!   and every other configured form of the same Cognito pool (`cognito-idp.<region>` and
//!   `issuer-cognito-idp.<region>` name one pool) — keeps the plain `sub`, so data stored by a
//!   single-issuer deployment keeps working unchanged;
//! - every other issuer's owner id is `iss:<16 hex>:<sub>`, where the 16 hex digits are the first 8
//!   bytes of SHA-256 of the issuer (in its canonical Cognito form, so the two forms of one pool
//!   share a tag).
//!
//! So that no primary `sub` can spell another issuer's owner id, a primary token whose `sub` has
//! that reserved form (`iss:` + 16 lowercase hex digits + `:`) is refused ([`Reason::ReservedSub`]).
//! Everything here is a pure function of the configured issuers, built once at init.

use aws_lc_rs::digest;

use crate::claims::{Fields, Principal};
use crate::reason::Reason;

/// The prefix of a namespaced owner id.
pub const OWNER_PREFIX: &str = "iss:";
/// Hex digits of the issuer tag.
const TAG_HEX: usize = 16;

/// The canonical form of an issuer: Cognito's global `issuer-cognito-idp.<region>.amazonaws.com`
/// host is written as the regional `cognito-idp.<region>.amazonaws.com` one (the same pool); any
/// other issuer is itself.
pub fn canonical_issuer(iss: &str) -> String {
    if let Some(rest) = iss.strip_prefix("https://issuer-cognito-idp.") {
        if let Some((region, path)) = rest.split_once(".amazonaws.com/") {
            if !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return format!("https://cognito-idp.{region}.amazonaws.com/{path}");
            }
        }
    }
    iss.to_string()
}

/// The tag of an issuer's owner namespace: `iss:<16 hex>:`.
pub fn issuer_tag(iss: &str) -> String {
    let d = digest::digest(&digest::SHA256, canonical_issuer(iss).as_bytes());
    let mut s = String::with_capacity(OWNER_PREFIX.len() + TAG_HEX + 1);
    s.push_str(OWNER_PREFIX);
    for b in &d.as_ref()[..TAG_HEX / 2] {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s.push(':');
    s
}

/// Whether `sub` has the reserved form of a namespaced owner id.
pub fn is_reserved(sub: &str) -> bool {
    let b = sub.as_bytes();
    let end = OWNER_PREFIX.len() + TAG_HEX;
    b.len() > end + 1
        && sub.starts_with(OWNER_PREFIX)
        && b[OWNER_PREFIX.len()..end]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && b[end] == b':'
}

/// Per configured issuer (in `ISSUER` order): `None` for the primary namespace (plain `sub`),
/// or the tag prefixed to its subs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    tags: Vec<Option<String>>,
}

impl Namespaces {
    /// The namespaces of `issuers` (the first one is primary).
    pub fn new(issuers: &[String]) -> Namespaces {
        let primary = issuers.first().map(|i| canonical_issuer(i));
        Namespaces {
            tags: issuers
                .iter()
                .map(|i| {
                    if Some(canonical_issuer(i)) == primary {
                        None
                    } else {
                        Some(issuer_tag(i))
                    }
                })
                .collect(),
        }
    }

    /// The tag of issuer `i`, `None` for the primary namespace.
    pub fn tag(&self, i: usize) -> Option<&str> {
        self.tags.get(i).and_then(|t| t.as_deref())
    }

    /// The principal of `f` (checked claims of a token of issuer `i`), its `sub` the owner id.
    pub fn principal(&self, i: usize, f: Fields<'_>) -> Result<Principal, Reason> {
        if is_reserved(&f.sub) {
            return Err(Reason::ReservedSub);
        }
        Ok(Principal::with_sub_prefix(self.tag(i).unwrap_or(""), f))
    }

    /// The owner id of `sub` (non-empty, already checked) at issuer `i`.
    pub fn owner(&self, i: usize, sub: String) -> Result<String, Reason> {
        if is_reserved(&sub) {
            return Err(Reason::ReservedSub);
        }
        Ok(match self.tag(i) {
            None => sub,
            Some(tag) => {
                let mut o = String::with_capacity(tag.len() + sub.len());
                o.push_str(tag);
                o.push_str(&sub);
                o
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL_A: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AAA";
    const POOL_A_GLOBAL: &str = "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_AAA";
    const POOL_B: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_BBB";
    const POOL_B_GLOBAL: &str = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_BBB";
    const OIDC: &str = "https://login.example.com/";

    fn ns(issuers: &[&str]) -> Namespaces {
        Namespaces::new(&issuers.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_primary_issuer_and_its_other_cognito_form_keep_the_plain_sub() {
        let n = ns(&[POOL_A, POOL_A_GLOBAL, OIDC]);
        assert_eq!(n.owner(0, "u-1".into()), Ok("u-1".into()));
        assert_eq!(n.owner(1, "u-1".into()), Ok("u-1".into()));
        let other = n.owner(2, "u-1".into()).unwrap();
        assert_ne!(other, "u-1");
        assert!(
            other.starts_with("iss:") && other.ends_with(":u-1"),
            "{other}"
        );
        assert_eq!(other.len(), "iss:".len() + 16 + 1 + 3);
        // the global form listed first is the same primary namespace
        let n = ns(&[POOL_A_GLOBAL, POOL_A]);
        assert_eq!(n.tag(0), None);
        assert_eq!(n.tag(1), None);
    }

    #[test]
    fn distinct_issuers_get_distinct_tags_and_forms_of_one_pool_share_one() {
        let n = ns(&[
            POOL_A,
            POOL_B,
            POOL_B_GLOBAL,
            OIDC,
            "https://login.example.com",
        ]);
        let tags: Vec<_> = (0..5).map(|i| n.tag(i).map(str::to_string)).collect();
        assert_eq!(tags[0], None);
        assert_eq!(tags[1], tags[2], "two forms of pool B");
        let mut distinct: Vec<_> = [&tags[1], &tags[3], &tags[4]]
            .into_iter()
            .flatten()
            .collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{tags:?}");
        // the tag does not depend on the position: reordering the secondary issuers keeps it
        let m = ns(&[POOL_A, OIDC, POOL_B]);
        assert_eq!(m.tag(1), n.tag(3));
        assert_eq!(m.tag(2), n.tag(1));
        // an independent computation of the tag (SHA-256 of the canonical issuer)
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, POOL_B.as_bytes());
        let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(n.tag(2), Some(format!("iss:{hex}:").as_str()));
    }

    #[test]
    fn a_sub_spelling_an_owner_id_is_refused_everywhere() {
        let n = ns(&[POOL_A, OIDC]);
        let forged = n.owner(1, "victim".into()).unwrap();
        assert_eq!(n.owner(0, forged.clone()), Err(Reason::ReservedSub));
        assert_eq!(n.owner(1, forged), Err(Reason::ReservedSub));
        // near misses are ordinary subs
        for ok in [
            "iss:",
            "iss:0123456789abcdef",
            "iss:0123456789abcdef:",
            "iss:0123456789ABCDEF:x",
            "iss:0123456789abcde:x",
            "iss:0123456789abcdefx:x",
            "xiss:0123456789abcdef:x",
        ] {
            assert_eq!(n.owner(0, ok.into()), Ok(ok.to_string()), "{ok}");
        }
        assert!(is_reserved("iss:0123456789abcdef:x"));
    }

    #[test]
    fn canonical_form_only_rewrites_the_cognito_global_host() {
        assert_eq!(canonical_issuer(POOL_A_GLOBAL), POOL_A);
        assert_eq!(canonical_issuer(POOL_A), POOL_A);
        for other in [
            OIDC,
            "http://issuer-cognito-idp.us-east-1.amazonaws.com/p",
            "https://issuer-cognito-idp.us-east-1.amazonaws.com.evil.example/p",
            "https://issuer-cognito-idp.evil.example/x.amazonaws.com/p",
        ] {
            assert_eq!(canonical_issuer(other), other);
        }
    }
}
