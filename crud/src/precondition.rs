//! `If-Match` / `If-None-Match` (RFC 9110 §13.1). Our entity tags are strong: `"<version>"`.
//! `If-Match` uses the strong comparison, so weak tags (`W/"3"`) never match; `*` matches any
//! existing item. A syntactically broken header is `invalid_precondition` (400); a header with
//! more than [`MAX_TAGS`] tags likewise.

/// Most entity tags accepted in one header.
pub const MAX_TAGS: usize = 16;

/// The header is not a valid entity-tag list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed entity-tag list")]
pub struct Malformed;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: the item must exist.
    Any,
    /// One of these versions (possibly none: then nothing can match).
    Versions(Vec<u64>),
}

impl Precondition {
    pub fn matches(&self, version: u64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(v) => v.contains(&version),
        }
    }
}

/// Parse every value of one `If-Match` (or `If-None-Match`) header. `Ok(None)` when absent.
pub fn parse<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Precondition>, Malformed> {
    parse_with(values, false)
}

/// `If-None-Match` on a read: the weak comparison, so `W/"3"` matches version 3 too.
pub fn parse_weak<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Precondition>, Malformed> {
    parse_with(values, true)
}

fn parse_with<'a>(
    values: impl IntoIterator<Item = &'a str>,
    weak_matches: bool,
) -> Result<Option<Precondition>, Malformed> {
    let mut any = false;
    let mut seen = false;
    let mut versions = Vec::new();
    let mut count = 0usize;
    for value in values {
        seen = true;
        for raw in value.split(',') {
            let tag = raw.trim_matches(|c| c == ' ' || c == '\t');
            if tag.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_TAGS {
                return Err(Malformed);
            }
            if tag == "*" {
                any = true;
                continue;
            }
            let (weak, quoted) = match tag.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, tag),
            };
            let inner = quoted
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| {
                    t.bytes()
                        .all(|c| c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80)
                })
                .ok_or(Malformed)?;
            if weak && !weak_matches {
                continue;
            }
            if let Some(v) = parse_version(inner) {
                versions.push(v);
            }
        }
    }
    if !seen {
        return Ok(None);
    }
    if count == 0 {
        return Err(Malformed);
    }
    if any {
        if count > 1 {
            return Err(Malformed);
        }
        return Ok(Some(Precondition::Any));
    }
    Ok(Some(Precondition::Versions(versions)))
}

fn parse_version(s: &str) -> Option<u64> {
    if s.is_empty()
        || s.len() > 19
        || !s.bytes().all(|c| c.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The strong entity tag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags() {
        assert_eq!(parse([]), Ok(None));
        assert_eq!(parse(["\"3\""]), Ok(Some(Precondition::Versions(vec![3]))));
        assert_eq!(
            parse(["\"3\", \"4\""]),
            Ok(Some(Precondition::Versions(vec![3, 4])))
        );
        assert_eq!(
            parse(["\"3\"", "\"5\""]),
            Ok(Some(Precondition::Versions(vec![3, 5])))
        );
        assert_eq!(parse(["*"]), Ok(Some(Precondition::Any)));
        assert_eq!(parse(["W/\"3\""]), Ok(Some(Precondition::Versions(vec![]))));
        assert_eq!(parse(["\"abc\""]), Ok(Some(Precondition::Versions(vec![]))));
        assert_eq!(parse(["\"03\""]), Ok(Some(Precondition::Versions(vec![]))));
        assert_eq!(
            parse(["\"99999999999999999999999\""]),
            Ok(Some(Precondition::Versions(vec![])))
        );
        for bad in ["3", "\"3", "3\"", "", " , ", "*, \"1\"", "\"a\"b\"", "W/3"] {
            assert_eq!(parse([bad]), Err(Malformed), "{bad:?}");
        }
        let many = vec!["\"1\""; MAX_TAGS + 1].join(",");
        assert_eq!(parse([many.as_str()]), Err(Malformed));
        assert!(Precondition::Any.matches(9));
        assert!(!Precondition::Versions(vec![1]).matches(2));
        assert_eq!(etag(7), "\"7\"");
        assert_eq!(
            parse_weak(["W/\"3\", \"4\""]),
            Ok(Some(Precondition::Versions(vec![3, 4])))
        );
    }
}
