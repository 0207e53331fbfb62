//! Route rules and IAM policies.
//!
//! API Gateway caches an authorizer's answer per identity source and reuses it on every route of
//! the API, so the answer must never depend on the incoming route. A decision is therefore the
//! list of route patterns the principal may call and the list it may not, rendered as resources
//! under the API and stage of the event's `methodArn`/`routeArn` (keeping its partition).
//!
//! `ROUTE_RULES` is a JSON array of rules:
//! `{"route": "DELETE /items/*", "groups_any": [..], "groups_all": [..], "scopes_any": [..],
//! "scopes_all": [..]}`. Every condition present must hold (`*_any`: at least one listed value;
//! `*_all`: every listed value). `route` is `METHOD /path` with `METHOD` one of GET POST PUT PATCH
//! DELETE HEAD OPTIONS or `ANY`/`*`; in the path, `*` matches any characters (as in IAM, `/`
//! included) and `{param}` is the same as `*`. A principal that fails a rule gets an explicit Deny
//! for that rule's resource (Deny overrides Allow, as IAM evaluates). Routes no rule names follow
//! `ROUTE_DEFAULT`: `allow` (the default without rules) or `deny` (the default once rules exist).

use serde::{Deserialize, Serialize};

use crate::verify::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteDefault {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    route: String,
    #[serde(default)]
    groups_any: Vec<String>,
    #[serde(default)]
    groups_all: Vec<String>,
    #[serde(default)]
    scopes_any: Vec<String>,
    #[serde(default)]
    scopes_all: Vec<String>,
}

/// One validated route rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// `METHOD/path-without-leading-slash`, ready to append to `arn:...:api/stage/`.
    pub resource_suffix: String,
    pub groups_any: Vec<String>,
    pub groups_all: Vec<String>,
    pub scopes_any: Vec<String>,
    pub scopes_all: Vec<String>,
}

impl RouteRule {
    pub fn permits(&self, p: &Principal) -> bool {
        let has_group = |g: &String| p.groups.iter().any(|x| x == g);
        let has_scope = |s: &String| p.scopes().any(|x| x == s);
        (self.groups_any.is_empty() || self.groups_any.iter().any(has_group))
            && self.groups_all.iter().all(has_group)
            && (self.scopes_any.is_empty() || self.scopes_any.iter().any(has_scope))
            && self.scopes_all.iter().all(has_scope)
    }
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Parse `ROUTE_RULES`; the error says what is wrong with which rule.
pub fn parse_rules(json: &str) -> Result<Vec<RouteRule>, String> {
    let raw: Vec<RawRule> = serde_json::from_str(json).map_err(|e| {
        format!("expected a JSON array of {{\"route\": \"METHOD /path\", \"groups_any\"|\"groups_all\"|\"scopes_any\"|\"scopes_all\": [...]}}: {e}")
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let (method, path) = r.route.split_once(' ').ok_or_else(|| {
                format!(
                    "rule {i}: route must be \"METHOD /path\", got {:?}",
                    r.route
                )
            })?;
            let method = match method {
                "ANY" | "*" => "*",
                m if METHODS.contains(&m) => m,
                m => return Err(format!("rule {i}: unknown method {m:?}")),
            };
            let path = path.trim();
            if !path.starts_with('/') {
                return Err(format!("rule {i}: path must start with '/', got {path:?}"));
            }
            let mut out = String::with_capacity(path.len());
            let mut in_param = false;
            for ch in path[1..].chars() {
                match ch {
                    '{' if !in_param => in_param = true,
                    '}' if in_param => {
                        in_param = false;
                        out.push('*');
                    }
                    _ if in_param => {}
                    c if c.is_ascii_alphanumeric() || "-._~/*".contains(c) => out.push(c),
                    c => return Err(format!("rule {i}: character {c:?} not allowed in path")),
                }
            }
            if in_param {
                return Err(format!("rule {i}: unclosed '{{' in path"));
            }
            if r.groups_any.is_empty()
                && r.groups_all.is_empty()
                && r.scopes_any.is_empty()
                && r.scopes_all.is_empty()
            {
                return Err(format!(
                    "rule {i}: no condition; give groups_any, groups_all, scopes_any or scopes_all"
                ));
            }
            Ok(RouteRule {
                resource_suffix: format!("{method}/{out}"),
                groups_any: r.groups_any,
                groups_all: r.groups_all,
                scopes_any: r.scopes_any,
                scopes_all: r.scopes_all,
            })
        })
        .collect()
}

/// What a principal may call, independent of the incoming route: resource suffixes (relative to
/// `arn:...:api/stage/`) to allow and to deny. Both empty never happens: a principal allowed
/// nothing gets a Deny on everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Access {
    pub fn compute(rules: &[RouteRule], default: RouteDefault, p: &Principal) -> Access {
        let mut allow = Vec::new();
        let mut deny = Vec::new();
        if default == RouteDefault::Allow {
            allow.push("*".to_string());
        }
        for r in rules {
            if r.permits(p) {
                if default == RouteDefault::Deny && !allow.contains(&r.resource_suffix) {
                    allow.push(r.resource_suffix.clone());
                }
            } else if !deny.contains(&r.resource_suffix) {
                deny.push(r.resource_suffix.clone());
            }
        }
        if allow.is_empty() {
            deny = vec!["*".to_string()];
        }
        Access { allow, deny }
    }

