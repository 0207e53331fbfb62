//! The integration when the chain fronts a team's own service (`GATEWAY_UPSTREAM`): an HTTP proxy
//! integration, as API Gateway's `HTTP_PROXY` calls a backend, with the authorizer's identity
//! passed as `x-guard-*` request headers.
//!
//! - The request goes on with its method, the path after the stage, the query string as sent and
//!   the body unchanged. Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the headers it
//!   names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) are not
//!   forwarded; `Host` names the upstream; `x-origin-verify` (a secret the chain has already
//!   checked) is removed; every client-sent `x-guard-*` header is removed before the
//!   authorizer's `x-guard-sub`, `x-guard-username`, `x-guard-groups`, `x-guard-scope` and
//!   `x-guard-client-id` are added (each always present, empty when the claim is absent).
//!   Context values are UTF-8 strings; a header value carries only visible ASCII, so `%` and
//!   every byte outside `!`..`~` and space are percent-encoded (`%25`, `%C3%A9`): a backend
//!   percent-decodes to get the exact value back.
//! - The answer: the upstream's status, headers (hop-by-hop ones dropped) and body, read whole up
//!   to API Gateway's 10 MB payload limit. Upstream down, not speaking HTTP, or over the limit:
//!   502 `integration_failure`; no complete answer within the integration timeout (API
//!   Gateway's default and maximum for REST APIs, 29 s, unless configured): 504
//!   `integration_timeout`. Never a hang: the timeout covers connecting, sending and reading.
//!
//! The request builder and the header rules are pure functions; [`Upstream::call`] does the I/O.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::authorizer::Answer;
use super::response::{GatewayResponse, OriginResponse};

/// API Gateway's REST integration timeout: the default, and the most it allows without a quota
/// increase.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(29);
/// The largest answer passed on (API Gateway's 10 MB payload limit).
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// The authorizer context keys passed on, and their header names.
pub const IDENTITY_HEADERS: [(&str, &str); 5] = [
    ("sub", "x-guard-sub"),
    ("username", "x-guard-username"),
    ("groups", "x-guard-groups"),
    ("scope", "x-guard-scope"),
    ("client_id", "x-guard-client-id"),
];

/// Headers that describe one connection, never forwarded by a proxy (RFC 9110 §7.6.1), with
/// `proxy-connection` (a pre-standard alias still sent by some clients).
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Why a `GATEWAY_UPSTREAM` value is refused (the gateway then exits 2 with this message).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamConfigError {
    #[error("GATEWAY_UPSTREAM must be http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT (loopback only), got {0:?}")]
    NotLoopbackHttp(String),
    #[error("GATEWAY_UPSTREAM names a service root only (no path, query or user info), got {0:?}")]
    HasPath(String),
}

/// Where the upstream is and how long it may take.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `host:port` of the service (loopback).
    pub authority: String,
    pub timeout: Duration,
}

impl UpstreamConfig {
    /// Parse `GATEWAY_UPSTREAM`: plain http to a loopback host with a port, nothing after it but
    /// an optional `/`.
    pub fn parse(url: &str, timeout: Duration) -> Result<UpstreamConfig, UpstreamConfigError> {
        let bad = || UpstreamConfigError::NotLoopbackHttp(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !(tail.is_empty() || tail == "/") || authority.contains(['@', '?', '#']) {
            return Err(UpstreamConfigError::HasPath(url.to_string()));
        }
        let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 || !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
            return Err(bad());
        }
        Ok(UpstreamConfig {
            authority: authority.to_string(),
            timeout,
        })
    }
}

/// `s` as a header value: visible ASCII and spaces as they are, `%` and every other byte of its
/// UTF-8 percent-encoded.
pub fn header_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b == b' ' || b.is_ascii_graphic()) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The header names a `Connection` header lists (lower case): hop-by-hop for this connection only.
fn connection_named(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The headers sent upstream: the request's own minus hop-by-hop ones, `host`, `content-length`
/// (set for the body sent), `x-origin-verify` and any `x-guard-*`, then the identity headers from
/// the authorizer's context.
pub fn request_headers(
    headers: &[(String, String)],
    auth: &Answer,
    authority: &str,
) -> Vec<(String, String)> {
    let named_by_connection = connection_named(headers);
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !(HOP_BY_HOP.contains(&k.as_str())
                || named_by_connection.contains(&k)
                || k == "host"
                || k == "content-length"
                || k == "x-origin-verify"
                || k.starts_with("x-guard-"))
        })
        .cloned()
        .collect();
    out.insert(0, ("host".into(), authority.to_string()));
    for (key, header) in IDENTITY_HEADERS {
        let v = auth.context.get(key).and_then(|v| v.as_str()).unwrap_or("");
        out.push((header.to_string(), header_value(v)));
    }
    out
}

