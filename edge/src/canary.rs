//! Canary routing: a weighted, sticky, tamper-proof assignment of each visitor to the `stable` or
//! the `canary` variant.
//!
//! - A visitor has a random 128-bit id, carried in a signed cookie
//!   `<name>=<key id>.<id, base64url>.<HMAC-SHA-256 tag, first 16 bytes, base64url>`.
//!   Bucketing is deterministic: the visitor is on the canary when `id[0..4] mod 100 < weight`,
//!   so raising the weight only moves stable visitors over, and the same id always lands on the
//!   same side. A cookie that fails verification (tampered, truncated, unknown key id) is ignored
//!   and the visitor is assigned afresh.
//! - The first cookie key signs; every listed key verifies, and a cookie signed with an older key
//!   is re-issued with the current one for the same id: rotation keeps visitors where they are.
//! - A new visitor's id is derived from CloudFront's request id (the same in every event of one
//!   request), so viewer-request (routing) and viewer-response (`Set-Cookie`) agree without
//!   shared state; without a request id the caller's random bytes are used.
//! - Testers force a variant with `x-canary-force: canary|stable` plus
//!   `x-canary-tester: <key id>:<secret>`; without a matching tester key the headers are ignored.
//! - The chosen variant travels to origin-request in `x-canary-variant` (client-sent values are
//!   removed first). Put that header in the CloudFront cache policy so each variant is cached
//!   separately. Anything unexpected means `stable`.
//! - No cookie key configured: no cookie is trusted or issued and everyone gets `stable`; a
//!   tester cannot force the canary either (the request is logged as `canary_force_refused`).
//! - With `canary.rollout`, the weight is the run-time state of [`crate::rollout`] (0 before the
//!   first read and once the last read is too old), not `weight_percent`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::digest::CtOutput;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::config::{check_keys, is_token, CanaryConfig, ConfigError, RolloutConfig};
use crate::event::{Headers, Request};
use crate::headers;
use crate::rollout::{Live, RolloutError, RolloutState};

pub use crate::names::{FORCE_HEADER, TESTER_HEADER, VARIANT_HEADER};

const TAG_LEN: usize = 16;
const ID_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Stable,
    Canary,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Stable => "stable",
            Variant::Canary => "canary",
        }
    }
    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "stable" => Some(Variant::Stable),
            "canary" => Some(Variant::Canary),
            _ => None,
        }
    }
}

/// How the variant was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No cookie key: everyone is on stable.
    Unsigned,
    /// A valid cookie signed with the current key.
    Cookie,
    /// A valid cookie signed with an older key: re-issued with the current one.
    CookieRotated,
    /// No valid cookie: a new assignment (and a new cookie).
    New,
}

/// Outcome of a tester's request to force a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// No `x-canary-force` header.
    No,
    /// A valid tester credential: this variant.
    Yes(Variant),
    /// Asked without a valid credential (or with a bad value): ignored.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub variant: Variant,
    pub source: Source,
    /// The cookie value to set on the response, when one must be (re-)issued.
    pub cookie: Option<String>,
}

#[derive(Clone)]
struct SigningKey {
    id: String,
    mac: Hmac<Sha256>,
}

#[derive(Clone)]
struct TesterKey {
    id: String,
    /// SHA-256 of the secret; `CtOutput`'s `==` is constant-time (RustCrypto's, as in
    /// `Mac::verify`), so a comparison does not reveal where two digests first differ.
    digest: CtOutput<Sha256>,
}

pub struct Canary {
    weight: u8,
    rollout: Option<(RolloutConfig, Live)>,
    cookie_keys: Vec<SigningKey>,
    tester_keys: Vec<TesterKey>,
    cookie_name: String,
    cookie_attributes: String,
    domain_name: Option<String>,
    path: Option<String>,
}

