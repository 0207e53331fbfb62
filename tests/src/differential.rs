//! Well-signed mutations of Cognito-shaped tokens, for the differential tests against
//! independent verifiers (`tests/tests/authorizer_suite/differential.rs`).
//!
//! Tokens are built from raw JSON text, member by member, so what a JSON library would
//! normalise away survives into the signed bytes: duplicate members, escaped member names
//! (`"i\u0073s"`), number forms (`1e10`, `-0`, `1e400`, huge integers), invalid UTF-8 and lone
//! surrogate escapes, non-object documents. Every token is signed with the real RSA key, so a
//! verifier's verdict is about its parsing and claim checks, never about the signature.
//!
//! Each [`Mutation`] says what our authorizer must answer when it refuses (`expect`, the reason
//! code, when one reason is obvious) and which documented "stricter than" class a refusal belongs
//! to (`class`) when an oracle accepts the token. [`STRICTER_CLASSES`] is the list the README's
//! "what we refuse that aws-jwt-verify accepts" table mirrors.

use crate::jwt::{b64, TestKey};

/// Classes of tokens the authorizer refuses although an oracle accepts them, with the reason.
/// A refusal an oracle does not share must fall in one of these (the differential test asserts it).
pub const STRICTER_CLASSES: &[(&str, &str)] = &[
    (
        "duplicate_member",
        "a member name appears twice in the header or the payload, at any depth (also when the names are only equal after unescaping); JSON.parse and serde_json::Value keep the last one, so two parsers can read two different tokens",
    ),
    (
        "invalid_utf8",
        "invalid, overlong or truncated UTF-8 inside a JSON string (RFC 8259 §8.1); Node decodes it to U+FFFD",
    ),
    (
        "lone_surrogate",
        "a \\uD800-\\uDFFF escape without its pair: not a Unicode scalar value, not representable in a Rust string",
    ),
    (
        "number_out_of_range",
        "a number outside IEEE-754 double range (1e400): JSON.parse turns it into Infinity",
    ),
    (
        "nesting_too_deep",
        "JSON nested deeper than the parser's recursion limit (128)",
    ),
    (
        "iat_in_future",
        "iat later than now + 60 s (+ LEEWAY_SECONDS): aws-jwt-verify and jsonwebtoken do not check iat",
    ),
    (
        "missing_exp",
        "no exp: aws-jwt-verify accepts a token that never expires",
    ),
    (
        "missing_or_empty_sub",
        "no sub, or an empty one: principalId and the crud owner key come from sub",
    ),
    (
        "crit_header",
        "a crit header in any form (null included): no extension is understood, RFC 7515 §4.1.11",
    ),
    (
        "null_claim",
        "a claim the authorizer reads (username, cognito:username, cognito:groups, scope, client_id, token_use, aud, ...) present as null: null is a wrong type, not an absence",
    ),
    (
        "mistyped_claim",
        "a claim the authorizer reads present with the wrong type (cognito:groups as a string, username as a number, client_id on an id token as a number)",
    ),
    (
        "id_aud_array",
        "TOKEN_USE=id with aud an array: Cognito id tokens carry a string aud (jsonwebtoken accepts arrays)",
    ),
    (
        "iss_array",
        "iss an array (jsonwebtoken accepts an array containing the issuer)",
    ),
    (
        "group_name_separator",
        "a cognito:groups name that is empty or contains ',': the context's groups is the names joined with ',', which would then read back as another list (['staff,admin'] and ['staff','admin'] would both be 'staff,admin')",
    ),
    (
        "token_too_large",
        "the raw token is over MAX_TOKEN_BYTES (default 8192)",
    ),
];

/// Documented cases where jsonwebtoken refuses a token the authorizer accepts (never used for
/// aws-jwt-verify: we always refuse what it refuses).
pub const LAXER_THAN_JSONWEBTOKEN: &[(&str, &str)] = &[
    (
        "header_member_type",
        "a header member the authorizer never reads (typ, cty, jku, x5u, x5c, jwk, an unknown name) with a JSON type jsonwebtoken's Header struct does not model; RFC 7515 §4 lets a verifier ignore header parameters it does not use (aws-jwt-verify ignores them too)",
    ),
    (
        "numeric_date_outside_u64",
        "exp/nbf that is negative or ≥ 2^64: jsonwebtoken keeps NumericDate in a u64 and refuses the rest; the authorizer compares the number (a negative nbf is in the past, a huge exp in the future), as aws-jwt-verify does",
    ),
];

/// splitmix64: small, seedable, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Which Cognito token the authorizer is configured for (`TOKEN_USE`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Use {
    Access,
    Id,
}

impl Use {
    pub fn name(self) -> &'static str {
        match self {
            Use::Access => "access",
            Use::Id => "id",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Part {
    Header,
    Payload,
}

/// A JSON document as raw text: an object kept member by member, or any bytes at all.
#[derive(Clone, Debug)]
pub enum Doc {
    Object(Vec<(Vec<u8>, Vec<u8>)>),
    Raw(Vec<u8>),
}

/// `name` as a JSON string literal.
pub fn q(name: &str) -> Vec<u8> {
    serde_json::to_vec(name).expect("json string")
}

fn raw(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

impl Doc {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Doc::Raw(b) => b.clone(),
            Doc::Object(m) => {
                let mut out = vec![b'{'];
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(k);
                    out.push(b':');
                    out.extend_from_slice(v);
                }
                out.push(b'}');
                out
            }
        }
    }

    fn members(&mut self) -> Option<&mut Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            Doc::Object(m) => Some(m),
            Doc::Raw(_) => None,
        }
    }

    /// The first member whose name is `name`, also when written with escapes (`"user\u006eame"`),
    /// so an edit of a member whose name another mutation escaped edits that member instead of
    /// adding an unclassified duplicate.
    fn position(&mut self, name: &str) -> Option<usize> {
        let k = q(name);
        self.members()?.iter().position(|(mk, _)| {
            *mk == k || serde_json::from_slice::<String>(mk).is_ok_and(|n| n == name)
        })
    }

    /// Replace the member's value, or append the member.
    fn set(&mut self, name: &str, v: Vec<u8>) {
        match self.position(name) {
            Some(i) => self.members().expect("object")[i].1 = v,
            None => {
                if let Some(m) = self.members() {
                    m.push((q(name), v));
                }
            }
        }
    }

    fn get(&mut self, name: &str) -> Option<Vec<u8>> {
        let i = self.position(name)?;
        Some(self.members()?[i].1.clone())
    }
}

