//! Small text encodings: percent-decoding and query strings, the one implementation in the
//! workspace (the local gateway's model of API Gateway decodes path parameters and the query with
//! these too, so crud and the gateway cannot disagree). Hex is the `hex` crate (`hex::encode`,
//! lower case), as in the gateway.

/// Percent-decoding (RFC 3986) of one path segment: `%` and two hex digits become that byte; any
/// other `%` (cut off, or not followed by two hex digits, `%+1` included) is kept literally; `+` is
/// kept; bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    decode(s, false)
}

/// Percent-decoding of one query component, where `+` is a space (as in HTML forms): the same as
/// replacing every `+` by a space and then [`percent_decode`].
pub fn decode_query_component(s: &str) -> String {
    decode(s, true)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => match (
                b.get(i + 1).and_then(|&c| hex_value(c)),
                b.get(i + 2).and_then(|&c| hex_value(c)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A raw query string as decoded pairs, in order, repeats kept (empty parts skipped; a part
/// without `=` has an empty value; names and values decoded by [`decode_query_component`]).
///
/// Used for crud's HTTP API events (`rawQueryString`) and by the local gateway for the
/// `queryStringParameters` / `multiValueQueryStringParameters` API Gateway (REST) puts in the
/// authorizer and integration events.
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
    fn path_segments() {
        assert_eq!(percent_decode("a%20b+c"), "a b+c");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(percent_decode("%2f%2F%e2%82%AC"), "//€");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("a%"), "a%");
    }

    #[test]
    fn only_two_hex_digits_make_an_escape() {
        // `u8::from_str_radix` would read "+1" as 1; a sign is not a hex digit
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("%-1"), "%-1");
        assert_eq!(percent_decode("% 1"), "% 1");
        // in a query `+` is a space, so this is the same as decoding "% 1"
        assert_eq!(decode_query_component("%+1"), "% 1");
        assert_eq!(decode_query_component("%1+"), "%1 ");
    }

    #[test]
    fn a_query_component_is_plus_to_space_then_percent_decoding() {
        for s in [
            "a+b%2B",
            "%+1",
            "%%41",
            "%2+",
            "+%20+",
            "%e2%82%ac+x",
            "%%",
            "%4+1",
        ] {
            assert_eq!(
                decode_query_component(s),
                percent_decode(&s.replace('+', " ")),
                "{s}"
            );
        }
    }

    #[test]
    fn queries_decode_in_order() {
        assert_eq!(
            parse_query("a=1&&b=x+y%2F&a=2&flag&=v&k=a=b"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y/".into()),
                ("a".into(), "2".into()),
                ("flag".into(), "".into()),
                ("".into(), "v".into()),
                ("k".into(), "a=b".into()),
            ]
        );
        assert!(parse_query("").is_empty());
        assert!(parse_query("&&").is_empty());
    }
}