impl std::fmt::Debug for Canary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canary")
            .field("weight", &self.weight)
            .field("rollout", &self.rollout.as_ref().map(|r| &r.0))
            .field(
                "cookie_keys",
                &self.cookie_keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .field(
                "tester_keys",
                &self.tester_keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .field("cookie_name", &self.cookie_name)
            .field("domain_name", &self.domain_name)
            .field("path", &self.path)
            .finish()
    }
}

impl Canary {
    pub fn new(c: &CanaryConfig) -> Result<Canary, ConfigError> {
        if c.weight_percent > 100 {
            return Err(ConfigError::WeightOutOfRange(c.weight_percent));
        }
        check_keys("canary.cookie_keys", &c.cookie_keys)?;
        check_keys("canary.tester_keys", &c.tester_keys)?;
        if !is_token(&c.cookie_name) || c.cookie_name.contains(['"', ',', ';', '\\']) {
            return Err(ConfigError::InvalidCookieName(c.cookie_name.clone()));
        }
        let (domain_name, path) = match &c.origin {
            None => (None, None),
            Some(o) => {
                if let Some(p) = &o.path {
                    let ok = p.is_empty()
                        || (p.starts_with('/')
                            && !p.ends_with('/')
                            && crate::config::is_clean_value(p)
                            && !p.contains([' ', '?', '#']));
                    if !ok {
                        return Err(ConfigError::InvalidCanaryPath(p.clone()));
                    }
                }
                if let Some(d) = &o.domain_name {
                    let ok = !d.is_empty()
                        && d.len() <= 253
                        && d.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
                    if !ok {
                        return Err(ConfigError::InvalidCanaryDomain(d.clone()));
                    }
                }
                (o.domain_name.clone(), o.path.clone())
            }
        };
        if c.weight_percent > 0 && domain_name.is_none() && path.is_none() {
            return Err(ConfigError::CanaryWithoutTarget(c.weight_percent));
        }
        if let Some(r) = &c.rollout {
            r.check()?;
            if c.weight_percent > 0 {
                return Err(ConfigError::WeightWithRollout(c.weight_percent));
            }
            if domain_name.is_none() && path.is_none() {
                return Err(ConfigError::RolloutWithoutTarget);
            }
        }
        let mut cookie_keys = Vec::new();
        for k in &c.cookie_keys {
            // HMAC takes a key of any length (RFC 2104 section 2; hmac's own `KeyInit::new`
            // relies on it), so this cannot fail; the length rule (at least 32 bytes) is
            // `check_keys`' above. Init only, never a request path.
            let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(k.secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            cookie_keys.push(SigningKey {
                id: k.id.clone(),
                mac,
            });
        }
        let tester_keys = c
            .tester_keys
            .iter()
            .map(|k| TesterKey {
                id: k.id.clone(),
                digest: CtOutput::new(Sha256::digest(k.secret.as_bytes())),
            })
            .collect();
        Ok(Canary {
            weight: c.weight_percent,
            rollout: c.rollout.clone().map(|r| (r, Live::default())),
            cookie_keys,
            tester_keys,
            cookie_name: c.cookie_name.clone(),
            cookie_attributes: format!(
                "; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Lax",
                c.cookie_max_age_seconds
            ),
            domain_name,
            path,
        })
    }

    /// The configured weight (`weight_percent`; 0 with a rollout store).
    pub fn weight(&self) -> u8 {
        self.weight
    }

    /// Where the run-time rollout state comes from, when configured.
    pub fn rollout(&self) -> Option<&RolloutConfig> {
        self.rollout.as_ref().map(|r| &r.0)
    }

    /// The weight in force at `now_ms`: the configured one, or the rollout state's while it is
    /// fresh enough (else 0).
    pub fn weight_at(&self, now_ms: u64) -> u8 {
        match &self.rollout {
            None => self.weight,
            Some((cfg, live)) => {
                live.weight_at(now_ms, u64::from(cfg.max_stale_seconds) * 1000)
                    .0
            }
        }
    }

    /// Load a rollout state document read from the store at `now_ms`. A document that does not
    /// parse changes nothing (the previous state keeps ageing).
    pub fn load_rollout(&self, bytes: &[u8], now_ms: u64) -> Result<RolloutState, RolloutError> {
        let (_, live) = self.rollout.as_ref().ok_or(RolloutError::NotConfigured)?;
        let s = RolloutState::from_json(bytes)?;
        live.store(&s, now_ms);
        Ok(s)
    }

    /// Whether cookies can be signed (a cookie key is configured).
    pub fn signs(&self) -> bool {
        !self.cookie_keys.is_empty()
    }

    /// The visitor's sticky assignment from the request's cookies, at the configured weight.
    pub fn assign(&self, h: &Headers, request_id: &str, random: &[u8; 16]) -> Assignment {
        self.assign_with_weight(h, request_id, random, self.weight)
    }

    /// The visitor's sticky assignment at `weight`: a threshold on the visitor's stable bucket,
    /// so raising the weight moves only stable visitors and lowering it only canary ones.
    pub fn assign_with_weight(
        &self,
        h: &Headers,
        request_id: &str,
        random: &[u8; 16],
        weight: u8,
    ) -> Assignment {
        let Some(current) = self.cookie_keys.first() else {
            return Assignment {
                variant: Variant::Stable,
                source: Source::Unsigned,
                cookie: None,
            };
        };
        let mut found = None;
        for value in cookie_values(h, &self.cookie_name) {
            if let Some((key_index, id)) = self.verify(value) {
                found = Some((key_index, id));
                break;
            }
        }
        let (id, source) = match found {
            Some((0, id)) => (id, Source::Cookie),
            Some((_, id)) => (id, Source::CookieRotated),
            None => (self.new_id(current, request_id, random), Source::New),
        };
        let cookie = match source {
            Source::Cookie | Source::Unsigned => None,
            Source::CookieRotated | Source::New => Some(self.sign(current, &id)),
        };
        Assignment {
            variant: bucket(&id, weight),
            source,
            cookie,
        }
    }

    /// The variant a tester forces with `x-canary-force`, checked against `x-canary-tester`.
    pub fn forced(&self, h: &Headers) -> Forced {
        if headers::count(h, FORCE_HEADER) == 0 {
            return Forced::No;
        }
        if !self.signs() {
            // No cookie key: the canary is off for everyone, testers included.
            return Forced::Refused;
        }
        self.check_force(h).map_or(Forced::Refused, Forced::Yes)
    }

    fn check_force(&self, h: &Headers) -> Option<Variant> {
        let variant = headers::single(h, FORCE_HEADER).and_then(Variant::parse)?;
        let credential = headers::single(h, TESTER_HEADER)?;
        let (id, secret) = credential.split_once(':')?;
        let given = CtOutput::<Sha256>::new(Sha256::digest(secret.as_bytes()));
        let mut ok = false;
        for k in &self.tester_keys {
            // Compare every key's digest in constant time; the id only selects.
            let same = k.digest == given;
            ok |= same & (k.id == id);
        }
        ok.then_some(variant)
    }

    /// `Set-Cookie` value for an issued cookie.
    pub fn set_cookie(&self, cookie: &str) -> String {
        format!("{}={}{}", self.cookie_name, cookie, self.cookie_attributes)
    }

    /// Apply the variant at origin-request. Anything but exactly one `x-canary-variant: canary`
    /// means stable (the request is left as CloudFront routed it).
    pub fn route(&self, r: &mut Request) -> Variant {
        if headers::single(&r.headers, VARIANT_HEADER) != Some("canary") {
            return Variant::Stable;
        }
        let Some(origin) = r.origin.as_mut() else {
            return Variant::Stable;
        };
        let (domain, path) = match (origin.custom.as_mut(), origin.s3.as_mut()) {
            (Some(c), _) => (&mut c.domain_name, &mut c.path),
            (None, Some(s)) => (&mut s.domain_name, &mut s.path),
            (None, None) => return Variant::Stable,
        };
        if self.domain_name.is_none() && self.path.is_none() {
            return Variant::Stable;
        }
        if let Some(d) = &self.domain_name {
            domain.clone_from(d);
            headers::set(&mut r.headers, "host", "Host", d.as_str());
        }
        if let Some(p) = &self.path {
            path.clone_from(p);
        }
        Variant::Canary
    }

    fn new_id(&self, key: &SigningKey, request_id: &str, random: &[u8; 16]) -> [u8; ID_LEN] {
        if request_id.is_empty() {
            return *random;
        }
        let mut mac = key.mac.clone();
        mac.update(b"edge-canary-visitor-v1\0");
        mac.update(request_id.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&out[..ID_LEN]);
        id
    }

    fn tag(key: &SigningKey, id: &[u8; ID_LEN]) -> Hmac<Sha256> {
        let mut mac = key.mac.clone();
        mac.update(b"edge-canary-cookie-v1\0");
        mac.update(key.id.as_bytes());
        mac.update(b"\0");
        mac.update(id);
        mac
    }

    fn sign(&self, key: &SigningKey, id: &[u8; ID_LEN]) -> String {
        let tag = Self::tag(key, id).finalize().into_bytes();
        format!(
            "{}.{}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(id),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        )
    }

    /// `(index of the verifying key, visitor id)` for a genuine cookie value.
    fn verify(&self, value: &str) -> Option<(usize, [u8; ID_LEN])> {
        if value.len() > 128 {
            return None;
        }
        let mut parts = value.split('.');
        let (kid, id_b64, tag_b64) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || id_b64.len() != 22 || tag_b64.len() != 22 {
            return None;
        }
        let (index, key) = self
            .cookie_keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.id == kid)?;
        let mut id = [0u8; ID_LEN];
        let mut tag = [0u8; TAG_LEN];
        // Exact lengths above: decoding must fill both buffers exactly.
        if URL_SAFE_NO_PAD.decode_slice(id_b64, &mut id).ok()? != ID_LEN
            || URL_SAFE_NO_PAD.decode_slice(tag_b64, &mut tag).ok()? != TAG_LEN
        {
            return None;
        }
        // Re-encoding must give back the same text (no non-canonical trailing bits).
        if URL_SAFE_NO_PAD.encode(id) != id_b64 || URL_SAFE_NO_PAD.encode(tag) != tag_b64 {
            return None;
        }
        Self::tag(key, &id).verify_truncated_left(&tag).ok()?;
        Some((index, id))
    }
}

/// The visitor's variant at `weight`: canary when `u32(id[0..4]) mod 100 < weight`.
fn bucket(id: &[u8; ID_LEN], weight: u8) -> Variant {
    let n = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
    if n % 100 < u32::from(weight) {
        Variant::Canary
    } else {
        Variant::Stable
    }
}

impl Clone for Canary {
    fn clone(&self) -> Canary {
        Canary {
            weight: self.weight,
            rollout: self
                .rollout
                .as_ref()
                .map(|(c, l)| (c.clone(), l.snapshot())),
            cookie_keys: self.cookie_keys.clone(),
            tester_keys: self.tester_keys.clone(),
            cookie_name: self.cookie_name.clone(),
            cookie_attributes: self.cookie_attributes.clone(),
            domain_name: self.domain_name.clone(),
            path: self.path.clone(),
        }
    }
}

/// Every value of cookie `name` across the request's `Cookie` headers.
fn cookie_values<'a>(h: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers::values(h, "cookie")
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyConfig;

