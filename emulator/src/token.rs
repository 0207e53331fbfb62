//! `gateway token`: sign a user in against the local Cognito stand-in (moto) and print the
//! access token, as a client app would get it from Cognito's `InitiateAuth`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Cognito stand-in at {0} not reachable: is `scripts/run.sh` running?")]
    Unreachable(String),
    #[error("sign-in refused: {0}")]
    Refused(String),
}

/// `USER_PASSWORD_AUTH` against `endpoint`; returns (access token, id token).
pub async fn sign_in(
    endpoint: &str,
    client_id: &str,
    user: &str,
    password: &str,
) -> Result<(String, String), TokenError> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let body = json!({
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": client_id,
        "AuthParameters": {"USERNAME": user, "PASSWORD": password}
    })
    .to_string();
    let req = http::Request::post(format!("{}/", endpoint.trim_end_matches('/')))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.InitiateAuth",
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| TokenError::Unreachable(e.to_string()))?;
    let resp = client
        .request(req)
        .await
        .map_err(|_| TokenError::Unreachable(endpoint.to_string()))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| TokenError::Unreachable(endpoint.to_string()))?
        .to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let msg = v["message"]
            .as_str()
            .or(v["__type"].as_str())
            .unwrap_or("unknown error");
        return Err(TokenError::Refused(msg.to_string()));
    }
    match (
        v["AuthenticationResult"]["AccessToken"].as_str(),
        v["AuthenticationResult"]["IdToken"].as_str(),
    ) {
        (Some(a), Some(i)) => Ok((a.to_string(), i.to_string())),
        _ => Err(TokenError::Refused(
            "no AuthenticationResult in the answer".into(),
        )),
    }
}
