//! The few AWS calls `gateway rollout` makes against a deployed stack, without an AWS SDK crate:
//! S3 `GetObject` / `PutObject` (the rollout document) and CloudWatch `GetMetricData` (crud's
//! per-variant EMF metrics, AWS JSON 1.0 protocol: `X-Amz-Target:
//! GraniteServiceVersion20100801.GetMetricData`), each one SigV4-signed HTTPS request with the
//! credentials in the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`). Endpoints follow the SDKs' settings: `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL_CLOUDWATCH`, then `AWS_ENDPOINT_URL` (path-style S3 there; moto in the
//! tests), else the regional AWS endpoints. Plain `http` only for loopback hosts. Errors name
//! the operation, the status and AWS's error code, never a credential.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

/// Each request's limit (connect + answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ANSWER: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Ok(Credentials {
                access_key,
                secret_key,
                token: get("AWS_SESSION_TOKEN"),
            }),
            _ => Err("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY[, AWS_SESSION_TOKEN]; e.g. eval \"$(aws configure export-credentials --format env)\")".into()),
        }
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` when
/// `keep_slash`), as SigV4's canonical URI and S3 object keys want it.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub use secret_source::Signing;

/// The headers to send (`host` included, `authorization` last) for a SigV4-signed request: the
/// one signer, `secret_source::sign_request`, with these credentials.
pub fn sign(s: &Signing, creds: &Credentials) -> Vec<(String, String)> {
    secret_source::sign_request(
        s,
        &creds.access_key,
        &creds.secret_key,
        creds.token.as_deref(),
    )
}

/// An `s3://bucket/key` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    pub fn parse(s: &str) -> Result<S3Uri, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?} is not an s3://bucket/key URI"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| format!("{s:?} names no object key"))?;
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
        if !bucket_ok || key.is_empty() {
            return Err(format!("{s:?} is not an s3://bucket/key URI"));
        }
        Ok(S3Uri {
            bucket: bucket.into(),
            key: key.into(),
        })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// One metric query of GetMetricData (Sum per period).