    fn key(id: &str, c: char) -> KeyConfig {
        KeyConfig {
            id: id.into(),
            secret: std::iter::repeat_n(c, 40).collect(),
        }
    }

    fn canary(weight: u8, keys: Vec<KeyConfig>) -> Canary {
        Canary::new(&CanaryConfig {
            weight_percent: weight,
            cookie_keys: keys,
            tester_keys: vec![key("t1", 't')],
            origin: Some(crate::config::CanaryOriginConfig {
                domain_name: None,
                path: Some("/canary".into()),
            }),
            ..CanaryConfig::default()
        })
        .unwrap()
    }

    fn with_cookie(name: &str, value: &str) -> Headers {
        let mut h = Headers::new();
        headers::append(
            &mut h,
            "cookie",
            "Cookie",
            format!("a=b; {name}={value}; c=d"),
        );
        h
    }

    #[test]
    fn cookie_round_trip_is_sticky() {
        let c = canary(50, vec![key("k1", 'a')]);
        let first = c.assign(&Headers::new(), "req-1", &[0; 16]);
        assert_eq!(first.source, Source::New);
        let cookie = first.cookie.clone().unwrap();
        for _ in 0..3 {
            let again = c.assign(
                &with_cookie("__Host-canary", &cookie),
                "req-other",
                &[9; 16],
            );
            assert_eq!(again.source, Source::Cookie);
            assert_eq!(again.variant, first.variant);
            assert_eq!(again.cookie, None);
        }
    }

