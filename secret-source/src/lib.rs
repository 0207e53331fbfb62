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
//! One SigV4-signed JSON call over HTTPS (rustls, webpki roots) with the credentials Lambda puts
//! in the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); no AWS
//! SDK. The endpoint is the SDK's own setting when given (`AWS_ENDPOINT_URL_SECRETS_MANAGER` /
//! `AWS_ENDPOINT_URL_SSM`, then `AWS_ENDPOINT_URL`), so the local stack reads moto's secret store
//! through the same code; plain `http` only for loopback hosts. Errors never contain a value.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{digest, hmac};
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
    #[error(
        "{0}_ARN: no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    )]
    NoCredentials(String),
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
    let (Some(ak), Some(sk)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) else {
        return Err(SecretError::NoCredentials(name.into()));
    };
    let token = get("AWS_SESSION_TOKEN");
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
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signed = sign(&SignInput {
            host: &host,
            region: &arn.region,
            service: arn.service,
            target,
            body: &body,
            access_key: &ak,
            secret_key: &sk,
            token: token.as_deref(),
            epoch_seconds: now,
        });
        let mut b = http::Request::post(uri.clone());
        for (k, v) in &signed {
            b = b.header(k.as_str(), v.as_str());
        }
        let req = b
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| SecretError::Unreachable(name.into(), e.to_string()))?;
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

/// What a SigV4 signature covers.
pub struct SignInput<'a> {
    pub host: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub target: &'a str,
    pub body: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub token: Option<&'a str>,
    pub epoch_seconds: u64,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b).as_ref())
}

fn hmac_sha256(key: &[u8], msg: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg.as_bytes())
        .as_ref()
        .to_vec()
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time (UTC; days-from-civil inverse, Howard Hinnant's algorithm).
pub fn amz_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The request headers of a SigV4-signed AWS JSON 1.1 `POST /` (Authorization included).
pub fn sign(i: &SignInput) -> Vec<(String, String)> {
    let headers = [
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), i.target.to_string()),
    ];
    let mut out = sign_request(
        &Signing {
            method: "POST",
            host: i.host,
            path: "/",
            query: "",
            headers: &headers,
            body: i.body.as_bytes(),
            region: i.region,
            service: i.service,
            epoch_seconds: i.epoch_seconds,
            content_sha256_header: false,
        },
        i.access_key,
        i.secret_key,
        i.token,
    );
    out.retain(|(k, _)| k != "host");
    out
}

/// What a general SigV4 signature covers (any method, path and query; S3 as well).
pub struct Signing<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// The canonical (already encoded) path.
    pub path: &'a str,
    /// The query, already encoded (`k=v&k=v`, any order).
    pub query: &'a str,
    /// Headers other than `host`, `x-amz-date`, `x-amz-security-token`, lower-case names.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    pub epoch_seconds: u64,
    /// S3 wants the payload hash as `x-amz-content-sha256` (signed).
    pub content_sha256_header: bool,
}

/// The headers to send (`host` included, `authorization` last) for a SigV4-signed request.
pub fn sign_request(
    s: &Signing,
    access_key: &str,
    secret_key: &str,
    token: Option<&str>,
) -> Vec<(String, String)> {
    let date_time = amz_date(s.epoch_seconds);
    let date = &date_time[..8];
    let payload = sha256_hex(s.body);
    let mut headers: Vec<(String, String)> = s.headers.to_vec();
    headers.push(("host".into(), s.host.to_string()));
    headers.push(("x-amz-date".into(), date_time.clone()));
    if s.content_sha256_header {
        headers.push(("x-amz-content-sha256".into(), payload.clone()));
    }
    if let Some(t) = token {
        headers.push(("x-amz-security-token".into(), t.to_string()));
    }
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let mut query: Vec<&str> = s.query.split('&').filter(|p| !p.is_empty()).collect();
    query.sort_by_key(|p| p.split_once('=').map_or(*p, |(k, _)| k));
    let canonical_query = query
        .iter()
        .map(|p| {
            if p.contains('=') {
                p.to_string()
            } else {
                format!("{p}=")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let canonical = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload}",
        s.method, s.path
    );
    let scope = format!("{date}/{}/{}/aws4_request", s.region, s.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k_date = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date);
    let k_region = hmac_sha256(&k_date, s.region);
    let k_service = hmac_sha256(&k_region, s.service);
    let k_signing = hmac_sha256(&k_service, "aws4_request");
    let signature = hex::encode(hmac_sha256(&k_signing, &to_sign));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        ),
    ));
    headers
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

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    /// AWS's published SigV4 example (IAM `ListUsers`, the signing-key and signature steps of the
    /// "Signature Version 4 signing process" docs) reproduced through the same helpers.
    #[test]
    fn signing_key_matches_the_aws_example() {
        let k_date = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830");
        let k_region = hmac_sha256(&k_date, "us-east-1");
        let k_service = hmac_sha256(&k_region, "iam");
        let k_signing = hmac_sha256(&k_service, "aws4_request");
        assert_eq!(
            hex::encode(&k_signing),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            hex::encode(hmac_sha256(&k_signing, to_sign)),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn signed_headers_are_sorted_and_name_the_token() {
        let h = sign(&SignInput {
            host: "secretsmanager.us-east-1.amazonaws.com",
            region: "us-east-1",
            service: "secretsmanager",
            target: "secretsmanager.GetSecretValue",
            body: "{}",
            access_key: "AKIDEXAMPLE",
            secret_key: "secret",
            token: Some("session"),
            epoch_seconds: 1_440_938_160,
        });
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
        ));
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
