//! Raw token handling: pulling the JWT out of an `Authorization` value and splitting it into its
//! strictly-decoded parts. No claim is trusted here; nothing is verified yet.

use crate::json::{Members, Str};
use crate::reader::{Invalid, Reader};
use crate::reason::Reason;

/// Extract the JWT from an `Authorization` value: `Bearer <jwt>` (scheme case-insensitive, one
/// or more spaces) or a bare JWT, as Cognito's own authorizer accepts.
///
/// Refuses values that are not exactly one token: other schemes (`Basic ...`), several tokens
/// (`Bearer a,Bearer b`, as HTTP APIs join repeated headers), control characters, and values
/// over `max` bytes (checked before anything else is done with the value).
pub fn extract(value: &str, max: usize) -> Result<&str, Reason> {
    // Generous for the scheme and spaces; the token itself is checked against `max` below.
    if value.len() > max + 64 {
        return Err(Reason::TokenTooLarge);
    }
    let v = value.trim_matches(|c| c == ' ' || c == '\t');
    if v.eq_ignore_ascii_case("bearer") {
        return Err(Reason::NoToken);
    }
    let token = match v.split_once([' ', '\t']) {
        Some((scheme, rest)) => {
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(Reason::MalformedAuthorization);
            }
            rest.trim_start_matches([' ', '\t'])
        }
        None => v,
    };
    if token.is_empty() {
        return Err(Reason::NoToken);
    }
    if token.len() > max {
        return Err(Reason::TokenTooLarge);
    }
    if token.contains(',') {
        return Err(Reason::MultipleTokens);
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Reason::MalformedToken);
    }
    Ok(token)
}

/// The JOSE header fields the verifier looks at. The header must be a JSON object whose member
/// names are all unique (at every depth, read or not); `alg` and `kid`, when present, must be
/// strings (`null` is a wrong type); `crit` is recorded whatever its value (`null` included) and
/// refused by the verifier: no extension is understood here. Key-pointing members (`jku`, `x5u`,
/// `jwk`, `x5c`) are never read: keys come only from the configured JWKS.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub crit: bool,
}