/// One edit of a token's header or payload text.
#[derive(Clone, Debug)]
pub enum Op {
    /// Set member `name` to this raw JSON value (appended when absent).
    Set(Part, String, Vec<u8>),
    /// Remove member `name`.
    Remove(Part, String),
    /// Replace member `name` by two members of that name: `first`, then `last` (raw values;
    /// `None` means the member's current value).
    Dup(Part, String, Option<Vec<u8>>, Option<Vec<u8>>),
    /// Append a member whose name is given as raw JSON text (e.g. `"i\u0073s"`).
    Push(Part, Vec<u8>, Vec<u8>),
    /// Give member `name` this raw JSON name text instead.
    Rename(Part, String, Vec<u8>),
    /// Replace the whole document by these bytes.
    Replace(Part, Vec<u8>),
    /// Replace the whole document by a function of its current bytes.
    Map(Part, fn(Vec<u8>) -> Vec<u8>),
}

/// A named mutation: its edits, the reason code the authorizer must give when it refuses the
/// token (when one is obvious), and the documented class of such a refusal.
#[derive(Clone, Debug)]
pub struct Mutation {
    pub name: String,
    pub ops: Vec<Op>,
    pub expect: Option<&'static str>,
    /// Class from [`STRICTER_CLASSES`] that covers our refusal when an oracle accepts.
    pub class: Option<&'static str>,
    /// Class from [`LAXER_THAN_JSONWEBTOKEN`] that covers our acceptance when jsonwebtoken refuses.
    pub laxer: Option<&'static str>,
}

impl Mutation {
    fn new(name: impl Into<String>, ops: Vec<Op>) -> Mutation {
        Mutation {
            name: name.into(),
            ops,
            expect: None,
            class: None,
            laxer: None,
        }
    }
    fn expect(mut self, r: &'static str) -> Mutation {
        self.expect = Some(r);
        self
    }
    fn expect_opt(mut self, r: Option<&'static str>) -> Mutation {
        self.expect = r;
        self
    }
    fn class(mut self, c: &'static str) -> Mutation {
        self.class = Some(c);
        self
    }
    fn class_opt(mut self, c: Option<&'static str>) -> Mutation {
        self.class = c;
        self
    }
    fn laxer(mut self, c: &'static str) -> Mutation {
        self.laxer = Some(c);
        self
    }
}

/// The settings the generated tokens are made for.
#[derive(Clone, Debug)]
pub struct Target {
    pub iss: String,
    pub client: String,
    pub kid: String,
    pub token_use: Use,
    /// "Now" at generation, whole seconds; every time claim is relative to it.
    pub t0: i64,
}

/// One generated token with everything needed to judge the verdicts on it.
#[derive(Clone, Debug)]
pub struct Case {
    pub token: String,
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    /// Names of the mutations applied (empty: the unmutated baseline).
    pub names: Vec<String>,
    /// Expected reason code on refusal (only for single mutations that have one).
    pub expect: Option<&'static str>,
    pub classes: Vec<&'static str>,
    pub laxer: Vec<&'static str>,
}

impl Case {
    pub fn describe(&self) -> String {
        let show = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            if s.len() > 400 {
                format!(
                    "{}…({} bytes)",
                    &s[..s.floor_char_boundary_compat(400)],
                    b.len()
                )
            } else {
                s.into_owned()
            }
        };
        format!(
            "[{}] header={} payload={}",
            if self.names.is_empty() {
                "baseline".to_string()
            } else {
                self.names.join(" + ")
            },
            show(&self.header),
            show(&self.payload)
        )
    }
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        if i >= self.len() {
            return self.len();
        }
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

fn base_header(t: &Target) -> Doc {
    Doc::Object(vec![(q("kid"), q(&t.kid)), (q("alg"), q("RS256"))])
}

/// Cognito's own member order and claims, valid for an hour from `t0`.
fn base_payload(t: &Target) -> Doc {
    let n = |v: i64| raw(&v.to_string());
    let sub = q("6f1c2d9e-1111-4a2b-9c3d-222233334444");
    let groups = raw(r#"["admins","users"]"#);
    let m = match t.token_use {
        Use::Access => vec![
            (q("sub"), sub),
            (q("cognito:groups"), groups),
            (q("iss"), q(&t.iss)),
            (q("version"), raw("2")),
            (q("client_id"), q(&t.client)),
            (q("origin_jti"), q("0d5b6c8e-aaaa-4bbb-8ccc-ddddeeeeffff")),
            (q("event_id"), q("e1f2a3b4-1234-4567-89ab-cdef01234567")),
            (q("token_use"), q("access")),
            (q("scope"), q("aws.cognito.signin.user.admin")),
            (q("auth_time"), n(t.t0 - 10)),
            (q("exp"), n(t.t0 + 3600)),
            (q("iat"), n(t.t0 - 10)),
            (q("jti"), q("a1b2c3d4-0000-4111-8222-333344445555")),
            (q("username"), q("alice")),
        ],
        Use::Id => vec![
            (q("sub"), sub),
            (q("cognito:groups"), groups),
            (q("email_verified"), raw("true")),
            (q("iss"), q(&t.iss)),
            (q("cognito:username"), q("alice")),
            (q("origin_jti"), q("0d5b6c8e-aaaa-4bbb-8ccc-ddddeeeeffff")),
            (q("aud"), q(&t.client)),
            (q("event_id"), q("e1f2a3b4-1234-4567-89ab-cdef01234567")),
            (q("token_use"), q("id")),
            (q("auth_time"), n(t.t0 - 10)),
            (q("exp"), n(t.t0 + 3600)),
            (q("iat"), n(t.t0 - 10)),
            (q("jti"), q("a1b2c3d4-0000-4111-8222-333344445555")),
            (q("email"), q("alice@example.com")),
        ],
    };
    Doc::Object(m)
}

/// What the authorizer does with a claim.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A string the authorizer reads and types.
    Str,
    /// A string nobody checks (origin_jti, event_id, email).
    FreeStr,
    /// A NumericDate the authorizer reads (exp, nbf, iat).
    Date,
    /// A number nobody checks (auth_time, version).
    FreeNum,
    /// An array of strings the authorizer reads (cognito:groups).
    StrArray,
    /// aud: a string (or, except with TOKEN_USE=id, an array of strings).
    Aud,
    /// A boolean nobody checks (email_verified).
    FreeBool,
}

