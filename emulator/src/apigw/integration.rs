//! The integration: crud, called as API Gateway's Lambda proxy integration (REST, payload 1.0)
//! calls it. The event is `aws_lambda_events`' `ApiGatewayProxyRequest` with the authorizer's
//! context (and `principalId`) as `requestContext.authorizer`; the response is turned into HTTP as
//! API Gateway does (`multiValueHeaders` when given, else `headers`; base64 bodies decoded).

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayRequestAuthorizer,
    ApiGatewayRequestIdentity,
};
use aws_lambda_events::http::Method;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use super::authorizer::Answer;
use super::request::{header_maps, query_maps, RequestFacts};
use super::response::{GatewayResponse, OriginResponse};

/// The proxy event for a request the authorizer allowed; `None` (API Gateway's 5XX) when the
/// method or a header is not valid HTTP.
pub fn proxy_event(
    f: &RequestFacts<'_>,
    body: &[u8],
    auth: &Answer,
) -> Option<ApiGatewayProxyRequest> {
    let method = Method::from_bytes(f.method.as_bytes()).ok()?;
    let (headers, multi_value_headers) = header_maps(f.headers)?;
    let (query, multi_query) = query_maps(f.query);

    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.fields = auth
        .context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    authorizer.fields.insert(
        "principalId".into(),
        Value::String(auth.principal_id.clone()),
    );
    let mut identity = ApiGatewayRequestIdentity::default();
    identity.source_ip = Some(f.source_ip.to_string());
    let mut ctx = ApiGatewayProxyRequestContext::default();
    ctx.account_id = Some(f.account.to_string());
    ctx.resource_id = Some("local".into());
    ctx.stage = Some(f.stage.to_string());
    ctx.request_id = Some(f.request_id.to_string());
    ctx.identity = identity;
    ctx.resource_path = Some(f.resource.to_string());
    ctx.http_method = method.clone();
    ctx.apiid = Some(f.api_id.to_string());
    ctx.path = Some(format!("/{}{}", f.stage, f.path));
    ctx.protocol = Some("HTTP/1.1".into());
    ctx.authorizer = authorizer;

    let (body, is_base64_encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (None, false),
        Ok(s) => (Some(s.to_string()), false),
        Err(_) => (Some(STANDARD.encode(body)), true),
    };
    let mut ev = ApiGatewayProxyRequest::default();
    ev.resource = Some(f.resource.to_string());
    ev.path = Some(f.path.to_string());
    ev.http_method = method;
    ev.headers = headers;
    ev.multi_value_headers = multi_value_headers;
    ev.query_string_parameters = query;
    ev.multi_value_query_string_parameters = multi_query;
    ev.path_parameters = f.path_parameters.iter().cloned().collect();
    ev.request_context = ctx;
    ev.body = body;
    ev.is_base64_encoded = is_base64_encoded;
    Some(ev)
}

