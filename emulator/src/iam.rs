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

/// A statement's effect; any other value makes the statement count for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement: its actions and resources (a string or an array; non-string members are
/// dropped) and its effect (`None` when missing or unknown).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    pub effect: Option<Effect>,
    pub action: Vec<String>,
    pub resource: Vec<String>,
}

/// An authorizer's policy document, read as API Gateway reads it. Reading never fails: a
/// malformed document is one with no statements (it denies), a malformed statement one that
/// matches nothing. (Not `aws_lambda_events`' `IamPolicyStatement`: that one defaults a missing
/// `Effect` to `Allow` and refuses a lone statement object, where IAM does neither.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub statement: Vec<Statement>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

impl Statement {
    fn from_value(st: &Value) -> Statement {
        Statement {
            effect: match st["Effect"].as_str() {
                Some("Allow") => Some(Effect::Allow),
                Some("Deny") => Some(Effect::Deny),
                _ => None,
            },
            action: strings(&st["Action"]),
            resource: strings(&st["Resource"]),
        }
    }

    fn invokes(&self) -> bool {
        self.action
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), "execute-api:invoke"))
    }

    fn covers(&self, method_arn: &str) -> bool {
        self.resource.iter().any(|r| glob(r, method_arn))
    }
}

impl Policy {
    /// Read a policy document (`Statement` an array or one object).
    pub fn from_value(policy: &Value) -> Policy {
        let statement = match &policy["Statement"] {
            Value::Array(a) => a.iter().map(Statement::from_value).collect(),
            o @ Value::Object(_) => vec![Statement::from_value(o)],
            _ => Vec::new(),
        };
        Policy { statement }
    }

    /// The verdict for `method_arn`: an explicit Deny on a matching `execute-api:Invoke`
    /// statement wins, then an Allow, otherwise the request is denied.
    pub fn evaluate(&self, method_arn: &str) -> Verdict {
        let mut allowed = false;
        for st in &self.statement {
            if !st.invokes() || !st.covers(method_arn) {
                continue;
            }
            match st.effect {
                Some(Effect::Deny) => return Verdict::ExplicitDeny,
                Some(Effect::Allow) => allowed = true,
                None => {}
            }
        }
        if allowed {
            Verdict::Allow
        } else {
            Verdict::ImplicitDeny
        }
    }
}

/// Evaluate `policy` (a policy document) for `method_arn`. A malformed document denies.
pub fn evaluate(policy: &Value, method_arn: &str) -> Verdict {
    Policy::from_value(policy).evaluate(method_arn)
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

    #[test]
    fn documents_read_leniently() {
        let p = Policy::from_value(&json!({"Statement": {
            "Action": ["execute-api:Invoke", 7], "Effect": "Allow", "Resource": "arn:a/*"}}));
        assert_eq!(
            p.statement,
            vec![Statement {
                effect: Some(Effect::Allow),
                action: vec!["execute-api:Invoke".into()],
                resource: vec!["arn:a/*".into()],
            }]
        );
        assert_eq!(p.evaluate("arn:a/prod/GET/items"), Verdict::Allow);
        // malformed documents and statements deny
        for doc in [
            json!(null),
            json!([]),
            json!({"Statement": "x"}),
            json!({"Statement": [1, null]}),
        ] {
            assert_eq!(
                Policy::from_value(&doc).evaluate("arn:a/x"),
                Verdict::ImplicitDeny,
                "{doc}"
            );
        }
        // a missing or unknown Effect counts for nothing (not an Allow)
        for effect in [json!(null), json!("allow"), json!(true)] {
            let doc = json!({"Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": "*"}]});
            assert_eq!(
                Policy::from_value(&doc).evaluate("arn:a/x"),
                Verdict::ImplicitDeny,
                "{doc}"
            );
        }
    }

    #[test]
    fn actions_match_case_insensitively_with_wildcards() {
        for action in [
            "execute-api:Invoke",
            "EXECUTE-API:INVOKE",
            "execute-api:*",
            "*",
        ] {
            let doc =
                json!({"Statement": [{"Action": action, "Effect": "Allow", "Resource": "*"}]});
            assert_eq!(evaluate(&doc, "arn:a/x"), Verdict::Allow, "{action}");
        }
        let doc = json!({"Statement": [{"Action": "execute-api:ManageConnections", "Effect": "Deny",
            "Resource": "*"}, {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]});
        assert_eq!(evaluate(&doc, "arn:a/x"), Verdict::Allow);
    }

    #[test]
    fn an_allow_and_a_deny_on_the_same_resource_deny_in_any_order() {
        let allow =
            json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["arn:a/*"]});
        let deny =
            json!({"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "arn:a/prod/*"});
        for doc in [
            json!({"Statement": [allow, deny]}),
            json!({"Statement": [deny, allow]}),
        ] {
            let p = Policy::from_value(&doc);
            assert_eq!(p.evaluate("arn:a/prod/GET/items"), Verdict::ExplicitDeny);
            assert_eq!(p.evaluate("arn:a/test/GET/items"), Verdict::Allow);
        }
    }
}