/// Claims the mutations cover, with their kind, for one token use.
fn claims(u: Use) -> Vec<(&'static str, Kind)> {
    let mut v = vec![
        ("sub", Kind::Str),
        ("iss", Kind::Str),
        ("token_use", Kind::Str),
        ("exp", Kind::Date),
        ("iat", Kind::Date),
        ("nbf", Kind::Date),
        ("jti", Kind::Str),
        ("scope", Kind::Str),
        ("username", Kind::Str),
        ("cognito:username", Kind::Str),
        ("cognito:groups", Kind::StrArray),
        ("client_id", Kind::Str),
        ("aud", Kind::Aud),
        ("auth_time", Kind::FreeNum),
        ("origin_jti", Kind::FreeStr),
        ("event_id", Kind::FreeStr),
    ];
    match u {
        Use::Access => v.push(("version", Kind::FreeNum)),
        Use::Id => {
            v.push(("email", Kind::FreeStr));
            v.push(("email_verified", Kind::FreeBool));
        }
    }
    v
}

fn set(name: &str, v: &str) -> Vec<Op> {
    vec![Op::Set(Part::Payload, name.into(), raw(v))]
}

fn set_bytes(name: &str, v: Vec<u8>) -> Vec<Op> {
    vec![Op::Set(Part::Payload, name.into(), v)]
}

fn hset(name: &str, v: &str) -> Vec<Op> {
    vec![Op::Set(Part::Header, name.into(), raw(v))]
}

/// Is this claim one whose absence or emptiness refuses the token, and with which reason?
fn required(u: Use, name: &str) -> Option<&'static str> {
    match (name, u) {
        ("iss", _) => Some("wrong_issuer"),
        ("sub", _) => Some("missing_sub"),
        ("exp", _) => Some("missing_exp"),
        ("token_use", _) => Some("wrong_token_use"),
        ("client_id", Use::Access) => Some("wrong_client"),
        ("aud", Use::Id) => Some("wrong_client"),
        _ => None,
    }
}