    #[test]
    fn same_request_id_same_assignment() {
        let c = canary(50, vec![key("k1", 'a')]);
        let a = c.assign(&Headers::new(), "req-xyz", &[1; 16]);
        let b = c.assign(&Headers::new(), "req-xyz", &[2; 16]);
        assert_eq!(a, b);
    }

    #[test]
    fn tampered_cookies_are_reassigned() {
        let c = canary(50, vec![key("k1", 'a')]);
        let good = c.assign(&Headers::new(), "req-1", &[0; 16]).cookie.unwrap();
        let (kid, rest) = good.split_once('.').unwrap();
        let (id, tag) = rest.split_once('.').unwrap();
        let mut flipped_id = id.to_string().into_bytes();
        flipped_id[0] = if flipped_id[0] == b'A' { b'B' } else { b'A' };
        let flipped_id = String::from_utf8(flipped_id).unwrap();
        for bad in [
            format!("{kid}.{flipped_id}.{tag}"),
            format!("k2.{id}.{tag}"),
            format!("{kid}.{id}.{}", &tag[..21]),
            format!("{kid}.{id}"),
            format!("{kid}.{id}.{tag}.x"),
            format!("{kid}.{id}.AAAAAAAAAAAAAAAAAAAAAA"),
            String::new(),
            "canary".into(),
        ] {
            let a = c.assign(&with_cookie("__Host-canary", &bad), "req-2", &[0; 16]);
            assert_eq!(a.source, Source::New, "{bad} accepted");
            assert!(a.cookie.is_some());
        }
    }