#[derive(Debug, Clone)]
pub struct MetricQuery {
    pub id: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetMetricDataRequest<'a> {
    start_time: u64,
    end_time: u64,
    metric_data_queries: Vec<Query<'a>>,
    scan_by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Query<'a> {
    id: &'a str,
    metric_stat: MetricStat<'a>,
    return_data: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStat<'a> {
    metric: Metric<'a>,
    period: u32,
    stat: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metric<'a> {
    namespace: &'a str,
    metric_name: &'a str,
    dimensions: Vec<Dimension<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Dimension<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMetricDataResponse {
    #[serde(default)]
    metric_data_results: Vec<MetricDataResult>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDataResult {
    id: String,
    #[serde(default)]
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct JsonError {
    #[serde(rename = "__type", default)]
    kind: Option<String>,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A region, credentials and endpoints; one HTTPS client.
pub struct Aws {
    pub region: String,
    creds: Credentials,
    s3_endpoint: Option<String>,
    cloudwatch_endpoint: Option<String>,
    client: HyperClient<Https, Full<Bytes>>,
}

fn endpoint_ok(e: &str) -> Result<String, String> {
    let e = e.trim().trim_end_matches('/').to_string();
    let uri: http::Uri = e
        .parse()
        .map_err(|_| format!("endpoint {e:?} is not a URL"))?;
    let loopback = matches!(
        uri.host(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]") | Some("::1")
    );
    match uri.scheme_str() {
        Some("https") => Ok(e),
        Some("http") if loopback => Ok(e),
        _ => Err(format!(
            "endpoint {e:?} is not https (plain http only for loopback hosts)"
        )),
    }
}

impl Aws {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Aws, String> {
        let region = get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .ok_or("AWS_REGION is not set (the stack's region, us-east-1 for Lambda@Edge)")?;
        if region.is_empty()
            || !region
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return Err(format!("AWS_REGION {region:?} is not a region"));
        }
        let creds = Credentials::from_lookup(get)?;
        let s3_endpoint = get("AWS_ENDPOINT_URL_S3")
            .or_else(|| get("AWS_ENDPOINT_URL"))
            .map(|e| endpoint_ok(&e))
            .transpose()?;
        let cloudwatch_endpoint = get("AWS_ENDPOINT_URL_CLOUDWATCH")
            .or_else(|| get("AWS_ENDPOINT_URL"))
            .map(|e| endpoint_ok(&e))
            .transpose()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(REQUEST_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Aws {
            region,
            creds,
            s3_endpoint,
            cloudwatch_endpoint,
            client: HyperClient::builder(TokioExecutor::new()).build(https),
        })
    }

    fn suffix(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        }
    }

    /// The object's URL: path-style on a custom endpoint, virtual-hosted on AWS.
    pub fn s3_url(&self, o: &S3Uri) -> String {
        let key = uri_encode(&o.key, true);
        match &self.s3_endpoint {
            Some(e) => format!("{e}/{}/{key}", o.bucket),
            None => format!(
                "https://{}.s3.{}.{}/{key}",
                o.bucket,
                self.region,
                self.suffix()
            ),
        }
    }

    fn cloudwatch_url(&self) -> String {
        match &self.cloudwatch_endpoint {
            Some(e) => format!("{e}/"),
            None => format!("https://monitoring.{}.{}/", self.region, self.suffix()),
        }
    }

    async fn call(
        &self,
        what: &str,
        service: &str,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), String> {
        let uri: http::Uri = url.parse().map_err(|_| format!("{what}: bad URL {url}"))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let epoch_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signed = sign(
            &Signing {
                method,
                host: &host,
                path: uri.path(),
                query: uri.query().unwrap_or(""),
                headers: &headers,
                body: &body,
                region: &self.region,
                service,
                epoch_seconds,
                content_sha256_header: service == "s3",
            },
            &self.creds,
        );
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in &signed {
            b = b.header(k.as_str(), v.as_str());
        }
        let req = b
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("{what}: {e}"))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let status = resp.status().as_u16();
            let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("{what}: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| format!("{what}: no answer within {REQUEST_TIMEOUT:?}"))?
    }

    pub async fn get_object(&self, o: &S3Uri) -> Result<Vec<u8>, String> {
        let (status, body) = self
            .call("S3 GetObject", "s3", "GET", &self.s3_url(o), vec![], vec![])
            .await?;
        if status != 200 {
            return Err(format!("S3 GetObject {o}: {status} {}", xml_code(&body)));
        }
        Ok(body.to_vec())
    }

    pub async fn put_object(&self, o: &S3Uri, body: Vec<u8>) -> Result<(), String> {
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let (status, answer) = self
            .call("S3 PutObject", "s3", "PUT", &self.s3_url(o), headers, body)
            .await?;
        if status != 200 {
            return Err(format!("S3 PutObject {o}: {status} {}", xml_code(&answer)));
        }
        Ok(())
    }

    /// Sum of each query's values over [start, end] (periods of `period` seconds), by id.
    pub async fn metric_sums(
        &self,
        queries: &[MetricQuery],
        start: u64,
        end: u64,
        period: u32,
    ) -> Result<Vec<(String, f64)>, String> {
        let mut sums: Vec<(String, f64)> = queries.iter().map(|q| (q.id.clone(), 0.0)).collect();
        let mut next_token = None;
        for _page in 0..20 {
            let req = GetMetricDataRequest {
                start_time: start,
                end_time: end,
                scan_by: "TimestampAscending",
                next_token: next_token.take(),
                metric_data_queries: queries
                    .iter()
                    .map(|q| Query {
                        id: &q.id,
                        return_data: true,
                        metric_stat: MetricStat {
                            period,
                            stat: "Sum",
                            metric: Metric {
                                namespace: &q.namespace,
                                metric_name: &q.metric,
                                dimensions: q
                                    .dimensions
                                    .iter()
                                    .map(|(n, v)| Dimension { name: n, value: v })
                                    .collect(),
                            },
                        },
                    })
                    .collect(),
            };
            let body = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
            let headers = vec![
                (
                    "content-type".to_string(),
                    "application/x-amz-json-1.0".to_string(),
                ),
                (
                    "x-amz-target".to_string(),
                    "GraniteServiceVersion20100801.GetMetricData".to_string(),
                ),
            ];
            let (status, answer) = self
                .call(
                    "CloudWatch GetMetricData",
                    "monitoring",
                    "POST",
                    &self.cloudwatch_url(),
                    headers,
                    body,
                )
                .await?;
            if status != 200 {
                let kind = serde_json::from_slice::<JsonError>(&answer)
                    .ok()
                    .and_then(|e| e.kind)
                    .map(|k| k.rsplit('#').next().unwrap_or("").to_string())
                    .unwrap_or_default();
                return Err(format!("CloudWatch GetMetricData: {status} {kind}"));
            }
            let r: GetMetricDataResponse = serde_json::from_slice(&answer)
                .map_err(|e| format!("CloudWatch GetMetricData: unreadable answer: {e}"))?;
            for res in r.metric_data_results {
                if let Some(s) = sums.iter_mut().find(|(id, _)| *id == res.id) {
                    s.1 += res.values.iter().sum::<f64>();
                }
            }
            match r.next_token {
                Some(t) if !t.is_empty() => next_token = Some(t),
                _ => return Ok(sums),
            }
        }
        Err("CloudWatch GetMetricData: more than 20 pages".into())
    }
}

/// S3's XML error `<Code>` (no message: it can quote the request).
fn xml_code(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    match (s.find("<Code>"), s.find("</Code>")) {
        (Some(a), Some(b)) if b > a + 6 => s[a + 6..b].to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published SigV4 example (IAM `ListUsers`, General Reference "Create a signed AWS
    /// API request"): the same request must give the same signature.
    #[test]
    fn signature_matches_the_aws_example() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            token: None,
        };
        let headers = vec![(
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        )];
        let out = sign(
            &Signing {
                method: "GET",
                host: "iam.amazonaws.com",
                path: "/",
                query: "Version=2010-05-08&Action=ListUsers",
                headers: &headers,
                body: b"",
                region: "us-east-1",
                service: "iam",
                epoch_seconds: 1_440_938_160,
                content_sha256_header: false,
            },
            &creds,
        );
        let auth = &out.last().unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn s3_signing_names_the_payload_hash_and_the_token() {
        let creds = Credentials {
            access_key: "AKID".into(),
            secret_key: "secret".into(),
            token: Some("tok".into()),
        };
        let out = sign(
            &Signing {
                method: "PUT",
                host: "b.s3.us-east-1.amazonaws.com",
                path: "/rollout.json",
                query: "",
                headers: &[],
                body: b"{}",
                region: "us-east-1",
                service: "s3",
                epoch_seconds: 0,
                content_sha256_header: true,
            },
            &creds,
        );
        let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "host",
                "x-amz-content-sha256",
                "x-amz-date",
                "x-amz-security-token",
                "authorization"
            ]
        );
        assert_eq!(
            out[1].1,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(out[4]
            .1
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
        assert!(!format!("{creds:?}").contains("secret"));
    }

    #[test]
    fn s3_uris_and_urls() {
        let o = S3Uri::parse("s3://my-stack-rollout/rollout.json").unwrap();
        assert_eq!(
            (o.bucket.as_str(), o.key.as_str()),
            ("my-stack-rollout", "rollout.json")
        );
        assert_eq!(o.to_string(), "s3://my-stack-rollout/rollout.json");
        for bad in [
            "",
            "s3://",
            "s3://b/",
            "s3://ab/k",
            "https://b/k",
            "s3://Bucket/k",
            "s3://bucket",
        ] {
            assert!(S3Uri::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(uri_encode("a b/c~d+é", true), "a%20b/c~d%2B%C3%A9");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let aws = Aws::from_lookup(&env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]))
        .unwrap();
        assert_eq!(
            aws.s3_url(&o),
            "https://my-stack-rollout.s3.us-east-1.amazonaws.com/rollout.json"
        );
        assert_eq!(
            aws.cloudwatch_url(),
            "https://monitoring.us-east-1.amazonaws.com/"
        );
        let local = Aws::from_lookup(&env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"),
        ]))
        .unwrap();
        assert_eq!(
            local.s3_url(&o),
            "http://127.0.0.1:5000/my-stack-rollout/rollout.json"
        );
        assert_eq!(local.cloudwatch_url(), "http://127.0.0.1:5000/");
        let e = Aws::from_lookup(&env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL_S3", "http://s3.example.com"),
        ]))
        .err()
        .unwrap();
        assert!(e.contains("not https"), "{e}");
        let e = Aws::from_lookup(&env(&[("AWS_REGION", "us-east-1")]))
            .err()
            .unwrap();
        assert!(e.starts_with("no AWS credentials"), "{e}");
        let e = Aws::from_lookup(&env(&[])).err().unwrap();
        assert!(e.starts_with("AWS_REGION is not set"), "{e}");
    }
}