impl<'de> serde::Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JOSE header object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Header, A::Error> {
                let mut m = Members::new(map);
                let mut h = Header::default();
                while let Some(name) = m.next_name()? {
                    match &*name {
                        "alg" => h.alg = Some(m.value::<Str>()?.0.into_owned()),
                        "kid" => h.kid = Some(m.value::<Str>()?.0.into_owned()),
                        "crit" => {
                            m.skip_value()?;
                            h.crit = true;
                        }
                        _ => m.skip_value()?,
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

impl Header {
    /// Read a header by the rules above, in one pass ([`crate::reader`]); the `Deserialize`
    /// implementation is the reference it is compared with (unit tests, fuzzing).
    pub fn read(bytes: &[u8]) -> Result<Header, Invalid> {
        let mut r = Reader::new(bytes)?;
        let mut h = Header::default();
        r.object(|name, r| {
            match name {
                "alg" => h.alg = Some(r.string()?.into_owned()),
                "kid" => h.kid = Some(r.string()?.into_owned()),
                "crit" => {
                    r.skip()?;
                    h.crit = true;
                }
                _ => r.skip()?,
            }
            Ok(())
        })?;
        r.end()?;
        Ok(h)
    }
}

/// A token split into its parts, with header decoded and the payload still raw JSON bytes.
pub struct Parts<'a> {
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub header: Header,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Strict base64url without padding; non-canonical trailing bits are refused. `base64-simd`'s
/// decoder (SSSE3/AVX2 or NEON, chosen at run time; already linked by the AWS SDK) is several
/// times faster than a scalar one on a token's 800-odd characters; it accepts exactly the
/// language of `base64`'s `URL_SAFE_NO_PAD` (checked exhaustively on short inputs below).
pub fn b64(s: &str) -> Result<Vec<u8>, Reason> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(s)
        .map_err(|_| Reason::MalformedToken)
}

/// Split and decode a compact JWS. Exactly three non-empty parts; JWE (five parts) and unsigned
/// tokens (empty signature) are refused.
pub fn split(token: &str) -> Result<Parts<'_>, Reason> {
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(Reason::MalformedToken);
    };
    if h.is_empty() || p.is_empty() {
        return Err(Reason::MalformedToken);
    }
    if s.is_empty() {
        return Err(Reason::BadSignature);
    }
    let header_bytes = b64(h)?;
    let header = Header::read(&header_bytes).map_err(|_| Reason::MalformedToken)?;
    let payload = b64(p)?;
    let signature = b64(s)?;
    Ok(Parts {
        signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
        header,
        payload,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    /// The decoder accepts exactly what `base64`'s strict `URL_SAFE_NO_PAD` accepts, with the
    /// same bytes: every string of up to 4 characters over an alphabet of the characters that
    /// decide (both ends of each range, the two URL-safe characters, their standard twins, `=`,
    /// `.`, white space, characters whose unused bits differ), then longer ones that cross the
    /// SIMD block sizes.
    #[test]
    fn b64_agrees_with_the_reference_decoder() {
        let alphabet: Vec<u8> = b"AZaz09-_+/=.BQgwEFf \n".to_vec();
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &last {
                for &c in &alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            inputs.extend(next.iter().cloned());
            last = next;
        }
        // longer inputs: valid encodings of random bytes (every length to 200 bytes), each with
        // one character changed at a random place to one of the deciding characters
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let enc = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            inputs.push(enc.clone());
            if !enc.is_empty() {
                for _ in 0..8 {
                    let mut t = enc.clone();
                    let at = rnd() as usize % t.len();
                    t[at] = alphabet[rnd() as usize % alphabet.len()];
                    inputs.push(t);
                }
            }
        }
        let mut accepted = 0;
        for i in &inputs {
            let Ok(text) = std::str::from_utf8(i) else {
                continue;
            };
            let ours = b64(text).ok();
            let reference = URL_SAFE_NO_PAD.decode(text).ok();
            assert_eq!(ours, reference, "{text:?}");
            accepted += usize::from(ours.is_some());
        }
        assert!(
            inputs.len() > 100_000 && accepted > 1000,
            "{} {accepted}",
            inputs.len()
        );
    }

    #[test]
    fn extract_forms() {
        assert_eq!(extract("Bearer a.b.c", 100), Ok("a.b.c"));
        assert_eq!(extract("bearer   a.b.c", 100), Ok("a.b.c"));
        assert_eq!(extract("BEARER\ta.b.c", 100), Ok("a.b.c"));
        assert_eq!(extract("a.b.c", 100), Ok("a.b.c"));
        assert_eq!(extract("  a.b.c ", 100), Ok("a.b.c"));
        assert_eq!(extract("", 100), Err(Reason::NoToken));
        assert_eq!(extract("Bearer ", 100), Err(Reason::NoToken));
        assert_eq!(
            extract("Basic dXNlcjpwYXNz", 100),
            Err(Reason::MalformedAuthorization)
        );
        assert_eq!(
            extract("Bearer a.b.c,Bearer d.e.f", 100),
            Err(Reason::MultipleTokens)
        );
        assert_eq!(extract("a.b.c,d.e.f", 100), Err(Reason::MultipleTokens));
        assert_eq!(
            extract("Bearer a.b.c\r\nX: y", 100),
            Err(Reason::MalformedToken)
        );
        assert_eq!(extract("a.b.c\u{0}", 100), Err(Reason::MalformedToken));
        assert_eq!(extract("a.b.c=", 100), Err(Reason::MalformedToken));
        assert_eq!(extract(&"a".repeat(101), 100), Err(Reason::TokenTooLarge));
        assert_eq!(
            extract(&"a".repeat(10_000), 100),
            Err(Reason::TokenTooLarge)
        );
    }

    #[test]
    fn split_is_strict() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        let s = URL_SAFE_NO_PAD.encode([1u8, 2, 3]);
        let ok = format!("{h}.{p}.{s}");
        let parts = split(&ok).unwrap();
        assert_eq!(parts.header.alg.as_deref(), Some("RS256"));
        assert_eq!(parts.header.kid.as_deref(), Some("k"));
        assert_eq!(parts.signing_input, format!("{h}.{p}").as_bytes());
        assert_eq!(
            split(&format!("{h}.{p}")).err(),
            Some(Reason::MalformedToken)
        );
        assert_eq!(
            split(&format!("{h}.{p}.")).err(),
            Some(Reason::BadSignature)
        );
        assert_eq!(
            split(&format!("{h}.{p}.{s}.x.y")).err(),
            Some(Reason::MalformedToken)
        );
        assert_eq!(
            split(&format!(".{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        // padding is not base64url-without-padding
        assert_eq!(
            split(&format!("{h}=.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        // header that is not a JSON object with alg
        let bad = URL_SAFE_NO_PAD.encode(b"[1,2]");
        assert_eq!(
            split(&format!("{bad}.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        // duplicate alg members are refused, never "last one wins"
        let dup = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","alg":"none","kid":"k"}"#);
        assert_eq!(
            split(&format!("{dup}.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k","crit":["exp"]}"#);
        assert!(split(&format!("{crit}.{p}.{s}")).unwrap().header.crit);
    }

    /// docs/authorizer.md's "non-canonical base64url" row: a last character whose unused bits are not
    /// zero decodes (leniently) to the same bytes, and is refused here.
    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        let s = URL_SAFE_NO_PAD.encode([7u8; 256]); // 342 characters, the last carries 2 bits
        assert!(split(&format!("{h}.{p}.{s}")).is_ok());
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = s.chars().last().unwrap();
        let i = ALPHABET.find(last).unwrap();
        let twin = ALPHABET.as_bytes()[i ^ 1] as char; // same 2 data bits, a non-zero unused bit
        let bad = format!("{}{twin}", &s[..s.len() - 1]);
        assert_eq!(
            split(&format!("{h}.{p}.{bad}")).err(),
            Some(Reason::MalformedToken)
        );
    }

    /// One row per header rule: header JSON, expected outcome of `split` (the parsed header or
    /// the reason).
    #[test]
    fn header_rules() {
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        let s = URL_SAFE_NO_PAD.encode([1u8, 2, 3]);
        let h = |alg: Option<&str>, kid: Option<&str>, crit: bool| Header {
            alg: alg.map(str::to_string),
            kid: kid.map(str::to_string),
            crit,
        };
        let rows: Vec<(&str, Result<Header, Reason>)> = vec![
            (
                r#"{"alg":"RS256","kid":"k"}"#,
                Ok(h(Some("RS256"), Some("k"), false)),
            ),
            (
                r#"{"alg":"RS256","kid":"k","typ":"JWT","x":{"y":[1]}}"#,
                Ok(h(Some("RS256"), Some("k"), false)),
            ),
            (r#"{"kid":"k"}"#, Ok(h(None, Some("k"), false))),
            (r#"{"alg":"RS256"}"#, Ok(h(Some("RS256"), None, false))),
            (
                r#"{"alg":"RS256","kid":"k","crit":null}"#,
                Ok(h(Some("RS256"), Some("k"), true)),
            ),
            (
                r#"{"alg":"RS256","kid":"k","crit":[]}"#,
                Ok(h(Some("RS256"), Some("k"), true)),
            ),
            (
                r#"{"alg":"RS256","kid":"k","crit":"b64"}"#,
                Ok(h(Some("RS256"), Some("k"), true)),
            ),
            (
                r#"{"alg":"RS256","k\u0069d":"k"}"#,
                Ok(h(Some("RS256"), Some("k"), false)),
            ),
            // not an object
            (r#"["RS256","k"]"#, Err(Reason::MalformedToken)),
            ("null", Err(Reason::MalformedToken)),
            (r#""RS256""#, Err(Reason::MalformedToken)),
            // mistyped members (null is a type)
            (r#"{"alg":null,"kid":"k"}"#, Err(Reason::MalformedToken)),
            (r#"{"alg":"RS256","kid":null}"#, Err(Reason::MalformedToken)),
            (r#"{"alg":"RS256","kid":7}"#, Err(Reason::MalformedToken)),
            (
                r#"{"alg":["RS256"],"kid":"k"}"#,
                Err(Reason::MalformedToken),
            ),
            // every member unique, read or not, after unescaping
            (
                r#"{"alg":"RS256","kid":"k","typ":"JWT","typ":"JWT"}"#,
                Err(Reason::MalformedToken),
            ),
            (
                r#"{"alg":"RS256","kid":"k","zz":1,"zz":1}"#,
                Err(Reason::MalformedToken),
            ),
            (
                r#"{"alg":"RS256","kid":"k","kid":"k"}"#,
                Err(Reason::MalformedToken),
            ),
            (
                r#"{"alg":"RS256","kid":"k","k\u0069d":"k"}"#,
                Err(Reason::MalformedToken),
            ),
            (
                r#"{"alg":"RS256","kid":"k","jwk":{"kty":"RSA","kty":"oct"}}"#,
                Err(Reason::MalformedToken),
            ),
            (
                r#"{"alg":"RS256","kid":"k","crit":["x"],"crit":[]}"#,
                Err(Reason::MalformedToken),
            ),
            // strings and numbers
            (
                r#"{"alg":"RS256","kid":"\ud800"}"#,
                Err(Reason::MalformedToken),
            ),
            (
                r#"{"alg":"RS256","kid":"k","n":1e400}"#,
                Err(Reason::MalformedToken),
            ),
        ];
        for (json, want) in rows {
            let enc = URL_SAFE_NO_PAD.encode(json.as_bytes());
            let got = split(&format!("{enc}.{p}.{s}")).map(|parts| parts.header);
            assert_eq!(got, want, "{json}");
        }
        let bad_utf8 = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"RS256\",\"kid\":\"\xff\"}");
        assert_eq!(
            split(&format!("{bad_utf8}.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
    }
}
