//! The AWS calls `gateway rollout` makes against a deployed stack, through the AWS SDK for Rust:
//! S3 `GetObject` / `PutObject` (the rollout document, `aws-sdk-s3`) and CloudWatch
//! `GetMetricData` (crud's per-variant EMF metrics, `aws-sdk-cloudwatch`). Region and credentials
//! come from `aws-config`'s default chain: the environment, `AWS_PROFILE` in the shared config and
//! credentials files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`; keys, or a role assumed
//! from a source profile), web identity, container and instance roles. SSO profiles and
//! `credential_process` need aws-config's `sso` / `credentials-process` features, which the
//! workspace does not enable (they would also link into the functions, whose aws-config features
//! are the workspace's): export an SSO session's credentials first (`eval "$(aws configure
//! export-credentials --format env)"`). Endpoints are the SDK's own settings:
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_CLOUDWATCH`, then `AWS_ENDPOINT_URL` or a profile's
//! `endpoint_url` (path-style S3 there; moto in the tests), else AWS's regional endpoints. An
//! endpoint named in the environment must be `https` (plain `http` only for loopback hosts). Errors
//! name the operation, the status and AWS's error code, never a credential.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Each operation's limit (every attempt and retry included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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

/// An S3 and a CloudWatch client sharing one region, one credential chain and one HTTP client.
pub struct Aws {
    pub region: String,
    s3: aws_sdk_s3::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
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

/// One line for a failed call: the status and AWS's error code of a service error (no message:
/// it can quote the request), the SDK's own account of anything else.
fn failed<E, R>(what: &str, e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus + 'static,
{
    match e {
        SdkError::ServiceError(s) => format!(
            "{what}: {} {}",
            s.raw().status_code(),
            s.err().code().unwrap_or("")
        )
        .trim_end()
        .to_string(),
        SdkError::TimeoutError(_) => format!("{what}: no answer within {REQUEST_TIMEOUT:?}"),
        other => format!("{what}: {}", one_line(other)),
    }
}

/// An error and its causes on one line (the SDK's credential chain reports one attempt a line).
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The HTTP status of a raw response (the SDK's `HttpResponse`).
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Aws {
    /// Region, credentials and endpoints from `aws-config`'s default chain (see the module docs).
    /// Fails before any request when the chain finds no region or no credentials.
    pub async fn load() -> Result<Aws, String> {
        for k in [
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_CLOUDWATCH",
            "AWS_ENDPOINT_URL",
        ] {
            if let Some(e) = std::env::var(k).ok().filter(|v| !v.trim().is_empty()) {
                endpoint_ok(&e)?;
            }
        }
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(REQUEST_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        if let Some(e) = conf.endpoint_url() {
            endpoint_ok(e)?;
        }
        let region = conf
            .region()
            .map(|r| r.to_string())
            .ok_or("no AWS region: set AWS_REGION or the profile's region (the stack's region, us-east-1 for Lambda@Edge)")?;
        let creds = conf
            .credentials_provider()
            .ok_or("no AWS credentials provider")?;
        if let Err(e) = creds.provide_credentials().await {
            return Err(format!(
                "no AWS credentials (environment, AWS_PROFILE and the shared config/credentials files, web identity, container or instance role): {}",
                one_line(&e)
            ));
        }
        // A custom endpoint (moto, a VPC endpoint by URL) takes path-style requests.
        let custom_s3 = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .is_some()
            || conf.endpoint_url().is_some();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(custom_s3)
                .build(),
        );
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&conf);
        Ok(Aws {
            region,
            s3,
            cloudwatch,
        })
    }

    pub async fn get_object(&self, o: &S3Uri) -> Result<Vec<u8>, String> {
        let what = format!("S3 GetObject {o}");
        let out = self
            .s3
            .get_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .send()
            .await
            .map_err(|e| failed(&what, &e))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        Ok(body.into_bytes().to_vec())
    }

    pub async fn put_object(&self, o: &S3Uri, body: Vec<u8>) -> Result<(), String> {
        self.s3
            .put_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| failed(&format!("S3 PutObject {o}"), &e))?;
        Ok(())
    }

    /// Sum of each query's values over [start, end] (periods of `period` seconds, Unix seconds),
    /// by id.
    pub async fn metric_sums(
        &self,
        queries: &[MetricQuery],
        start: u64,
        end: u64,
        period: u32,
    ) -> Result<Vec<(String, f64)>, String> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        const WHAT: &str = "CloudWatch GetMetricData";
        let mut data_queries = Vec::with_capacity(queries.len());
        for q in queries {
            let mut metric = Metric::builder()
                .namespace(&q.namespace)
                .metric_name(&q.metric);
            for (n, v) in &q.dimensions {
                metric = metric.dimensions(Dimension::builder().name(n).value(v).build());
            }
            data_queries.push(
                MetricDataQuery::builder()
                    .id(&q.id)
                    .return_data(true)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.build())
                            .period(period as i32)
                            .stat("Sum")
                            .build(),
                    )
                    .build(),
            );
        }
        let mut sums: Vec<(String, f64)> = queries.iter().map(|q| (q.id.clone(), 0.0)).collect();
        let mut next_token: Option<String> = None;
        for _page in 0..20 {
            let out = self
                .cloudwatch
                .get_metric_data()
                .start_time(DateTime::from_secs(start as i64))
                .end_time(DateTime::from_secs(end as i64))
                .scan_by(ScanBy::TimestampAscending)
                .set_metric_data_queries(Some(data_queries.clone()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| failed(WHAT, &e))?;
            for res in out.metric_data_results() {
                if let Some(s) = sums
                    .iter_mut()
                    .find(|(id, _)| Some(id.as_str()) == res.id())
                {
                    s.1 += res.values().iter().sum::<f64>();
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_string()),
                _ => return Ok(sums),
            }
        }
        Err(format!("{WHAT}: more than 20 pages"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris() {
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
    }

    #[test]
    fn endpoints_in_the_clear_only_on_loopback() {
        for ok in [
            "https://s3.example.com",
            "http://127.0.0.1:5000/",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(endpoint_ok(ok).is_ok(), "{ok}");
        }
        for bad in ["http://s3.example.com", "ftp://127.0.0.1", "not a url"] {
            assert!(endpoint_ok(bad).is_err(), "{bad}");
        }
    }
}
