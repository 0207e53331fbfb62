//! Small operations on CloudFront header maps (lowercase name → `[{key, value}]`).

use crate::event::{Header, Headers};

/// Every value of header `name` (lowercase), in order.
pub fn values<'a>(headers: &'a Headers, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get(name)
        .into_iter()
        .flat_map(|v| v.iter().map(|h| h.value.as_str()))
}

/// How many values a header has.
pub fn count(headers: &Headers, name: &str) -> usize {
    headers.get(name).map_or(0, Vec::len)
}

/// The header's only value; `None` when absent or sent more than once.
pub fn single<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    match headers.get(name).map(Vec::as_slice) {
        Some([h]) => Some(h.value.as_str()),
        _ => None,
    }
}

/// Replace every value of `name` with one entry.
pub fn set(headers: &mut Headers, name: &str, key: &str, value: impl Into<String>) {
    match headers.get_mut(name) {
        Some(v) => {
            v.clear();
            v.push(Header::new(key, value));
        }
        None => {
            headers.insert(name.to_string(), vec![Header::new(key, value)]);
        }
    }
}

/// Add one more entry for `name` (e.g. `set-cookie`).
pub fn append(headers: &mut Headers, name: &str, key: &str, value: impl Into<String>) {
    headers
        .entry(name.to_string())
        .or_default()
        .push(Header::new(key, value));
}

/// Lowercase the map's names (CloudFront already does; callers building events by hand may not),
/// merging entries that only differed by case. Cheap when nothing needs fixing.
pub fn normalize_names(headers: &mut Headers) {
    if headers
        .keys()
        .all(|k| !k.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return;
    }
    let old = std::mem::take(headers);
    for (name, entries) in old {
        headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .extend(entries);
    }
}

/// Append `token` to the `Vary` header unless it (or `*`) is already listed. Never overwrites.
pub fn vary_append(headers: &mut Headers, token: &str) {
    let present = values(headers, "vary")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.eq_ignore_ascii_case(token));
    if present {
        return;
    }
    match headers.get_mut("vary").and_then(|v| v.last_mut()) {
        Some(last) if !last.value.trim().is_empty() => {
            last.value.push_str(", ");
            last.value.push_str(token);
        }
        Some(last) => last.value = token.to_string(),
        None => append(headers, "vary", "Vary", token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        let mut m = Headers::new();
        for (k, v) in pairs {
            append(&mut m, &k.to_ascii_lowercase(), k, *v);
        }
        m
    }

    #[test]
    fn vary_is_appended_never_overwritten() {
        let mut m = h(&[("Vary", "Accept-Encoding")]);
        vary_append(&mut m, "Origin");
        assert_eq!(
            values(&m, "vary").collect::<Vec<_>>(),
            ["Accept-Encoding, Origin"]
        );
        vary_append(&mut m, "Origin");
        assert_eq!(
            values(&m, "vary").collect::<Vec<_>>(),
            ["Accept-Encoding, Origin"]
        );
        let mut star = h(&[("Vary", "*")]);
        vary_append(&mut star, "Origin");
        assert_eq!(values(&star, "vary").collect::<Vec<_>>(), ["*"]);
        let mut none = Headers::new();
        vary_append(&mut none, "Origin");
        assert_eq!(values(&none, "vary").collect::<Vec<_>>(), ["Origin"]);
        let mut lower = h(&[("Vary", "origin")]);
        vary_append(&mut lower, "Origin");
        assert_eq!(values(&lower, "vary").collect::<Vec<_>>(), ["origin"]);
    }

    #[test]
    fn names_are_normalized_and_merged() {
        let mut m = Headers::new();
        m.insert(
            "Origin".into(),
            vec![Header::new("Origin", "https://a.example")],
        );
        m.insert(
            "origin".into(),
            vec![Header::new("origin", "https://b.example")],
        );
        normalize_names(&mut m);
        assert_eq!(count(&m, "origin"), 2);
        assert_eq!(m.len(), 1);
        assert_eq!(single(&m, "origin"), None);
    }
}
