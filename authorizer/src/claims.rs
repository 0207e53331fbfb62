//! Claims: the strict reading of a JWT payload and the checks on it.
//!
//! The payload must be a JSON object whose member names are all unique (at every depth, whether
//! the verifier reads them or not). A claim that is present must have its type — `null` is a
//! wrong type, never an absence: `iss`, `sub`, `token_use`, `client_id`, `username`,
//! `cognito:username`, `scope`, `jti` are strings; `exp`, `nbf`, `iat` are finite numbers; `aud`
//! is a string or an array of strings (a string only with `TOKEN_USE=id`, as Cognito issues id
//! tokens and as aws-jwt-verify's Cognito verifier requires); `cognito:groups` is an array of
//! strings. Any violation is [`Reason::MalformedClaims`].
//!
//! [`check`] is a pure function of the claims, the configuration and the time, so every rule is
//! unit-tested here without keys or servers.

use std::borrow::Cow;

use crate::json::{Members, Num, Str, StrList, StrOrOther};
use crate::reader::{Invalid, Reader};
use crate::reason::Reason;

/// `iat` may be at most this far in the future (plus `LEEWAY_SECONDS`): clocks drift a little,
/// issuers do not mint tokens from the future.
pub const IAT_SKEW_SECONDS: f64 = 60.0;

/// Which Cognito token kind is accepted (`TOKEN_USE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Access tokens (`token_use: access`, client checked via `client_id`). Default.
    Access,
    /// Id tokens (`token_use: id`, client checked via `aud`).
    Id,
    /// No `token_use` check, client checked via `aud` (other OIDC issuers). Must be chosen
    /// explicitly: it is never a fallback.
    None,
}

/// The claim rules of the configuration, borrowed from it (`Config::claim_rules`).
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    /// Accepted `iss` values (exact match).
    pub issuers: &'a [String],
    /// Accepted app client ids.
    pub client_ids: &'a [String],
    pub token_use: TokenUse,
    /// Clock-skew allowance for `exp`/`nbf`, added to the fixed `iat` skew.
    pub leeway_seconds: u64,
}

/// `aud`: one string or an array of strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Aud<'a> {
    One(Cow<'a, str>),
    Many(Vec<String>),
}

/// The claims the verifier reads, each `None` only when the member is absent. Strings without
/// escapes are borrowed from the payload (the verification path allocates only for what the
/// [`Principal`] keeps).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Claims<'a> {
    pub iss: Option<Cow<'a, str>>,
    pub sub: Option<Cow<'a, str>>,
    pub aud: Option<Aud<'a>>,
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    pub iat: Option<f64>,
    pub token_use: Option<Cow<'a, str>>,
    pub client_id: Option<Cow<'a, str>>,
    pub username: Option<Cow<'a, str>>,
    pub cognito_username: Option<Cow<'a, str>>,
    pub scope: Option<Cow<'a, str>>,
    pub groups: Option<Vec<String>>,
    pub jti: Option<Cow<'a, str>>,
    /// Cognito's `origin_jti` (the refresh token's session); a non-string reads as absent.
    pub origin_jti: Option<Cow<'a, str>>,
}

