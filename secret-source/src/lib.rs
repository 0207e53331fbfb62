//! Secrets read once at init from AWS Secrets Manager or SSM Parameter Store, instead of plain
//! Lambda environment variables (readable by anyone with `lambda:GetFunctionConfiguration`).
//!
//! A function's `main.rs` calls [`resolve`] with the names of its secret settings before it
//! parses its configuration: for each name `N`, when `N_ARN` is set, the value of `N` is read
//! from the secret store that ARN names, and the configuration sees it as if `N` were set:
//!
//! - `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>` → `GetSecretValue`
//!   (`SecretString`, the current `AWSCURRENT` version);
//! - `arn:<partition>:ssm:<region>:<account>:parameter/<name>` → `GetParameter` with
//!   `WithDecryption` (a `SecureString` or `String`).
//!
//! Setting both `N` and `N_ARN` is a configuration error (which one wins must never be a guess).
//! The value is read once per instance (the init phase) and kept for its lifetime: rotation is a
//! new value that both the old and the new instances accept (see the README, "Secrets").
//!
//! One signed JSON call over HTTPS (rustls, webpki roots). Credentials come from `aws-config`'s
//! default chain (on Lambda, the role's credentials in the environment; locally also profiles,
//! web identity, container and instance roles) and the request is signed by the SDK's own
//! SigV4 signer (`aws-sigv4`): a whole Secrets Manager / SSM client is more code than one init-time
//! call needs (cold start, bootstrap size). The endpoint is the SDK's own setting when given
//! (`AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL_SSM`, then `AWS_ENDPOINT_URL`), so the
//! local stack reads moto's secret store through the same code; plain `http` only for loopback
//! hosts. Errors never contain a value.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// Each attempt's limit (connect + answer); two attempts.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read (Secrets Manager's own limit is 64 KB per secret).
const MAX_ANSWER: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0} and {0}_ARN are both set: set one (the secret store's ARN, or the value)")]
    Both(String),
    #[error("{0}_ARN is not a Secrets Manager secret or SSM parameter ARN")]
    BadArn(String),
    #[error("{0}_ARN: no AWS credentials (aws-config's default chain: environment, profile, web identity, container or instance role): {1}")]
    NoCredentials(String, String),
    #[error("{0}_ARN: the request could not be signed: {1}")]
    Signing(String, String),
    #[error("{0}_ARN: endpoint {1} is not https (plain http only for loopback hosts)")]
    Insecure(String, String),
    #[error("{0}_ARN: the secret store did not answer: {1}")]
    Unreachable(String, String),
    #[error("{0}_ARN: the secret store refused: {1} {2}")]
    Refused(String, u16, String),
    #[error("{0}_ARN: the answer holds no string value (binary secrets are not supported)")]
    NoValue(String),
    #[error("{0}_ARN: the secret's value is empty (an empty value would turn the setting off)")]
    Empty(String),
}

/// Which store an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub service: &'static str,
    pub region: String,
    pub arn: String,
}

impl Arn {
    pub fn parse(s: &str) -> Option<Arn> {
        let p: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = p[..] else {
            return None;
        };
        if arn != "arn" || partition.is_empty() || region.is_empty() || account.is_empty() {
            return None;
        }
        let service = match service {
            "secretsmanager" if resource.starts_with("secret:") && resource.len() > 7 => {
                "secretsmanager"
            }
            "ssm" if resource.starts_with("parameter/") && resource.len() > 10 => "ssm",
            _ => return None,
        };
        Some(Arn {
            partition: partition.into(),
            service,
            region: region.into(),
            arn: s.into(),
        })
    }

    fn default_endpoint(&self) -> String {
        let suffix = if self.partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{}.{}.{suffix}", self.service, self.region)
    }

    fn target_and_body(&self) -> (&'static str, String) {
        match self.service {
            "ssm" => (
                "AmazonSSM.GetParameter",
                json!({"Name": self.arn, "WithDecryption": true}).to_string(),
            ),
            _ => (
                "secretsmanager.GetSecretValue",
                json!({"SecretId": self.arn}).to_string(),
            ),
        }
    }
}

/// For each `name` whose `name_ARN` is set, the value read from the secret store. Names without
/// an ARN are left out (the configuration reads them as before).
pub async fn resolve(
    names: &[&str],
    get: impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, String>, SecretError> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let mut out = HashMap::new();
    for name in names {
        let Some(arn) = get(&format!("{name}_ARN")) else {
            continue;
        };
        if get(name).is_some() {
            return Err(SecretError::Both(name.to_string()));
        }
        let a = Arn::parse(arn.trim()).ok_or_else(|| SecretError::BadArn(name.to_string()))?;
        let v = fetch(name, &a, &get).await?;
        out.insert(name.to_string(), v);
    }
    Ok(out)
}

