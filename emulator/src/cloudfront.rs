//! CloudFront in front of the API: the distribution's custom origin and the edge function's four
//! triggers, run as CloudFront runs them (a request trigger may answer itself; viewer-response
//! runs only for origin statuses below 400 and never for a generated response; the chain in
//! `pipeline` decides which trigger runs when). Header maps convert between the gateway's
//! (name, value) pairs and CloudFront's lower-cased, case-preserving form.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use edge::event::{
    CustomOrigin, Event, EventType, Header, Headers, Origin, Output, Request, Response,
};
use serde_json::json;

use crate::message::{plain, HttpRequest, HttpResponse};

/// The local distribution: its edge function, domain and the API as its custom origin.
pub struct CloudFront {
    edge: edge::Edge,
    distribution_domain: String,
    /// The API as CloudFront's custom origin (built once; cloned into each origin-request event).
    origin: Origin,
}

/// The distribution id local events carry.
pub const DISTRIBUTION_ID: &str = "ELOCALGATEWAY1";

impl CloudFront {
    pub fn new(
        edge: edge::Edge,
        distribution_domain: &str,
        origin_domain: &str,
        origin_path: &str,
    ) -> CloudFront {
        CloudFront {
            edge,
            distribution_domain: distribution_domain.to_string(),
            origin: custom_origin(origin_domain, origin_path),
        }
    }

    pub fn edge(&self) -> &edge::Edge {
        &self.edge
    }

    /// The custom origin (the API) as origin-request events carry it.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The event CloudFront sends the edge function for one trigger.
    pub fn event(
        &self,
        kind: EventType,
        request_id: &str,
        request: Request,
        response: Option<Response>,
    ) -> Event {
        let mut ev = Event::new(kind, request_id, request, response);
        for r in &mut ev.records {
            r.cf.config.distribution_domain_name = self.distribution_domain.clone();
            r.cf.config.distribution_id = DISTRIBUTION_ID.into();
        }
        ev
    }

    /// Run the edge function on one event; its time is added to `edge_us`.
    pub fn run(&self, ev: Event, edge_us: &mut u64) -> Result<Output, edge::EdgeError> {
        let started = Instant::now();
        let ctx = edge::Context {
            now_ms: now_ms(),
            random: random16(),
        };
        let out = self.edge.handle(ev, &ctx);
        *edge_us += started.elapsed().as_micros() as u64;
        out
    }

    /// A request trigger (viewer-request, origin-request): the request to forward, or the
    /// response to send straight back (CloudFront runs no response trigger for it).
    pub fn request_trigger(
        &self,
        kind: EventType,
        request_id: &str,
        request: Request,
        edge_us: &mut u64,
    ) -> Result<Request, HttpResponse> {
        match self.run(self.event(kind, request_id, request, None), edge_us) {
            Ok(Output::Request(r)) => Ok(r),
            Ok(Output::Response(r)) => Err(generated(r)),
            Err(_) => Err(plain(502, "edge function error")),
        }
    }

    /// A response trigger (origin-response, viewer-response): the response to pass on; a failed
    /// edge function is a 502.
    pub fn response_trigger(
        &self,
        kind: EventType,
        request_id: &str,
        request: Request,
        response: Response,
        edge_us: &mut u64,
    ) -> Result<Response, HttpResponse> {
        match self.run(
            self.event(kind, request_id, request, Some(response)),
            edge_us,
        ) {
            Ok(Output::Response(r)) => Ok(r),
            _ => Err(plain(502, "edge function error")),
        }
    }
}

/// The API as a custom origin (`https`, port 443, CloudFront's default timeouts).
pub fn custom_origin(domain: &str, path: &str) -> Origin {
    Origin {
        custom: Some(CustomOrigin {
            custom_headers: Headers::new(),
            domain_name: domain.to_string(),
            path: path.to_string(),
            other: serde_json::from_value(json!({
                "keepaliveTimeout": 5, "port": 443, "protocol": "https", "readTimeout": 30,
                "sslProtocols": ["TLSv1.2"]
            }))
            .unwrap_or_default(),
        }),
        s3: None,
    }
}

/// The request as viewer-request sees it (no origin yet).
pub fn viewer_request(req: &HttpRequest) -> Request {
    let (uri, querystring) = req.path_and_query();
    Request {
        client_ip: req.client_ip.to_string(),
        headers: cf_headers(&req.headers),
        method: req.method.clone(),
        querystring,
        uri,
        body: None,
        origin: None,
    }
}

/// The origin's answer as origin-response sees it (the body stays with the gateway).
pub fn origin_response(status: u16, headers: &[(String, String)]) -> Response {
    Response {
        status: status.to_string(),
        status_description: Some(status_text(status).to_string()),
        headers: cf_headers(headers),
        body: None,
        body_encoding: None,
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    // OS randomness; on failure the bytes stay zero, which only weakens canary bucketing of
    // visitors without a request id, never a security decision.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b
}

/// (name, value) pairs as CloudFront headers: keyed by the lower-cased name, each value keeping
/// the name as sent.
pub fn cf_headers(pairs: &[(String, String)]) -> Headers {
    let mut h = Headers::new();
    for (k, v) in pairs {
        h.entry(k.to_ascii_lowercase())
            .or_default()
            .push(Header::new(k, v.clone()));
    }
    h
}

/// CloudFront headers as (name, value) pairs, names as sent when known.
pub fn flatten(h: &Headers) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, vals) in h {
        for v in vals {
            out.push((
                v.key.clone().unwrap_or_else(|| name.clone()),
                v.value.clone(),
            ));
        }
    }
    out
}

