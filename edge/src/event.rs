//! CloudFront Lambda@Edge event and result types, in the shape AWS documents
//! ("Lambda@Edge event structure"): `Records[0].cf` with `config`, `request` and, for the two
//! response events, `response`. Headers are a map from the lowercase header name to a list of
//! `{key, value}` entries.
//!
//! What a function may return: for viewer-request and origin-request, the (modified) request or
//! a generated [`Response`] (`status`, `statusDescription`, `headers`, `body`); for origin-response
//! and viewer-response, the (modified) response. [`Output`] serialises to exactly that object.
//!
//! Fields CloudFront documents are typed; unknown fields of the `origin` objects are kept
//! verbatim (they are echoed back to CloudFront), so a new CloudFront origin setting survives a
//! round trip through this function.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The four CloudFront events a Lambda@Edge function can be associated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "viewer-request")]
    ViewerRequest,
    #[serde(rename = "origin-request")]
    OriginRequest,
    #[serde(rename = "origin-response")]
    OriginResponse,
    #[serde(rename = "viewer-response")]
    ViewerResponse,
}

/// The whole event: `{"Records": [{"cf": {...}}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
}

impl Event {
    /// An event as CloudFront would send it (for in-process callers such as the local gateway).
    /// `request_id` must be the same for the events of one viewer request: the canary cookie
    /// issued at viewer-response is derived from it.
    pub fn new(
        event_type: EventType,
        request_id: impl Into<String>,
        request: Request,
        response: Option<Response>,
    ) -> Event {
        Event {
            records: vec![Record {
                cf: Cf {
                    config: CfConfig {
                        distribution_domain_name: String::new(),
                        distribution_id: String::new(),
                        event_type,
                        request_id: request_id.into(),
                    },
                    request,
                    response,
                },
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub cf: Cf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cf {
    pub config: CfConfig,
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfConfig {
    #[serde(default)]
    pub distribution_domain_name: String,
    #[serde(default)]
    pub distribution_id: String,
    pub event_type: EventType,
    /// The same opaque id in every event of one viewer request.
    #[serde(default)]
    pub request_id: String,
}

/// Headers: lowercase name → entries. `key` is the name as sent (optional when returning).
pub type Headers = BTreeMap<String, Vec<Header>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

impl Header {
    pub fn new(key: &str, value: impl Into<String>) -> Header {
        Header {
            key: Some(key.to_string()),
            value: value.into(),
        }
    }
}

/// A viewer or origin request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default)]
    pub client_ip: String,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub querystring: String,
    #[serde(default)]
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<RequestBody>,
    /// Present in origin-request events (and echoed in the response events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The request body, present when the trigger has "include body" enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_truncated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// The origin CloudFront would send the request to: exactly one of `custom` and `s3`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Origin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomOrigin {
    #[serde(default)]
    pub custom_headers: Headers,
    pub domain_name: String,
    #[serde(default)]
    pub path: String,
    /// The remaining documented fields (`keepaliveTimeout`, `port`, `protocol`, `readTimeout`,
    /// `sslProtocols`) and any CloudFront adds later, echoed unchanged.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Origin {
    #[serde(default)]
    pub custom_headers: Headers,
    pub domain_name: String,
    #[serde(default)]
    pub path: String,
    /// `authMethod`, `region` and any other field, echoed unchanged.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A response: the origin's (response events) or one generated by the function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// CloudFront sends and accepts the status as a string (`"200"`); a number is accepted too.
    #[serde(deserialize_with = "status_from_string_or_number")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
}

impl Response {
    /// The status as a number; an unparsable status counts as 502 (the origin misbehaved).
    pub fn status_code(&self) -> u16 {
        self.status.parse().unwrap_or(502)
    }
}

fn status_from_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        Str(String),
        Num(u64),
    }
    Ok(match S::deserialize(d)? {
        S::Str(s) => s,
        S::Num(n) => n.to_string(),
    })
}

/// What the function returns to CloudFront: the request to forward, or a response.
// One value per event, moved once: boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Output {
    Request(Request),
    Response(Response),
}

impl Output {
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Output::Response(r) => Some(r),
            Output::Request(_) => None,
        }
    }
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Output::Request(r) => Some(r),
            Output::Response(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: [&str; 6] = [
        include_str!("../tests/fixtures/viewer-request.json"),
        include_str!("../tests/fixtures/origin-request.json"),
        include_str!("../tests/fixtures/origin-request-s3.json"),
        include_str!("../tests/fixtures/origin-response.json"),
        include_str!("../tests/fixtures/viewer-response.json"),
        include_str!("../tests/fixtures/viewer-request-body.json"),
    ];

    #[test]
    fn fixtures_round_trip_exactly() {
        for f in FIXTURES {
            let raw: Value = serde_json::from_str(f).unwrap();
            let ev: Event = serde_json::from_str(f).unwrap();
            let back = serde_json::to_value(&ev).unwrap();
            assert_eq!(raw, back, "round trip changed the event");
        }
    }

    #[test]
    fn event_types_are_read() {
        let types: Vec<EventType> = FIXTURES
            .iter()
            .map(|f| {
                serde_json::from_str::<Event>(f).unwrap().records[0]
                    .cf
                    .config
                    .event_type
            })
            .collect();
        assert_eq!(
            types,
            [
                EventType::ViewerRequest,
                EventType::OriginRequest,
                EventType::OriginRequest,
                EventType::OriginResponse,
                EventType::ViewerResponse,
                EventType::ViewerRequest
            ]
        );
    }

    #[test]
    fn unknown_event_type_is_an_error() {
        let bad = FIXTURES[0].replace("viewer-request", "viewer-teleport");
        assert!(serde_json::from_str::<Event>(&bad).is_err());
    }

    #[test]
    fn numeric_status_is_accepted() {
        let r: Response = serde_json::from_str(r#"{"status": 404, "headers": {}}"#).unwrap();
        assert_eq!(r.status, "404");
        assert_eq!(r.status_code(), 404);
    }
}
