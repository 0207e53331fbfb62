//! One way for every function to fail its init phase: log the failure, report it to the Lambda
//! Runtime API's `/init/error` (so Lambda shows the message and the error type instead of a bare
//! "Runtime exited"), and exit non-zero. `lambda_runtime` 1.5 reports init errors only from its
//! SnapStart hooks, not from code that runs before `run`, so this tiny crate does it.
//!
//! The message must name the setting and the fix, never a value: it ends up in Lambda's logs.

use std::io::{Read, Write};
use std::time::Duration;

use serde::Serialize;

/// The Runtime API's error document.
#[derive(Serialize)]
struct ErrorRequest<'a> {
    #[serde(rename = "errorType")]
    error_type: &'a str,
    #[serde(rename = "errorMessage")]
    error_message: &'a str,
}

/// The HTTP request that reports `kind`/`message` to the Runtime API at `api` (`host:port`).
pub fn request(api: &str, kind: &str, message: &str) -> String {
    let body = serde_json::to_string(&ErrorRequest {
        error_type: kind,
        error_message: message,
    })
    .unwrap_or_else(|_| String::from("{}"));
    let kind: String = kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .collect();
    format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nLambda-Runtime-Function-Error-Type: Runtime.{kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Log, report to `/init/error` when running under a Runtime API, and exit with status 1.
/// `kind` is a short error type such as `ConfigError`.
pub fn report_and_exit(kind: &str, message: &str) -> ! {
    tracing::error!(event = "init_failed", error_type = kind, error = message);
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        if let Ok(mut s) = std::net::TcpStream::connect(&api) {
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(request(&api, kind, message).as_bytes()).is_ok() {
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
            }
        }
    }
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_runtime_apis_init_error() {
        let r = request(
            "127.0.0.1:9001",
            "ConfigError",
            "invalid configuration: X: \"quoted\"",
        );
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"));
        assert!(head.contains("Lambda-Runtime-Function-Error-Type: Runtime.ConfigError"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["errorType"], "ConfigError");
        assert_eq!(v["errorMessage"], "invalid configuration: X: \"quoted\"");
        // a kind cannot inject header lines
        let r = request("h", "Bad\r\nX-Evil: 1", "m");
        assert!(!r.contains("X-Evil: 1\r\n"));
    }
}