/// The upstream's headers as passed back: hop-by-hop ones (and those its `Connection` names)
/// dropped; `content-length` dropped too (the body is passed on whole and measured again).
pub fn response_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let named = connection_named(headers);
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !(HOP_BY_HOP.contains(&k.as_str()) || named.contains(&k) || k == "content-length")
        })
        .cloned()
        .collect()
}

/// The request target sent upstream: the path after the stage and the query string as sent.
pub fn target(path: &str, raw_query: &str) -> String {
    if raw_query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{raw_query}")
    }
}

/// The HTTP client of one upstream (connections kept alive between requests).
#[derive(Clone)]
pub struct Upstream {
    config: UpstreamConfig,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("config", &self.config)
            .finish()
    }
}

/// What went wrong calling the upstream (logged by kind, never with a header or body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Refused, reset, not HTTP, an invalid request or answer, or an answer over the limit.
    Failed,
    /// No complete answer within the timeout.
    TimedOut,
}

impl UpstreamFailure {
    pub fn response(self, request_id: &str) -> OriginResponse {
        match self {
            UpstreamFailure::Failed => GatewayResponse::IntegrationFailure,
            UpstreamFailure::TimedOut => GatewayResponse::IntegrationTimeout,
        }
        .to_response(request_id)
    }
}