impl<'de> serde::Deserialize<'de> for Aud<'static> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Aud<'static>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Aud<'static>, E> {
                Ok(Aud::One(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Aud<'static>, E> {
                Ok(Aud::One(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Aud<'static>, A::Error> {
                let mut out = Vec::new();
                while let Some(Str(s)) = seq.next_element::<Str<'de>>()? {
                    out.push(s.into_owned());
                }
                Ok(Aud::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for Claims<'static> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Claims<'static>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JWT claims object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Claims<'static>, A::Error> {
                let mut m = Members::new(map);
                let mut c = Claims::default();
                let s = |m: &mut Members<'de, A>| {
                    m.value::<Str>().map(|s| Some(Cow::Owned(s.0.into_owned())))
                };
                let n = |m: &mut Members<'de, A>| m.value::<Num>().map(|n| Some(n.0));
                while let Some(name) = m.next_name()? {
                    match &*name {
                        "iss" => c.iss = s(&mut m)?,
                        "sub" => c.sub = s(&mut m)?,
                        "aud" => c.aud = Some(m.value::<Aud>()?),
                        "exp" => c.exp = n(&mut m)?,
                        "nbf" => c.nbf = n(&mut m)?,
                        "iat" => c.iat = n(&mut m)?,
                        "token_use" => c.token_use = s(&mut m)?,
                        "client_id" => c.client_id = s(&mut m)?,
                        "username" => c.username = s(&mut m)?,
                        "cognito:username" => c.cognito_username = s(&mut m)?,
                        "scope" => c.scope = s(&mut m)?,
                        "jti" => c.jti = s(&mut m)?,
                        "origin_jti" => c.origin_jti = m.value::<StrOrOther>()?.0.map(Cow::Owned),
                        "cognito:groups" => c.groups = Some(m.value::<StrList>()?.0),
                        _ => m.skip_value()?,
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

/// Read a payload strictly (see the module docs), in one pass ([`crate::reader`]).
pub fn parse(payload: &[u8]) -> Result<Claims<'_>, Reason> {
    let mut c = Claims::default();
    parse_into(payload, &mut c)?;
    Ok(c)
}

/// [`parse`] into `c` (which should be empty: members absent from the payload are left as
/// they are), so a verification keeps its claims in one place instead of moving them.
pub fn parse_into<'a>(payload: &'a [u8], c: &mut Claims<'a>) -> Result<(), Reason> {
    read(payload, c).map_err(|_| Reason::MalformedClaims)
}

fn read<'a>(payload: &'a [u8], c: &mut Claims<'a>) -> Result<(), Invalid> {
    let mut r = Reader::new(payload)?;
    let s = |r: &mut Reader<'a>| r.string().map(Some);
    // each claim read is known by its bit (so a second one is refused without keeping names)
    r.object_known(|name, r| {
        Ok(Some(match name {
            "iss" => {
                c.iss = s(r)?;
                0
            }
            "sub" => {
                c.sub = s(r)?;
                1
            }
            "aud" => {
                c.aud = Some(match r.peek() {
                    Some(b'"') => Aud::One(r.string()?),
                    Some(b'[') => Aud::Many(r.strings()?),
                    _ => return Err(Invalid),
                });
                2
            }
            "exp" => {
                c.exp = Some(r.number()?);
                3
            }
            "nbf" => {
                c.nbf = Some(r.number()?);
                4
            }
            "iat" => {
                c.iat = Some(r.number()?);
                5
            }
            "token_use" => {
                c.token_use = s(r)?;
                6
            }
            "client_id" => {
                c.client_id = s(r)?;
                7
            }
            "username" => {
                c.username = s(r)?;
                8
            }
            "cognito:username" => {
                c.cognito_username = s(r)?;
                9
            }
            "scope" => {
                c.scope = s(r)?;
                10
            }
            "jti" => {
                c.jti = s(r)?;
                11
            }
            // any type; only a string names a session
            "origin_jti" => {
                c.origin_jti = if r.peek() == Some(b'"') {
                    s(r)?
                } else {
                    r.skip()?;
                    None
                };
                12
            }
            "cognito:groups" => {
                c.groups = Some(r.strings()?);
                13
            }
            _ => {
                r.skip()?;
                return Ok(None);
            }
        }))
    })?;
    r.end()?;
    Ok(())
}

/// The same reading through `serde_json` and the strict pieces of [`crate::json`]: the reference
/// [`parse`] is compared with (unit tests, the `token_parse` fuzz target).
pub fn parse_reference(payload: &[u8]) -> Result<Claims<'static>, Reason> {
    serde_json::from_slice(payload).map_err(|_| Reason::MalformedClaims)
}

/// What a verified token says about its principal (everything the policy and context need),
/// borrowed from the claims: what [`check`] gives, and what a [`Principal`] keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields<'a> {
    pub sub: Cow<'a, str>,
    pub username: Cow<'a, str>,
    pub client_id: Cow<'a, str>,
    pub token_use: Cow<'a, str>,
    pub scope: Cow<'a, str>,
    pub groups: Vec<String>,
    /// `exp` in whole seconds (floor), for the memo.
    pub exp: i64,
    /// `jti` and Cognito's `origin_jti` (empty when absent): the keys a revocation names.
    pub jti: Cow<'a, str>,
    pub origin_jti: Cow<'a, str>,
    /// `iat` (absent: `None`), for session-wide revocations (`DELETE /sessions`).
    pub iat: Option<f64>,
}