/// A Lambda proxy response (REST, payload 1.0) as API Gateway turns it into HTTP.
pub fn proxy_response(v: &Value, request_id: &str) -> OriginResponse {
    let Some(status) = v["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()) else {
        return GatewayResponse::Default5xx.to_response(request_id);
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(m) = v["multiValueHeaders"].as_object().filter(|m| !m.is_empty()) {
        for (k, vals) in m {
            for val in vals.as_array().into_iter().flatten() {
                if let Some(s) = val.as_str() {
                    headers.push((k.clone(), s.to_string()));
                }
            }
        }
    } else if let Some(m) = v["headers"].as_object() {
        for (k, val) in m {
            if let Some(s) = val.as_str() {
                headers.push((k.clone(), s.to_string()));
            }
        }
    }
    headers.push(("x-amzn-requestid".into(), request_id.to_string()));
    let body = match v["body"].as_str() {
        Some(b) if v["isBase64Encoded"].as_bool() == Some(true) => {
            STANDARD.decode(b).map(Bytes::from).unwrap_or_default()
        }
        Some(b) => Bytes::from(b.to_string()),
        None => Bytes::new(),
    };
    OriginResponse {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::Policy;
    use serde_json::{json, Map};

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn answer() -> Answer {
        let mut context = Map::new();
        context.insert("sub".into(), json!("sub-1"));
        context.insert("groups".into(), json!(""));
        Answer {
            principal_id: "sub-1".into(),
            policy: Policy::default(),
            context,
        }
    }

    fn event(
        method: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<ApiGatewayProxyRequest> {
        let headers = pairs(headers);
        let query = pairs(&[("limit", "2")]);
        let params = pairs(&[("id", "x")]);
        let f = RequestFacts {
            method_arn: "arn:aws:execute-api:r:1:api/prod/GET/items/x",
            resource: "/items/{id}",
            path: "/items/x",
            method,
            stage: "prod",
            account: "1",
            api_id: "api",
            request_id: "rid",
            source_ip: "192.0.2.1",
            headers: &headers,
            query: &query,
            path_parameters: &params,
        };
        proxy_event(&f, body, &answer())
    }

    #[test]
    fn the_event_is_what_crud_reads() {
        let ev = event(
            "PUT",
            &[("Content-Type", "application/json"), ("If-Match", "\"1\"")],
            b"{}",
        )
        .expect("valid");
        let req = crud::handler::to_api_request(crud::CrudEvent::Rest(Box::new(ev.clone())));
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.route.as_deref(), Some("/items/{id}"));
        assert_eq!(req.path, "/items/x");
        assert_eq!(req.path_id.as_deref(), Some("x"));
        assert_eq!(req.sub.as_deref(), Some("sub-1"));
        assert_eq!(req.request_id.as_deref(), Some("rid"));
        assert_eq!(req.headers["if-match"], "\"1\"");
        assert_eq!(req.query, pairs(&[("limit", "2")]));
        assert_eq!(req.body, Ok(b"{}".to_vec()));
        assert_eq!(ev.request_context.path.as_deref(), Some("/prod/items/x"));
        assert_eq!(ev.request_context.authorizer.fields["principalId"], "sub-1");
        assert_eq!(
            ev.request_context.identity.source_ip.as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(ev.request_context.protocol.as_deref(), Some("HTTP/1.1"));
    }

    #[test]
    fn bodies_are_text_base64_or_absent() {
        let text = event("POST", &[], "é".as_bytes()).expect("valid");
        assert_eq!(
            (text.body.as_deref(), text.is_base64_encoded),
            (Some("é"), false)
        );
        let binary = event("POST", &[], &[0xff, 0x00]).expect("valid");
        assert_eq!(
            (binary.body.as_deref(), binary.is_base64_encoded),
            (Some("/wA="), true)
        );
        let empty = event("GET", &[], b"").expect("valid");
        assert_eq!((empty.body, empty.is_base64_encoded), (None, false));
    }

    #[test]
    fn invalid_methods_or_headers_make_no_event() {
        assert!(event("GE T", &[], b"").is_none());
        assert!(event("GET", &[("bad name", "v")], b"").is_none());
    }

    #[test]
    fn proxy_responses_become_http() {
        let r = proxy_response(
            &json!({"statusCode": 201, "headers": {"a": "1"},
                    "multiValueHeaders": {"set-cookie": ["x", "y"]}, "body": "hi"}),
            "rid",
        );
        assert_eq!(r.status, 201);
        assert_eq!(
            r.headers,
            pairs(&[
                ("set-cookie", "x"),
                ("set-cookie", "y"),
                ("x-amzn-requestid", "rid")
            ])
        );
        assert_eq!(&r.body[..], b"hi");
        let r = proxy_response(
            &json!({"statusCode": 200, "headers": {"a": "1"}, "multiValueHeaders": {},
                    "body": "aGk=", "isBase64Encoded": true}),
            "rid",
        );
        assert_eq!(r.headers, pairs(&[("a", "1"), ("x-amzn-requestid", "rid")]));
        assert_eq!(&r.body[..], b"hi");
        let r = proxy_response(&json!({"statusCode": 204}), "rid");
        assert!(r.body.is_empty());
        for bad in [
            json!({}),
            json!({"statusCode": 70000}),
            json!({"statusCode": "200"}),
        ] {
            assert_eq!(proxy_response(&bad, "rid").status, 502, "{bad}");
        }
    }
}