/// Read one secret (`name` only labels errors).
pub async fn fetch(
    name: &str,
    arn: &Arn,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<String, SecretError> {
    let specific = match arn.service {
        "ssm" => "AWS_ENDPOINT_URL_SSM",
        _ => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    };
    let endpoint = get(specific)
        .or_else(|| get("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| arn.default_endpoint());
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let uri: http::Uri = format!("{endpoint}/")
        .parse()
        .map_err(|_| SecretError::Insecure(name.into(), endpoint.clone()))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let loopback = matches!(
        uri.host(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]") | Some("::1")
    );
    if uri.scheme_str() != Some("https") && !(uri.scheme_str() == Some("http") && loopback) {
        return Err(SecretError::Insecure(name.into(), endpoint));
    }
    let creds = credentials(&arn.region)
        .await
        .map_err(|e| SecretError::NoCredentials(name.into(), e))?;
    let (target, body) = arn.target_and_body();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| SecretError::Unreachable(name.into(), e.to_string()))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);

    let mut last = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let req = signed_request(
            &uri,
            &host,
            &arn.region,
            arn.service,
            target,
            &body,
            &creds,
            SystemTime::now(),
        )
        .map_err(|e| SecretError::Signing(name.into(), e))?;
        let answer = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
            let resp = send_once(&https, &uri, req).await?;
            let status = resp.status().as_u16();
            let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        })
        .await;
        let (status, bytes) = match answer {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                last = e;
                continue;
            }
            Err(_) => {
                last = format!("no answer within {ATTEMPT_TIMEOUT:?}");
                continue;
            }
        };
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 500 {
            last = format!("{status}");
            continue;
        }
        if status != 200 {
            // The error type only (`ResourceNotFoundException`, `AccessDeniedException`, ...).
            let kind = v["__type"]
                .as_str()
                .unwrap_or("error")
                .rsplit('#')
                .next()
                .unwrap_or("error")
                .to_string();
            return Err(SecretError::Refused(name.into(), status, kind));
        }
        return value_of(arn.service, &v, name);
    }
    Err(SecretError::Unreachable(name.into(), last))
}

/// The secret's text in a store's answer. A value that is empty or only whitespace is refused:
/// the functions read an empty setting as "not set", so passing it on would start them without
/// the check the secret enables (origin verification, shared cursor keys).
fn value_of(service: &str, answer: &serde_json::Value, name: &str) -> Result<String, SecretError> {
    let value = match service {
        "ssm" => answer["Parameter"]["Value"].as_str(),
        _ => answer["SecretString"].as_str(),
    };
    match value {
        None => Err(SecretError::NoValue(name.into())),
        Some(v) if v.trim().is_empty() => Err(SecretError::Empty(name.into())),
        Some(v) => Ok(v.to_string()),
    }
}

/// Credentials from `aws-config`'s default chain (the secret's region for the providers that
/// call AWS: web identity, assumed roles). The chain's first provider, the environment (where
/// Lambda puts the function role's credentials), is asked on its own first: building the whole
/// chain (profile files, the container and instance-metadata clients) cost about 10 ms of a cold
/// start in `bench/run.sh coldstart`, for an answer the environment already holds.
async fn credentials(region: &str) -> Result<Credentials, String> {
    let env = aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new();
    if let Ok(c) = env.provide_credentials().await {
        return Ok(c);
    }
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
        .await;
    chain.provide_credentials().await.map_err(|e| {
        // The error and its causes, on one line.
        let mut out = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    })
}

/// The AWS JSON 1.1 `POST /` request of `target`, signed by the SDK's SigV4 signer at `time`.
#[allow(clippy::too_many_arguments)]
fn signed_request(
    uri: &http::Uri,
    host: &str,
    region: &str,
    service: &str,
    target: &str,
    body: &str,
    creds: &Credentials,
    time: SystemTime,
) -> Result<http::Request<Full<Bytes>>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let mut req = http::Request::post(uri.clone())
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let identity: Identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = SignableRequest::new(
        "POST",
        uri.to_string(),
        headers,
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(&mut req);
    Ok(req)
}