/// A verified principal: its [`Fields`], kept. The seven strings share one allocation (a
/// verification allocates once for them, not seven times: in a verification, where the RSA code
/// has just run, each allocation and release costs about 40 ns).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Principal {
    /// sub, username, client_id, token_use, scope, jti, origin_jti, one after the other
    text: String,
    /// where each of them ends in `text`
    ends: [usize; 7],
    pub groups: Vec<String>,
    /// `exp` in whole seconds (floor), for the memo.
    pub exp: i64,
    /// `iat` (absent: `None`), for session-wide revocations (`DELETE /sessions`).
    pub iat: Option<f64>,
}

impl Principal {
    /// Keep `f`.
    pub fn new(f: Fields<'_>) -> Principal {
        Principal::with_sub_prefix("", f)
    }

    /// Keep `f`, its `sub` written after `prefix` (an owner namespace's tag, see `owner`).
    pub fn with_sub_prefix(prefix: &str, f: Fields<'_>) -> Principal {
        let parts: [&str; 7] = [
            &f.sub,
            &f.username,
            &f.client_id,
            &f.token_use,
            &f.scope,
            &f.jti,
            &f.origin_jti,
        ];
        let mut text =
            String::with_capacity(prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        text.push_str(prefix);
        let mut ends = [0; 7];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            *end = text.len();
        }
        Principal {
            text,
            ends,
            groups: f.groups,
            exp: f.exp,
            iat: f.iat,
        }
    }

    fn field(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.ends.get(i - 1).copied().unwrap_or(0),
        };
        let end = self.ends.get(i).copied().unwrap_or(0);
        self.text.get(start..end).unwrap_or_default()
    }

    /// The owner id (`sub`, within its issuer's namespace).
    pub fn sub(&self) -> &str {
        self.field(0)
    }
    pub fn username(&self) -> &str {
        self.field(1)
    }
    pub fn client_id(&self) -> &str {
        self.field(2)
    }
    pub fn token_use(&self) -> &str {
        self.field(3)
    }
    pub fn scope(&self) -> &str {
        self.field(4)
    }
    pub fn jti(&self) -> &str {
        self.field(5)
    }
    pub fn origin_jti(&self) -> &str {
        self.field(6)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope().split(' ').filter(|s| !s.is_empty())
    }
}

impl Claims<'_> {
    /// Which configured issuer (by position) issued this token. Used to choose the key set before
    /// the signature is checked: keys never serve another issuer.
    pub fn issuer_index(&self, issuers: &[String]) -> Result<usize, Reason> {
        let iss = self.iss.as_deref().ok_or(Reason::WrongIssuer)?;
        issuers
            .iter()
            .position(|i| i == iss)
            .ok_or(Reason::WrongIssuer)
    }
}

/// Whether `groups` joined with `,` (the context's `groups`) splits back into exactly `groups`:
/// no name is empty or contains `,` (an empty list joins to `""`, which reads back as no group).
pub fn groups_are_joinable(groups: &[String]) -> bool {
    groups.iter().all(|g| !g.is_empty() && !g.contains(','))
}

