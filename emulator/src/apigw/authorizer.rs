//! The Lambda REQUEST authorizer as API Gateway calls it: the event it sends
//! (`aws_lambda_events`' REST REQUEST authorizer request) and how it reads the answer (principal,
//! policy document, context). The authorizer reads only `type`, `methodArn`, `headers`,
//! `multiValueHeaders` and `requestContext.requestId` of it; the rest is there as API Gateway
//! sends it.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequestContext,
    ApiGatewayCustomAuthorizerRequestTypeRequestIdentity,
};
use aws_lambda_events::http::Method;
use serde_json::{Map, Value};

use super::request::{header_maps, query_maps, RequestFacts};
use crate::iam::Policy;

/// The REQUEST authorizer event; `None` when a header is not a valid HTTP header.
pub fn request_event(f: &RequestFacts<'_>) -> Option<ApiGatewayCustomAuthorizerRequestTypeRequest> {
    let (headers, multi_value_headers) = header_maps(f.headers)?;
    let (query, multi_query) = query_maps(f.query);
    let method = Method::from_bytes(f.method.as_bytes()).ok();

    let mut identity = ApiGatewayCustomAuthorizerRequestTypeRequestIdentity::default();
    identity.source_ip = Some(f.source_ip.to_string());
    let mut ctx = ApiGatewayCustomAuthorizerRequestTypeRequestContext::default();
    ctx.path = Some(format!("/{}{}", f.stage, f.path));
    ctx.account_id = Some(f.account.to_string());
    ctx.resource_id = Some("local".into());
    ctx.stage = Some(f.stage.to_string());
    ctx.request_id = Some(f.request_id.to_string());
    ctx.identity = Some(identity);
    ctx.resource_path = Some(f.resource.to_string());
    ctx.http_method = method.clone();
    ctx.apiid = Some(f.api_id.to_string());

    let mut ev = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
    ev.type_ = Some("REQUEST".into());
    ev.method_arn = Some(f.method_arn.to_string());
    ev.resource = Some(f.resource.to_string());
    ev.path = Some(f.path.to_string());
    ev.http_method = method;
    ev.headers = headers;
    ev.multi_value_headers = multi_value_headers;
    ev.query_string_parameters = query;
    ev.multi_value_query_string_parameters = multi_query;
    ev.path_parameters = f.path_parameters.iter().cloned().collect();
    ev.request_context = ctx;
    Some(ev)
}

/// The authorizer's answer as API Gateway keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub principal_id: String,
    pub policy: Policy,
    pub context: Map<String, Value>,
}

/// Read the authorizer's JSON answer: `None` (API Gateway's authorizer failure) unless it has a
/// string `principalId` and a `policyDocument`; a malformed document denies (see `Policy`); a
/// missing or non-object `context` is empty.
pub fn read_answer(out: &str) -> Option<Answer> {
    let v = serde_json::from_str::<Value>(out).ok()?;
    let principal_id = v["principalId"].as_str()?.to_string();
    let policy = Policy::from_value(v.get("policyDocument")?);
    Some(Answer {
        principal_id,
        policy,
        context: v["context"].as_object().cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::Verdict;
    use serde_json::json;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_event_has_what_the_authorizer_reads() {
        let headers = pairs(&[
            ("Authorization", "Bearer t"),
            ("X-Origin-Verify", "s"),
            ("Accept", "a"),
        ]);
        let query = pairs(&[("limit", "2"), ("limit", "3")]);
        let params = pairs(&[("id", "a b")]);
        let facts = RequestFacts {
            method_arn: "arn:aws:execute-api:us-east-1:1:api/prod/GET/items/a%20b",
            resource: "/items/{id}",
            path: "/items/a%20b",
            method: "GET",
            stage: "prod",
            account: "1",
            api_id: "api",
            request_id: "rid",
            source_ip: "192.0.2.1",
            headers: &headers,
            query: &query,
            path_parameters: &params,
        };
        let v = serde_json::to_value(request_event(&facts).expect("valid headers"))
            .expect("serializes");
        assert_eq!(v["type"], "REQUEST");
        assert_eq!(v["methodArn"], facts.method_arn);
        assert_eq!(v["headers"]["authorization"], "Bearer t");
        assert_eq!(v["headers"]["x-origin-verify"], "s");
        assert_eq!(v["multiValueHeaders"]["authorization"], json!(["Bearer t"]));
        assert_eq!(v["requestContext"]["requestId"], "rid");
        assert_eq!(v["requestContext"]["path"], "/prod/items/a%20b");
        assert_eq!(v["requestContext"]["stage"], "prod");
        assert_eq!(v["requestContext"]["apiId"], "api");
        assert_eq!(v["requestContext"]["resourcePath"], "/items/{id}");
        assert_eq!(v["requestContext"]["httpMethod"], "GET");
        assert_eq!(v["requestContext"]["identity"]["sourceIp"], "192.0.2.1");
        assert_eq!(v["resource"], "/items/{id}");
        assert_eq!(v["httpMethod"], "GET");
        assert_eq!(v["pathParameters"], json!({"id": "a b"}));
        assert_eq!(
            v["multiValueQueryStringParameters"]["limit"],
            json!(["2", "3"])
        );
    }

    #[test]
    fn answers_need_a_principal_and_a_policy_document() {
        let ok = json!({"principalId": "sub-1", "context": {"sub": "sub-1"}, "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["arn:a/*"]}]}});
        let a = read_answer(&ok.to_string()).expect("an answer");
        assert_eq!(a.principal_id, "sub-1");
        assert_eq!(a.context["sub"], "sub-1");
        assert_eq!(a.policy.evaluate("arn:a/x"), Verdict::Allow);

        for bad in [
            json!({"policyDocument": {}}),
            json!({"principalId": 1, "policyDocument": {}}),
            json!({"principalId": "p"}),
            json!({"isAuthorized": true}),
            json!([]),
        ] {
            assert!(read_answer(&bad.to_string()).is_none(), "{bad}");
        }
        assert!(read_answer("not json").is_none());
        // a malformed document is an answer that denies; a non-object context is empty
        let a = read_answer(r#"{"principalId":"p","policyDocument":null,"context":"x"}"#)
            .expect("an answer");
        assert_eq!(a.policy.evaluate("arn:a/x"), Verdict::ImplicitDeny);
        assert!(a.context.is_empty());
    }
}
