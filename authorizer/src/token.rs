//! Raw token handling: pulling the JWT out of an `Authorization` value and splitting it into its
//! strictly-decoded parts. No claim is trusted here; nothing is verified yet.

use std::borrow::Cow;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::rc::Rc;

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
///
/// `alg` and `kid` are borrowed from the decoded header when they have no escapes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub alg: Option<Cow<'a, str>>,
    pub kid: Option<Cow<'a, str>>,
    pub crit: bool,
}

impl<'de> serde::Deserialize<'de> for Header<'static> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Header<'static>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JOSE header object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Header<'static>, A::Error> {
                let mut m = Members::new(map);
                let mut h = Header::default();
                while let Some(name) = m.next_name()? {
                    match &*name {
                        "alg" => h.alg = Some(Cow::Owned(m.value::<Str>()?.0.into_owned())),
                        "kid" => h.kid = Some(Cow::Owned(m.value::<Str>()?.0.into_owned())),
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

impl<'a> Header<'a> {
    /// The same header, owning its strings.
    pub fn into_owned(self) -> Header<'static> {
        Header {
            alg: self.alg.map(|a| Cow::Owned(a.into_owned())),
            kid: self.kid.map(|k| Cow::Owned(k.into_owned())),
            crit: self.crit,
        }
    }

    /// Read a header by the rules above, in one pass ([`crate::reader`]); the `Deserialize`
    /// implementation is the reference it is compared with (unit tests, fuzzing).
    pub fn read(bytes: &'a [u8]) -> Result<Header<'a>, Invalid> {
        let mut r = Reader::new(bytes)?;
        let mut h = Header::default();
        r.object(|name, r| {
            match name {
                "alg" => h.alg = Some(r.string()?),
                "kid" => h.kid = Some(r.string()?),
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

/// A token split into its parts: the header read, payload and signature decoded (borrowed from
/// the token and the [`Buf`] they were decoded into).
pub struct Parts<'a> {
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub header: Header<'static>,
    /// The payload's JSON bytes (not read yet).
    pub payload: &'a [u8],
    pub signature: &'a [u8],
}

/// Decoded bytes up to this many go on the stack: every token within the default
/// `MAX_TOKEN_BYTES` (8192 characters, at most 6144 bytes decoded).
pub const STACK_BYTES: usize = 6144;

/// Where [`split`] decodes a token's parts: a stack area, and the heap for tokens beyond
/// [`STACK_BYTES`]. Nothing is initialised in advance (the decoder writes every byte it hands
/// back), so a token costs no allocation and no clearing.
pub struct Buf {
    stack: [MaybeUninit<u8>; STACK_BYTES],
    heap: Vec<u8>,
}

impl Buf {
    #[inline(always)]
    pub fn new() -> Buf {
        Buf {
            stack: [const { MaybeUninit::uninit() }; STACK_BYTES],
            heap: Vec::new(),
        }
    }
}

impl Default for Buf {
    fn default() -> Self {
        Buf::new()
    }
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

/// [`b64`] into `out`, which must hold exactly the decoded length.
fn b64_into<'d>(s: &str, out: &'d mut [MaybeUninit<u8>]) -> Result<&'d [u8], Reason> {
    base64_simd::URL_SAFE_NO_PAD
        .decode(s.as_bytes(), base64_simd::Out::from_uninit_slice(out))
        .map(|b| &*b)
        .map_err(|_| Reason::MalformedToken)
}

/// A token's parts before its header is read: the header's base64url text, the payload and the
/// signature decoded (into a [`Buf`]).
pub struct Raw<'a> {
    /// The header's text, as in the token (checked by [`header`] or [`Header::read`]).
    pub header: &'a str,
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub signing_input: &'a [u8],
    /// The payload's JSON bytes (not read yet).
    pub payload: &'a [u8],
    pub signature: &'a [u8],
}

/// Split a compact JWS and decode its payload and signature into `buf`. Exactly three non-empty
/// parts; JWE (five parts) and unsigned tokens (empty signature) are refused. Every malformed part
/// is [`Reason::MalformedToken`], whichever is found first.
pub fn split_raw<'a>(token: &'a str, buf: &'a mut Buf) -> Result<Raw<'a>, Reason> {
    // The two dots found by SIMD (`memchr`). A third one is not looked for: it would be in the
    // signature's text, which then fails to decode, and more than three parts is the same
    // refusal (`MalformedToken`) as a part that does not decode, or is empty (but the last).
    let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
    let (Some(d1), Some(d2)) = (dots.next(), dots.next()) else {
        return Err(Reason::MalformedToken);
    };
    let (h, rest) = token.split_at(d1);
    let (p, s) = (&rest[1..d2 - d1], &rest[d2 - d1 + 1..]);
    if h.is_empty() || p.is_empty() {
        return Err(Reason::MalformedToken);
    }
    if s.is_empty() {
        return Err(Reason::BadSignature);
    }
    let len = |part: &str| {
        base64_simd::URL_SAFE_NO_PAD
            .decoded_length(part.as_bytes())
            .map_err(|_| Reason::MalformedToken)
    };
    let (pl, sl) = (len(p)?, len(s)?);
    let total = pl + sl;
    let area = if total <= STACK_BYTES {
        &mut buf.stack[..total]
    } else {
        buf.heap.reserve_exact(total);
        &mut buf.heap.spare_capacity_mut()[..total]
    };
    let (pa, sa) = area.split_at_mut(pl);
    let payload = b64_into(p, pa)?;
    let signature = b64_into(s, sa)?;
    Ok(Raw {
        header: h,
        signing_input: &token.as_bytes()[..d2],
        payload,
        signature,
    })
}

/// Split and decode a compact JWS into `buf` ([`split_raw`]), and read its header
/// ([`Header::read`]; not [`header`]'s cache: this is the reference the verification path's
/// pieces are tested against).
pub fn split<'a>(token: &'a str, buf: &'a mut Buf) -> Result<Parts<'a>, Reason> {
    let raw = split_raw(token, buf)?;
    let bytes = b64(raw.header)?;
    let header = Header::read(&bytes)
        .map_err(|_| Reason::MalformedToken)?
        .into_owned();
    Ok(Parts {
        signing_input: raw.signing_input,
        header,
        payload: raw.payload,
        signature: raw.signature,
    })
}

/// Headers longer than this are read every time (never kept by [`header`]).
pub const HEADER_CACHE_MAX_TEXT: usize = 512;
/// How many headers [`header`] keeps per thread.
pub const HEADER_CACHE_SLOTS: usize = 4;

#[derive(Default)]
struct HeaderCache {
    slots: Vec<(Box<str>, Rc<Header<'static>>)>,
    next: usize,
}

thread_local! {
    static HEADERS: RefCell<HeaderCache> = RefCell::new(HeaderCache::default());
}

/// The header whose base64url text is `text`, decoded and read ([`Header::read`]). The last
/// [`HEADER_CACHE_SLOTS`] headers read successfully on this thread (texts up to
/// [`HEADER_CACHE_MAX_TEXT`]) are kept: one issuer's tokens share a header (`alg`, `kid`, `typ`),
/// so most tokens skip decoding and reading it. The result is a function of the text alone, so
/// a kept header decides exactly as reading it again would; a refused header is never kept.
pub fn header(text: &str) -> Result<Rc<Header<'static>>, Reason> {
    let hit = HEADERS.with_borrow(|c| {
        c.slots
            .iter()
            .find(|(t, _)| **t == *text)
            .map(|(_, h)| Rc::clone(h))
    });
    if let Some(h) = hit {
        return Ok(h);
    }
    let bytes = b64(text)?;
    let h = Rc::new(
        Header::read(&bytes)
            .map_err(|_| Reason::MalformedToken)?
            .into_owned(),
    );
    if text.len() <= HEADER_CACHE_MAX_TEXT {
        HEADERS.with_borrow_mut(|c| {
            let entry = (Box::from(text), Rc::clone(&h));
            if c.slots.len() < HEADER_CACHE_SLOTS {
                c.slots.push(entry);
            } else if let Some(slot) = c.slots.get_mut(c.next % HEADER_CACHE_SLOTS) {
                *slot = entry;
            }
            c.next = c.next.wrapping_add(1);
        });
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    /// `split` into a fresh buffer; the header made owned (what the rows compare).
    fn split_header(t: &str) -> Result<Header<'static>, Reason> {
        let mut buf = Buf::new();
        split(t, &mut buf).map(|p| p.header.into_owned())
    }

    /// `header` (which keeps headers) gives what decoding and reading the text gives, over rounds
    /// of more distinct headers than it keeps, repeats, refusals (never kept) and a text too long
    /// to keep; a kept header is the one read from that very text.
    #[test]
    fn kept_headers_decide_as_reading_does() {
        let mut texts: Vec<String> = (0..HEADER_CACHE_SLOTS + 2)
            .map(|i| URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"k{i}"}}"#)))
            .collect();
        texts.push(URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k","crit":[]}"#));
        texts.push(URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k","kid":"k"}"#));
        texts.push(URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#) + "=");
        texts.push(URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"PS256","kid":"{}"}}"#,
            "x".repeat(HEADER_CACHE_MAX_TEXT)
        )));
        let reference = |t: &str| {
            b64(t).and_then(|b| {
                Header::read(&b)
                    .map(Header::into_owned)
                    .map_err(|_| Reason::MalformedToken)
            })
        };
        let (mut ok, mut refused) = (0, 0);
        for round in 0..4 {
            for (i, t) in texts.iter().enumerate() {
                // a different order each round, so every slot gets replaced
                let t = if round % 2 == 0 {
                    t
                } else {
                    &texts[texts.len() - 1 - i]
                };
                let got = header(t).map(|h| (*h).clone());
                let want = reference(t);
                assert_eq!(got, want, "{t}");
                if got.is_ok() {
                    ok += 1;
                    // asked again at once: the kept one, the same
                    assert_eq!(header(t).map(|h| (*h).clone()), want, "{t}");
                } else {
                    refused += 1;
                }
            }
        }
        assert!(ok >= 28 && refused >= 8, "{ok} {refused}");
    }

    /// The parts are the reference decoder's bytes of the token's three parts, on both sides of
    /// the stack area's size (the heap beyond it), for every split of the sizes around it.
    #[test]
    fn parts_are_the_reference_decoding_on_the_stack_and_the_heap() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut on_stack, mut on_heap) = (0, 0);
        for total in (STACK_BYTES - 300..STACK_BYTES + 300)
            .step_by(7)
            .chain([1, 2, 3, 700])
        {
            let sig_len = 1 + (rnd() as usize % 600).min(total.saturating_sub(30));
            let payload_len = total.saturating_sub(25 + sig_len).max(1);
            let payload: Vec<u8> = (0..payload_len).map(|_| rnd() as u8).collect();
            let sig: Vec<u8> = (0..sig_len).map(|_| rnd() as u8).collect();
            let (p, s) = (
                URL_SAFE_NO_PAD.encode(&payload),
                URL_SAFE_NO_PAD.encode(&sig),
            );
            let t = format!("{h}.{p}.{s}");
            let mut buf = Buf::new();
            let parts = split(&t, &mut buf).unwrap();
            assert_eq!(parts.payload, &payload[..]);
            assert_eq!(parts.signature, &sig[..]);
            assert_eq!(parts.signing_input, format!("{h}.{p}").as_bytes());
            assert_eq!(parts.header.kid.as_deref(), Some("k"));
            if 25 + payload_len + sig_len <= STACK_BYTES {
                on_stack += 1;
            } else {
                on_heap += 1;
            }
        }
        assert!(on_stack > 30 && on_heap > 30, "{on_stack} {on_heap}");
    }

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
        let mut buf = Buf::new();
        let parts = split(&ok, &mut buf).unwrap();
        assert_eq!(parts.header.alg.as_deref(), Some("RS256"));
        assert_eq!(parts.header.kid.as_deref(), Some("k"));
        assert_eq!(parts.signing_input, format!("{h}.{p}").as_bytes());
        assert_eq!(
            split_header(&format!("{h}.{p}")).err(),
            Some(Reason::MalformedToken)
        );
        assert_eq!(
            split_header(&format!("{h}.{p}.")).err(),
            Some(Reason::BadSignature)
        );
        assert_eq!(
            split_header(&format!("{h}.{p}.{s}.x.y")).err(),
            Some(Reason::MalformedToken)
        );
        // four parts, however the extra dot sits (never read as a signature)
        for four in [
            format!("{h}.{p}.{s}."),
            format!("{h}.{p}..{s}"),
            format!("{h}.{p}.."),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}..{p}.{s}"),
        ] {
            assert_eq!(
                split_header(&four).err(),
                Some(Reason::MalformedToken),
                "{four}"
            );
        }
        assert_eq!(
            split_header(&format!(".{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        // padding is not base64url-without-padding
        assert_eq!(
            split_header(&format!("{h}=.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        // header that is not a JSON object with alg
        let bad = URL_SAFE_NO_PAD.encode(b"[1,2]");
        assert_eq!(
            split_header(&format!("{bad}.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        // duplicate alg members are refused, never "last one wins"
        let dup = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","alg":"none","kid":"k"}"#);
        assert_eq!(
            split_header(&format!("{dup}.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
        let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k","crit":["exp"]}"#);
        assert!(split_header(&format!("{crit}.{p}.{s}")).unwrap().crit);
    }

    /// docs/authorizer.md's "non-canonical base64url" row: a last character whose unused bits are not
    /// zero decodes (leniently) to the same bytes, and is refused here.
    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        let s = URL_SAFE_NO_PAD.encode([7u8; 256]); // 342 characters, the last carries 2 bits
        assert!(split_header(&format!("{h}.{p}.{s}")).is_ok());
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = s.chars().last().unwrap();
        let i = ALPHABET.find(last).unwrap();
        let twin = ALPHABET.as_bytes()[i ^ 1] as char; // same 2 data bits, a non-zero unused bit
        let bad = format!("{}{twin}", &s[..s.len() - 1]);
        assert_eq!(
            split_header(&format!("{h}.{p}.{bad}")).err(),
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
            alg: alg.map(|a| Cow::Owned(a.to_string())),
            kid: kid.map(|k| Cow::Owned(k.to_string())),
            crit,
        };
        let rows: Vec<(&str, Result<Header<'static>, Reason>)> = vec![
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
            let got = split_header(&format!("{enc}.{p}.{s}"));
            assert_eq!(got, want, "{json}");
        }
        let bad_utf8 = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"RS256\",\"kid\":\"\xff\"}");
        assert_eq!(
            split_header(&format!("{bad_utf8}.{p}.{s}")).err(),
            Some(Reason::MalformedToken)
        );
    }
}
