//! The edge function: CloudFront Lambda@Edge logic for an API, as a pure library.
//!
//! [`Edge::handle`] takes a CloudFront event ([`event::Event`]), the current time and 16 random
//! bytes, and returns what CloudFront expects back ([`event::Output`]). It reads no clock, no
//! randomness and no environment of its own, so the same code runs in the native `edge` binary
//! (under the Lambda Runtime API), in the local gateway (in process) and, compiled to
//! `wasm32-unknown-unknown`, inside the small Node.js handler deployed to Lambda@Edge.
//!
//! Per event type:
//! - **viewer-request**: rate limit per client IP (429), size and character checks (414, 431,
//!   400), several `Origin` values (403), CORS preflights answered here (204 / 403), client-sent
//!   internal headers removed, canary variant chosen (`x-canary-variant`), origin-verify header.
//! - **origin-request**: canary variant applied to the origin (domain and/or path), origin-verify
//!   header.
//! - **origin-response**: security headers and CORS (cached with the object, every status).
//! - **viewer-response**: security headers and CORS again (per viewer), sticky canary cookie.
//!
//! Every generated response carries the security headers (CloudFront runs no response trigger
//! for them).

pub mod canary;
pub mod config;
pub mod cors;
pub mod event;
pub mod headers;
pub mod hygiene;
pub mod names;
pub mod ratelimit;
pub mod rollout;
pub mod security;

#[cfg(feature = "lambda")]
pub mod handler;

#[cfg(target_arch = "wasm32")]
mod wasm;

use canary::{Canary, Forced, Variant};
pub use config::{Config, ConfigError};
use cors::{Cors, RequestOrigin};
use event::{Event, EventType, Headers, Output, Request, Response};
use hygiene::{Hygiene, Refusal};
use ratelimit::RateLimit;
use security::SecurityHeaders;

/// The per-invocation inputs the edge cannot get itself on every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Current time, Unix epoch milliseconds.
    pub now_ms: u64,
    /// 16 fresh random bytes.
    pub random: [u8; 16],
}

/// An event the edge cannot handle (CloudFront then answers 502: fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    #[error("event is not a CloudFront Lambda@Edge event: {0}")]
    InvalidEvent(String),
    #[error("event has no Records[0].cf")]
    NoRecord,
    #[error("{0} event without a response object")]
    MissingResponse(&'static str),
}

/// A CloudFront event from its JSON. The error quotes none of the event's values (serde's own
/// messages do: `unknown variant "<value>"`), because hosts log it and return it as the
/// invocation's error.
pub fn parse_event(json: &[u8]) -> Result<Event, EdgeError> {
    serde_json::from_slice(json)
        .map_err(|e| EdgeError::InvalidEvent(config::redacted_json_error(&e, "")))
}

/// Why the edge did what it did (a stable code for the logs; no header values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Forwarded,
    RateLimited,
    Refused(Refusal),
    SeveralOrigins,
    PreflightAllowed,
    PreflightRefused(cors::PreflightRefusal),
    Response,
}

impl Decision {
    pub fn code(self) -> &'static str {
        match self {
            Decision::Forwarded => "forwarded",
            Decision::RateLimited => "rate_limited",
            Decision::Refused(r) => r.code(),
            Decision::SeveralOrigins => "several_origins",
            Decision::PreflightAllowed => "preflight_allowed",
            Decision::PreflightRefused(r) => r.code(),
            Decision::Response => "response",
        }
    }
}

/// The result of one event, with what the logs need.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub event_type: EventType,
    pub output: Output,
    pub decision: Decision,
    /// The canary variant chosen (viewer-request) or applied (origin-request).
    pub variant: Option<Variant>,
    /// A tester asked to force a variant without a valid credential.
    pub tester_refused: bool,
    /// The canary weight in force when the variant was chosen (viewer-request).
    pub weight: Option<u8>,
    /// The variant was forced by a valid tester credential.
    pub forced: bool,
}

/// One decision log line, the same for every host (native binary, Node.js handler of the
/// WebAssembly build): codes and variants only, never a header value or a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// `INFO` or `WARN`.
    pub level: &'static str,
    pub code: &'static str,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    pub message: &'static str,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ViewerRequest => "viewer-request",
            EventType::OriginRequest => "origin-request",
            EventType::OriginResponse => "origin-response",
            EventType::ViewerResponse => "viewer-response",
        }
    }
}

