//! API Gateway (REST API) as the local stack emulates it, one file per service it provides:
//!
//! - [`throttle`]: the stage's steady rate and burst (429 before anything else runs);
//! - [`identity`]: the authorizer's identity sources, which must all be present (otherwise API
//!   Gateway answers 401 itself) and which key the result cache;
//! - [`authorizer`]: the REQUEST authorizer event it sends and how it reads the answer;
//! - [`cache`]: the authorizer result cache, per stage, for its TTL;
//! - [`response`]: API Gateway's own answers (`GatewayResponses`);
//! - [`integration`]: crud as the Lambda proxy integration (its event and response);
//! - [`upstream`]: a team's own HTTP service as an HTTP proxy integration (`GATEWAY_UPSTREAM`);
//! - [`request`]: the request as it reaches the stage, and the maps both events carry;
//! - this module: the stage a request reaches and its method ARN.
//!
//! IAM evaluation of the authorizer's policy is `crate::iam`; the chain that ties them together is
//! `crate::pipeline`.

pub mod authorizer;
pub mod cache;
pub mod identity;
pub mod integration;
pub mod request;
pub mod response;
pub mod throttle;
pub mod upstream;

use edge::event::Request;

/// The stage a request reaches: the origin path's single segment (`/prod` → `prod`), else
/// `default` (an origin path of several segments or none names no stage).
pub fn stage_of(req: &Request, default: &str) -> String {
    req.origin
        .as_ref()
        .and_then(|o| o.custom.as_ref())
        .map(|c| c.path.trim_matches('/').to_string())
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .unwrap_or_else(|| default.to_string())
}

/// API Gateway's method ARN: the path as sent, less its first `/` (extra leading slashes and a
/// trailing slash stay; README, "Path semantics").
pub fn method_arn(
    region: &str,
    account: &str,
    api_id: &str,
    stage: &str,
    method: &str,
    path: &str,
) -> String {
    let path_no_slash = path.strip_prefix('/').unwrap_or(path);
    format!("arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path_no_slash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::custom_origin;
    use edge::event::Headers;

    fn request(origin_path: Option<&str>) -> Request {
        Request {
            client_ip: "192.0.2.1".into(),
            headers: Headers::new(),
            method: "GET".into(),
            querystring: String::new(),
            uri: "/items".into(),
            body: None,
            origin: origin_path.map(|p| custom_origin("api.example", p)),
        }
    }

    #[test]
    fn the_stage_is_the_origin_paths_one_segment() {
        assert_eq!(stage_of(&request(Some("/prod")), "local"), "prod");
        assert_eq!(stage_of(&request(Some("/canary/")), "local"), "canary");
        assert_eq!(stage_of(&request(Some("")), "local"), "local");
        assert_eq!(stage_of(&request(Some("/a/b")), "local"), "local");
        assert_eq!(stage_of(&request(None), "local"), "local");
    }

    #[test]
    fn method_arns_keep_the_path_as_sent() {
        let arn = |p| method_arn("us-east-1", "123456789012", "api", "prod", "GET", p);
        assert_eq!(
            arn("/items/1"),
            "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/items/1"
        );
        assert_eq!(
            arn("//items/"),
            "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET//items/"
        );
        assert_eq!(
            arn("/"),
            "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/"
        );
    }
}