/// One request on its own HTTP/1.1 connection (an init-time read needs no pool; hyper's pooled
/// client would also link its HTTP/2 half, which the workspace's features enable).
async fn send_once(
    https: &hyper_rustls::HttpsConnector<HttpConnector>,
    uri: &http::Uri,
    mut req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String> {
    use tower_service::Service;
    let mut connector = https.clone();
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(|e| e.to_string())?;
    let io = connector
        .call(uri.clone())
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *req.uri_mut() = path.parse().map_err(|_| "invalid path".to_string())?;
    if !req.headers().contains_key(http::header::HOST) {
        if let Some(a) = uri.authority() {
            if let Ok(v) = http::HeaderValue::from_str(a.as_str()) {
                req.headers_mut().insert(http::header::HOST, v);
            }
        }
    }
    let resp = sender.send_request(req).await.map_err(|e| e.to_string());
    // The body is read by the caller while the connection task still runs; it ends when the
    // sender and the body are dropped. Detach rather than abort here.
    drop(driver);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_missing_values_are_refused_by_reason() {
        let sm = |v: serde_json::Value| value_of("secretsmanager", &v, "ORIGIN_VERIFY_SECRET");
        let ssm = |v: serde_json::Value| value_of("ssm", &v, "CURSOR_SECRET");
        assert_eq!(
            sm(serde_json::json!({"SecretString": "v1:0123456789abcdef"})).unwrap(),
            "v1:0123456789abcdef"
        );
        assert_eq!(
            ssm(serde_json::json!({"Parameter": {"Value": "a2V5"}})).unwrap(),
            "a2V5"
        );
        for empty in ["", " ", "\n\t "] {
            let e = sm(serde_json::json!({ "SecretString": empty })).unwrap_err();
            assert!(
                matches!(e, SecretError::Empty(ref n) if n == "ORIGIN_VERIFY_SECRET"),
                "{e}"
            );
            let e = ssm(serde_json::json!({"Parameter": {"Value": empty}})).unwrap_err();
            assert!(
                matches!(e, SecretError::Empty(ref n) if n == "CURSOR_SECRET"),
                "{e}"
            );
        }
        for none in [
            serde_json::json!({"SecretBinary": "AAAA"}),
            serde_json::json!({"SecretString": null}),
            serde_json::json!({"SecretString": 5}),
        ] {
            assert!(matches!(sm(none), Err(SecretError::NoValue(_))));
        }
        assert!(matches!(
            ssm(serde_json::json!({"Parameter": {}})),
            Err(SecretError::NoValue(_))
        ));
        assert_eq!(
            sm(serde_json::json!({"SecretString": ""})).unwrap_err().to_string(),
            "ORIGIN_VERIFY_SECRET_ARN: the secret's value is empty (an empty value would turn the setting off)"
        );
    }

    #[test]
    fn arns() {
        let a =
            Arn::parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:ov-AbCdEf").unwrap();
        assert_eq!(
            (a.service, a.region.as_str()),
            ("secretsmanager", "us-east-1")
        );
        assert_eq!(
            a.default_endpoint(),
            "https://secretsmanager.us-east-1.amazonaws.com"
        );
        let p = Arn::parse("arn:aws-cn:ssm:cn-north-1:123456789012:parameter/app/cursor").unwrap();
        assert_eq!(p.service, "ssm");
        assert_eq!(
            p.default_endpoint(),
            "https://ssm.cn-north-1.amazonaws.com.cn"
        );
        for bad in [
            "",
            "v1:secret",
            "arn:aws:s3:::bucket",
            "arn:aws:secretsmanager:us-east-1:123:secret:",
            "arn:aws:ssm:us-east-1:123:document/x",
            "arn:aws:secretsmanager::123:secret:x",
        ] {
            assert!(Arn::parse(bad).is_none(), "{bad}");
        }
    }

    /// The SDK's signer covers what the services check: the target, the content type, the host,
    /// the date and the session token, under the secret's region and service.
    #[test]
    fn requests_are_signed_by_the_sdk_with_the_target_and_the_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "t");
        let uri: http::Uri = "https://secretsmanager.us-east-1.amazonaws.com/"
            .parse()
            .unwrap();
        let req = signed_request(
            &uri,
            "secretsmanager.us-east-1.amazonaws.com",
            "us-east-1",
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            "{}",
            &creds,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160),
        )
        .unwrap();
        let h = |k: &str| req.headers()[k].to_str().unwrap().to_string();
        let auth = h("authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
            ),
            "{auth}"
        );
        assert_eq!(h("x-amz-date"), "20150830T123600Z");
        assert_eq!(h("x-amz-security-token"), "session");
        assert_eq!(h("x-amz-target"), "secretsmanager.GetSecretValue");
        assert!(!auth.contains("secret,") && !auth.contains("session"));
    }

    #[tokio::test]
    async fn both_set_and_bad_arns_are_refused_without_a_call() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let e = resolve(
            &["S"],
            env(&[("S", "x"), ("S_ARN", "arn:aws:ssm:r:1:parameter/x")]),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, SecretError::Both(_)), "{e}");
        let e = resolve(&["S"], env(&[("S_ARN", "v1:not-an-arn")]))
            .await
            .unwrap_err();
        assert!(matches!(e, SecretError::BadArn(_)), "{e}");
        let e = resolve(
            &["S"],
            env(&[
                ("S_ARN", "arn:aws:ssm:r:1:parameter/x"),
                ("AWS_ENDPOINT_URL", "http://example.com"),
            ]),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, SecretError::Insecure(..)), "{e}");
        let none = resolve(&["S"], env(&[("S", "plain")])).await.unwrap();
        assert!(none.is_empty());
    }
}