impl Handled {
    fn new(event_type: EventType, output: Output, decision: Decision) -> Handled {
        Handled {
            event_type,
            output,
            decision,
            variant: None,
            tester_refused: false,
            weight: None,
            forced: false,
        }
    }

    /// What to log for this event: refusals (rate limits, hygiene, refused preflights, several
    /// origins), the variant chosen at viewer-request, and a refused tester override.
    pub fn log_lines(&self) -> Vec<LogLine> {
        let event = self.event_type.as_str();
        let mut out = Vec::new();
        match self.decision {
            Decision::Forwarded if self.event_type == EventType::ViewerRequest => {
                out.push(LogLine {
                    level: "INFO",
                    code: if self.forced {
                        "variant_forced"
                    } else {
                        "variant_chosen"
                    },
                    event,
                    variant: self.variant.map(Variant::as_str),
                    weight: self.weight,
                    message: "canary variant",
                });
            }
            Decision::Forwarded | Decision::Response | Decision::PreflightAllowed => {}
            d => out.push(LogLine {
                level: "INFO",
                code: d.code(),
                event,
                variant: None,
                weight: None,
                message: "refused at the edge",
            }),
        }
        if self.tester_refused {
            out.push(LogLine {
                level: "WARN",
                code: "canary_force_refused",
                event,
                variant: None,
                weight: None,
                message: "variant override without a valid tester credential",
            });
        }
        out
    }
}

/// The configured edge. Build once (at init), share for every event.
#[derive(Debug)]
pub struct Edge {
    cors: Cors,
    security: SecurityHeaders,
    rate_limit: RateLimit,
    hygiene: Hygiene,
    canary: Canary,
    warnings: Vec<String>,
}

impl Edge {
    pub fn new(config: &Config) -> Result<Edge, ConfigError> {
        let canary = Canary::new(&config.canary)?;
        let mut warnings = Vec::new();
        if canary.rollout().is_some() && !canary.signs() {
            warnings.push(
                "canary.rollout is set but canary.cookie_keys is empty: no visitor can be \
                 assigned a signed cookie, so every request goes to the stable variant"
                    .to_string(),
            );
        }
        if canary.weight() > 0 && !canary.signs() {
            warnings.push(format!(
                "canary.weight_percent is {} but canary.cookie_keys is empty: no visitor can be \
                 assigned a signed cookie, so every request goes to the stable variant",
                canary.weight()
            ));
        }
        if config.origin_verify.is_none() {
            warnings.push(
                "origin_verify is not configured: no x-origin-verify header is added, so an origin \
                 that requires it refuses every request"
                    .to_string(),
            );
        }
        Ok(Edge {
            cors: Cors::new(&config.cors)?,
            security: SecurityHeaders::new(&config.security_headers)?,
            rate_limit: RateLimit::new(&config.rate_limit)?,
            hygiene: Hygiene::new(
                &config.limits,
                &config.hygiene,
                config.origin_verify.as_ref(),
            )?,
            canary,
            warnings,
        })
    }

    /// Build from the JSON configuration document.
    pub fn from_json(bytes: &[u8]) -> Result<Edge, ConfigError> {
        Edge::new(&Config::from_json(bytes)?)
    }

    /// Configuration that works but deserves a line in the init log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the host reads the run-time rollout state (`canary.rollout`), when configured.
    pub fn rollout(&self) -> Option<&rollout::RolloutConfig> {
        self.canary.rollout()
    }

