//! The request as it reaches the stage, and the maps both Lambda events (authorizer and
//! integration) carry: headers and query as single- and multi-value maps.

use std::collections::HashMap;

use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use aws_lambda_events::query_map::QueryMap;

/// The request as it reaches the stage: what the authorizer and integration events are built from.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method_arn: &'a str,
    /// The matched resource template (`/items/{id}`).
    pub resource: &'a str,
    /// The path as sent, without the stage.
    pub path: &'a str,
    pub method: &'a str,
    pub stage: &'a str,
    pub account: &'a str,
    pub api_id: &'a str,
    pub request_id: &'a str,
    pub source_ip: &'a str,
    /// Header (name, value) pairs, names as sent.
    pub headers: &'a [(String, String)],
    /// Decoded query (name, value) pairs, in order.
    pub query: &'a [(String, String)],
    /// Path parameters (name, decoded value).
    pub path_parameters: &'a [(String, String)],
}

/// Header pairs as (single-value, multi-value) maps, as a JSON event with these pairs keyed by
/// the names as sent would deserialize: names in sorted order, the last value of a name in
/// `headers`, all of them in `multi_value_headers`. `None` when a name or value is not a valid
/// HTTP header.
pub fn header_maps(pairs: &[(String, String)]) -> Option<(HeaderMap, HeaderMap)> {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut single, mut multi) = (HeaderMap::new(), HeaderMap::new());
    for (k, v) in sorted {
        let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
        let value = HeaderValue::from_str(v).ok()?;
        single.insert(name.clone(), value.clone());
        multi.append(name, value);
    }
    Some((single, multi))
}

/// Query pairs as (single-value, multi-value) maps: the last value of a name, and all of them.
pub fn query_maps(pairs: &[(String, String)]) -> (QueryMap, QueryMap) {
    let mut single: HashMap<String, String> = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        single.insert(k.clone(), v.clone());
        multi.entry(k.clone()).or_default().push(v.clone());
    }
    (QueryMap::from(single), QueryMap::from(multi))
}

/// The query string's (name, value) pairs as API Gateway puts them in the events'
/// `queryStringParameters`: percent-decoded (`+` is a space), in order; empty parts are skipped and
/// a part without `=` has an empty value. crud's own parser (one implementation), so the gateway
/// and crud's HTTP API events (`rawQueryString`) decode a query alike.
pub use crud::encoding::parse_query;

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn header_maps_keep_every_value_and_the_last_as_single() {
        let (single, multi) =
            header_maps(&pairs(&[("X-A", "1"), ("x-a", "2"), ("b", "3")])).expect("valid");
        // sorted by the name as sent: "X-A" before "b" before "x-a"
        assert_eq!(single["x-a"], "2");
        let all: Vec<_> = multi
            .get_all("x-a")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, ["1", "2"]);
        assert_eq!(multi["b"], "3");
        assert!(header_maps(&pairs(&[("bad name", "v")])).is_none());
        assert!(header_maps(&pairs(&[("a", "line\nbreak")])).is_none());
    }

    #[test]
    fn query_maps_keep_every_value() {
        let (single, multi) = query_maps(&pairs(&[("a", "1"), ("a", "2"), ("b", "")]));
        assert_eq!(single.first("a"), Some("2"));
        assert_eq!(multi.all("a"), Some(vec!["1", "2"]));
        assert_eq!(multi.first("b"), Some(""));
    }

    #[test]
    fn queries_decode_in_order() {
        assert_eq!(
            parse_query("a=1&&b=x+y%2F&a=2&flag"),
            pairs(&[("a", "1"), ("b", "x y/"), ("a", "2"), ("flag", "")])
        );
        assert!(parse_query("").is_empty());
    }
}
