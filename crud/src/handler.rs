//! The Lambda adapter: API Gateway REST proxy (payload 1.0) and HTTP API (payload 2.0) events in,
//! the matching proxy response out. The only module that sees Lambda event types.
//!
//! Events are decoded here rather than through `lambda_http`, so a bad `isBase64Encoded` body is
//! a 400 `invalid_body_encoding` instead of a panic inside the adapter.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::api;
use crate::deps::Deps;
use crate::document::BodyError;
use crate::encoding::parse_query;
use crate::request::{ApiRequest, TokenFacts};
use crate::response::ApiResponse;

/// An API Gateway proxy event of either payload version.
#[derive(Debug, Clone)]
pub enum CrudEvent {
    Rest(Box<ApiGatewayProxyRequest>),
    Http(Box<ApiGatewayV2httpRequest>),
}

impl<'de> Deserialize<'de> for CrudEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            version: Option<String>,
        }
        let raw = Box::<RawValue>::deserialize(d)?;
        let invalid = |e: serde_json::Error| serde::de::Error::custom(redacted(&e));
        let probe: Probe = serde_json::from_str(raw.get()).map_err(invalid)?;
        if probe.version.as_deref() == Some("2.0") {
            serde_json::from_str(raw.get()).map(|e| CrudEvent::Http(Box::new(e)))
        } else {
            serde_json::from_str(raw.get()).map(|e| CrudEvent::Rest(Box::new(e)))
        }
        .map_err(invalid)
    }
}

/// A decoding error without the values it quotes. serde's messages name the offending value
/// (`invalid value: string "<a header value>", expected …`: a header with a control character
/// quotes the whole header, token and all), and the runtime logs this error and returns it as
/// the invocation's error. Kept: the kind of mismatch, what was expected, a missing field's name
/// and the position in the event.
fn redacted(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) if e.line() > 0 => &full[..i],
        _ => full.as_str(),
    };
    let expected = msg.rfind(", expected ").map(|i| &msg[i..]).unwrap_or("");
    let kinds = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ];
    let what = match kinds.into_iter().find(|k| msg.starts_with(k)) {
        Some(kind) => format!("{kind}{expected}"),
        None if msg.starts_with("missing field `") => msg.to_string(),
        None => match e.classify() {
            serde_json::error::Category::Syntax => "malformed JSON".to_string(),
            serde_json::error::Category::Eof => "truncated JSON".to_string(),
            serde_json::error::Category::Io | serde_json::error::Category::Data => {
                "unexpected data".to_string()
            }
        },
    };
    format!(
        "not an API Gateway proxy event: {what} (line {}, column {})",
        e.line(),
        e.column()
    )
}

/// The proxy response matching the event's payload version.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CrudResponse {
    Rest(ApiGatewayProxyResponse),
    Http(ApiGatewayV2httpResponse),
}

fn decode_body(body: Option<&str>, base64: bool) -> Result<Vec<u8>, BodyError> {
    match body {
        None => Ok(Vec::new()),
        Some(b) if base64 => STANDARD.decode(b).map_err(|_| BodyError::InvalidEncoding),
        Some(b) => Ok(b.as_bytes().to_vec()),
    }
}