/// One request to the upstream: what [`Upstream::call`] sends.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamRequest<'a> {
    pub method: &'a str,
    /// The path after the stage, as sent.
    pub path: &'a str,
    /// The query string as sent, without its `?`.
    pub raw_query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Upstream { config, client }
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Send `req` upstream with the authorizer's identity; the answer as API Gateway passes it
    /// on (with `x-amzn-requestid`), or its 502/504.
    pub async fn call(
        &self,
        req: UpstreamRequest<'_>,
        auth: &Answer,
        request_id: &str,
    ) -> OriginResponse {
        let answer = tokio::time::timeout(self.config.timeout, self.exchange(req, auth)).await;
        match answer {
            Ok(Ok((status, headers, body))) => {
                let mut headers = response_headers(&headers);
                headers.push(("x-amzn-requestid".into(), request_id.to_string()));
                OriginResponse {
                    status,
                    headers,
                    body,
                }
            }
            Ok(Err(failure)) => {
                tracing::warn!(event = "upstream_failed", request_id, "upstream failed");
                failure.response(request_id)
            }
            Err(_) => {
                tracing::warn!(event = "upstream_timeout", request_id, "upstream timed out");
                UpstreamFailure::TimedOut.response(request_id)
            }
        }
    }

    async fn exchange(
        &self,
        req: UpstreamRequest<'_>,
        auth: &Answer,
    ) -> Result<(u16, Vec<(String, String)>, Bytes), UpstreamFailure> {
        let uri = format!(
            "http://{}{}",
            self.config.authority,
            target(req.path, req.raw_query)
        );
        let mut builder = http::Request::builder().method(req.method).uri(uri);
        for (k, v) in request_headers(req.headers, auth, &self.config.authority) {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(Full::new(Bytes::copy_from_slice(req.body)))
            .map_err(|_| UpstreamFailure::Failed)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|_| UpstreamFailure::Failed)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|_| UpstreamFailure::Failed)?
            .to_bytes();
        Ok((status, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::Policy;
    use serde_json::{json, Map, Value};

    fn answer(ctx: Value) -> Answer {
        let context: Map<String, Value> = ctx.as_object().cloned().unwrap_or_default();
        Answer {
            principal_id: "alice".into(),
            policy: Policy::default(),
            context,
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_loopback_http_with_a_port_and_no_path_is_accepted() {
        let t = DEFAULT_TIMEOUT;
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://localhost:1",
            "http://[::1]:65535",
        ] {
            assert!(UpstreamConfig::parse(ok, t).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:8080",
            "http://10.0.0.1:8080",
            "http://example.com:80",
            "http://127.0.0.1",
            "http://127.0.0.1:0",
            "http://127.0.0.1:x",
            "http://127.0.0.2:80",
            "127.0.0.1:8080",
            "http://user@127.0.0.1:80",
        ] {
            assert!(
                matches!(
                    UpstreamConfig::parse(bad, t),
                    Err(UpstreamConfigError::NotLoopbackHttp(_))
                        | Err(UpstreamConfigError::HasPath(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            UpstreamConfig::parse("http://127.0.0.1:80/api", t),
            Err(UpstreamConfigError::HasPath(_))
        ));
    }

    #[test]
    fn client_guard_headers_hop_by_hop_and_the_origin_secret_never_reach_the_upstream() {
        let h = pairs(&[
            ("Host", "d111.cloudfront.net"),
            ("Authorization", "Bearer t"),
            ("X-Guard-Sub", "mallory"),
            ("x-guard-anything", "x"),
            ("Connection", "keep-alive, X-Custom-Hop"),
            ("x-custom-hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic x"),
            ("content-length", "3"),
            ("x-origin-verify", "v1:secret"),
            ("accept", "application/json"),
            ("accept", "text/plain"),
        ]);
        let a = answer(
            json!({"sub": "alice", "username": "alice", "groups": "admin,dev",
                               "scope": "openid", "client_id": "c1"}),
        );
        let out = request_headers(&h, &a, "127.0.0.1:9000");
        assert_eq!(
            out,
            pairs(&[
                ("host", "127.0.0.1:9000"),
                ("Authorization", "Bearer t"),
                ("accept", "application/json"),
                ("accept", "text/plain"),
                ("x-guard-sub", "alice"),
                ("x-guard-username", "alice"),
                ("x-guard-groups", "admin,dev"),
                ("x-guard-scope", "openid"),
                ("x-guard-client-id", "c1"),
            ])
        );
    }

    #[test]
    fn identity_headers_are_always_present_and_percent_encode_what_a_header_cannot_carry() {
        let a = answer(json!({"sub": "iss:0123456789abcdef:bob", "username": "zoë 100%\r\nx: y"}));
        let out = request_headers(&[], &a, "127.0.0.1:1");
        let get = |k: &str| out.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("x-guard-sub"), Some("iss:0123456789abcdef:bob"));
        assert_eq!(get("x-guard-username"), Some("zo%C3%AB 100%25%0D%0Ax: y"));
        assert_eq!(get("x-guard-groups"), Some(""));
        assert_eq!(get("x-guard-client-id"), Some(""));
        for (_, v) in &out {
            assert!(http::HeaderValue::from_str(v).is_ok(), "{v:?}");
        }
    }

    #[test]
    fn percent_encoding_round_trips_every_string() {
        for s in [
            "", "a b", "%", "%41", "é", "\u{0}", "日本", "a,b", "\u{7f}~!",
        ] {
            let enc = header_value(s);
            let mut bytes = Vec::new();
            let mut it = enc.bytes();
            while let Some(b) = it.next() {
                if b == b'%' {
                    let h: String = [it.next().unwrap() as char, it.next().unwrap() as char]
                        .iter()
                        .collect();
                    bytes.push(u8::from_str_radix(&h, 16).unwrap());
                } else {
                    bytes.push(b);
                }
            }
            assert_eq!(String::from_utf8(bytes).unwrap(), s, "{enc}");
        }
    }

    #[test]
    fn answers_lose_hop_by_hop_headers_and_their_length() {
        let h = pairs(&[
            ("content-type", "text/plain"),
            ("Connection", "close, x-hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]);
        assert_eq!(
            response_headers(&h),
            pairs(&[
                ("content-type", "text/plain"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2")
            ])
        );
    }

    #[test]
    fn the_target_is_the_path_after_the_stage_and_the_query_as_sent() {
        assert_eq!(target("/orders/7", ""), "/orders/7");
        assert_eq!(target("/a", "x=1&x=2&y=%20"), "/a?x=1&x=2&y=%20");
    }
}
