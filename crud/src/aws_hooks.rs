//! The AWS side of [`AfterRevocation`]: API Gateway's `FlushStageAuthorizersCache` and Cognito's
//! `AdminUserGlobalSignOut` (after a `ListUsers` filtered on `sub` for the user's name), through
//! the AWS SDK's own clients (`aws-sdk-apigateway`, `aws-sdk-cognitoidentityprovider`), built once
//! at init from crud's `aws-config` settings: the same credential and region chain as DynamoDB,
//! endpoints from the SDK's settings (`AWS_ENDPOINT_URL_API_GATEWAY` /
//! `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, then `AWS_ENDPOINT_URL`, else the regional
//! endpoint), so local stand-ins need no code path of their own. Each call: at most
//! [`MAX_ATTEMPTS`] attempts of [`ATTEMPT_TIMEOUT`]; a throttle or 5xx is retried (the SDK's
//! standard retry rules); any other refusal fails the hook (503 to the client, whose retry is
//! idempotent). Nothing of a request or answer body is logged: a failure is described by the
//! service, and the HTTP status or the kind of failure.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::sessions::{AfterRevocation, HookError, HookFuture};

/// One attempt's limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Attempts per call (the first and one retry).
pub const MAX_ATTEMPTS: u32 = 2;

/// The two clients; `None`: that hook is off.
pub struct AwsHooks {
    /// `FlushStageAuthorizersCache`; `None`: no flush (`AUTHORIZER_CACHE_FLUSH=off`).
    apigateway: Option<aws_sdk_apigateway::Client>,
    /// `(client, user pool id)`; `None`: no global sign-out (no `USER_POOL_ID`).
    cognito: Option<(aws_sdk_cognitoidentityprovider::Client, String)>,
}

/// The hooks' retry and timeout settings (on top of crud's shared SDK settings).
fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_millis(200))
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(ATTEMPT_TIMEOUT * MAX_ATTEMPTS + Duration::from_millis(500))
        .build()
}

impl AwsHooks {
    /// The clients for the hooks that are on: the flush when `flush`, the global sign-out when a
    /// user pool is named. No network call.
    pub fn new(sdk: &SdkConfig, flush: bool, user_pool_id: Option<String>) -> AwsHooks {
        let apigateway = flush.then(|| {
            aws_sdk_apigateway::Client::from_conf(
                aws_sdk_apigateway::config::Builder::from(sdk)
                    .retry_config(retry())
                    .timeout_config(timeouts())
                    .build(),
            )
        });
        let cognito = user_pool_id.map(|pool| {
            let client = aws_sdk_cognitoidentityprovider::Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(sdk)
                    .retry_config(retry())
                    .timeout_config(timeouts())
                    .build(),
            );
            (client, pool)
        });
        AwsHooks {
            apigateway,
            cognito,
        }
    }
}

/// What failed, without anything of the request or the answer's body: the service, and the
/// HTTP status or the kind of failure.
pub fn describe<E>(service: &str, e: &SdkError<E, HttpResponse>) -> HookError {
    let what = match e {
        SdkError::ServiceError(s) => format!("HTTP {}", s.raw().status().as_u16()),
        SdkError::ResponseError(r) => {
            format!("HTTP {} (answer not read)", r.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => "no answer".to_owned(),
        SdkError::ConstructionFailure(_) => "request not built".to_owned(),
        _ => "failed".to_owned(),
    };
    HookError(format!("{service}: {what}"))
}

/// A Cognito `sub` is a UUID; anything else names no user of the pool (and is never put into
/// a `ListUsers` filter).
pub fn is_cognito_sub(sub: &str) -> bool {
    !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

impl AfterRevocation for AwsHooks {
    fn flushes(&self) -> bool {
        self.apigateway.is_some()
    }

    fn flush_stage<'a>(&'a self, api_id: &'a str, stage: &'a str) -> HookFuture<'a> {
        Box::pin(async move {
            let Some(client) = &self.apigateway else {
                return Ok(());
            };
            client
                .flush_stage_authorizers_cache()
                .rest_api_id(api_id)
                .stage_name(stage)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe("apigateway", &e))
        })
    }

    fn global_sign_out<'a>(&'a self, sub: &'a str) -> HookFuture<'a> {
        Box::pin(async move {
            let Some((client, pool)) = &self.cognito else {
                return Ok(());
            };
            if !is_cognito_sub(sub) {
                return Ok(());
            }
            // The user's name: `ListUsers` filtered on `sub` (the admin calls take a username).
            let found = client
                .list_users()
                .user_pool_id(pool)
                .filter(format!("sub = \"{sub}\""))
                .limit(1)
                .attributes_to_get("sub")
                .send()
                .await
                .map_err(|e| describe("cognito-idp", &e))?;
            let Some(username) = found.users().first().and_then(|u| u.username()) else {
                // no such user: nothing to sign out (the answer stays 204: no existence oracle)
                return Ok(());
            };
            client
                .admin_user_global_sign_out()
                .user_pool_id(pool)
                .username(username)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe("cognito-idp", &e))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_uuid_shaped_subs_reach_a_list_users_filter() {
        assert!(super::is_cognito_sub(
            "4f1c1b6e-2d0a-4c3e-9a6b-0c6f1e2d3a4b"
        ));
        for bad in ["", "a\" or sub = \"b", "alice", "4f1c 1b6e", "x-1"] {
            assert!(!super::is_cognito_sub(bad), "{bad:?}");
        }
    }
}