fn sub_of(fields: &std::collections::HashMap<String, serde_json::Value>) -> Option<String> {
    fields
        .get("sub")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn facts_of(fields: &std::collections::HashMap<String, serde_json::Value>) -> TokenFacts {
    let get = |k: &str| {
        fields
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    TokenFacts {
        iss: get("iss"),
        jti: get("jti"),
        origin_jti: get("origin_jti"),
        iat: get("iat"),
    }
}

/// Decode a Lambda event into the transport-neutral request.
pub fn to_api_request(event: CrudEvent) -> ApiRequest {
    match event {
        CrudEvent::Rest(e) => {
            let e = *e;
            let query_map = if e.multi_value_query_string_parameters.is_empty() {
                &e.query_string_parameters
            } else {
                &e.multi_value_query_string_parameters
            };
            let query = query_map
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let headers = if e.multi_value_headers.is_empty() {
                e.headers
            } else {
                e.multi_value_headers
            };
            ApiRequest {
                method: e.http_method,
                route: e.resource.or(e.request_context.resource_path),
                path: e.path.unwrap_or_default(),
                stage: None,
                path_id: e.path_parameters.get("id").cloned(),
                query,
                headers,
                body: decode_body(e.body.as_deref(), e.is_base64_encoded),
                sub: sub_of(&e.request_context.authorizer.fields),
                token: facts_of(&e.request_context.authorizer.fields),
                path_sub: e.path_parameters.get("sub").cloned(),
                api_id: e.request_context.apiid.clone(),
                stage_name: e.request_context.stage.clone(),
                request_id: e.request_context.request_id.clone(),
            }
        }
        CrudEvent::Http(e) => {
            let e = *e;
            ApiRequest {
                method: e.request_context.http.method,
                route: e.route_key.or(e.request_context.route_key),
                path: e.raw_path.unwrap_or_default(),
                stage: e.request_context.stage.clone(),
                path_id: e.path_parameters.get("id").cloned(),
                query: parse_query(e.raw_query_string.as_deref().unwrap_or("")),
                headers: e.headers,
                body: decode_body(e.body.as_deref(), e.is_base64_encoded),
                sub: e
                    .request_context
                    .authorizer
                    .as_ref()
                    .and_then(|a| sub_of(&a.fields)),
                token: e
                    .request_context
                    .authorizer
                    .as_ref()
                    .map(|a| facts_of(&a.fields))
                    .unwrap_or_default(),
                path_sub: e.path_parameters.get("sub").cloned(),
                api_id: e.request_context.apiid.clone(),
                stage_name: e.request_context.stage.clone(),
                request_id: e.request_context.request_id.clone(),
            }
        }
    }
}

/// Encode a response in the shape the event's payload version expects.
pub fn to_lambda_response(resp: ApiResponse, http_api: bool) -> CrudResponse {
    let body = if resp.body.is_empty() {
        None
    } else {
        Some(Body::Text(resp.body))
    };
    let status = i64::from(resp.status.as_u16());
    if http_api {
        let mut r = ApiGatewayV2httpResponse::default();
        r.status_code = status;
        r.headers = resp.headers;
        r.body = body;
        CrudResponse::Http(r)
    } else {
        let mut r = ApiGatewayProxyResponse::default();
        r.status_code = status;
        r.multi_value_headers = resp.headers.clone();
        r.headers = resp.headers;
        r.body = body;
        CrudResponse::Rest(r)
    }
}

/// Handle one Lambda event.
pub async fn handle_event(event: CrudEvent, deps: &Deps) -> CrudResponse {
    handle_event_until(event, deps, None).await
}

/// Handle one Lambda event within the invocation's deadline (see [`api::handle_until`]).
pub async fn handle_event_until(
    event: CrudEvent,
    deps: &Deps,
    deadline: Option<std::time::Instant>,
) -> CrudResponse {
    let http_api = matches!(event, CrudEvent::Http(_));
    let resp = api::handle_until(to_api_request(event), deps, deadline).await;
    to_lambda_response(resp, http_api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_base64_is_a_body_error_not_a_panic() {
        assert_eq!(
            decode_body(Some("!!!"), true),
            Err(BodyError::InvalidEncoding)
        );
        assert_eq!(decode_body(Some("e30="), true), Ok(b"{}".to_vec()));
        assert_eq!(decode_body(Some("e30="), false), Ok(b"e30=".to_vec()));
    }

    const REST: &str = include_str!("../tests/fixtures/apigw-rest-get-item.json");
    const HTTP: &str = include_str!("../tests/fixtures/apigw-http-post-items.json");

    #[test]
    fn rest_fixture_decodes() {
        let ev: CrudEvent = serde_json::from_str(REST).unwrap();
        assert!(matches!(ev, CrudEvent::Rest(_)));
        let r = to_api_request(ev);
        assert_eq!(r.method, http::Method::GET);
        assert_eq!(r.route.as_deref(), Some("/items/{id}"));
        assert_eq!(r.path_id.as_deref(), Some("01HZY3K7Q8W6V5T4S3R2P1N0MA"));
        assert_eq!(
            r.sub.as_deref(),
            Some("5f3c1e2a-8b7d-4c6e-9f01-23456789abcd")
        );
        assert_eq!(r.body, Ok(vec![]));
        assert!(r.query.is_empty());
        assert_eq!(
            r.request_id.as_deref(),
            Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
        );
    }

    #[test]
    fn http_fixture_decodes() {
        let ev: CrudEvent = serde_json::from_str(HTTP).unwrap();
        assert!(matches!(ev, CrudEvent::Http(_)));
        let r = to_api_request(ev);
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.route.as_deref(), Some("POST /items"));
        assert_eq!(
            r.sub.as_deref(),
            Some("5f3c1e2a-8b7d-4c6e-9f01-23456789abcd")
        );
        assert_eq!(r.body, Ok(br#"{"title":"milk","qty":2}"#.to_vec()));
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
        assert_eq!(r.request_id.as_deref(), Some("JKJaXmPLvHcESHA="));
    }

    #[test]
    fn an_undecodable_event_is_refused_without_quoting_its_values() {
        let mut v: serde_json::Value = serde_json::from_str(REST).unwrap();
        v["headers"]["X-Broken"] = "Bearer secret-token-value\u{1}".into();
        let e = serde_json::from_str::<CrudEvent>(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not an API Gateway proxy event: invalid value, expected "),
            "{e}"
        );
        assert!(!e.contains("secret-token-value"), "{e}");

        let mut v: serde_json::Value = serde_json::from_str(REST).unwrap();
        v["httpMethod"] = "GET secret-token-value".into();
        let e = serde_json::from_str::<CrudEvent>(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not an API Gateway proxy event: invalid value, expected "),
            "{e}"
        );
        assert!(!e.contains("secret-token-value"), "{e}");
    }

    #[test]
    fn http_named_stage_behind_a_catch_all_route_is_routed_on_the_path_after_the_stage() {
        let mut v: serde_json::Value = serde_json::from_str(HTTP).unwrap();
        v["routeKey"] = "ANY /{proxy+}".into();
        v["requestContext"]["routeKey"] = "ANY /{proxy+}".into();
        v["requestContext"]["stage"] = "prod".into();
        v["rawPath"] = "/prod/items".into();
        let r = to_api_request(serde_json::from_value(v.clone()).unwrap());
        assert_eq!(r.stage.as_deref(), Some("prod"));
        assert_eq!(
            crate::routes::resource_at(r.route.as_deref(), None, &r.path, r.stage.as_deref()),
            Some(crate::routes::Resource::Items)
        );
        // the stage is stripped only as a whole first segment: /prodx/items is not /items
        v["rawPath"] = "/prodx/items".into();
        let r = to_api_request(serde_json::from_value(v).unwrap());
        assert_eq!(
            crate::routes::resource_at(r.route.as_deref(), None, &r.path, r.stage.as_deref()),
            None
        );
    }

    #[test]
    fn identity_only_from_the_authorizer_context() {
        // A `sub` anywhere else (headers, query, top-level, identity) is not an identity.
        let mut v: serde_json::Value = serde_json::from_str(REST).unwrap();
        v["requestContext"]["authorizer"] = serde_json::json!({"principalId": "x"});
        v["headers"]["sub"] = "mallory".into();
        v["queryStringParameters"] = serde_json::json!({"sub": "mallory"});
        v["sub"] = "mallory".into();
        let r = to_api_request(serde_json::from_value(v).unwrap());
        assert_eq!(r.sub, None);

        let mut v: serde_json::Value = serde_json::from_str(HTTP).unwrap();
        // HTTP API: only `authorizer.lambda.sub`, not a JWT authorizer's claims.
        v["requestContext"]["authorizer"] =
            serde_json::json!({"jwt": {"claims": {"sub": "mallory"}, "scopes": []}});
        let r = to_api_request(serde_json::from_value(v).unwrap());
        assert_eq!(r.sub, None);
    }

    #[test]
    fn responses_match_the_payload_version() {
        let resp = ApiResponse::json(http::StatusCode::CREATED, "{}".into());
        let rest = serde_json::to_value(to_lambda_response(resp.clone(), false)).unwrap();
        assert_eq!(rest["statusCode"], 201);
        assert_eq!(
            rest["multiValueHeaders"]["content-type"][0],
            "application/json"
        );
        assert_eq!(rest["body"], "{}");
        let http = serde_json::to_value(to_lambda_response(resp, true)).unwrap();
        assert_eq!(http["statusCode"], 201);
        assert_eq!(http["headers"]["content-type"], "application/json");
        let empty = serde_json::to_value(to_lambda_response(
            ApiResponse::empty(http::StatusCode::NO_CONTENT),
            true,
        ))
        .unwrap();
        assert_eq!(empty["statusCode"], 204);
        assert!(empty.get("body").is_none() || empty["body"].is_null());
    }

    #[test]
    fn events_also_decode_from_a_json_value() {
        // The local gateway builds events as `serde_json::Value`s.
        for fixture in [REST, HTTP] {
            let v: serde_json::Value = serde_json::from_str(fixture).unwrap();
            let from_value = to_api_request(serde_json::from_value::<CrudEvent>(v).unwrap());
            let from_text = to_api_request(serde_json::from_str::<CrudEvent>(fixture).unwrap());
            assert_eq!(format!("{from_value:?}"), format!("{from_text:?}"));
        }
    }
}