/// The one value of a header (`name` lower-cased): `Ok(None)` when absent, `Err` when repeated.
#[allow(clippy::result_unit_err)]
pub fn single<'a>(h: &'a Headers, name: &str) -> Result<Option<&'a str>, ()> {
    match h.get(name).map(|v| v.as_slice()) {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some(one.value.as_str())),
        Some(_) => Err(()),
    }
}

pub fn status_text(s: u16) -> &'static str {
    http::StatusCode::from_u16(s)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("")
}

/// A response the edge generated at a request trigger, as the client gets it.
pub fn generated(r: Response) -> HttpResponse {
    let body = match r.body.clone() {
        Some(b) => decode_edge_body(b, r.body_encoding.as_deref()),
        None => Bytes::new(),
    };
    let mut headers = flatten(&r.headers);
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
    HttpResponse {
        status: r.status_code(),
        headers,
        body,
    }
}

/// A body the edge function set (`bodyEncoding: base64` or text); undecodable base64 is empty.
pub fn decode_edge_body(b: String, encoding: Option<&str>) -> Bytes {
    if encoding == Some("base64") {
        STANDARD.decode(&b).map(Bytes::from).unwrap_or_default()
    } else {
        Bytes::from(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cf() -> CloudFront {
        let edge = edge::Edge::from_json(b"{}").expect("default edge config");
        CloudFront::new(edge, "d1.cloudfront.net", "api.example", "/prod")
    }

    fn get(target: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            target: target.into(),
            headers: pairs(headers),
            body: Bytes::new(),
            client_ip: IpAddr::from([192, 0, 2, 1]),
        }
    }

    #[test]
    fn headers_group_by_lowercase_name_and_keep_the_name_as_sent() {
        let h = cf_headers(&pairs(&[("X-A", "1"), ("x-a", "2"), ("Host", "h")]));
        assert_eq!(h["x-a"].len(), 2);
        assert_eq!(h["x-a"][0].key.as_deref(), Some("X-A"));
        assert_eq!(single(&h, "host"), Ok(Some("h")));
        assert_eq!(single(&h, "x-a"), Err(()));
        assert_eq!(single(&h, "missing"), Ok(None));
        let mut back = flatten(&h);
        back.sort();
        assert_eq!(back, pairs(&[("Host", "h"), ("X-A", "1"), ("x-a", "2")]));
    }

    #[test]
    fn status_texts_are_canonical() {
        assert_eq!(status_text(404), "Not Found");
        assert_eq!(status_text(299), "");
        let r = origin_response(201, &pairs(&[("ETag", "\"1\"")]));
        assert_eq!(r.status, "201");
        assert_eq!(r.status_description.as_deref(), Some("Created"));
        assert_eq!(r.headers["etag"][0].value, "\"1\"");
    }

    #[test]
    fn edge_bodies_decode_by_encoding() {
        assert_eq!(&decode_edge_body("aGk=".into(), Some("base64"))[..], b"hi");
        assert_eq!(&decode_edge_body("aGk=".into(), Some("text"))[..], b"aGk=");
        assert_eq!(&decode_edge_body("aGk=".into(), None)[..], b"aGk=");
        assert!(decode_edge_body("not base64!".into(), Some("base64")).is_empty());
    }

    #[test]
    fn generated_responses_lose_content_length() {
        let r = Response {
            status: "403".into(),
            status_description: None,
            headers: cf_headers(&pairs(&[("Content-Length", "3"), ("x-y", "z")])),
            body: Some("bye".into()),
            body_encoding: None,
        };
        let out = generated(r);
        assert_eq!(out.status, 403);
        assert_eq!(out.headers, pairs(&[("x-y", "z")]));
        assert_eq!(&out.body[..], b"bye");
    }

    #[test]
    fn viewer_request_splits_the_target() {
        let r = viewer_request(&get("/items?limit=2", &[("Accept", "*/*")]));
        assert_eq!(r.uri, "/items");
        assert_eq!(r.querystring, "limit=2");
        assert_eq!(r.client_ip, "192.0.2.1");
        assert!(r.origin.is_none());
        assert_eq!(r.headers["accept"][0].value, "*/*");
    }

    #[test]
    fn events_name_the_local_distribution_and_origin() {
        let cf = cf();
        let mut req = viewer_request(&get("/items", &[]));
        req.origin = Some(cf.origin().clone());
        let ev = cf.event(EventType::OriginRequest, "rid", req, None);
        let v = serde_json::to_value(&ev).expect("event serializes");
        let config = &v["Records"][0]["cf"]["config"];
        assert_eq!(config["distributionDomainName"], "d1.cloudfront.net");
        assert_eq!(config["distributionId"], DISTRIBUTION_ID);
        assert_eq!(config["eventType"], "origin-request");
        let origin = &v["Records"][0]["cf"]["request"]["origin"]["custom"];
        assert_eq!(origin["domainName"], "api.example");
        assert_eq!(origin["path"], "/prod");
        assert_eq!(origin["port"], 443);
    }

    #[test]
    fn triggers_forward_requests_and_responses_and_count_edge_time() {
        let cf = cf();
        let mut edge_us = 0;
        let vr = cf
            .request_trigger(
                EventType::ViewerRequest,
                "rid",
                viewer_request(&get("/items", &[("Host", "d1.cloudfront.net")])),
                &mut edge_us,
            )
            .expect("a plain GET is forwarded");
        assert_eq!(vr.uri, "/items");
        let resp = cf
            .response_trigger(
                EventType::OriginResponse,
                "rid",
                vr,
                origin_response(200, &pairs(&[("content-type", "application/json")])),
                &mut edge_us,
            )
            .expect("origin-response passes the response on");
        assert_eq!(resp.status_code(), 200);
    }
}