    /// Hand the edge the rollout state document the host just read (at `now_ms`).
    pub fn load_rollout(
        &self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<rollout::RolloutState, rollout::RolloutError> {
        self.canary.load_rollout(bytes, now_ms)
    }

    /// The canary weight in force at `now_ms`.
    pub fn weight_at(&self, now_ms: u64) -> u8 {
        self.canary.weight_at(now_ms)
    }

    /// Handle one event: the request to forward or the response to send.
    pub fn handle(&self, event: Event, ctx: &Context) -> Result<Output, EdgeError> {
        self.handle_detailed(event, ctx).map(|h| h.output)
    }

    /// JSON event in, JSON result out (the WebAssembly and benchmark entry point).
    pub fn handle_json(&self, event: &[u8], ctx: &Context) -> Result<Vec<u8>, EdgeError> {
        let event = parse_event(event)?;
        let out = self.handle(event, ctx)?;
        serde_json::to_vec(&out).map_err(|e| EdgeError::InvalidEvent(e.to_string()))
    }

    pub fn handle_detailed(&self, event: Event, ctx: &Context) -> Result<Handled, EdgeError> {
        let record = event
            .records
            .into_iter()
            .next()
            .ok_or(EdgeError::NoRecord)?;
        let cf = record.cf;
        let event_type = cf.config.event_type;
        let mut request = cf.request;
        headers::normalize_names(&mut request.headers);
        let handled = match event_type {
            EventType::ViewerRequest => self.viewer_request(request, &cf.config.request_id, ctx),
            EventType::OriginRequest => {
                self.hygiene.add_origin_verify(&mut request.headers);
                let variant = self.canary.route(&mut request);
                let mut h = Handled::new(event_type, Output::Request(request), Decision::Forwarded);
                h.variant = Some(variant);
                h
            }
            EventType::OriginResponse => {
                let mut response = cf
                    .response
                    .ok_or(EdgeError::MissingResponse("origin-response"))?;
                headers::normalize_names(&mut response.headers);
                self.security.apply(&mut response.headers);
                self.cors.apply(&request.headers, &mut response.headers);
                Handled::new(event_type, Output::Response(response), Decision::Response)
            }
            EventType::ViewerResponse => {
                let mut response = cf
                    .response
                    .ok_or(EdgeError::MissingResponse("viewer-response"))?;
                headers::normalize_names(&mut response.headers);
                self.security.apply(&mut response.headers);
                self.cors.apply(&request.headers, &mut response.headers);
                let a = self
                    .canary
                    .assign(&request.headers, &cf.config.request_id, &ctx.random);
                if let Some(cookie) = a.cookie {
                    headers::append(
                        &mut response.headers,
                        "set-cookie",
                        "Set-Cookie",
                        self.canary.set_cookie(&cookie),
                    );
                }
                Handled::new(event_type, Output::Response(response), Decision::Response)
            }
        };
        Ok(handled)
    }

    fn viewer_request(&self, mut request: Request, request_id: &str, ctx: &Context) -> Handled {
        let generated = |r: Response, d: Decision| {
            Handled::new(EventType::ViewerRequest, Output::Response(r), d)
        };
        if let Err(wait) = self.rate_limit.check(&request.client_ip, ctx.now_ms) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut r = self.problem(429, "Too Many Requests", "rate_limited", &request.headers);
            headers::set(
                &mut r.headers,
                "retry-after",
                "Retry-After",
                secs.max(1).to_string(),
            );
            return generated(r, Decision::RateLimited);
        }
        if let Err(refusal) = self.hygiene.check(&request) {
            let title = match refusal {
                Refusal::UriTooLong => "URI Too Long",
                Refusal::HeadersTooLarge => "Request Header Fields Too Large",
                Refusal::InvalidHeader | Refusal::InvalidUri => "Bad Request",
            };
            let r = self.problem(refusal.status(), title, refusal.code(), &request.headers);
            return generated(r, Decision::Refused(refusal));
        }
        if cors::request_origin(&request.headers) == RequestOrigin::Several {
            return generated(self.forbidden("several_origins"), Decision::SeveralOrigins);
        }
        if Cors::is_preflight(&request.method, &request.headers) {
            return match self.cors.preflight(&request.headers) {
                Ok(cors_headers) => {
                    let mut r = Response {
                        status: "204".into(),
                        status_description: Some("No Content".into()),
                        headers: cors_headers,
                        body: None,
                        body_encoding: None,
                    };
                    self.security.apply(&mut r.headers);
                    headers::set(&mut r.headers, "cache-control", "Cache-Control", "no-store");
                    generated(r, Decision::PreflightAllowed)
                }
                Err(why) => generated(self.forbidden(why.code()), Decision::PreflightRefused(why)),
            };
        }
        let forced = self.canary.forced(&request.headers);
        let weight = self.canary.weight_at(ctx.now_ms);
        let variant = match forced {
            Forced::Yes(v) => v,
            Forced::No | Forced::Refused => {
                self.canary
                    .assign_with_weight(&request.headers, request_id, &ctx.random, weight)
                    .variant
            }
        };
        self.hygiene.strip(&mut request.headers);
        headers::set(
            &mut request.headers,
            canary::VARIANT_HEADER,
            "X-Canary-Variant",
            variant.as_str(),
        );
        self.hygiene.add_origin_verify(&mut request.headers);
        let mut h = Handled::new(
            EventType::ViewerRequest,
            Output::Request(request),
            Decision::Forwarded,
        );
        h.variant = Some(variant);
        h.tester_refused = forced == Forced::Refused;
        h.forced = matches!(forced, Forced::Yes(_));
        h.weight = Some(weight);
        h
    }

