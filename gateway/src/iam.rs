//! IAM policy evaluation as API Gateway applies an authorizer's policy to a method ARN: an
//! explicit Deny on a matching resource wins, then an Allow, otherwise the request is denied.
//! Resources match with IAM wildcards (`*` any run of characters, `?` one character).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// IAM-style glob match (case-sensitive).
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn action_matches(v: &Value) -> bool {
    strings(v)
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), "execute-api:invoke"))
}

/// Evaluate `policy` (a policy document) for `method_arn`. A malformed document denies.
pub fn evaluate(policy: &Value, method_arn: &str) -> Verdict {
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.iter().collect::<Vec<_>>(),
        o @ Value::Object(_) => vec![o],
        _ => return Verdict::ImplicitDeny,
    };
    let mut allowed = false;
    for st in statements {
        if !action_matches(&st["Action"]) {
            continue;
        }
        if !strings(&st["Resource"]).iter().any(|r| glob(r, method_arn)) {
            continue;
        }
        match st["Effect"].as_str() {
            Some("Deny") => return Verdict::ExplicitDeny,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Verdict::Allow
    } else {
        Verdict::ImplicitDeny
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globbing() {
        assert!(glob("a*", "abc/def"));
        assert!(glob(
            "arn:aws:x:api/prod/*",
            "arn:aws:x:api/prod/GET/items/1"
        ));
        assert!(!glob(
            "arn:aws:x:api/prod/*",
            "arn:aws:x:api/test/GET/items"
        ));
        assert!(glob("*/items/*", "GET/items/1"));
        assert!(!glob("*/items/*", "GET/items"));
        assert!(glob("GET/ite?s", "GET/items"));
        assert!(!glob("GET/items", "GET/items/"));
        assert!(glob("**", ""));
    }

    #[test]
    fn deny_wins_then_allow_then_implicit_deny() {
        let p = json!({"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["arn:a/prod/*"]},
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["arn:a/prod/DELETE/items/*"]}
        ]});
        assert_eq!(evaluate(&p, "arn:a/prod/GET/items"), Verdict::Allow);
        assert_eq!(
            evaluate(&p, "arn:a/prod/DELETE/items/1"),
            Verdict::ExplicitDeny
        );
        assert_eq!(evaluate(&p, "arn:a/test/GET/items"), Verdict::ImplicitDeny);
        assert_eq!(
            evaluate(&json!({}), "arn:a/prod/GET/items"),
            Verdict::ImplicitDeny
        );
        let wrong_action =
            json!({"Statement": [{"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}]});
        assert_eq!(
            evaluate(&wrong_action, "arn:a/prod/GET/items"),
            Verdict::ImplicitDeny
        );
    }
}
