//! Per-variant request metrics as CloudWatch Embedded Metric Format (EMF) lines.
//!
//! On Lambda, one JSON object written to stdout per invocation is enough: CloudWatch Logs
//! extracts the metrics named in its `_aws` member (no PutMetricData call, no extra latency).
//! Each line carries one dimension, `variant`, taken from the alias qualifier of the invoked
//! function ARN in the Lambda context (`…:function:<name>:stable` / `:canary`); anything else
//! (no qualifier, `$LATEST`, a version number, another alias) is `unqualified`. The variant is
//! never read from a request header: a client cannot choose it, and the dimension has exactly
//! three values (at most 3 × 3 custom metrics per namespace).
//!
//! ```text
//! {"_aws":{"Timestamp":1764612000000,"CloudWatchMetrics":[{"Namespace":"<ns>",
//!  "Dimensions":[["variant"]],"Metrics":[{"Name":"CrudRequests","Unit":"Count"},
//!  {"Name":"Crud5xx","Unit":"Count"},{"Name":"CrudRateLimitFailOpen","Unit":"Count"},
//!  {"Name":"CrudLatency","Unit":"Milliseconds"}]}]},
//!  "variant":"canary","CrudRequests":1,"Crud5xx":0,"CrudRateLimitFailOpen":0,"CrudLatency":3.125}
//! ```
//!
//! The line is built by [`write_line`], a pure function of its arguments (the clock is a
//! parameter) into a caller-owned buffer of [`LINE_CAPACITY`] bytes; nothing in it comes from the
//! request (no header, token, id, path or body), only the status class and the time taken.
//! Settings ([`MetricsSettings`], read once at init): `METRICS` = `emf` (default) | `off`,
//! `METRICS_NAMESPACE` (default [`DEFAULT_NAMESPACE`]; the template sets
//! `<stack>/Gateway`, the namespace of the stack's log metrics).

use std::io::Write;
use std::time::Duration;

/// The namespace when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "ApigwGuard";
/// Metric names (the template's alarms and dashboard name them; a test checks).
pub const REQUESTS: &str = "CrudRequests";
pub const ERRORS_5XX: &str = "Crud5xx";
pub const LATENCY: &str = "CrudLatency";
/// 1 when the shared rate limit failed open for this invocation (its counter store failed; the
/// request was served without the limit: `crud::limits`), else 0. `CrudRateLimitFailOpenAlarm`.
pub const RATE_LIMIT_FAIL_OPEN: &str = "CrudRateLimitFailOpen";
/// The dimension's name.
pub const DIMENSION: &str = "variant";
/// A buffer this large never grows: the fixed text is under 340 bytes, the namespace at most
/// 255, the numbers at most 40.
pub const LINE_CAPACITY: usize = 704;

/// Which variant served an invocation (bounded: exactly these three values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Stable,
    Canary,
    Unqualified,
}

impl Variant {
    /// The variant of an invoked function ARN
    /// (`arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`).
    pub fn of_invoked_arn(arn: &str) -> Variant {
        let mut parts = arn.split(':');
        let function = parts.nth(5);
        let _name = parts.next();
        match (function, parts.next(), parts.next()) {
            (Some("function"), Some("stable"), None) => Variant::Stable,
            (Some("function"), Some("canary"), None) => Variant::Canary,
            _ => Variant::Unqualified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Stable => "stable",
            Variant::Canary => "canary",
            Variant::Unqualified => "unqualified",
        }
    }
}

/// `METRICS` / `METRICS_NAMESPACE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `None`: `METRICS=off`.
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsConfigError {
    #[error("METRICS must be emf or off (got {0:?})")]
    BadMode(String),
    #[error(
        "METRICS_NAMESPACE must be 1-255 characters of A-Z a-z 0-9 . - _ / # : and space, not starting with AWS/ (got {0:?})"
    )]
    BadNamespace(String),
}

/// A CloudWatch namespace (its documented alphabet; nothing in it needs JSON escaping).
fn valid_namespace(ns: &str) -> bool {
    (1..=255).contains(&ns.len())
        && !ns.starts_with("AWS/")
        && !ns.starts_with(' ')
        && !ns.ends_with(' ')
        && ns.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'/' | b'#' | b':' | b' ')
        })
}