/// Every single mutation for a target: header members, every claim absent / null / mistyped /
/// empty / duplicated / escaped, boundary times, number forms, bad UTF-8, non-object documents.
pub fn mutations(t: &Target) -> Vec<Mutation> {
    let u = t.token_use;
    let t0 = t.t0;
    let mut out: Vec<Mutation> = Vec::new();
    let mut add = |m: Mutation| out.push(m);

    // ---- header ----
    for alg in [
        "none", "None", "HS256", "RS384", "RS512", "PS256", "ES256", "rs256", "", "RS256 ",
    ] {
        add(Mutation::new(
            format!("header.alg={alg:?}"),
            hset("alg", &String::from_utf8(q(alg)).unwrap_or_default()),
        )
        .expect("alg_not_allowed"));
    }
    add(Mutation::new(
        "header.alg escaped equal",
        hset("alg", r#""RS\u0032\u0035\u0036""#),
    ));
    for v in ["null", "256", "true", r#"["RS256"]"#, r#"{"name":"RS256"}"#] {
        add(Mutation::new(format!("header.alg={v}"), hset("alg", v)).expect("malformed_token"));
    }
    add(Mutation::new(
        // no single obvious reason: malformed_token or alg_not_allowed
        "header.alg absent",
        vec![Op::Remove(Part::Header, "alg".into())],
    ));
    add(Mutation::new(
        "header.kid absent",
        vec![Op::Remove(Part::Header, "kid".into())],
    )
    .expect("missing_kid"));
    add(Mutation::new("header.kid=\"\"", hset("kid", r#""""#)).expect("missing_kid"));
    add(Mutation::new("header.kid=null", hset("kid", "null")));
    add(Mutation::new("header.kid=unknown", hset("kid", r#""no-such-key""#)).expect("unknown_kid"));
    add(Mutation::new(
        "header.kid case",
        hset(
            "kid",
            &String::from_utf8(q(&t.kid.to_uppercase())).unwrap_or_default(),
        ),
    )
    .expect("unknown_kid"));
    add(Mutation::new(
        "header.kid 300 chars",
        hset("kid", &format!("\"{}\"", "k".repeat(300))),
    )
    .expect("missing_kid"));
    for v in ["7", "true", r#"["k"]"#, "{}"] {
        add(Mutation::new(format!("header.kid={v}"), hset("kid", v)).expect("malformed_token"));
    }
    {
        let esc: String = t
            .kid
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        add(Mutation::new(
            "header.kid escaped equal",
            hset("kid", &format!("\"{esc}\"")),
        ));
    }
    for v in [r#""JWT""#, r#""at+jwt""#, r#""""#, "null"] {
        add(Mutation::new(format!("header.typ={v}"), hset("typ", v)));
    }
    for v in ["5", "{}", r#"["JWT"]"#] {
        add(Mutation::new(format!("header.typ={v}"), hset("typ", v)).laxer("header_member_type"));
    }
    add(Mutation::new("header.cty=\"JWT\"", hset("cty", r#""JWT""#)));
    add(Mutation::new("header.cty=1", hset("cty", "1")).laxer("header_member_type"));
    for v in [
        r#"["exp"]"#,
        "[]",
        "null",
        r#""exp""#,
        "{}",
        r#"["b64"]"#,
        "0",
        "false",
    ] {
        add(Mutation::new(format!("header.crit={v}"), hset("crit", v))
            .expect("crit_header")
            .class("crit_header"));
    }
    add(Mutation::new(
        "header.jku elsewhere",
        hset("jku", r#""https://attacker.example/jwks.json""#),
    ));
    add(Mutation::new(
        "header.x5u elsewhere",
        hset("x5u", r#""https://attacker.example/cert.pem""#),
    ));
    add(Mutation::new("header.x5c junk", hset("x5c", r#"["MIIB"]"#)));
    add(Mutation::new(
        "header.jwk junk",
        hset("jwk", r#"{"kty":"oct","k":"AAAA"}"#),
    )
    .laxer("header_member_type"));
    add(Mutation::new(
        "header.x-unknown=\"bar\"",
        hset("x-unknown", r#""bar""#),
    ));
    for v in ["1", "null", "true", "{}", "[]", r#"{"a":[1,{"b":null}]}"#] {
        add(
            Mutation::new(format!("header.x-unknown={v}"), hset("x-unknown", v))
                .laxer("header_member_type"),
        );
    }
    for name in ["alg", "kid"] {
        add(Mutation::new(
            format!("header.{name} duplicated (same)"),
            vec![Op::Dup(Part::Header, name.into(), None, None)],
        )
        .expect("malformed_token")
        .class("duplicate_member"));
    }
    add(Mutation::new(
        "header.alg duplicated (none, RS256)",
        vec![Op::Dup(Part::Header, "alg".into(), Some(q("none")), None)],
    )
    .expect("malformed_token")
    .class("duplicate_member"));
    add(Mutation::new(
        "header.alg duplicated (RS256, none)",
        vec![Op::Dup(Part::Header, "alg".into(), None, Some(q("none")))],
    )
    .expect("malformed_token")
    .class("duplicate_member"));
    add(Mutation::new(
        "header.kid duplicated (other, real)",
        vec![Op::Dup(Part::Header, "kid".into(), Some(q("other")), None)],
    )
    .expect("malformed_token")
    .class("duplicate_member"));
    add(Mutation::new(
        "header.typ duplicated",
        vec![
            Op::Set(Part::Header, "typ".into(), q("JWT")),
            Op::Dup(Part::Header, "typ".into(), None, None),
        ],
    )
    .expect("malformed_token")
    .class("duplicate_member"));
    add(Mutation::new(
        "header.x-unknown duplicated",
        vec![
            Op::Set(Part::Header, "x".into(), q("1")),
            Op::Dup(Part::Header, "x".into(), None, Some(q("2"))),
        ],
    )
    .expect("malformed_token")
    .class("duplicate_member"));
    add(Mutation::new(
        "header.\\u0061lg (escaped duplicate name)",
        vec![Op::Push(Part::Header, raw(r#""\u0061lg""#), q("RS256"))],
    )
    .expect("malformed_token")
    .class("duplicate_member"));
    add(
        Mutation::new("header nested duplicate", hset("x-obj", r#"{"a":1,"a":1}"#))
            .expect("malformed_token")
            .class("duplicate_member"),
    );
    add(Mutation::new(
        "header.\\u0061lg only (escaped name)",
        vec![Op::Rename(Part::Header, "alg".into(), raw(r#""\u0061lg""#))],
    ));
    for doc in [
        format!(r#"["RS256","{}"]"#, t.kid),
        format!(r#"["RS256","{}",null]"#, t.kid),
        "[]".to_string(),
        "null".to_string(),
        r#""RS256""#.to_string(),
        "1".to_string(),
        "true".to_string(),
    ] {
        add(Mutation::new(
            format!("header is {doc}"),
            vec![Op::Replace(Part::Header, raw(&doc))],
        )
        .expect("malformed_token"));
    }
    add(Mutation::new(
        "header pretty-printed",
        vec![Op::Map(Part::Header, pretty)],
    ));
    add(Mutation::new(
        "header trailing whitespace",
        vec![Op::Map(Part::Header, |mut b| {
            b.extend_from_slice(b" \n\t");
            b
        })],
    ));
    add(Mutation::new(
        "header trailing garbage",
        vec![Op::Map(Part::Header, |mut b| {
            b.extend_from_slice(b"x");
            b
        })],
    )
    .expect("malformed_token"));
    add(Mutation::new(
        "header trailing comma",
        vec![Op::Map(Part::Header, trailing_comma)],
    )
    .expect("malformed_token"));
    add(Mutation::new(
        "header BOM",
        vec![Op::Map(Part::Header, |b| {
            [b"\xef\xbb\xbf".to_vec(), b].concat()
        })],
    )
    .expect("malformed_token"));
    add(Mutation::new(
        "header.x invalid UTF-8",
        vec![Op::Set(Part::Header, "x".into(), b"\"a\xffb\"".to_vec())],
    )
    .expect("malformed_token")
    .class("invalid_utf8"));
    add(
        Mutation::new("header.x lone surrogate", hset("x", r#""\ud800""#))
            .expect("malformed_token")
            .class("lone_surrogate"),
    );
    add(Mutation::new(
        "header.kid invalid UTF-8",
        vec![Op::Set(
            Part::Header,
            "kid".into(),
            [
                b"\"".to_vec(),
                t.kid.as_bytes().to_vec(),
                b"\xc0\xaf\"".to_vec(),
            ]
            .concat(),
        )],
    )
    .expect("malformed_token")
    .class("invalid_utf8"));

    // ---- payload: every claim ----
    for (name, kind) in claims(u) {
        let req = required(u, name);
        let typed = matches!(kind, Kind::Str | Kind::Date | Kind::StrArray | Kind::Aud);
        // client_id on an id token / aud on an access token: read (typed) but not required.
        // absent
        let absent_class = match name {
            "exp" => Some("missing_exp"),
            "sub" => Some("missing_or_empty_sub"),
            _ => None,
        };
        add(Mutation::new(
            format!("{name} absent"),
            vec![Op::Remove(Part::Payload, name.into())],
        )
        .expect_opt(req)
        .class_opt(absent_class));
        // null: a wrong type for every claim the authorizer reads
        add(Mutation::new(format!("{name}=null"), set(name, "null"))
            .expect_opt(typed.then_some("malformed_claims"))
            .class_opt(typed.then_some("null_claim")));
        // wrong types
        let wrong: &[&str] = match kind {
            Kind::Str | Kind::FreeStr => &["5", "true", "{}", r#"["alice"]"#, "1.5"],
            Kind::Date | Kind::FreeNum => {
                &[r#""1700000000""#, "true", "{}", "[1700000000]", r#""""#]
            }
            Kind::StrArray => &[
                r#""admins""#,
                "[1]",
                "[null]",
                r#"[["admins"]]"#,
                "{}",
                "true",
            ],
            Kind::Aud => &["5", "true", "{}", "[5]", "[null]"],
            Kind::FreeBool => &[r#""true""#, "1", "{}"],
        };
        for w in wrong {
            let m = Mutation::new(format!("{name}={w}"), set(name, w));
            let m = if typed {
                m.expect("malformed_claims").class("mistyped_claim")
            } else {
                m
            };
            add(m);
        }
        // empty
        match kind {
            Kind::Str | Kind::FreeStr => {
                let class = (name == "sub").then_some("missing_or_empty_sub");
                add(Mutation::new(format!("{name}=\"\""), set(name, r#""""#))
                    .expect_opt(req)
                    .class_opt(class));
            }
            Kind::StrArray => add(Mutation::new(format!("{name}=[]"), set(name, "[]"))),
            Kind::Aud => {
                add(Mutation::new(format!("{name}=\"\""), set(name, r#""""#)).expect_opt(req));
                // TOKEN_USE=id: aud must be a string, so any array is a type error
                let m = Mutation::new(format!("{name}=[]"), set(name, "[]"));
                add(match u {
                    Use::Id => m.expect("malformed_claims").class("id_aud_array"),
                    Use::Access => m,
                });
            }
            _ => {}
        }
        // duplicated as raw JSON text: same value, then bad-first and bad-last
        let other = match kind {
            Kind::Str | Kind::FreeStr | Kind::Aud => q("other-value"),
            Kind::Date | Kind::FreeNum => raw(&(t0 - 7200).to_string()),
            Kind::StrArray => raw(r#"["root"]"#),
            Kind::FreeBool => raw("false"),
        };
        let dup_base = |first: Option<Vec<u8>>, last: Option<Vec<u8>>| {
            let mut ops = Vec::new();
            // a claim the base token lacks is added first, so there is something to duplicate
            if base_payload(t).get(name).is_none() {
                ops.push(Op::Set(Part::Payload, name.into(), default_value(t, name)));
            }
            ops.push(Op::Dup(Part::Payload, name.into(), first, last));
            ops
        };
        add(
            Mutation::new(format!("{name} duplicated (same)"), dup_base(None, None))
                .expect("malformed_claims")
                .class("duplicate_member"),
        );
        add(Mutation::new(
            format!("{name} duplicated (other first)"),
            dup_base(Some(other.clone()), None),
        )
        .expect("malformed_claims")
        .class("duplicate_member"));
        add(Mutation::new(
            format!("{name} duplicated (other last)"),
            dup_base(None, Some(other)),
        )
        .expect("malformed_claims")
        .class("duplicate_member"));
        // the name escaped: an equal name (allowed), and as a duplicate of the plain one
        let esc_name = escape_first_letter(name);
        let mut ops = dup_base(None, None);
        ops.pop();
        ops.push(Op::Rename(Part::Payload, name.into(), esc_name.clone()));
        add(Mutation::new(format!("{name} name escaped"), ops));
        let mut ops = dup_base(None, None);
        ops.pop();
        let cur = default_value(t, name);
        ops.push(Op::Push(Part::Payload, esc_name, cur));
        add(
            Mutation::new(format!("{name} + escaped-name duplicate"), ops)
                .expect("malformed_claims")
                .class("duplicate_member"),
        );
        // string values: escaped-equal, invalid UTF-8, lone surrogates
        if matches!(kind, Kind::Str | Kind::FreeStr | Kind::Aud) {
            let v = string_value(t, name);
            let esc: String = v
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        format!("\\u{:04x}", c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            add(Mutation::new(
                format!("{name} value escaped equal"),
                set(name, &format!("\"{esc}\"")),
            ));
            add(Mutation::new(
                format!("{name} value with \\/ escape"),
                set(name, &format!("\"{}\\/\"", v.replace('/', "\\/"))),
            )
            .expect_opt(match name {
                "iss" => Some("wrong_issuer"),
                "client_id" if u == Use::Access => Some("wrong_client"),
                "aud" if u == Use::Id => Some("wrong_client"),
                "token_use" => Some("wrong_token_use"),
                _ => None,
            }));
            for (what, bytes) in [
                ("invalid UTF-8 (0xff)", b"\xff".to_vec()),
                ("overlong UTF-8 (c0 af)", b"\xc0\xaf".to_vec()),
                ("truncated UTF-8 (e2 82)", b"\xe2\x82".to_vec()),
                ("UTF-8 surrogate (ed a0 80)", b"\xed\xa0\x80".to_vec()),
            ] {
                let mut b = vec![b'"'];
                b.extend_from_slice(v.as_bytes());
                b.extend_from_slice(&bytes);
                b.push(b'"');
                add(Mutation::new(format!("{name} {what}"), set_bytes(name, b))
                    .expect("malformed_claims")
                    .class("invalid_utf8"));
            }
            for s in [r"\ud800", r"\udc00", r"\ud800\u0041", r"\udbff\udbff"] {
                add(Mutation::new(
                    format!("{name} lone surrogate {s}"),
                    set(name, &format!("\"{v}{s}\"")),
                )
                .expect("malformed_claims")
                .class("lone_surrogate"));
            }
            add(Mutation::new(
                format!("{name} valid surrogate pair"),
                set(name, &format!("\"{v}\\ud83d\\ude00\"")),
            )
            .expect_opt(match name {
                "iss" => Some("wrong_issuer"),
                "client_id" if u == Use::Access => Some("wrong_client"),
                "aud" if u == Use::Id => Some("wrong_client"),
                "token_use" => Some("wrong_token_use"),
                _ => None,
            }));
        }
    }

    // ---- payload: values ----
    add(Mutation::new(
        "iss other pool",
        set(
            "iss",
            &String::from_utf8(q(&t.iss.replace("TestPool", "OtherPool"))).unwrap_or_default(),
        ),
    )
    .expect("wrong_issuer"));
    add(Mutation::new(
        "iss trailing slash",
        set(
            "iss",
            &String::from_utf8(q(&format!("{}/", t.iss))).unwrap_or_default(),
        ),
    )
    .expect("wrong_issuer"));
    add(Mutation::new(
        "iss upper case",
        set(
            "iss",
            &String::from_utf8(q(&t.iss.to_uppercase())).unwrap_or_default(),
        ),
    )
    .expect("wrong_issuer"));
    add(Mutation::new(
        "iss http",
        set(
            "iss",
            &String::from_utf8(q(&t.iss.replace("https://", "http://"))).unwrap_or_default(),
        ),
    )
    .expect("wrong_issuer"));
    add(Mutation::new(
        "iss=[iss]",
        set(
            "iss",
            &format!("[{}]", String::from_utf8(q(&t.iss)).unwrap_or_default()),
        ),
    )
    .expect("malformed_claims")
    .class("iss_array"));
    add(
        Mutation::new("iss with NUL", set("iss", &format!("\"{}\\u0000\"", t.iss)))
            .expect("wrong_issuer"),
    );
    let (own, other_use) = match u {
        Use::Access => ("access", "id"),
        Use::Id => ("id", "access"),
    };
    add(Mutation::new(
        format!("token_use={other_use}"),
        set("token_use", &format!("\"{other_use}\"")),
    )
    .expect("wrong_token_use"));
    add(Mutation::new(
        "token_use upper",
        set("token_use", &format!("\"{}\"", own.to_uppercase())),
    )
    .expect("wrong_token_use"));
    add(
        Mutation::new("token_use=[own]", set("token_use", &format!("[\"{own}\"]")))
            .expect("malformed_claims")
            .class("mistyped_claim"),
    );
    match u {
        Use::Access => {
            add(
                Mutation::new("client_id other", set("client_id", r#""other-client""#))
                    .expect("wrong_client"),
            );
            add(Mutation::new(
                "client_id absent, aud=client",
                vec![
                    Op::Remove(Part::Payload, "client_id".into()),
                    Op::Set(Part::Payload, "aud".into(), q(&t.client)),
                ],
            )
            .expect("wrong_client"));
            add(Mutation::new(
                "aud=client (access)",
                set("aud", &String::from_utf8(q(&t.client)).unwrap_or_default()),
            ));
            add(Mutation::new(
                "aud=[client, other] (access)",
                set("aud", &format!(r#"["{}","x"]"#, t.client)),
            ));
        }
        Use::Id => {
            add(Mutation::new("aud other", set("aud", r#""other-client""#)).expect("wrong_client"));
            add(
                Mutation::new("aud=[client]", set("aud", &format!(r#"["{}"]"#, t.client)))
                    .expect("malformed_claims")
                    .class("id_aud_array"),
            );
            add(Mutation::new(
                "aud=[other, client]",
                set("aud", &format!(r#"["other","{}"]"#, t.client)),
            )
            .expect("malformed_claims")
            .class("id_aud_array"));
            add(Mutation::new("aud=[other]", set("aud", r#"["other"]"#))
                .expect("malformed_claims")
                .class("id_aud_array"));
            add(Mutation::new(
                "aud absent, client_id=client",
                vec![
                    Op::Remove(Part::Payload, "aud".into()),
                    Op::Set(Part::Payload, "client_id".into(), q(&t.client)),
                ],
            )
            .expect("wrong_client"));
            add(Mutation::new(
                "client_id=client (id)",
                set(
                    "client_id",
                    &String::from_utf8(q(&t.client)).unwrap_or_default(),
                ),
            ));
        }
    }
    add(Mutation::new("sub=\" \"", set("sub", r#"" ""#)));
    add(Mutation::new(
        "sub 1000 chars",
        set("sub", &format!("\"{}\"", "s".repeat(1000))),
    ));
    add(Mutation::new(
        "username unicode",
        set("username", r#""\u00e9l\u00e8ve \ud83d\ude00""#),
    ));
    add(Mutation::new(
        "scope several",
        set("scope", r#""openid email  profile""#),
    ));
    add(Mutation::new(
        "cognito:groups many",
        set("cognito:groups", r#"["a","b;c","d e"]"#),
    ));
    add(Mutation::new(
        "cognito:groups with a comma",
        set("cognito:groups", r#"["a","b,c","d e"]"#),
    )
    .expect("ambiguous_groups")
    .class("group_name_separator"));
    add(Mutation::new(
        "cognito:groups with an empty name",
        set("cognito:groups", r#"["a",""]"#),
    )
    .expect("ambiguous_groups")
    .class("group_name_separator"));

    // ---- payload: times ----
    let date = |name: &str,
                v: &str,
                expect: Option<&'static str>,
                class: Option<&'static str>,
                laxer: Option<&'static str>| {
        let mut m = Mutation::new(format!("{name}={v}"), set(name, v))
            .expect_opt(expect)
            .class_opt(class);
        m.laxer = laxer;
        m
    };
    let e = t0 + 3600;
    let exp_forms: Vec<DateForm> = vec![
        ((t0 - 1).to_string(), Some("expired"), None, None),
        ((t0 - 3600).to_string(), Some("expired"), None, None),
        ("0".into(), Some("expired"), None, None),
        ("-0".into(), Some("expired"), None, None),
        ("-1".into(), Some("expired"), None, None),
        ("1.5".into(), Some("expired"), None, None),
        ("1e10".into(), None, None, None),
        ("1E10".into(), None, None, None),
        ("0.00001e15".into(), None, None, None),
        (format!("{e}.0"), None, None, None),
        (format!("{e}.5"), None, None, None),
        (format!("{e}e0"), None, None, None),
        (format!("{}e-1", e * 10), None, None, None),
        (format!("{}E+1", e / 10 + 1), None, None, None),
        ("9007199254740993".into(), None, None, None),
        (
            "1.8446744073709552e19".into(),
            None,
            None,
            Some("numeric_date_outside_u64"),
        ),
        (
            "123456789012345678901234567890".into(),
            None,
            None,
            Some("numeric_date_outside_u64"),
        ),
        ("1e300".into(), None, None, Some("numeric_date_outside_u64")),
        (
            "1e400".into(),
            Some("malformed_claims"),
            Some("number_out_of_range"),
            None,
        ),
        (
            "-1e400".into(),
            Some("malformed_claims"),
            Some("number_out_of_range"),
            None,
        ),
        (format!("{e}0"), None, None, None),
    ];
    for (v, ex, c, l) in exp_forms {
        add(date("exp", &v, ex, c, l));
    }
    let nbf_forms: Vec<DateForm> = vec![
        (t0.to_string(), None, None, None),
        ((t0 - 3600).to_string(), None, None, None),
        ((t0 + 3600).to_string(), Some("not_yet_valid"), None, None),
        (
            format!("{}.5", t0 + 3600),
            Some("not_yet_valid"),
            None,
            None,
        ),
        ("0".into(), None, None, None),
        ("-0".into(), None, None, None),
        ("-1".into(), None, None, Some("numeric_date_outside_u64")),
        ("1.5".into(), None, None, None),
        ("1e10".into(), Some("not_yet_valid"), None, None),
        (
            "123456789012345678901234567890".into(),
            Some("not_yet_valid"),
            None,
            None,
        ),
        (
            "1e400".into(),
            Some("malformed_claims"),
            Some("number_out_of_range"),
            None,
        ),
        (
            "-1e400".into(),
            Some("malformed_claims"),
            Some("number_out_of_range"),
            None,
        ),
        (format!("{}e-1", t0 * 10), None, None, None),
    ];
    for (v, ex, c, l) in nbf_forms {
        add(date("nbf", &v, ex, c, l));
    }
    let iat_forms: Vec<(String, Option<&'static str>, Option<&'static str>)> = vec![
        ((t0 + 60).to_string(), None, None),
        (
            (t0 + 3600).to_string(),
            Some("iat_in_future"),
            Some("iat_in_future"),
        ),
        (
            (t0 + 86400).to_string(),
            Some("iat_in_future"),
            Some("iat_in_future"),
        ),
        ("1e10".into(), Some("iat_in_future"), Some("iat_in_future")),
        (
            "123456789012345678901234567890".into(),
            Some("iat_in_future"),
            Some("iat_in_future"),
        ),
        ("0".into(), None, None),
        ("-1".into(), None, None),
        ("-0".into(), None, None),
        ("1.5".into(), None, None),
        ((t0 - 86400 * 3650).to_string(), None, None),
        (
            "1e400".into(),
            Some("malformed_claims"),
            Some("number_out_of_range"),
        ),
        (
            "-1e400".into(),
            Some("malformed_claims"),
            Some("number_out_of_range"),
        ),
    ];
    for (v, ex, c) in iat_forms {
        add(date("iat", &v, ex, c, None));
    }
    for name in ["auth_time"] {
        for v in ["1e10", "-1", "1.5", "123456789012345678901234567890"] {
            add(date(name, v, None, None, None));
        }
        add(date(name, "1e400", None, Some("number_out_of_range"), None));
    }
    if u == Use::Access {
        add(date(
            "version",
            "1e400",
            None,
            Some("number_out_of_range"),
            None,
        ));
        add(date("version", "-0", None, None, None));
    }

    // ---- payload: extra members and whole-document forms ----
    for v in [
        r#""x""#,
        "1",
        "null",
        "true",
        "[]",
        "{}",
        r#"{"a":{"b":[1,2,{"c":null}]}}"#,
        "1e308",
        "-0",
    ] {
        add(Mutation::new(
            format!("extra member = {v}"),
            set("x-extra", v),
        ));
    }
    add(Mutation::new(
        "__proto__ member",
        set("__proto__", r#"{"token_use":"other"}"#),
    ));
    add(Mutation::new("constructor member", set("constructor", "1")));
    add(
        Mutation::new("extra nested duplicate", set("x-extra", r#"{"a":1,"a":1}"#))
            .expect("malformed_claims")
            .class("duplicate_member"),
    );
    add(Mutation::new(
        "extra deeply nested duplicate",
        set("x-extra", r#"[{"a":[{"b":1,"c":2,"b":3}]}]"#),
    )
    .expect("malformed_claims")
    .class("duplicate_member"));
    add(Mutation::new(
        "extra nested escaped duplicate",
        set("x-extra", r#"{"ab":1,"a\u0062":1}"#),
    )
    .expect("malformed_claims")
    .class("duplicate_member"));
    add(Mutation::new(
        "extra nested invalid UTF-8",
        set_bytes("x-extra", b"{\"a\":\"\xff\"}".to_vec()),
    )
    .expect("malformed_claims")
    .class("invalid_utf8"));
    add(Mutation::new(
        "extra nested lone surrogate",
        set("x-extra", r#"["\udfff"]"#),
    )
    .expect("malformed_claims")
    .class("lone_surrogate"));
    add(Mutation::new(
        "extra member name invalid UTF-8",
        vec![Op::Push(Part::Payload, b"\"x\xff\"".to_vec(), raw("1"))],
    )
    .expect("malformed_claims")
    .class("invalid_utf8"));
    add(Mutation::new(
        "extra member name lone surrogate",
        vec![Op::Push(Part::Payload, raw(r#""x\ud800""#), raw("1"))],
    )
    .expect("malformed_claims")
    .class("lone_surrogate"));
    add(Mutation::new(
        "extra member nested 100 deep",
        set(
            "x-extra",
            &format!("{}{}", "[".repeat(100), "]".repeat(100)),
        ),
    ));
    add(Mutation::new(
        "extra member nested 200 deep",
        set(
            "x-extra",
            &format!("{}{}", "[".repeat(200), "]".repeat(200)),
        ),
    )
    .class("nesting_too_deep"));
    add(Mutation::new(
        "extra member 9000 bytes",
        set("x-extra", &format!("\"{}\"", "y".repeat(9000))),
    )
    .expect("token_too_large")
    .class("token_too_large"));
    add(Mutation::new(
        "ISS upper-case name",
        vec![Op::Rename(Part::Payload, "iss".into(), q("ISS"))],
    )
    .expect("wrong_issuer"));
    add(Mutation::new(
        "Exp capitalised name",
        vec![Op::Rename(Part::Payload, "exp".into(), q("Exp"))],
    )
    .expect("missing_exp")
    .class("missing_exp"));
    add(Mutation::new(
        "payload pretty-printed",
        vec![Op::Map(Part::Payload, pretty)],
    ));
    add(Mutation::new(
        "payload trailing whitespace",
        vec![Op::Map(Part::Payload, |mut b| {
            b.extend_from_slice(b"\r\n ");
            b
        })],
    ));
    add(Mutation::new(
        "payload trailing garbage",
        vec![Op::Map(Part::Payload, |mut b| {
            b.extend_from_slice(b"}");
            b
        })],
    )
    .expect("malformed_claims"));
    add(Mutation::new(
        "payload two documents",
        vec![Op::Map(Part::Payload, |b| {
            let mut o = b.clone();
            o.extend_from_slice(&b);
            o
        })],
    )
    .expect("malformed_claims"));
    add(Mutation::new(
        "payload trailing comma",
        vec![Op::Map(Part::Payload, trailing_comma)],
    )
    .expect("malformed_claims"));
    add(Mutation::new(
        "payload BOM",
        vec![Op::Map(Part::Payload, |b| {
            [b"\xef\xbb\xbf".to_vec(), b].concat()
        })],
    )
    .expect("malformed_claims"));
    add(Mutation::new(
        "payload raw control character",
        set_bytes("x-extra", b"\"a\x01b\"".to_vec()),
    )
    .expect("malformed_claims"));
    add(
        Mutation::new("payload single-quoted string", set("x-extra", "'x'"))
            .expect("malformed_claims"),
    );
    add(Mutation::new("payload NaN", set("x-extra", "NaN")).expect("malformed_claims"));
    add(
        Mutation::new("payload leading zero number", set("x-extra", "01"))
            .expect("malformed_claims"),
    );
    add(Mutation::new(
        "payload comment",
        vec![Op::Map(Part::Payload, |b| [b"/*c*/".to_vec(), b].concat())],
    )
    .expect("malformed_claims"));
    let positional = match u {
        // RawClaims' field order: iss, sub, aud, exp, nbf, iat, token_use, client_id, username, ...
        Use::Access => format!(
            r#"["{}","6f1c2d9e-1111-4a2b-9c3d-222233334444",null,{},null,{},"access","{}","alice",null,"aws.cognito.signin.user.admin",["admins"]]"#,
            t.iss,
            t0 + 3600,
            t0 - 10,
            t.client
        ),
        Use::Id => format!(
            r#"["{}","6f1c2d9e-1111-4a2b-9c3d-222233334444","{}",{},null,{},"id",null,null,"alice",null,["admins"]]"#,
            t.iss,
            t.client,
            t0 + 3600,
            t0 - 10
        ),
    };
    for doc in [
        positional,
        "[]".into(),
        "null".into(),
        r#""claims""#.into(),
        "1".into(),
        "true".into(),
        "{}".into(),
    ] {
        let ex = if doc == "{}" {
            "wrong_issuer"
        } else {
            "malformed_claims"
        };
        add(Mutation::new(
            format!(
                "payload is {}",
                if doc.len() > 40 {
                    "a positional array"
                } else {
                    doc.as_str()
                }
            ),
            vec![Op::Replace(Part::Payload, raw(&doc))],
        )
        .expect(ex));
    }
    out
}

/// A NumericDate form: raw number text, expected reason, stricter class, laxer-than-jsonwebtoken class.
type DateForm = (
    String,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// The baseline value of a claim as raw JSON (the member's default when the base lacks it).
fn default_value(t: &Target, name: &str) -> Vec<u8> {
    let mut base = base_payload(t);
    if let Some(v) = base.get(name) {
        return v;
    }
    match name {
        "nbf" => raw(&(t.t0 - 10).to_string()),
        "aud" | "client_id" => q(&t.client),
        _ => q("x"),
    }
}

/// The baseline string value of a string claim (plain text, not JSON).
fn string_value(t: &Target, name: &str) -> String {
    let v = default_value(t, name);
    serde_json::from_slice::<String>(&v).unwrap_or_else(|_| "x".into())
}

/// `"name"` with its first letter written as a `\uXXXX` escape.
fn escape_first_letter(name: &str) -> Vec<u8> {
    let mut cs = name.chars();
    let first = cs.next().unwrap_or('x');
    format!("\"\\u{:04x}{}\"", first as u32, cs.as_str()).into_bytes()
}

fn pretty(b: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&b) {
        Ok(v) => serde_json::to_vec_pretty(&v).unwrap_or(b),
        Err(_) => b,
    }
}

fn trailing_comma(mut b: Vec<u8>) -> Vec<u8> {
    if b.last() == Some(&b'}') {
        b.pop();
        b.extend_from_slice(b",}");
    }
    b
}

fn apply(header: &mut Doc, payload: &mut Doc, op: &Op) {
    let target: &mut Doc = match op {
        Op::Set(p, ..)
        | Op::Remove(p, ..)
        | Op::Dup(p, ..)
        | Op::Push(p, ..)
        | Op::Rename(p, ..)
        | Op::Replace(p, ..)
        | Op::Map(p, ..) => match p {
            Part::Header => header,
            Part::Payload => payload,
        },
    };
    match op {
        Op::Set(_, name, v) => target.set(name, v.clone()),
        Op::Remove(_, name) => {
            if let Some(i) = target.position(name) {
                if let Some(m) = target.members() {
                    m.remove(i);
                }
            }
        }
        Op::Dup(_, name, first, last) => {
            if let Some(i) = target.position(name) {
                if let Some(m) = target.members() {
                    let (k, cur) = m[i].clone();
                    m[i] = (k.clone(), first.clone().unwrap_or_else(|| cur.clone()));
                    m.insert(i + 1, (k, last.clone().unwrap_or(cur)));
                }
            }
        }
        Op::Push(_, k, v) => {
            if let Some(m) = target.members() {
                m.push((k.clone(), v.clone()));
            }
        }
        Op::Rename(_, name, k) => {
            if let Some(i) = target.position(name) {
                if let Some(m) = target.members() {
                    m[i].0 = k.clone();
                }
            }
        }
        Op::Replace(_, b) => *target = Doc::Raw(b.clone()),
        Op::Map(_, f) => *target = Doc::Raw(f(target.bytes())),
    }
}

/// Build and sign one token from these mutations (none: the baseline).
pub fn make(t: &Target, key: &TestKey, ms: &[&Mutation]) -> Case {
    let mut header = base_header(t);
    let mut payload = base_payload(t);
    for m in ms {
        for op in &m.ops {
            apply(&mut header, &mut payload, op);
        }
    }
    let (h, p) = (header.bytes(), payload.bytes());
    let input = format!("{}.{}", b64(&h), b64(&p));
    let sig = key.sign_raw(input.as_bytes());
    let mut classes: Vec<&'static str> = ms.iter().filter_map(|m| m.class).collect();
    classes.dedup();
    let mut laxer: Vec<&'static str> = ms.iter().filter_map(|m| m.laxer).collect();
    laxer.dedup();
    Case {
        token: format!("{input}.{}", b64(&sig)),
        header: h,
        payload: p,
        names: ms.iter().map(|m| m.name.clone()).collect(),
        expect: if ms.len() == 1 { ms[0].expect } else { None },
        classes,
        laxer,
    }
}

/// `n` cases for a target: a few baselines, every single mutation once, then random
/// combinations of two or three mutations (seeded) until `n`.
pub fn generate(t: &Target, key: &TestKey, n: usize, rng: &mut Rng) -> Vec<Case> {
    let all = mutations(t);
    let mut out = Vec::with_capacity(n.max(all.len() + 3));
    for _ in 0..3 {
        out.push(make(t, key, &[]));
    }
    for m in &all {
        out.push(make(t, key, &[m]));
    }
    while out.len() < n {
        let k = 2 + rng.below(2);
        let mut picked: Vec<&Mutation> = Vec::with_capacity(k);
        for _ in 0..k {
            picked.push(&all[rng.below(all.len())]);
        }
        out.push(make(t, key, &picked));
    }
    out
}
