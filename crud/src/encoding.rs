//! Small text encodings shared by the crate: lower-case hex, percent-decoding, query strings.

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Percent-decoding (RFC 3986) of one path segment: `%XX` becomes its byte, an invalid or cut-off
/// escape is kept literally, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    decode(s, false)
}

/// Percent-decoding of one query component, where `+` is a space (as in HTML forms).
pub fn decode_query_component(s: &str) -> String {
    decode(s, true)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A raw query string as decoded pairs, in order, repeats kept (empty parts skipped; a part
/// without `=` has an empty value).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_query_component(k), decode_query_component(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_components() {
        assert_eq!(decode_query_component("a%20b+c"), "a b c");
        assert_eq!(decode_query_component("%zz%"), "%zz%");
        assert_eq!(decode_query_component("%4"), "%4");
        assert_eq!(decode_query_component("%41"), "A");
        assert_eq!(
            parse_query("limit=5&cursor=abc%2D&&x"),
            vec![
                ("limit".into(), "5".into()),
                ("cursor".into(), "abc-".into()),
                ("x".into(), "".into())
            ]
        );
    }

    #[test]
    fn hex_and_path_segments() {
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert_eq!(percent_decode("a%20b+c"), "a b+c");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