impl MetricsSettings {
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<MetricsSettings, MetricsConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        match get("METRICS").as_deref().map(str::trim) {
            None | Some("emf") => {}
            Some("off") => return Ok(MetricsSettings { namespace: None }),
            Some(other) => return Err(MetricsConfigError::BadMode(other.to_string())),
        }
        let ns = get("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        if !valid_namespace(&ns) {
            return Err(MetricsConfigError::BadNamespace(ns));
        }
        Ok(MetricsSettings {
            namespace: Some(ns),
        })
    }
}

/// Append one EMF line (with its newline) for one invocation to `out`. `namespace` must have
/// passed [`MetricsSettings::from_lookup`]; `timestamp_ms` is the invocation's start, Unix ms.
pub fn write_line(
    out: &mut Vec<u8>,
    namespace: &str,
    variant: Variant,
    status: u16,
    rate_limit_fail_open: bool,
    latency: Duration,
    timestamp_ms: u64,
) {
    let micros = latency.as_micros().min(u128::from(u64::MAX)) as u64;
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        "{{\"_aws\":{{\"Timestamp\":{timestamp_ms},\"CloudWatchMetrics\":[{{\"Namespace\":\"{namespace}\",\
\"Dimensions\":[[\"{DIMENSION}\"]],\"Metrics\":[{{\"Name\":\"{REQUESTS}\",\"Unit\":\"Count\"}},\
{{\"Name\":\"{ERRORS_5XX}\",\"Unit\":\"Count\"}},{{\"Name\":\"{RATE_LIMIT_FAIL_OPEN}\",\"Unit\":\"Count\"}},\
{{\"Name\":\"{LATENCY}\",\"Unit\":\"Milliseconds\"}}]}}]}},\
\"{DIMENSION}\":\"{}\",\"{REQUESTS}\":1,\"{ERRORS_5XX}\":{},\"{RATE_LIMIT_FAIL_OPEN}\":{},\"{LATENCY}\":{}.{:03}}}",
        variant.as_str(),
        u8::from(status >= 500),
        u8::from(rate_limit_fail_open),
        micros / 1000,
        micros % 1000,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashMap;

    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];

    /// The EMF specification's rules (CloudWatch User Guide, "Specification: Embedded metric
    /// format"): a JSON object alone on its line; `_aws` an object with an integer `Timestamp`
    /// (Unix ms) and `CloudWatchMetrics` (an array of MetricDirectives: exactly `Namespace`
    /// (1-255), `Dimensions` (at least one DimensionSet of at most 30 names, each a root member
    /// with a string value), `Metrics` (at most 100 definitions: `Name` (1-255) naming a root
    /// member that is a number or an array of at most 100 numbers, optional `Unit` among
    /// CloudWatch's units, optional `StorageResolution` 1 or 60)). Returns the first violation.
    pub(crate) fn spec_violation(line: &str) -> Option<String> {
        let Some(body) = line.strip_suffix('\n') else {
            return Some("no newline at the end".into());
        };
        if body.contains('\n') {
            return Some("more than one line".into());
        }
        let root: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return Some(format!("not JSON: {e}")),
        };
        let Some(root) = root.as_object() else {
            return Some("root is not an object".into());
        };
        let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
            return Some("_aws is not an object".into());
        };
        if !aws.get("Timestamp").is_some_and(|t| t.is_u64()) {
            return Some("Timestamp is not an integer".into());
        }
        let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
            return Some("CloudWatchMetrics is not an array".into());
        };
        for d in directives {
            let Some(d) = d.as_object() else {
                return Some("a MetricDirective is not an object".into());
            };
            if let Some(k) = d
                .keys()
                .find(|k| !matches!(k.as_str(), "Namespace" | "Dimensions" | "Metrics"))
            {
                return Some(format!("MetricDirective has an extra member {k}"));
            }
            let ns = d.get("Namespace").and_then(Value::as_str).unwrap_or("");
            if !(1..=255).contains(&ns.len()) {
                return Some("Namespace is not a 1-255 character string".into());
            }
            let Some(sets) = d.get("Dimensions").and_then(Value::as_array) else {
                return Some("Dimensions is not an array".into());
            };
            if sets.is_empty() {
                return Some("Dimensions is empty".into());
            }
            for set in sets {
                let Some(set) = set.as_array() else {
                    return Some("a DimensionSet is not an array".into());
                };
                if set.len() > 30 {
                    return Some("a DimensionSet has more than 30 names".into());
                }
                for name in set {
                    let Some(name) = name.as_str() else {
                        return Some("a dimension name is not a string".into());
                    };
                    match root.get(name) {
                        Some(Value::String(v)) if !v.is_empty() && v.len() <= 1024 => {}
                        _ => return Some(format!("dimension target {name} is not a string")),
                    }
                }
            }
            let Some(metrics) = d.get("Metrics").and_then(Value::as_array) else {
                return Some("Metrics is not an array".into());
            };
            if metrics.len() > 100 {
                return Some("more than 100 MetricDefinitions".into());
            }
            for m in metrics {
                let Some(m) = m.as_object() else {
                    return Some("a MetricDefinition is not an object".into());
                };
                let name = m.get("Name").and_then(Value::as_str).unwrap_or("");
                if !(1..=255).contains(&name.len()) {
                    return Some("a metric Name is not a 1-255 character string".into());
                }
                match root.get(name) {
                    Some(Value::Number(_)) => {}
                    Some(Value::Array(a)) if a.len() <= 100 && a.iter().all(Value::is_number) => {}
                    _ => return Some(format!("metric target {name} is not a number")),
                }
                if let Some(u) = m.get("Unit") {
                    if !u.as_str().is_some_and(|u| UNITS.contains(&u)) {
                        return Some(format!("Unit {u} is not a CloudWatch unit"));
                    }
                }
                if let Some(r) = m.get("StorageResolution") {
                    if r != 1 && r != 60 {
                        return Some("StorageResolution is not 1 or 60".into());
                    }
                }
                if let Some(k) = m
                    .keys()
                    .find(|k| !matches!(k.as_str(), "Name" | "Unit" | "StorageResolution"))
                {
                    return Some(format!("MetricDefinition has an extra member {k}"));
                }
            }
        }
        None
    }

    fn line(ns: &str, v: Variant, status: u16, latency: Duration, ts: u64) -> String {
        let mut b = Vec::with_capacity(LINE_CAPACITY);
        write_line(&mut b, ns, v, status, false, latency, ts);
        assert!(b.len() <= LINE_CAPACITY, "{} bytes", b.len());
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn variants_come_from_the_alias_qualifier_only() {
        for (arn, v) in [
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud:stable",
                Variant::Stable,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud:canary",
                Variant::Canary,
            ),
            (
                "arn:aws-cn:lambda:cn-north-1:123456789012:function:x:canary",
                Variant::Canary,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud",
                Variant::Unqualified,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud:$LATEST",
                Variant::Unqualified,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud:7",
                Variant::Unqualified,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud:Canary",
                Variant::Unqualified,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:crud:canary:x",
                Variant::Unqualified,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:layer:crud:canary",
                Variant::Unqualified,
            ),
            ("canary", Variant::Unqualified),
            ("", Variant::Unqualified),
        ] {
            assert_eq!(Variant::of_invoked_arn(arn), v, "{arn}");
        }
    }

    #[test]
    fn the_line_follows_the_emf_specification() {
        let l = line(
            "stack/Gateway",
            Variant::Canary,
            503,
            Duration::from_micros(12_345),
            1_764_612_000_123,
        );
        assert_eq!(spec_violation(&l), None, "{l}");
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_764_612_000_123u64);
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "stack/Gateway");
        assert_eq!(d["Dimensions"], serde_json::json!([["variant"]]));
        assert_eq!(
            d["Metrics"],
            serde_json::json!([
                {"Name": "CrudRequests", "Unit": "Count"},
                {"Name": "Crud5xx", "Unit": "Count"},
                {"Name": "CrudRateLimitFailOpen", "Unit": "Count"},
                {"Name": "CrudLatency", "Unit": "Milliseconds"},
            ])
        );
        assert_eq!(v["variant"], "canary");
        assert_eq!(v["CrudRequests"], 1);
        assert_eq!(v["Crud5xx"], 1);
        assert_eq!(v["CrudLatency"].as_f64(), Some(12.345));
        assert_eq!(v["CrudRateLimitFailOpen"], 0);
        // Exactly the members the metrics need: nothing from the request.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "Crud5xx",
                "CrudLatency",
                "CrudRateLimitFailOpen",
                "CrudRequests",
                "_aws",
                "variant"
            ]
        );
        // A request served because the shared limit failed open.
        let mut b = Vec::with_capacity(LINE_CAPACITY);
        write_line(
            &mut b,
            &"n".repeat(255),
            Variant::Unqualified,
            200,
            true,
            Duration::from_secs(u64::MAX),
            u64::MAX,
        );
        assert!(b.len() <= LINE_CAPACITY, "{} bytes", b.len());
        let l = String::from_utf8(b).unwrap();
        assert_eq!(spec_violation(&l), None, "{l}");
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["CrudRateLimitFailOpen"], 1);
        assert_eq!(v["Crud5xx"], 0);
    }

    #[test]
    fn status_classes_latencies_and_every_variant() {
        for (status, err) in [(200, 0), (304, 0), (404, 0), (499, 0), (500, 1), (504, 1)] {
            let l = line(
                DEFAULT_NAMESPACE,
                Variant::Stable,
                status,
                Duration::ZERO,
                0,
            );
            assert_eq!(spec_violation(&l), None, "{l}");
            let v: Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v["Crud5xx"], err, "{status}");
            assert_eq!(v["CrudLatency"].as_f64(), Some(0.0));
        }
        for v in [Variant::Stable, Variant::Canary, Variant::Unqualified] {
            let l = line(
                &"n".repeat(255),
                v,
                200,
                Duration::from_secs(u64::MAX),
                u64::MAX,
            );
            assert_eq!(spec_violation(&l), None, "{l}");
            let j: Value = serde_json::from_str(&l).unwrap();
            assert_eq!(j["variant"], v.as_str());
        }
        let l = line("n", Variant::Stable, 200, Duration::from_nanos(999_999), 1);
        assert!(l.contains("\"CrudLatency\":0.999}"), "{l}");
    }

    /// The checker refuses what the specification refuses (so a passing line proves something).
    #[test]
    fn the_checker_refuses_invalid_documents() {
        let good = line("ns", Variant::Canary, 200, Duration::from_millis(1), 5);
        for (from, to, why) in [
            ("\"Timestamp\":5", "\"Timestamp\":\"5\"", "Timestamp"),
            ("\"Namespace\":\"ns\"", "\"Namespace\":\"\"", "Namespace"),
            ("[[\"variant\"]]", "[]", "Dimensions is empty"),
            ("[[\"variant\"]]", "[[\"nope\"]]", "dimension target"),
            (
                "\"variant\":\"canary\"",
                "\"variant\":1",
                "dimension target",
            ),
            (
                "\"CrudRequests\":1",
                "\"CrudRequests\":\"1\"",
                "metric target",
            ),
            ("\"Unit\":\"Count\"", "\"Unit\":\"count\"", "Unit"),
            (
                "\"Unit\":\"Count\"",
                "\"Unit\":\"Count\",\"X\":1",
                "extra member",
            ),
            ("}\n", "}x\n", "not JSON"),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            let v = spec_violation(&bad).unwrap_or_default();
            assert!(v.contains(why), "{to}: {v:?}");
        }
        assert!(spec_violation(good.trim_end()).is_some());
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<MetricsSettings, MetricsConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MetricsSettings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn settings_default_on_and_refuse_bad_values() {
        assert_eq!(
            settings(&[]).unwrap().namespace.as_deref(),
            Some(DEFAULT_NAMESPACE)
        );
        assert_eq!(
            settings(&[("METRICS", "emf"), ("METRICS_NAMESPACE", "app-1/Gateway")])
                .unwrap()
                .namespace
                .as_deref(),
            Some("app-1/Gateway")
        );
        assert_eq!(settings(&[("METRICS", "off")]).unwrap().namespace, None);
        assert_eq!(
            settings(&[("METRICS", "on")]),
            Err(MetricsConfigError::BadMode("on".into()))
        );
        for bad in ["AWS/Lambda", "a\"b", "a\\b", "é", " a", &"n".repeat(256)] {
            assert_eq!(
                settings(&[("METRICS_NAMESPACE", bad)]),
                Err(MetricsConfigError::BadNamespace(bad.to_string())),
                "{bad}"
            );
        }
    }
}