/// Every claim check, at `now` (seconds since the epoch), in a fixed order so each refusal has
/// one reason: issuer, token use, client, `exp`, `nbf`, `iat`, `sub`, `cognito:groups` names.
/// The strings the principal keeps are taken out of `c` (not copied).
pub fn check<'a>(c: &mut Claims<'a>, cfg: &ClaimRules<'_>, now: f64) -> Result<Fields<'a>, Reason> {
    let leeway = cfg.leeway_seconds as f64;
    c.issuer_index(cfg.issuers)?;

    let client = match cfg.token_use {
        TokenUse::Access => {
            if c.token_use.as_deref() != Some("access") {
                return Err(Reason::WrongTokenUse);
            }
            // Access tokens name their client in client_id; an aud claim is no substitute.
            let cid = c.client_id.take().ok_or(Reason::WrongClient)?;
            if !cfg.client_ids.iter().any(|x| *x == cid) {
                return Err(Reason::WrongClient);
            }
            cid
        }
        TokenUse::Id => {
            if c.token_use.as_deref() != Some("id") {
                return Err(Reason::WrongTokenUse);
            }
            match &c.aud {
                Some(Aud::One(a)) if cfg.client_ids.iter().any(|cid| cid == a) => a.clone(),
                // Cognito id tokens carry one audience, a string.
                Some(Aud::Many(_)) => return Err(Reason::MalformedClaims),
                _ => return Err(Reason::WrongClient),
            }
        }
        TokenUse::None => match &c.aud {
            Some(Aud::One(a)) if cfg.client_ids.iter().any(|cid| cid == a) => a.clone(),
            // The first configured client the token is meant for.
            Some(Aud::Many(v)) => cfg
                .client_ids
                .iter()
                .find(|cid| v.iter().any(|a| a == *cid))
                .map(|cid| Cow::Owned(cid.clone()))
                .ok_or(Reason::WrongClient)?,
            _ => return Err(Reason::WrongClient),
        },
    };

    let exp = c.exp.ok_or(Reason::MissingExp)?;
    if now >= exp + leeway {
        return Err(Reason::Expired);
    }
    if let Some(nbf) = c.nbf {
        if nbf > now + leeway {
            return Err(Reason::NotYetValid);
        }
    }
    if let Some(iat) = c.iat {
        if iat > now + IAT_SKEW_SECONDS + leeway {
            return Err(Reason::IatInFuture);
        }
    }
    let sub = c
        .sub
        .take()
        .filter(|s| !s.is_empty())
        .ok_or(Reason::MissingSub)?;
    let groups = c.groups.take().unwrap_or_default();
    if !groups_are_joinable(&groups) {
        return Err(Reason::AmbiguousGroups);
    }

    Ok(Fields {
        sub,
        username: c
            .username
            .take()
            .or(c.cognito_username.take())
            .unwrap_or_default(),
        client_id: client,
        token_use: c.token_use.take().unwrap_or_default(),
        scope: c.scope.take().unwrap_or_default(),
        groups,
        exp: exp.floor() as i64,
        jti: c.jti.take().unwrap_or_default(),
        origin_jti: c.origin_jti.take().unwrap_or_default(),
        iat: c.iat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc";
    const NOW: f64 = 1_800_000_000.0;

    fn cfg(token_use: &str, leeway: &str) -> Config {
        let pairs = [
            ("USER_POOL_ID", "us-east-1_abc"),
            ("CLIENT_IDS", "client1,client2"),
            ("TOKEN_USE", token_use),
            ("LEEWAY_SECONDS", leeway),
        ];
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("test config")
    }

    fn access(extra: &str) -> String {
        format!(
            r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{},"sub":"s1"{extra}}}"#,
            NOW + 100.0
        )
    }

    fn run(cfg: &Config, payload: &str) -> Result<Principal, Reason> {
        check(&mut parse(payload.as_bytes())?, &cfg.claim_rules(), NOW).map(Principal::new)
    }

    #[test]
    fn a_well_formed_access_token_passes() {
        let p = run(
            &cfg("access", "0"),
            &access(r#","scope":"a b","cognito:groups":["g1","g2"],"username":"u","jti":"j","auth_time":1,"x":{"y":[1,{"z":null}]}"#),
        )
        .unwrap();
        assert_eq!(p.sub(), "s1");
        assert_eq!(p.client_id(), "client1");
        assert_eq!(p.scopes().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(p.groups, vec!["g1", "g2"]);
        assert_eq!(p.username(), "u");
    }

    /// The context's `groups` is the names joined with `,`: a list whose names are empty or
    /// contain `,` would read back as another list, so such a token is refused; every other list
    /// splits back exactly.
    #[test]
    fn group_names_must_survive_the_comma_join() {
        let c = cfg("access", "0");
        for bad in [
            r#"["staff,admin"]"#,
            r#"["a",","]"#,
            r#"[""]"#,
            r#"["a",""]"#,
            r#"[",admin"]"#,
        ] {
            let payload = access(&format!(r#","cognito:groups":{bad}"#));
            assert_eq!(run(&c, &payload), Err(Reason::AmbiguousGroups), "{bad}");
        }
        for good in [
            r#"[]"#,
            r#"["staff","admin"]"#,
            r#"["d e","\u00e9t\u00e9","a;b","a\\b"]"#,
        ] {
            let payload = access(&format!(r#","cognito:groups":{good}"#));
            let want: Vec<String> = serde_json::from_str(good).unwrap();
            let p = run(&c, &payload).unwrap();
            let joined = p.groups.join(",");
            let back: Vec<String> = if joined.is_empty() {
                Vec::new()
            } else {
                joined.split(',').map(str::to_string).collect()
            };
            assert_eq!(back, want, "{good}");
        }
    }

    /// One row per rule: payload, expected reason.
    #[test]
    fn every_claim_rule_has_its_reason() {
        let c = cfg("access", "0");
        let e = NOW + 100.0;
        let rows: Vec<(String, Reason)> = vec![
            // structure
            ("[1,2]".into(), Reason::MalformedClaims),
            ("\"x\"".into(), Reason::MalformedClaims),
            ("null".into(), Reason::MalformedClaims),
            ("{".into(), Reason::MalformedClaims),
            (access(r#","sub":"s2""#), Reason::MalformedClaims),
            (
                access(r#","auth_time":1,"auth_time":1"#),
                Reason::MalformedClaims,
            ),
            (
                access(r#","email":"a","email":"a""#),
                Reason::MalformedClaims,
            ),
            (access(r#","jti":"a","jti":"a""#), Reason::MalformedClaims),
            (
                access(r#","origin_jti":"a","origin_jti":"b""#),
                Reason::MalformedClaims,
            ),
            (access(r#","i\u0073s":"x""#), Reason::MalformedClaims),
            (access(r#","x":{"a":1,"a":2}"#), Reason::MalformedClaims),
            (access(r#","x":"\ud800""#), Reason::MalformedClaims),
            (access(r#","x":1e400"#), Reason::MalformedClaims),
            // null is a wrong type, never an absence
            (access(r#","nbf":null"#), Reason::MalformedClaims),
            (access(r#","iat":null"#), Reason::MalformedClaims),
            (access(r#","scope":null"#), Reason::MalformedClaims),
            (access(r#","jti":null"#), Reason::MalformedClaims),
            (access(r#","aud":null"#), Reason::MalformedClaims),
            (access(r#","username":null"#), Reason::MalformedClaims),
            (access(r#","cognito:groups":null"#), Reason::MalformedClaims),
            // wrong types
            (access(r#","jti":1"#), Reason::MalformedClaims),
            (access(r#","jti":true"#), Reason::MalformedClaims),
            (access(r#","jti":["a"]"#), Reason::MalformedClaims),
            (access(r#","jti":{}"#), Reason::MalformedClaims),
            (access(r#","nbf":"1""#), Reason::MalformedClaims),
            (access(r#","aud":1"#), Reason::MalformedClaims),
            (access(r#","aud":["a",1]"#), Reason::MalformedClaims),
            (access(r#","scope":["a"]"#), Reason::MalformedClaims),
            (access(r#","cognito:groups":"g""#), Reason::MalformedClaims),
            (
                format!(
                    r#"{{"iss":["{ISS}"],"token_use":"access","client_id":"client1","exp":{e},"sub":"s"}}"#
                ),
                Reason::MalformedClaims,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":"{e}","sub":"s"}}"#
                ),
                Reason::MalformedClaims,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{e},"sub":7}}"#
                ),
                Reason::MalformedClaims,
            ),
            // issuer
            (
                format!(r#"{{"token_use":"access","client_id":"client1","exp":{e},"sub":"s"}}"#),
                Reason::WrongIssuer,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}/","token_use":"access","client_id":"client1","exp":{e},"sub":"s"}}"#
                ),
                Reason::WrongIssuer,
            ),
            (
                format!(
                    r#"{{"iss":"","token_use":"access","client_id":"client1","exp":{e},"sub":"s"}}"#
                ),
                Reason::WrongIssuer,
            ),
            // token use
            (
                format!(r#"{{"iss":"{ISS}","client_id":"client1","exp":{e},"sub":"s"}}"#),
                Reason::WrongTokenUse,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"id","client_id":"client1","exp":{e},"sub":"s"}}"#
                ),
                Reason::WrongTokenUse,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"Access","client_id":"client1","exp":{e},"sub":"s"}}"#
                ),
                Reason::WrongTokenUse,
            ),
            // client
            (
                format!(r#"{{"iss":"{ISS}","token_use":"access","exp":{e},"sub":"s"}}"#),
                Reason::WrongClient,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","aud":"client1","exp":{e},"sub":"s"}}"#
                ),
                Reason::WrongClient,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client3","exp":{e},"sub":"s"}}"#
                ),
                Reason::WrongClient,
            ),
            // time
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","sub":"s"}}"#
                ),
                Reason::MissingExp,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{NOW},"sub":"s"}}"#
                ),
                Reason::Expired,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":-0,"sub":"s"}}"#
                ),
                Reason::Expired,
            ),
            (
                access(&format!(r#","nbf":{}"#, NOW + 1.0)),
                Reason::NotYetValid,
            ),
            (
                access(&format!(r#","iat":{}"#, NOW + 61.0)),
                Reason::IatInFuture,
            ),
            // subject
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{e}}}"#
                ),
                Reason::MissingSub,
            ),
            (
                format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{e},"sub":""}}"#
                ),
                Reason::MissingSub,
            ),
        ];
        for (payload, want) in rows {
            assert_eq!(run(&c, &payload).err(), Some(want), "{payload}");
        }
    }

    #[test]
    fn boundaries_and_number_forms() {
        let c = cfg("access", "0");
        let at = |exp: &str, extra: &str| {
            run(
                &c,
                &format!(
                    r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{exp},"sub":"s"{extra}}}"#
                ),
            )
        };
        assert!(at(&format!("{}", NOW + 0.5), "").is_ok());
        assert_eq!(at(&format!("{NOW}"), "").err(), Some(Reason::Expired));
        assert!(at("1e10", "").is_ok());
        assert!(at("99999999999999999999999", "").is_ok());
        assert_eq!(at("1e400", "").err(), Some(Reason::MalformedClaims));
        assert!(at("1e10", &format!(r#","nbf":{NOW}"#)).is_ok());
        assert!(at("1e10", &format!(r#","iat":{}"#, NOW + 60.0)).is_ok());
        let lee = cfg("access", "30");
        let r = |payload: String| run(&lee, &payload);
        assert!(r(format!(
            r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{},"sub":"s"}}"#,
            NOW - 29.0
        ))
        .is_ok());
        assert_eq!(
            r(format!(r#"{{"iss":"{ISS}","token_use":"access","client_id":"client1","exp":{},"sub":"s"}}"#, NOW - 30.0)).err(),
            Some(Reason::Expired)
        );
        assert!(r(access(&format!(r#","nbf":{}"#, NOW + 30.0))).is_ok());
        assert!(r(access(&format!(r#","iat":{}"#, NOW + 90.0))).is_ok());
        assert_eq!(
            r(access(&format!(r#","iat":{}"#, NOW + 91.0))).err(),
            Some(Reason::IatInFuture)
        );
    }

    /// docs/authorizer.md's "global issuer form" row: with only USER_POOL_ID set, the
    /// `issuer-cognito-idp` form aws-jwt-verify also accepts is not a configured issuer.
    #[test]
    fn the_global_issuer_form_is_trusted_only_when_configured() {
        let c = cfg("access", "0");
        let global = "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_abc";
        let t = format!(
            r#"{{"iss":"{global}","token_use":"access","client_id":"client1","exp":{},"sub":"s"}}"#,
            NOW + 9.0
        );
        assert_eq!(run(&c, &t).err(), Some(Reason::WrongIssuer));
        let both = Config::from_lookup(|k| match k {
            "ISSUER" => Some(format!("{ISS},{global}")),
            "CLIENT_IDS" => Some("client1".into()),
            _ => None,
        })
        .unwrap();
        assert!(run(&both, &t).is_ok());
    }

    #[test]
    fn id_tokens_carry_a_string_aud() {
        let c = cfg("id", "0");
        let id = |aud: &str| {
            format!(
                r#"{{"iss":"{ISS}","token_use":"id","aud":{aud},"exp":{},"sub":"s"}}"#,
                NOW + 9.0
            )
        };
        assert_eq!(run(&c, &id(r#""client2""#)).unwrap().client_id(), "client2");
        assert_eq!(
            run(&c, &id(r#"["client2"]"#)).err(),
            Some(Reason::MalformedClaims)
        );
        assert_eq!(run(&c, &id(r#""other""#)).err(), Some(Reason::WrongClient));
        assert_eq!(run(&c, &id("null")).err(), Some(Reason::MalformedClaims));
        let no_aud = format!(
            r#"{{"iss":"{ISS}","token_use":"id","exp":{},"sub":"s"}}"#,
            NOW + 9.0
        );
        assert_eq!(run(&c, &no_aud).err(), Some(Reason::WrongClient));
    }

    #[test]
    fn generic_oidc_tokens_may_carry_an_aud_array() {
        let c = cfg("none", "0");
        let t = |aud: &str| {
            format!(
                r#"{{"iss":"{ISS}","aud":{aud},"exp":{},"sub":"s"}}"#,
                NOW + 9.0
            )
        };
        assert_eq!(
            run(&c, &t(r#"["x","client2","client1"]"#))
                .unwrap()
                .client_id(),
            "client1"
        );
        assert_eq!(run(&c, &t(r#""client2""#)).unwrap().client_id(), "client2");
        assert_eq!(run(&c, &t(r#"[]"#)).err(), Some(Reason::WrongClient));
        assert_eq!(run(&c, &t(r#"["x"]"#)).err(), Some(Reason::WrongClient));
    }

    /// The one-pass reader ([`parse`], `token::Header::read`) against the `serde_json`-based
    /// reference on generated inputs: realistic payloads and headers, each mutated many times
    /// by edits drawn from the places where JSON readers differ (escapes, surrogates, numbers at
    /// the edges of `f64`, duplicates, nesting, whitespace, truncation). Same result (the same
    /// claims, or both refused) every time.
    #[test]
    fn the_one_pass_reader_agrees_with_the_reference() {
        use crate::token::Header;
        let seeds: Vec<String> = vec![
            r#"{"sub":"4f1c1b6e-2d0a","cognito:groups":["staff","admin"],"iss":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc","version":2,"client_id":"client1","origin_jti":"o-1","event_id":"e","token_use":"access","scope":"aws.cognito.signin.user.admin a/b","auth_time":1796622178,"exp":1796625778.5,"iat":1796622178,"jti":"j-1","username":"alice"}"#.into(),
            r#"{"aud":["a","b"],"sub":"x","exp":1e3,"nbf":-0,"iat":0.1,"cognito:username":"\u00e9t\u00e9","x":{"y":[1,{"z":null}],"w":true,"v":false}}"#.into(),
            r#"{"aud":"client1","token_use":"id","origin_jti":{"a":[1,2]},"jti":"\ud83d\ude00","scope":"a\nb"}"#.into(),
            r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#.into(),
            r#"{"alg":"ES256","kid":"k\/1","crit":["exp"],"x5u":null}"#.into(),
            format!("{{\"a\":{}1{}}}", "[".repeat(126), "]".repeat(126)),
            " { \"iss\" : \"i\" , \"exp\" : 12 } \n".into(),
        ];
        let pieces: &[&str] = &[
            "\"",
            "\\",
            "\\u",
            "\\ud800",
            "\\udc00",
            "\\ud83d\\ude00",
            "\\u0073",
            "\\x",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\t",
            "\r\n",
            "\u{1}",
            "é",
            "1e400",
            "-0",
            "01",
            "1.",
            ".5",
            "1e-400",
            "18446744073709551616",
            "9007199254740993",
            "-9223372036854775809",
            "null",
            "true",
            "fals",
            "\"iss\":",
            "\"sub\":\"a\",",
            "\"aud\":",
            "\"exp\":",
            "\"crit\":",
            "\"alg\":",
            "\"kid\":1,",
            "\"origin_jti\":",
            "\"cognito:groups\":[\"a\"],",
            "0",
            "e5",
            "E+2",
            "-",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        // the edges, each compared as a whole payload: every pair of `\u` escapes around the
        // surrogate ranges, and nesting around the depth limit
        let edges = [
            "0000", "001f", "007F", "0080", "d7ff", "D800", "dbff", "DC00", "dfff", "E000", "ffff",
        ];
        let mut exact: Vec<String> = Vec::new();
        for a in edges {
            exact.push(format!(r#"{{"sub":"\u{a}"}}"#));
            for b in edges {
                exact.push(format!(r#"{{"sub":"x\u{a}\u{b}y"}}"#));
                exact.push(format!(r#"{{"x":{{"\u{a}\u{b}":1}}}}"#));
            }
        }
        for n in 120..=130 {
            exact.push(format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n)));
            exact.push(format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)));
        }
        for t in &exact {
            assert_eq!(parse(t.as_bytes()), parse_reference(t.as_bytes()), "{t}");
            assert_eq!(
                crate::reader::is_strict_object(t.as_bytes()),
                serde_json::from_slice::<crate::json::Unique>(t.as_bytes()).is_ok(),
                "{t}"
            );
        }
        let (mut cases, mut accepted_claims, mut accepted_headers) = (0, 0, 0);
        for base in &seeds {
            for _ in 0..6000 {
                let mut t = base.clone().into_bytes();
                for _ in 0..1 + rnd(3) {
                    let at = rnd(t.len() + 1);
                    match rnd(4) {
                        0 => {
                            let p = pieces[rnd(pieces.len())].as_bytes();
                            t.splice(at..at, p.iter().copied());
                        }
                        1 if at < t.len() => {
                            let end = (at + 1 + rnd(4)).min(t.len());
                            t.drain(at..end);
                        }
                        2 if at < t.len() => t[at] = pieces[rnd(pieces.len())].as_bytes()[0],
                        _ => t.truncate(at.max(t.len().saturating_sub(rnd(3)))),
                    }
                }
                cases += 1;
                let ours = parse(&t);
                assert_eq!(
                    ours,
                    parse_reference(&t),
                    "{:?}",
                    String::from_utf8_lossy(&t)
                );
                accepted_claims += usize::from(ours.is_ok());
                let h = Header::read(&t).ok();
                let reference = serde_json::from_slice::<Header>(&t).ok();
                assert_eq!(h, reference, "{:?}", String::from_utf8_lossy(&t));
                accepted_headers += usize::from(h.is_some());
                assert_eq!(
                    crate::reader::is_strict_object(&t),
                    serde_json::from_slice::<crate::json::Unique>(&t).is_ok()
                        && t.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
                    "{:?}",
                    String::from_utf8_lossy(&t)
                );
            }
        }
        // the generated inputs reach both sides of every rule
        assert!(
            accepted_claims > cases / 10 && accepted_claims < cases * 9 / 10,
            "{accepted_claims} of {cases}"
        );
        assert!(
            accepted_headers > cases / 10,
            "{accepted_headers} of {cases}"
        );
    }
}