    #[test]
    fn rotation_keeps_visitors_and_reissues() {
        let old = canary(50, vec![key("k1", 'a')]);
        let cookie = old
            .assign(&Headers::new(), "req-1", &[0; 16])
            .cookie
            .unwrap();
        let rotated = canary(50, vec![key("k2", 'b'), key("k1", 'a')]);
        let a = rotated.assign(&with_cookie("__Host-canary", &cookie), "req-2", &[0; 16]);
        assert_eq!(a.source, Source::CookieRotated);
        assert_eq!(
            a.variant,
            old.assign(&with_cookie("__Host-canary", &cookie), "r", &[0; 16])
                .variant
        );
        let reissued = a.cookie.unwrap();
        assert!(reissued.starts_with("k2."));
        let b = rotated.assign(&with_cookie("__Host-canary", &reissued), "req-3", &[0; 16]);
        assert_eq!((b.source, b.variant), (Source::Cookie, a.variant));
        // Once k1 is retired, its cookies are no longer trusted.
        let retired = canary(50, vec![key("k2", 'b')]);
        assert_eq!(
            retired
                .assign(&with_cookie("__Host-canary", &cookie), "r", &[0; 16])
                .source,
            Source::New
        );
    }

    #[test]
    fn no_key_means_stable_and_no_cookie() {
        let c = Canary::new(&CanaryConfig {
            weight_percent: 100,
            origin: Some(crate::config::CanaryOriginConfig {
                domain_name: Some("canary.example.org".into()),
                path: None,
            }),
            ..CanaryConfig::default()
        })
        .unwrap();
        let a = c.assign(&Headers::new(), "req-1", &[0; 16]);
        assert_eq!(
            (a.variant, a.source, a.cookie),
            (Variant::Stable, Source::Unsigned, None)
        );
    }

