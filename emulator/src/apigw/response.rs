//! API Gateway's own answers, exactly as `template.yaml`'s `GatewayResponses` shape them (RFC 9457
//! problem documents like crud's), so local and deployed clients see the same bodies and codes.

use bytes::Bytes;
use serde_json::json;

/// What API Gateway hands CloudFront as the origin's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayResponse {
    Unauthorized,
    AccessDenied,
    MissingAuthenticationToken,
    RequestTooLarge,
    Throttled,
    AuthorizerFailure,
    /// An HTTP upstream refused, reset, answered garbage or too much (`INTEGRATION_FAILURE`).
    IntegrationFailure,
    /// An HTTP upstream gave no complete answer within the integration timeout
    /// (`INTEGRATION_TIMEOUT`).
    IntegrationTimeout,
    Default5xx,
}

impl GatewayResponse {
    /// (status, problem-type namespace, title, code).
    fn parts(self) -> (u16, &'static str, &'static str, &'static str) {
        match self {
            GatewayResponse::Unauthorized => (401, "gateway", "Unauthorized", "unauthorized"),
            GatewayResponse::AccessDenied => (403, "gateway", "Forbidden", "forbidden"),
            GatewayResponse::MissingAuthenticationToken => {
                (404, "crud", "Not Found", "route_not_found")
            }
            GatewayResponse::RequestTooLarge => {
                (413, "crud", "Content Too Large", "body_too_large")
            }
            GatewayResponse::Throttled => (429, "gateway", "Too Many Requests", "rate_limited"),
            GatewayResponse::AuthorizerFailure => (
                500,
                "gateway",
                "Internal Server Error",
                "authorizer_failure",
            ),
            GatewayResponse::IntegrationFailure => {
                (502, "gateway", "Bad Gateway", "integration_failure")
            }
            GatewayResponse::IntegrationTimeout => {
                (504, "gateway", "Gateway Timeout", "integration_timeout")
            }
            GatewayResponse::Default5xx => {
                (502, "gateway", "Internal Server Error", "internal_error")
            }
        }
    }

    /// The answer, carrying the request id as API Gateway does.
    pub fn to_response(self, request_id: &str) -> OriginResponse {
        let (status, ns, title, code) = self.parts();
        let mut headers = vec![
            (
                "content-type".to_string(),
                "application/problem+json".to_string(),
            ),
            ("cache-control".to_string(), "no-store".to_string()),
            ("x-amzn-requestid".to_string(), request_id.to_string()),
        ];
        match self {
            GatewayResponse::Unauthorized => {
                headers.push(("www-authenticate".into(), "Bearer".into()))
            }
            GatewayResponse::Throttled => headers.push(("retry-after".into(), "1".into())),
            _ => {}
        }
        let mut body = json!({"type": format!("urn:apigw-guard:{ns}:error:{code}"), "title": title, "code": code});
        if self != GatewayResponse::Default5xx {
            body["status"] = json!(status);
        }
        OriginResponse {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(r: &OriginResponse) -> Value {
        serde_json::from_slice(&r.body).expect("problem JSON")
    }

    fn header<'a>(r: &'a OriginResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn answers_are_problem_documents_with_the_request_id() {
        let r = GatewayResponse::AccessDenied.to_response("rid-1");
        assert_eq!(r.status, 403);
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        assert_eq!(header(&r, "cache-control"), Some("no-store"));
        assert_eq!(header(&r, "x-amzn-requestid"), Some("rid-1"));
        assert_eq!(
            body(&r),
            json!({"type": "urn:apigw-guard:gateway:error:forbidden", "title": "Forbidden",
                   "code": "forbidden", "status": 403})
        );
    }

    #[test]
    fn each_answer_has_its_status_code_and_headers() {
        let cases = [
            (GatewayResponse::Unauthorized, 401, "unauthorized"),
            (
                GatewayResponse::MissingAuthenticationToken,
                404,
                "route_not_found",
            ),
            (GatewayResponse::RequestTooLarge, 413, "body_too_large"),
            (GatewayResponse::Throttled, 429, "rate_limited"),
            (
                GatewayResponse::AuthorizerFailure,
                500,
                "authorizer_failure",
            ),
            (GatewayResponse::Default5xx, 502, "internal_error"),
        ];
        for (kind, status, code) in cases {
            let r = kind.to_response("rid");
            assert_eq!(r.status, status, "{kind:?}");
            assert_eq!(body(&r)["code"], code, "{kind:?}");
        }
        let unauthorized = GatewayResponse::Unauthorized.to_response("rid");
        assert_eq!(header(&unauthorized, "www-authenticate"), Some("Bearer"));
        let throttled = GatewayResponse::Throttled.to_response("rid");
        assert_eq!(header(&throttled, "retry-after"), Some("1"));
        // crud's namespace where API Gateway answers for a crud condition
        assert_eq!(
            body(&GatewayResponse::RequestTooLarge.to_response("rid"))["type"],
            "urn:apigw-guard:crud:error:body_too_large"
        );
        // the default 5XX response carries no status member
        assert!(body(&GatewayResponse::Default5xx.to_response("rid"))
            .get("status")
            .is_none());
    }
}
