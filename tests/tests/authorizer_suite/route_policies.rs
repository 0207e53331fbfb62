//! Route-rule policies against an IAM evaluator and a router written apart from the authorizer.
//!
//! Random route tables (3–12 routes over five methods and `ANY`, literals, `{param}`, a final
//! `{proxy+}`, nested resources), random rule sets (any-of / all-of groups and scopes, `ANY` and
//! `*` methods, `{name}`, `*` and `{name+}` segments, both defaults) and random principals. For
//! every route and several concrete paths of it (values such as `reports` and `a.b`, deeper paths
//! for proxies) in every form (as is, trailing slash, extra leading slashes), the policy the
//! authorizer returns, evaluated by this file's IAM matcher (`*` any characters including `/`,
//! `?` one character, explicit Deny wins, no Allow = deny), must give the rules' decision for the
//! path. Configurations the authorizer refuses at init must name routes of the table.
//!
//! The bulk runs in process (the authorizer's config and policy functions); a seeded sample runs
//! through the real `authorizer` binary under the Runtime API emulator, where the policy must
//! also be byte-identical whatever route the event names.
//!
//! Forms with extra leading slashes are never over-granted; for an allowed route they may be
//! denied (documented in the README: the authorizer only promises them to the Deny side).

use std::collections::HashMap;

use authorizer::claims::{Fields, Principal};
use authorizer::policy::{Access, ApiPrefix, PolicyDocument};
use harness::jwks_server::JwksServer;
use harness::jwt::{self, access_claims, TestKey};
use harness::paths;
use harness::runtime_api::Function;
use serde::Deserialize;
use serde_json::json;

// ------------------------------------------------------------------------------------------------
// A small seeded PRNG (SplitMix64).
// ------------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn subset(&mut self, v: &[&str], percent: u64) -> Vec<String> {
        v.iter()
            .filter(|_| self.chance(percent))
            .map(|s| s.to_string())
            .collect()
    }
}

// ------------------------------------------------------------------------------------------------
// IAM evaluation, independent of the authorizer's code.
// ------------------------------------------------------------------------------------------------

/// IAM wildcard match: `*` any run of characters (`/` included), `?` exactly one. (Greedy
/// two-pointer match that backtracks to the last `*`.)
fn iam_match(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == s[i]) {
            p += 1;
            i += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[derive(Deserialize)]
struct Policy {
    #[serde(rename = "Statement")]
    statement: Vec<Stmt>,
}

#[derive(Deserialize)]
struct Stmt {
    #[serde(rename = "Effect")]
    effect: String,
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "Resource")]
    resource: Vec<String>,
}

/// Explicit Deny wins, then Allow, otherwise deny.
fn iam_allows(p: &Policy, arn: &str) -> bool {
    let mut allowed = false;
    for st in &p.statement {
        if !iam_match(
            st.action.to_ascii_lowercase().as_bytes(),
            b"execute-api:invoke",
        ) {
            continue;
        }
        if !st
            .resource
            .iter()
            .any(|r| iam_match(r.as_bytes(), arn.as_bytes()))
        {
            continue;
        }
        match st.effect.as_str() {
            "Deny" => return false,
            "Allow" => allowed = true,
            _ => {}
        }
    }
    allowed
}