    /// Is every route denied?
    pub fn denies_all(&self) -> bool {
        self.allow.is_empty()
    }
}

/// `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/`, parsed from a method or
/// route ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPrefix(String);

impl ApiPrefix {
    pub fn parse(arn: &str) -> Option<ApiPrefix> {
        let mut it = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("execute-api"),
            Some(region),
            Some(account),
            Some(rest),
        ) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        )
        else {
            return None;
        };
        let mut segs = rest.splitn(3, '/');
        let (Some(api), Some(stage)) = (segs.next(), segs.next()) else {
            return None;
        };
        let ok = |s: &str, extra: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        if !ok(partition, "-")
            || !ok(region, "-")
            || !ok(account, "")
            || !ok(api, "")
            || !ok(stage, "-_$.")
        {
            return None;
        }
        Some(ApiPrefix(format!(
            "arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/"
        )))
    }

    pub fn resource(&self, suffix: &str) -> String {
        format!("{}{}", self.0, suffix)
    }
}

#[derive(Serialize)]
pub struct Statement {
    #[serde(rename = "Action")]
    pub action: &'static str,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Resource")]
    pub resource: Vec<String>,
}

#[derive(Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(prefix: &ApiPrefix, access: &Access) -> PolicyDocument {
        let mut statement = Vec::with_capacity(2);
        if !access.allow.is_empty() {
            statement.push(Statement {
                action: "execute-api:Invoke",
                effect: "Allow",
                resource: access.allow.iter().map(|s| prefix.resource(s)).collect(),
            });
        }
        if !access.deny.is_empty() {
            statement.push(Statement {
                action: "execute-api:Invoke",
                effect: "Deny",
                resource: access.deny.iter().map(|s| prefix.resource(s)).collect(),
            });
        }
        PolicyDocument {
            version: "2012-10-17",
            statement,
        }
    }

    /// Deny everything under the prefix (refusals of HTTP APIs in IAM mode).
    pub fn deny_all(prefix: &ApiPrefix) -> PolicyDocument {
        PolicyDocument {
            version: "2012-10-17",
            statement: vec![Statement {
                action: "execute-api:Invoke",
                effect: "Deny",
                resource: vec![prefix.resource("*")],
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(groups: &[&str], scope: &str) -> Principal {
        Principal {
            sub: "s".into(),
            username: "u".into(),
            client_id: "c".into(),
            token_use: "access".into(),
            scope: scope.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            exp: 0,
        }
    }

    #[test]
    fn arn_prefix_keeps_partition_and_refuses_junk() {
        assert_eq!(
            ApiPrefix::parse(
                "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/prod/GET/items/1"
            )
            .unwrap()
            .resource("*"),
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/prod/*"
        );
        assert!(
            ApiPrefix::parse("arn:aws-us-gov:execute-api:us-gov-west-1:1:a/$default/GET/")
                .is_some()
        );
        for bad in [
            "",
            "arn:aws:lambda:us-east-1:1:a/prod/GET/",
            "arn:aws:execute-api:us-east-1:1:*/prod/GET/",
            "arn:aws:execute-api:us-east-1:1:a/*/GET/",
            "arn:aws:execute-api:us-east-1:1:a",
            "arn:a*:execute-api:us-east-1:1:a/prod/GET/",
        ] {
            assert!(ApiPrefix::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rules_parse_and_decide() {
        let rules = parse_rules(
            r#"[{"route":"DELETE /items/{id}","groups_any":["admin","ops"]},
                {"route":"ANY /reports/*","scopes_all":["reports/read","reports/list"]},
                {"route":"GET /items","scopes_any":["items/read"]}]"#,
        )
        .unwrap();
        assert_eq!(rules[0].resource_suffix, "DELETE/items/*");
        assert_eq!(rules[1].resource_suffix, "*/reports/*");

        let a = Access::compute(&rules, RouteDefault::Allow, &p(&["admin"], "items/read"));
        assert_eq!(a.allow, vec!["*"]);
        assert_eq!(a.deny, vec!["*/reports/*"]);

        let a = Access::compute(
            &rules,
            RouteDefault::Deny,
            &p(&["ops"], "reports/read reports/list"),
        );
        assert_eq!(a.allow, vec!["DELETE/items/*", "*/reports/*"]);
        assert_eq!(a.deny, vec!["GET/items"]);

        let a = Access::compute(&rules, RouteDefault::Deny, &p(&[], "reports/read"));
        assert!(a.denies_all());
        assert_eq!(a.deny, vec!["*"]);

        for bad in [
            "[]x",
            r#"[{"route":"GET items","groups_any":["a"]}]"#,
            r#"[{"route":"FETCH /items","groups_any":["a"]}]"#,
            r#"[{"route":"GET /items"}]"#,
            r#"[{"route":"GET /items?x","groups_any":["a"]}]"#,
            r#"[{"route":"GET /items/{id","groups_any":["a"]}]"#,
            r#"[{"route":"GET /items","group_any":["a"]}]"#,
        ] {
            assert!(parse_rules(bad).is_err(), "{bad}");
        }
    }
}
