//! The AWS side of [`AfterRevocation`]: API Gateway's `FlushStageAuthorizersCache` and Cognito's
//! `AdminUserGlobalSignOut` (after a `ListUsers` filtered on `sub` for the user's name), each one HTTPS call signed with the AWS SDK's own SigV4 signer
//! (`aws-sigv4`) and the SDK's credentials (`aws-config`'s provider chain). Two whole SDK clients
//! (`aws-sdk-apigateway`, `aws-sdk-cognitoidentityprovider`) for two calls would add megabytes to
//! crud's bootstrap and its cold start; the signer and the credential chain are already linked
//! for DynamoDB. Endpoints are the SDK's settings (`main.rs` reads
//! `AWS_ENDPOINT_URL_API_GATEWAY` / `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, then
//! `AWS_ENDPOINT_URL`, else the regional endpoint), so local stand-ins need no code path of
//! their own. Each call: at most 2 attempts of [`ATTEMPT_TIMEOUT`]; a throttle or 5xx is retried;
//! any other refusal fails the hook (503 to the client, whose retry is idempotent). Nothing of a
//! request or answer body is logged.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::sessions::{AfterRevocation, HookError, HookFuture};

/// One attempt's limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Where and as whom the two calls go.
pub struct AwsHooks {
    client: Client<Https, Full<Bytes>>,
    credentials: SharedCredentialsProvider,
    region: String,
    /// `https://apigateway.<region>.amazonaws.com` or the configured endpoint; `None`: no flush.
    apigateway: Option<String>,
    /// `(endpoint, user pool id)`; `None`: no global sign-out.
    cognito: Option<(String, String)>,
}

impl AwsHooks {
    pub fn new(
        credentials: SharedCredentialsProvider,
        region: String,
        apigateway: Option<String>,
        cognito: Option<(String, String)>,
    ) -> Result<AwsHooks, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| e.to_string())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(AwsHooks {
            client,
            credentials,
            region,
            apigateway: apigateway.map(|e| e.trim_end_matches('/').to_owned()),
            cognito: cognito.map(|(e, p)| (e.trim_end_matches('/').to_owned(), p)),
        })
    }

    /// One signed call; `Ok(answer body)` on a 2xx (at most 64 KB read).
    async fn call(
        &self,
        service: &'static str,
        method: &'static str,
        url: String,
        headers: &[(&'static str, &str)],
        body: Vec<u8>,
    ) -> Result<Bytes, HookError> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|_| HookError(format!("{service}: no credentials")))?;
        let identity: Identity = creds.into();
        let uri: http::Uri = url
            .parse()
            .map_err(|_| HookError(format!("{service}: bad endpoint")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| HookError(format!("{service}: bad endpoint")))?;
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let mut b = http::Request::builder()
                .method(method)
                .uri(uri.clone())
                .header("host", &host);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let mut req = b
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(|e| HookError(format!("{service}: {e}")))?;
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.region)
                .name(service)
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|_| HookError(format!("{service}: signing")))?
                .into();
            let signable = SignableRequest::new(
                method,
                url.as_str(),
                req.headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
                SignableBody::Bytes(&body),
            )
            .map_err(|_| HookError(format!("{service}: signing")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|_| HookError(format!("{service}: signing")))?
                .into_parts();
            instructions.apply_to_request_http1x(&mut req);
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(req)).await {
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    // read (bounded in time and size); the body is never logged
                    let answer = tokio::time::timeout(
                        ATTEMPT_TIMEOUT,
                        http_body_util::Limited::new(resp.into_body(), 64 * 1024).collect(),
                    )
                    .await;
                    if (200..300).contains(&status) {
                        return match answer {
                            Ok(Ok(b)) => Ok(b.to_bytes()),
                            _ => Err(HookError(format!("{service}: answer not read"))),
                        };
                    }
                    last = format!("{service}: HTTP {status}");
                    if status != 429 && status < 500 {
                        break;
                    }
                }
                Ok(Err(_)) => last = format!("{service}: no answer"),
                Err(_) => last = format!("{service}: timed out"),
            }
        }
        Err(HookError(last))
    }
}

/// The `FlushStageAuthorizersCache` request's path.
pub fn flush_path(api_id: &str, stage: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "/restapis/{}/stages/{}/cache/authorizers",
        enc(api_id),
        enc(stage)
    )
}

impl AfterRevocation for AwsHooks {
    fn flushes(&self) -> bool {
        self.apigateway.is_some()
    }

    fn flush_stage<'a>(&'a self, api_id: &'a str, stage: &'a str) -> HookFuture<'a> {
        Box::pin(async move {
            let Some(ep) = &self.apigateway else {
                return Ok(());
            };
            self.call(
                "apigateway",
                "DELETE",
                format!("{ep}{}", flush_path(api_id, stage)),
                &[],
                Vec::new(),
            )
            .await
            .map(|_| ())
        })
    }

    fn global_sign_out<'a>(&'a self, sub: &'a str) -> HookFuture<'a> {
        Box::pin(async move {
            let Some((ep, pool)) = &self.cognito else {
                return Ok(());
            };
            // A Cognito sub is a UUID; anything else names no user of the pool.
            if sub.is_empty() || !sub.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                return Ok(());
            }
            let cognito = |target: &'static str, body: serde_json::Value| {
                let url = format!("{ep}/");
                async move {
                    self.call(
                        "cognito-idp",
                        "POST",
                        url,
                        &[
                            ("content-type", "application/x-amz-json-1.1"),
                            ("x-amz-target", target),
                        ],
                        body.to_string().into_bytes(),
                    )
                    .await
                }
            };
            // The user's name: `ListUsers` filtered on `sub` (the admin calls take a username).
            let found = cognito(
                "AWSCognitoIdentityProviderService.ListUsers",
                serde_json::json!({
                    "UserPoolId": pool,
                    "Filter": format!("sub = \"{sub}\""),
                    "Limit": 1,
                    "AttributesToGet": ["sub"],
                }),
            )
            .await?;
            let users: serde_json::Value = serde_json::from_slice(&found)
                .map_err(|_| HookError("cognito-idp: ListUsers answer".into()))?;
            let Some(username) = users["Users"][0]["Username"].as_str() else {
                // no such user: nothing to sign out (the answer stays 204: no existence oracle)
                return Ok(());
            };
            cognito(
                "AWSCognitoIdentityProviderService.AdminUserGlobalSignOut",
                serde_json::json!({"UserPoolId": pool, "Username": username}),
            )
            .await
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flush_path_encodes_its_segments() {
        assert_eq!(
            super::flush_path("a1b2", "prod"),
            "/restapis/a1b2/stages/prod/cache/authorizers"
        );
        assert_eq!(
            super::flush_path("a/b", "$default"),
            "/restapis/a%2Fb/stages/%24default/cache/authorizers"
        );
    }
}