#[test]
fn the_iam_matcher_itself() {
    assert!(iam_match(b"a*", b"abc/def"));
    assert!(iam_match(b"*/items/*", b"GET/items/1/x"));
    assert!(!iam_match(b"*/items/*", b"GET/items"));
    assert!(iam_match(b"GET/ite?s", b"GET/items"));
    assert!(!iam_match(b"GET/ite?s", b"GET/itemss"));
    assert!(!iam_match(b"GET/items", b"GET/items/"));
    assert!(iam_match(b"**", b""));
    assert!(!iam_match(b"?", b""));
    let p: Policy = serde_json::from_value(json!({"Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["a/*"]},
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["a/x*"]}
    ]}))
    .unwrap();
    assert!(iam_allows(&p, "a/y"));
    assert!(!iam_allows(&p, "a/x/1"));
    assert!(!iam_allows(&p, "b/y"));
}

// ------------------------------------------------------------------------------------------------
// Routing and rule decisions, independent of the authorizer's code.
// ------------------------------------------------------------------------------------------------

const METHODS5: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const LITERALS: [&str; 6] = ["items", "reports", "a.b", "admin", "x", "v1"];
const VALUES: [&str; 8] = ["reports", "a.b", "x", "42", "items", "id-7", "admin", "v1"];
const GROUPS: [&str; 3] = ["admin", "ops", "dev"];
const SCOPES: [&str; 3] = ["read", "write", "items/read"];

#[derive(Clone, Debug)]
struct Route {
    method: String,
    /// Template segments: "lit", "{p0}", "{rest+}".
    segs: Vec<String>,
}

impl Route {
    fn text(&self) -> String {
        format!("{} /{}", self.method, self.segs.join("/"))
    }
}

/// The path's segments as API Gateway matches them: extra leading slashes and one trailing slash
/// ignored.
fn normalized(raw: &str) -> Vec<String> {
    let p = raw.trim_start_matches('/');
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() {
        Vec::new()
    } else {
        p.split('/').map(str::to_string).collect()
    }
}

fn template_matches(tmpl: &[String], segs: &[String]) -> bool {
    for (i, t) in tmpl.iter().enumerate() {
        if t.ends_with("+}") {
            return segs.len() > i && !segs[i..].join("/").is_empty();
        }
        let Some(s) = segs.get(i) else { return false };
        if t.starts_with('{') {
            if s.is_empty() {
                return false;
            }
        } else if s != t {
            return false;
        }
    }
    segs.len() == tmpl.len()
}

/// Does some route of the table take this request (API Gateway calls the authorizer then)?
fn reachable(table: &[Route], method: &str, raw: &str) -> bool {
    let segs = normalized(raw);
    table
        .iter()
        .any(|r| (r.method == method || r.method == "ANY") && template_matches(&r.segs, &segs))
}

#[derive(Clone, Debug)]
struct Rule {
    method: String,
    segs: Vec<String>,
    groups_any: Vec<String>,
    groups_all: Vec<String>,
    scopes_any: Vec<String>,
    scopes_all: Vec<String>,
}

impl Rule {
    fn json(&self) -> serde_json::Value {
        let mut v = json!({"route": format!("{} /{}", self.method, self.segs.join("/"))});
        for (k, l) in [
            ("groups_any", &self.groups_any),
            ("groups_all", &self.groups_all),
            ("scopes_any", &self.scopes_any),
            ("scopes_all", &self.scopes_all),
        ] {
            if !l.is_empty() {
                v[k] = json!(l);
            }
        }
        v
    }

    fn matches(&self, method: &str, segs: &[String]) -> bool {
        if !(self.method == "ANY" || self.method == "*" || self.method == method) {
            return false;
        }
        let n = self.segs.len();
        for (i, p) in self.segs.iter().enumerate() {
            let last = i + 1 == n;
            if last && (p == "*" || p.ends_with("+}")) {
                return segs.len() > i;
            }
            let Some(s) = segs.get(i) else { return false };
            if p == "*" || p.starts_with('{') {
                if s.is_empty() {
                    return false;
                }
            } else if p != s {
                return false;
            }
        }
        segs.len() == n
    }

    fn holds(&self, groups: &[String], scopes: &[String]) -> bool {
        let has = |l: &[String], x: &String| l.contains(x);
        (self.groups_any.is_empty() || self.groups_any.iter().any(|g| has(groups, g)))
            && self.groups_all.iter().all(|g| has(groups, g))
            && (self.scopes_any.is_empty() || self.scopes_any.iter().any(|s| has(scopes, s)))
            && self.scopes_all.iter().all(|s| has(scopes, s))
    }
}

/// The rules' decision for a request: every matching rule holds; none matching → the default.
fn rule_decision(
    rules: &[Rule],
    default_allow: bool,
    method: &str,
    raw: &str,
    groups: &[String],
    scopes: &[String],
) -> bool {
    let segs = normalized(raw);
    let matching: Vec<&Rule> = rules.iter().filter(|r| r.matches(method, &segs)).collect();
    if matching.is_empty() {
        default_allow
    } else {
        matching.iter().all(|r| r.holds(groups, scopes))
    }
}

// ------------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------------

fn gen_table(rng: &mut Rng) -> Vec<Route> {
    let n = 3 + rng.below(10);
    let mut out: Vec<Route> = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < 200 {
        tries += 1;
        let depth = rng.below(4);
        let mut segs = Vec::new();
        // Nested resources: often extend an existing route.
        if !out.is_empty() && rng.chance(40) {
            let base = rng.pick(&out).clone();
            if !base.segs.last().is_some_and(|s| s.ends_with("+}")) {
                segs = base.segs.clone();
            }
        }
        for _ in 0..depth {
            let i = segs.len();
            if rng.chance(30) {
                segs.push(format!("{{p{i}}}"));
            } else {
                segs.push(rng.pick(&LITERALS).to_string());
            }
        }
        if rng.chance(15) {
            segs.push("{rest+}".to_string());
        }
        let method = if rng.chance(10) {
            "ANY".to_string()
        } else {
            rng.pick(&METHODS5).to_string()
        };
        let shape = |r: &Route| -> Vec<String> {
            r.segs
                .iter()
                .map(|s| {
                    if s.starts_with('{') {
                        "{}".to_string()
                    } else {
                        s.clone()
                    }
                })
                .collect()
        };
        let r = Route { method, segs };
        if out
            .iter()
            .any(|o| o.method == r.method && shape(o) == shape(&r))
        {
            continue;
        }
        out.push(r);
    }
    out
}

fn gen_conditions(rng: &mut Rng, r: &mut Rule) {
    loop {
        if rng.chance(40) {
            r.groups_any = rng.subset(&GROUPS, 50);
        }
        if rng.chance(25) {
            r.groups_all = rng.subset(&GROUPS, 40);
        }
        if rng.chance(30) {
            r.scopes_any = rng.subset(&SCOPES, 50);
        }
        if rng.chance(20) {
            r.scopes_all = rng.subset(&SCOPES, 40);
        }
        if !(r.groups_any.is_empty()
            && r.groups_all.is_empty()
            && r.scopes_any.is_empty()
            && r.scopes_all.is_empty())
        {
            return;
        }
    }
}

fn gen_rules(rng: &mut Rng, table: &[Route]) -> Vec<Rule> {
    let n = 1 + rng.below(5);
    (0..n)
        .map(|_| {
            let route = rng.pick(table).clone();
            let mut segs: Vec<String> = route
                .segs
                .iter()
                .map(|s| {
                    if s.ends_with("+}") {
                        if rng.chance(50) {
                            "*".into()
                        } else {
                            "{all+}".into()
                        }
                    } else if s.starts_with('{') || rng.chance(15) {
                        if rng.chance(50) {
                            "*".into()
                        } else {
                            "{v}".into()
                        }
                    } else {
                        s.clone()
                    }
                })
                .collect();
            // `*` as the last segment means "one or more": keep a one-segment `*` from becoming
            // that by accident.
            if segs.last().is_some_and(|s| s == "*")
                && !route.segs.last().is_some_and(|s| s.ends_with("+}"))
            {
                let k = segs.len() - 1;
                segs[k] = "{v}".into();
            }
            // "Everything under": cut after k segments and end with `*` or `{all+}`.
            if segs.len() >= 2 && rng.chance(15) {
                let k = 1 + rng.below(segs.len() - 1);
                segs.truncate(k);
                segs.push(if rng.chance(50) { "*" } else { "{all+}" }.into());
            }
            let method = if rng.chance(20) {
                rng.pick(&["ANY", "*"]).to_string()
            } else if route.method == "ANY" {
                rng.pick(&METHODS5).to_string()
            } else {
                route.method.clone()
            };
            let mut r = Rule {
                method,
                segs,
                groups_any: vec![],
                groups_all: vec![],
                scopes_any: vec![],
                scopes_all: vec![],
            };
            gen_conditions(rng, &mut r);
            r
        })
        .collect()
}

/// Concrete request paths of a route in every form: (method, raw path, extra-leading-slash form).
fn gen_requests(rng: &mut Rng, r: &Route) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let mut parts: Vec<String> = Vec::new();
        for s in &r.segs {
            if s.ends_with("+}") {
                for _ in 0..1 + rng.below(3) {
                    parts.push(rng.pick(&VALUES).to_string());
                }
            } else if s.starts_with('{') {
                parts.push(rng.pick(&VALUES).to_string());
            } else {
                parts.push(s.clone());
            }
        }
        let canonical = format!("/{}", parts.join("/"));
        let method = if r.method == "ANY" {
            rng.pick(&METHODS5).to_string()
        } else {
            r.method.clone()
        };
        let mut forms = vec![(canonical.clone(), false), (format!("/{canonical}"), true)];
        if canonical != "/" {
            forms.push((format!("{canonical}/"), false));
            forms.push((format!("//{canonical}/"), true));
        }
        for (p, leading) in forms {
            out.push((method.clone(), p, leading));
        }
    }
    out
}

struct Principals {
    groups: Vec<String>,
    scopes: Vec<String>,
}

fn gen_principal(rng: &mut Rng) -> Principals {
    let mut scopes = rng.subset(&SCOPES, 45);
    scopes.push("openid".into());
    let mut groups = rng.subset(&GROUPS, 45);
    if rng.chance(10) {
        groups.push("unrelated".into());
    }
    Principals { groups, scopes }
}

struct Scenario {
    table: Vec<Route>,
    rules: Vec<Rule>,
    default_allow: bool,
}

impl Scenario {
    fn gen(rng: &mut Rng) -> Scenario {
        let table = gen_table(rng);
        let rules = gen_rules(rng, &table);
        Scenario {
            table,
            rules,
            default_allow: rng.chance(50),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let routes: Vec<String> = self.table.iter().map(Route::text).collect();
        let rules: Vec<serde_json::Value> = self.rules.iter().map(Rule::json).collect();
        vec![
            ("API_ROUTES".into(), serde_json::to_string(&routes).unwrap()),
            ("ROUTE_RULES".into(), serde_json::to_string(&rules).unwrap()),
            (
                "ROUTE_DEFAULT".into(),
                if self.default_allow { "allow" } else { "deny" }.into(),
            ),
        ]
    }
}

const PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/";

#[derive(Default, Debug)]
struct Counts {
    configs: usize,
    refused: usize,
    scenarios: usize,
    over: usize,
    under: usize,
    leading_under: usize,
}

/// Check one policy against every request of every route; returns failures for the report.
fn check_policy(
    s: &Scenario,
    policy: &Policy,
    p: &Principals,
    requests: &[(String, String, bool)],
    counts: &mut Counts,
    failures: &mut Vec<String>,
) {
    for (method, raw, leading) in requests {
        if !reachable(&s.table, method, raw) {
            continue;
        }
        let arn = format!("{PREFIX}{method}/{}", &raw[1..]);
        let want = rule_decision(&s.rules, s.default_allow, method, raw, &p.groups, &p.scopes);
        let got = iam_allows(policy, &arn);
        counts.scenarios += 1;
        if got && !want {
            counts.over += 1;
            if failures.len() < 5 {
                failures.push(format!(
                    "OVER-GRANT {method} {raw} groups={:?} scopes={:?}\n  env={:?}",
                    p.groups,
                    p.scopes,
                    s.env()
                ));
            }
        } else if !got && want {
            if *leading {
                counts.leading_under += 1;
            } else {
                counts.under += 1;
                if failures.len() < 5 {
                    failures.push(format!(
                        "UNDER-GRANT {method} {raw} groups={:?} scopes={:?}\n  env={:?}",
                        p.groups,
                        p.scopes,
                        s.env()
                    ));
                }
            }
        }
    }
}

fn refusal_names_routes(msg: &str, s: &Scenario) -> bool {
    // The message names routes of the table (as "METHOD /path", ANY expanded to a method) or
    // the rule and the route it fits badly.
    s.table.iter().any(|r| {
        let path = format!("/{}", r.segs.join("/"));
        msg.contains(&format!("{} {path}", r.method))
            || METHODS5
                .iter()
                .any(|m| msg.contains(&format!("{m} {path}")))
    })
}

fn config(env: &[(String, String)]) -> Result<authorizer::Config, authorizer::config::ConfigError> {
    let mut m: HashMap<String, String> = env.iter().cloned().collect();
    m.insert(
        "ISSUER".into(),
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_P".into(),
    );
    m.insert("CLIENT_IDS".into(), "c".into());
    authorizer::Config::from_lookup(|k| m.get(k).cloned())
}

#[test]
fn random_tables_rules_and_principals_get_exact_policies_in_process() {
    let mut rng = Rng(0x5EED_0009);
    let prefix = ApiPrefix::parse(&format!("{PREFIX}GET/x")).unwrap();
    let mut c = Counts::default();
    let mut failures = Vec::new();
    for _ in 0..1500 {
        let s = Scenario::gen(&mut rng);
        c.configs += 1;
        let cfg = match config(&s.env()) {
            Ok(cfg) => cfg,
            Err(e) => {
                c.refused += 1;
                assert!(
                    e.setting == "ROUTE_RULES" && refusal_names_routes(&e.problem, &s),
                    "a refusal must name the conflicting routes: {e}\n{:?}",
                    s.env()
                );
                continue;
            }
        };
        let requests: Vec<(String, String, bool)> = s
            .table
            .iter()
            .flat_map(|r| gen_requests(&mut rng, r))
            .collect();
        for _ in 0..8 {
            let p = gen_principal(&mut rng);
            let principal = Principal::new(Fields {
                sub: "s".into(),
                username: "u".into(),
                client_id: "c".into(),
                token_use: "access".into(),
                scope: p.scopes.join(" ").into(),
                groups: p.groups.clone(),
                ..Fields::default()
            });
            let access = Access::compute(&cfg.route_rules, cfg.route_default, &principal);
            let doc = serde_json::to_value(PolicyDocument::new(&prefix, &access)).unwrap();
            let policy: Policy = serde_json::from_value(doc).unwrap();
            check_policy(&s, &policy, &p, &requests, &mut c, &mut failures);
        }
    }
    println!(
        "route policies (in process): {} configurations ({} refused at init), {} scenarios, {} over-grants, {} under-grants ({} extra-leading-slash forms denied to an allowed route, documented)",
        c.configs, c.refused, c.scenarios, c.over, c.under, c.leading_under
    );
    assert!(
        c.over == 0 && c.under == 0,
        "{c:?}\n{}",
        failures.join("\n")
    );
    assert!(c.scenarios > 100_000, "too few scenarios: {c:?}");
    assert!(
        c.refused * 2 < c.configs,
        "most random configurations must be representable: {c:?}"
    );
}

/// A configuration that exists (refused ones included) must behave the same through the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_sample_through_the_binary() {
    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Route9";
    const CLIENT: &str = "client-route9";
    let key = TestKey::rsa("key-r9");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    let mut rng = Rng(0xB1_0009);
    let mut c = Counts::default();
    let mut failures = Vec::new();
    let (mut accepted, mut refused_seen) = (0, 0);
    while accepted < 10 || refused_seen < 2 {
        let s = Scenario::gen(&mut rng);
        let in_process = config(&s.env());
        if in_process.is_err() && refused_seen >= 2 || in_process.is_ok() && accepted >= 10 {
            continue;
        }
        let mut env = s.env();
        env.push(("ISSUER".into(), ISS.into()));
        env.push(("JWKS_URI".into(), jwks.uri()));
        env.push(("CLIENT_IDS".into(), CLIENT.into()));
        let f = Function::start(&paths::bin("authorizer"), &env).await;
        let init = f.wait_init().await;
        c.configs += 1;
        match (in_process, init) {
            (Err(e), Some(msg)) => {
                refused_seen += 1;
                c.refused += 1;
                assert!(
                    msg.contains(e.setting) && refusal_names_routes(&msg, &s),
                    "{msg}"
                );
                continue;
            }
            (Ok(_), None) => accepted += 1,
            (a, b) => panic!(
                "in process and binary disagree: {:?} vs {b:?}\n{:?}",
                a.err(),
                s.env()
            ),
        }
        let requests: Vec<(String, String, bool)> = s
            .table
            .iter()
            .flat_map(|r| gen_requests(&mut rng, r))
            .collect();
        for _ in 0..4 {
            let p = gen_principal(&mut rng);
            let mut claims = access_claims(ISS, CLIENT, "sub-r9");
            claims["scope"] = json!(p.scopes.join(" "));
            claims["cognito:groups"] = json!(p.groups);
            let token = key.sign(&claims, &json!({}));
            // The same token on two different routes: byte-identical answers.
            let mut answers = Vec::new();
            for (method, raw, _) in requests.iter().take(2).chain(requests.iter().rev().take(1)) {
                let event = json!({
                    "type": "REQUEST",
                    "methodArn": format!("{PREFIX}{method}/{}", &raw[1..]),
                    "resource": raw,
                    "path": raw,
                    "httpMethod": method,
                    "headers": {"Authorization": format!("Bearer {token}")},
                    "multiValueHeaders": {"Authorization": [format!("Bearer {token}")]},
                    "requestContext": {"requestId": "r9", "stage": "test"}
                });
                answers.push(f.invoke(&event).await.response().clone());
            }
            assert!(
                answers.windows(2).all(|w| w[0] == w[1]),
                "the answer depends on the route: {answers:?}"
            );
            let policy: Policy = serde_json::from_value(answers[0]["policyDocument"].clone())
                .unwrap_or_else(|e| {
                    panic!("not a policy answer ({e}): {}", answers[0]);
                });
            check_policy(&s, &policy, &p, &requests, &mut c, &mut failures);
        }
    }
    println!(
        "route policies (binary): {} configurations ({} refused at init), {} scenarios, {} over-grants, {} under-grants ({} extra-leading-slash forms, documented)",
        c.configs, c.refused, c.scenarios, c.over, c.under, c.leading_under
    );
    assert!(
        c.over == 0 && c.under == 0,
        "{c:?}\n{}",
        failures.join("\n")
    );
    assert!(c.scenarios > 500, "{c:?}");
}