    /// A generated error: problem+json, security headers, CORS for an allowed origin.
    fn problem(&self, status: u16, title: &str, code: &str, request: &Headers) -> Response {
        let mut r = self.bare_problem(status, title, code);
        self.cors.apply(request, &mut r.headers);
        r
    }

    /// A 403 that carries no CORS headers at all (refused preflights, several origins).
    fn forbidden(&self, code: &str) -> Response {
        let mut r = self.bare_problem(403, "Forbidden", code);
        headers::vary_append(&mut r.headers, "Origin");
        r
    }

    fn bare_problem(&self, status: u16, title: &str, code: &str) -> Response {
        let mut h = Headers::new();
        headers::set(
            &mut h,
            "content-type",
            "Content-Type",
            "application/problem+json",
        );
        headers::set(&mut h, "cache-control", "Cache-Control", "no-store");
        self.security.apply(&mut h);
        Response {
            status: status.to_string(),
            status_description: Some(title.to_string()),
            headers: h,
            body: Some(format!(
                r#"{{"type":"about:blank","title":"{title}","status":{status},"code":"{code}"}}"#
            )),
            body_encoding: Some("text".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = {
        const fn shared<T: Send + Sync>() {}
        shared::<Edge>(); // one Edge serves concurrent requests in the local gateway
    };

    fn edge() -> Edge {
        Edge::from_json(
            br#"{"cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": true},
                 "origin_verify": {"key_id": "v1", "secret": "0123456789abcdef0123456789abcdef"},
                 "canary": {"weight_percent": 100,
                            "cookie_keys": [{"id": "k1", "secret": "cookie-key-cookie-key-cookie-key-1"}],
                            "origin": {"domain_name": "canary.example.org", "path": "/canary"}}}"#,
        )
        .unwrap()
    }

    fn run(e: &Edge, fixture: &str) -> Output {
        let ev: Event = serde_json::from_str(fixture).unwrap();
        e.handle(
            ev,
            &Context {
                now_ms: 1_700_000_000_000,
                random: [1; 16],
            },
        )
        .unwrap()
    }

    #[test]
    fn viewer_request_fixture_is_forwarded_with_variant_and_verify_header() {
        let out = run(
            &edge(),
            include_str!("../tests/fixtures/viewer-request.json"),
        );
        let r = out.as_request().unwrap();
        assert_eq!(
            headers::single(&r.headers, "x-canary-variant"),
            Some("canary")
        );
        assert_eq!(
            headers::single(&r.headers, "x-origin-verify"),
            Some("v1:0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            headers::single(&r.headers, "host"),
            Some("d111111abcdef8.cloudfront.net")
        );
        assert_eq!(r.uri, "/");
    }

    #[test]
    fn origin_request_fixtures_route_canary() {
        let e = edge();
        for f in [
            include_str!("../tests/fixtures/origin-request.json"),
            include_str!("../tests/fixtures/origin-request-s3.json"),
        ] {
            // CloudFront forwards the viewer-request's variant header (it is in the cache key).
            let mut ev: Event = serde_json::from_str(f).unwrap();
            headers::set(
                &mut ev.records[0].cf.request.headers,
                "x-canary-variant",
                "X-Canary-Variant",
                "canary",
            );
            let h = e
                .handle_detailed(
                    ev,
                    &Context {
                        now_ms: 0,
                        random: [0; 16],
                    },
                )
                .unwrap();
            assert_eq!(h.variant, Some(Variant::Canary));
            let r = h.output.as_request().unwrap();
            let o = r.origin.as_ref().unwrap();
            let (domain, path) = match (&o.custom, &o.s3) {
                (Some(c), _) => (&c.domain_name, &c.path),
                (None, Some(s)) => (&s.domain_name, &s.path),
                _ => unreachable!(),
            };
            assert_eq!(
                (domain.as_str(), path.as_str()),
                ("canary.example.org", "/canary")
            );
            assert_eq!(
                headers::single(&r.headers, "host"),
                Some("canary.example.org")
            );
        }
        // Without the header: untouched (stable).
        let out = run(&e, include_str!("../tests/fixtures/origin-request.json"));
        let o = out
            .as_request()
            .unwrap()
            .origin
            .as_ref()
            .unwrap()
            .custom
            .as_ref()
            .unwrap();
        assert_eq!(o.domain_name, "example.org");
    }

    #[test]
    fn response_fixtures_get_security_headers_and_lose_leaky_ones() {
        let e = edge();
        for f in [
            include_str!("../tests/fixtures/origin-response.json"),
            include_str!("../tests/fixtures/viewer-response.json"),
        ] {
            let out = run(&e, f);
            let r = out.as_response().unwrap();
            assert!(!r.headers.contains_key("server"));
            // The fixture's origin sent `Access-Control-Allow-Origin: *` with credentials and the
            // request has no Origin: the edge removes both.
            assert!(!r.headers.contains_key("access-control-allow-origin"));
            assert!(!r.headers.contains_key("access-control-allow-credentials"));
            assert_eq!(headers::single(&r.headers, "x-frame-options"), Some("DENY"));
            assert!(headers::single(&r.headers, "strict-transport-security").is_some());
            assert_eq!(headers::single(&r.headers, "content-length"), Some("9593"));
        }
        // viewer-response issues the sticky cookie to the new visitor.
        let out = run(&e, include_str!("../tests/fixtures/viewer-response.json"));
        let cookie = headers::single(&out.as_response().unwrap().headers, "set-cookie").unwrap();
        assert!(cookie.starts_with("__Host-canary=k1."), "{cookie}");
    }

    fn rollout_edge() -> Edge {
        Edge::from_json(
            br#"{"rate_limit": {"enabled": false},
                 "canary": {"cookie_keys": [{"id": "k1", "secret": "cookie-key-cookie-key-cookie-key-1"}],
                            "origin": {"path": "/canary"},
                            "rollout": {"source": "file:///tmp/rollout.json", "ttl_seconds": 1, "max_stale_seconds": 5}}}"#,
        )
        .unwrap()
    }

    fn variant_of(e: &Edge, rid: &str, now_ms: u64) -> Variant {
        let ev = Event::new(
            EventType::ViewerRequest,
            rid,
            Request {
                client_ip: "203.0.113.9".into(),
                headers: Headers::new(),
                method: "GET".into(),
                querystring: String::new(),
                uri: "/items".into(),
                body: None,
                origin: None,
            },
            None,
        );
        let h = e
            .handle_detailed(
                ev,
                &Context {
                    now_ms,
                    random: [0; 16],
                },
            )
            .unwrap();
        assert_eq!(h.log_lines()[0].code, "variant_chosen");
        h.variant.unwrap()
    }

    #[test]
    fn rollout_weights_move_visitors_one_way_and_fail_safe() {
        let e = rollout_edge();
        let t0 = 1_700_000_000_000;
        // Never loaded: stable.
        assert!((0..100).all(|i| variant_of(&e, &format!("r{i}"), t0) == Variant::Stable));
        let mut prev: Vec<Variant> = vec![Variant::Stable; 400];
        for w in [1u8, 5, 25, 50, 100] {
            e.load_rollout(format!(r#"{{"weight_percent": {w}}}"#).as_bytes(), t0)
                .unwrap();
            let now: Vec<Variant> = (0..400)
                .map(|i| variant_of(&e, &format!("r{i}"), t0))
                .collect();
            for (a, b) in prev.iter().zip(&now) {
                assert!(
                    !(*a == Variant::Canary && *b == Variant::Stable),
                    "moved back at {w}"
                );
            }
            prev = now;
        }
        assert!(prev.iter().all(|v| *v == Variant::Canary));
        // A bad document changes nothing; kill and staleness put everyone on stable.
        assert!(e.load_rollout(b"{\"weight_percent\": 300}", t0).is_err());
        assert_eq!(e.weight_at(t0), 100);
        assert_eq!(e.weight_at(t0 + 5_001), 0);
        e.load_rollout(br#"{"weight_percent": 100, "kill": true}"#, t0)
            .unwrap();
        assert_eq!(variant_of(&e, "r1", t0), Variant::Stable);
    }

    #[test]
    fn rollout_config_is_checked() {
        for (doc, want) in [
            (
                r#"{"canary": {"weight_percent": 5, "origin": {"path": "/c"}, "rollout": {"source": "s3://b/k"}}}"#,
                "weight_percent is 5",
            ),
            (
                r#"{"canary": {"rollout": {"source": "s3://b/k"}}}"#,
                "names no target",
            ),
            (
                r#"{"canary": {"origin": {"path": "/c"}, "rollout": {"source": "http://example.com/x"}}}"#,
                "source must be",
            ),
            (
                r#"{"canary": {"origin": {"path": "/c"}, "rollout": {"source": "s3://b/k", "ttl_seconds": 0}}}"#,
                "ttl_seconds",
            ),
        ] {
            let e = Edge::from_json(doc.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{doc}: {e}");
        }
        for ok in [
            "s3://bucket/rollout.json",
            "https://x.example/r",
            "http://127.0.0.1:9/r",
            "file:///tmp/r",
        ] {
            let doc = format!(
                r#"{{"canary": {{"origin": {{"path": "/c"}}, "rollout": {{"source": "{ok}"}}}}}}"#
            );
            Edge::from_json(doc.as_bytes()).unwrap();
        }
    }

    #[test]
    fn no_cookie_key_means_no_forcing_either() {
        let e = Edge::from_json(
            br#"{"canary": {"weight_percent": 50, "origin": {"path": "/canary"},
                            "tester_keys": [{"id": "t1", "secret": "tester-key-tester-key-tester-key-1"}]}}"#,
        )
        .unwrap();
        let mut headers = Headers::new();
        headers::append(&mut headers, "x-canary-force", "X-Canary-Force", "canary");
        headers::append(
            &mut headers,
            "x-canary-tester",
            "X-Canary-Tester",
            "t1:tester-key-tester-key-tester-key-1",
        );
        let ev = Event::new(
            EventType::ViewerRequest,
            "rid",
            Request {
                client_ip: "203.0.113.9".into(),
                headers,
                method: "GET".into(),
                querystring: String::new(),
                uri: "/items".into(),
                body: None,
                origin: None,
            },
            None,
        );
        let h = e
            .handle_detailed(
                ev,
                &Context {
                    now_ms: 1,
                    random: [0; 16],
                },
            )
            .unwrap();
        assert_eq!(h.variant, Some(Variant::Stable));
        assert!(h.tester_refused);
        let codes: Vec<&str> = h.log_lines().iter().map(|l| l.code).collect();
        assert_eq!(codes, ["variant_chosen", "canary_force_refused"]);
    }

    /// Hostile input never panics: random bytes in every field a client controls.
    #[test]
    fn random_hostile_events_never_panic() {
        let e = edge();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: Vec<char> = " \t\r\n\0,;=.:/*\"'%\u{7f}\u{e9}\u{1F600}aZ09-_~"
            .chars()
            .collect();
        let text = |max: u64, next: &mut dyn FnMut() -> u64| -> String {
            let len = next() % max;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        };
        let names = [
            "origin",
            "cookie",
            "access-control-request-method",
            "access-control-request-headers",
            "x-canary-force",
            "x-canary-tester",
            "x-canary-variant",
            "x-origin-verify",
            "host",
            "vary",
        ];
        for i in 0..3000u64 {
            let mut req = Request {
                client_ip: text(40, &mut next),
                headers: Headers::new(),
                method: ["GET", "OPTIONS", "POST", ""][(next() % 4) as usize].to_string(),
                querystring: text(30, &mut next),
                uri: format!("/{}", text(30, &mut next)),
                body: None,
                origin: None,
            };
            for _ in 0..(next() % 6) {
                let name = if next() % 4 == 0 {
                    text(12, &mut next)
                } else {
                    names[(next() % names.len() as u64) as usize].to_string()
                };
                let value = if next() % 3 == 0 {
                    format!("k1.{}", text(60, &mut next))
                } else {
                    text(80, &mut next)
                };
                headers::append(&mut req.headers, &name, &name, value);
            }
            let event_type = [
                EventType::ViewerRequest,
                EventType::OriginRequest,
                EventType::OriginResponse,
                EventType::ViewerResponse,
            ][(i % 4) as usize];
            let response = (i % 4 >= 2).then(|| Response {
                status: text(4, &mut next),
                status_description: None,
                headers: req.headers.clone(),
                body: None,
                body_encoding: None,
            });
            let ev = Event::new(event_type, text(20, &mut next), req, response);
            let ctx = Context {
                now_ms: next() % 2_000_000_000_000,
                random: [0; 16],
            };
            let out = e.handle(ev, &ctx).unwrap();
            serde_json::to_vec(&out).unwrap();
        }
    }
}