    #[test]
    fn weight_zero_and_hundred() {
        let zero = canary(0, vec![key("k1", 'a')]);
        let all = canary(100, vec![key("k1", 'a')]);
        for i in 0..200 {
            let rid = format!("req-{i}");
            assert_eq!(
                zero.assign(&Headers::new(), &rid, &[0; 16]).variant,
                Variant::Stable
            );
            assert_eq!(
                all.assign(&Headers::new(), &rid, &[0; 16]).variant,
                Variant::Canary
            );
        }
    }

    #[test]
    fn forcing_needs_the_right_credential() {
        let c = canary(0, vec![key("k1", 'a')]);
        let secret: String = std::iter::repeat_n('t', 40).collect();
        let mk = |force: &str, cred: Option<String>| {
            let mut h = Headers::new();
            headers::append(&mut h, FORCE_HEADER, "X-Canary-Force", force);
            if let Some(cr) = cred {
                headers::append(&mut h, TESTER_HEADER, "X-Canary-Tester", cr);
            }
            h
        };
        assert_eq!(
            c.forced(&mk("canary", Some(format!("t1:{secret}")))),
            Forced::Yes(Variant::Canary)
        );
        assert_eq!(
            c.forced(&mk("stable", Some(format!("t1:{secret}")))),
            Forced::Yes(Variant::Stable)
        );
        assert_eq!(c.forced(&mk("canary", None)), Forced::Refused);
        assert_eq!(
            c.forced(&mk("canary", Some(format!("t2:{secret}")))),
            Forced::Refused
        );
        assert_eq!(
            c.forced(&mk("canary", Some("t1:wrong".into()))),
            Forced::Refused
        );
        // a digest that differs only at its end (one character of the secret) is refused too
        let mut near = secret.clone();
        near.pop();
        near.push('u');
        assert_eq!(
            c.forced(&mk("canary", Some(format!("t1:{near}")))),
            Forced::Refused
        );
        assert_eq!(
            c.forced(&mk("canary", Some(secret.clone()))),
            Forced::Refused
        );
        assert_eq!(
            c.forced(&mk("CANARY", Some(format!("t1:{secret}")))),
            Forced::Refused
        );
        assert_eq!(c.forced(&Headers::new()), Forced::No);
    }

    #[test]
    fn config_errors() {
        let bad_weight = CanaryConfig {
            weight_percent: 101,
            ..CanaryConfig::default()
        };
        assert!(matches!(
            Canary::new(&bad_weight),
            Err(ConfigError::WeightOutOfRange(101))
        ));
        let no_target = CanaryConfig {
            weight_percent: 10,
            ..CanaryConfig::default()
        };
        assert!(matches!(
            Canary::new(&no_target),
            Err(ConfigError::CanaryWithoutTarget(10))
        ));
        let short = CanaryConfig {
            cookie_keys: vec![KeyConfig {
                id: "k".into(),
                secret: "short".into(),
            }],
            ..CanaryConfig::default()
        };
        assert!(matches!(
            Canary::new(&short),
            Err(ConfigError::ShortSecret { .. })
        ));
    }
}
