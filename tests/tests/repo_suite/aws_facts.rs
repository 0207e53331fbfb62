//! AWS-facing facts of the expanded template, checked against AWS's own data instead of the
//! template's own values (a test that copies a value from the template can only confirm a typo).
//!
//! - CloudFront managed policy ids: `tests/fixtures/aws/cloudfront-managed-policies.json`, copied
//!   from CloudFront's documentation (each list cites its page).
//! - Alarm metric math: `tests/fixtures/aws/metric-math.json`, the operand and argument types of
//!   every operator and function as CloudWatch's "Metric math syntax and functions" page gives
//!   them. Every alarm expression is type-checked against it and must yield one time series; the
//!   checker itself is first held to the page's own examples.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::template::{list, of_type, read, resources};

/// A fixture of AWS's own data (`tests/fixtures/aws/<name>`).
pub(crate) fn fixture(name: &str) -> Value {
    serde_json::from_str(&read(&format!("tests/fixtures/aws/{name}")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

// ------------------------------------------------------------------------------------------------
// CloudFront managed policy ids
// ------------------------------------------------------------------------------------------------

/// Every string a property named `key` takes anywhere in `v`, through `Fn::If` branches too.
fn literal_values_of(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    collect_literals(x, out);
                } else {
                    literal_values_of(x, key, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| literal_values_of(x, key, out)),
        _ => {}
    }
}

/// The literal strings of a property value: the value itself, or the branches of `Fn::If`
/// (a `Ref`/`GetAtt` names a policy the template creates, not a managed one).
fn collect_literals(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(m) => {
            if let Some(Value::Array(branches)) = m.get("Fn::If") {
                branches
                    .iter()
                    .skip(1)
                    .for_each(|b| collect_literals(b, out));
            }
        }
        _ => {}
    }
}

fn documented_ids(kind: &str) -> BTreeMap<String, String> {
    let f = fixture("cloudfront-managed-policies.json");
    f[kind]
        .as_object()
        .unwrap_or_else(|| panic!("fixture has no {kind}"))
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(name, id)| (id.as_str().expect("id").to_string(), name.clone()))
        .collect()
}

#[test]
fn cloudfront_managed_policy_ids_are_the_documented_ones() {
    let mut seen = 0;
    for (property, kind) in [
        ("CachePolicyId", "cache_policies"),
        ("OriginRequestPolicyId", "origin_request_policies"),
        ("ResponseHeadersPolicyId", "response_headers_policies"),
    ] {
        let documented = documented_ids(kind);
        let mut ids = Vec::new();
        literal_values_of(&Value::Object(resources().clone()), property, &mut ids);
        for id in ids {
            seen += 1;
            assert!(
                documented.contains_key(&id),
                "{property} {id} is not one of CloudFront's documented managed {kind} \
                 ({documented:?}); a typo makes CloudFront refuse the distribution"
            );
        }
    }
    assert!(seen >= 3, "expected the API and app behaviours' policy ids");
}

// ------------------------------------------------------------------------------------------------
// metric math: a type checker over the documented signatures
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ty {
    S,
    Ts,
    TsArray,
    /// A bare keyword argument (REPEAT, LINEAR, ASC, ...).
    Keyword(String),
    Str,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::S => "S".into(),
            Ty::Ts => "TS".into(),
            Ty::TsArray => "TS[]".into(),
            Ty::Keyword(k) => k.clone(),
            Ty::Str => "STRING".into(),
        }
    }
    fn parse(s: &str) -> Ty {
        match s {
            "S" => Ty::S,
            "TS" => Ty::Ts,
            "TS[]" => Ty::TsArray,
            "STRING" => Ty::Str,
            k => Ty::Keyword(k.to_string()),
        }
    }
}

struct Rules {
    arithmetic: Vec<(Ty, Ty)>,
    comparison: Vec<(Ty, Ty)>,
    functions: BTreeMap<String, Vec<(Vec<Ty>, Ty)>>,
    not_in_alarms: BTreeSet<String>,
}

fn pairs(v: &Value) -> Vec<(Ty, Ty)> {
    list(v)
        .iter()
        .map(|p| {
            let a = p[0].as_str().expect("type");
            let b = p[1].as_str().expect("type");
            (Ty::parse(a), Ty::parse(b))
        })
        .collect()
}

fn rules() -> Rules {
    let f = fixture("metric-math.json");
    let functions = f["functions"]
        .as_object()
        .expect("functions")
        .iter()
        .map(|(name, sigs)| {
            let sigs = list(sigs)
                .iter()
                .map(|sig| {
                    let args = list(&sig[0])
                        .iter()
                        .map(|a| Ty::parse(a.as_str().expect("arg type")))
                        .collect();
                    (args, Ty::parse(sig[1].as_str().expect("return type")))
                })
                .collect();
            (name.clone(), sigs)
        })
        .collect();
    Rules {
        arithmetic: pairs(&f["arithmetic_operand_pairs"]),
        comparison: pairs(&f["comparison_operand_pairs"]),
        functions,
        not_in_alarms: list(&f["not_in_alarms"])
            .iter()
            .map(|s| s.as_str().expect("name").to_string())
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num,
    Ident(String),
    Upper(String),
    Str,
    Op(String),
    Open,
    Close,
    LBracket,
    RBracket,
    Comma,
}

fn tokens(e: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = e.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let w: String = c[start..i].iter().collect();
            if w == "AND" || w == "OR" {
                out.push(Tok::Op(w));
            } else if w.chars().next().is_some_and(|f| f.is_ascii_lowercase()) {
                out.push(Tok::Ident(w));
            } else {
                out.push(Tok::Upper(w));
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += 1;
            }
            if i == c.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            out.push(Tok::Str);
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["==", "!=", "<=", ">=", "&&", "||"].contains(&two.as_str()) {
                out.push(Tok::Op(match two.as_str() {
                    "&&" => "AND".into(),
                    "||" => "OR".into(),
                    t => t.into(),
                }));
                i += 2;
                continue;
            }
            out.push(match ch {
                '+' | '-' | '*' | '/' | '^' | '<' | '>' => Tok::Op(ch.to_string()),
                '(' => Tok::Open,
                ')' => Tok::Close,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                ',' => Tok::Comma,
                other => return Err(format!("unexpected character {other:?}")),
            });
            i += 1;
        }
    }
    Ok(out)
}

/// A recursive-descent parser that computes each sub-expression's type as it goes.
struct Checker<'a> {
    toks: Vec<Tok>,
    pos: usize,
    rules: &'a Rules,
    ids: &'a BTreeMap<String, Ty>,
    functions_used: BTreeSet<String>,
}

impl Checker<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }
    fn binary(
        &mut self,
        ops: &[&str],
        next: fn(&mut Self) -> Result<Ty, String>,
        comparison: bool,
    ) -> Result<Ty, String> {
        let mut left = next(self)?;
        while let Some(Tok::Op(op)) = self.peek() {
            if !ops.contains(&op.as_str()) {
                break;
            }
            let op = op.clone();
            self.pos += 1;
            let right = next(self)?;
            left = self.combine(&op, left, right, comparison)?;
        }
        Ok(left)
    }
    fn combine(&self, op: &str, a: Ty, b: Ty, comparison: bool) -> Result<Ty, String> {
        let allowed = if comparison {
            &self.rules.comparison
        } else {
            &self.rules.arithmetic
        };
        let ok = allowed
            .iter()
            .any(|(x, y)| (x == &a && y == &b) || (x == &b && y == &a));
        if !ok {
            return Err(format!(
                "operator {op} on ({}, {}) is not a documented form",
                a.name(),
                b.name()
            ));
        }
        Ok(if a == Ty::TsArray || b == Ty::TsArray {
            Ty::TsArray
        } else if a == Ty::Ts || b == Ty::Ts {
            Ty::Ts
        } else {
            Ty::S
        })
    }
    fn or(&mut self) -> Result<Ty, String> {
        self.binary(&["OR"], Self::and, true)
    }
    fn and(&mut self) -> Result<Ty, String> {
        self.binary(&["AND"], Self::cmp, true)
    }
    fn cmp(&mut self) -> Result<Ty, String> {
        self.binary(&["==", "!=", "<=", ">=", "<", ">"], Self::add, true)
    }
    fn add(&mut self) -> Result<Ty, String> {
        self.binary(&["+", "-"], Self::mul, false)
    }
    fn mul(&mut self) -> Result<Ty, String> {
        self.binary(&["*", "/"], Self::pow, false)
    }
    fn pow(&mut self) -> Result<Ty, String> {
        self.binary(&["^"], Self::unary, false)
    }
    fn unary(&mut self) -> Result<Ty, String> {
        if self.peek() == Some(&Tok::Op("-".into())) {
            self.pos += 1;
            let t = self.unary()?;
            return match t {
                Ty::S | Ty::Ts | Ty::TsArray => Ok(t),
                other => Err(format!("unary - on {}", other.name())),
            };
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Ty, String> {
        match self.next() {
            Some(Tok::Num) => Ok(Ty::S),
            Some(Tok::Str) => Ok(Ty::Str),
            Some(Tok::Ident(id)) => self
                .ids
                .get(&id)
                .cloned()
                .ok_or_else(|| format!("unknown id {id}")),
            Some(Tok::Open) => {
                let t = self.or()?;
                self.expect(Tok::Close)?;
                Ok(t)
            }
            Some(Tok::LBracket) => {
                // An array holds time series (or arrays of them) only.
                loop {
                    let t = self.or()?;
                    if t != Ty::Ts && t != Ty::TsArray {
                        return Err(format!(
                            "an array of time series holds a {}: not a documented form",
                            t.name()
                        ));
                    }
                    match self.next() {
                        Some(Tok::Comma) => continue,
                        Some(Tok::RBracket) => return Ok(Ty::TsArray),
                        other => return Err(format!("expected , or ] in array, found {other:?}")),
                    }
                }
            }
            Some(Tok::Upper(name)) => {
                if self.peek() != Some(&Tok::Open) {
                    return Ok(Ty::Keyword(name));
                }
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek() == Some(&Tok::Close) {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.or()?);
                        match self.next() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::Close) => break,
                            other => return Err(format!("expected , or ) found {other:?}")),
                        }
                    }
                }
                let sigs = self
                    .rules
                    .functions
                    .get(&name)
                    .ok_or_else(|| format!("{name} is not a documented function"))?;
                self.functions_used.insert(name.clone());
                sigs.iter()
                    .find(|(params, _)| params == &args)
                    .map(|(_, ret)| ret.clone())
                    .ok_or_else(|| {
                        let given: Vec<String> = args.iter().map(Ty::name).collect();
                        format!(
                            "{name}({}) is not a documented signature of {name}",
                            given.join(", ")
                        )
                    })
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// The type of `expr` with `ids` in scope, and the functions it calls.
fn check(
    expr: &str,
    ids: &BTreeMap<String, Ty>,
    rules: &Rules,
) -> Result<(Ty, BTreeSet<String>), String> {
    let mut c = Checker {
        toks: tokens(expr)?,
        pos: 0,
        rules,
        ids,
        functions_used: BTreeSet::new(),
    };
    let t = c.or()?;
    if c.pos != c.toks.len() {
        return Err(format!("trailing input at token {}", c.pos));
    }
    Ok((t, c.functions_used))
}

fn metrics_ids() -> BTreeMap<String, Ty> {
    ["m1", "m2", "m3"]
        .into_iter()
        .map(|m| (m.to_string(), Ty::Ts))
        .collect()
}

#[test]
fn metric_math_checker_agrees_with_the_documented_examples() {
    let rules = rules();
    let f = fixture("metric-math.json");
    let examples = f["examples"].as_object().expect("examples");
    assert!(examples.len() >= 25);
    for (expr, want) in examples {
        let (got, _) = check(expr, &metrics_ids(), &rules)
            .unwrap_or_else(|e| panic!("documented example {expr:?} refused: {e}"));
        assert_eq!(got.name(), want.as_str().expect("type"), "{expr}");
    }
}

#[test]
fn metric_math_checker_refuses_undocumented_forms() {
    let rules = rules();
    for bad in [
        // The form CloudWatch refuses: "Unsupported operand type(s) for MAX:
        // '[Array[TimeSeries, Scalar]]'".
        "100 * m1 / MAX([m2, 1])",
        "MAX(1, 2)",
        "FILL(m1)",
        "NOPE(m1)",
        "IF(m1)",
        "m1 +",
        "m4 * 2",
    ] {
        assert!(
            check(bad, &metrics_ids(), &rules).is_err(),
            "{bad:?} accepted"
        );
    }
}

/// Every alarm built on metric math: each expression type-checks against the documented
/// signatures, uses no function AWS advises against in alarms, and the returned one is a single
/// time series (PutMetricAlarm's rule).
#[test]
fn alarm_metric_math_uses_only_documented_forms() {
    let rules = rules();
    let mut checked = 0;
    for (id, alarm) in of_type("AWS::CloudWatch::Alarm") {
        let queries = list(&alarm["Properties"]["Metrics"]);
        if queries.is_empty() {
            continue;
        }
        // Metric queries are time series; expressions are typed in order of dependency.
        let mut ids: BTreeMap<String, Ty> = queries
            .iter()
            .filter(|q| !q["MetricStat"].is_null())
            .map(|q| (q["Id"].as_str().expect("Id").to_string(), Ty::Ts))
            .collect();
        let mut pending: Vec<&Value> = queries
            .iter()
            .filter(|q| !q["Expression"].is_null())
            .collect();
        let mut returned = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for q in pending {
                let expr = q["Expression"].as_str().expect("Expression string");
                match check(expr, &ids, &rules) {
                    Ok((t, used)) => {
                        let advised_against: Vec<&String> =
                            used.intersection(&rules.not_in_alarms).collect();
                        assert!(
                            advised_against.is_empty(),
                            "{id}: {expr:?} uses {advised_against:?}, which AWS advises against \
                             in alarms"
                        );
                        ids.insert(q["Id"].as_str().expect("Id").to_string(), t.clone());
                        if q["ReturnData"] == true {
                            returned.push((expr.to_string(), t));
                        }
                        checked += 1;
                    }
                    Err(e) if e.starts_with("unknown id") => rest.push(q),
                    Err(e) => panic!("{id}: {expr:?}: {e}"),
                }
            }
            assert!(rest.len() < before, "{id}: unresolved expression ids");
            pending = rest;
        }
        assert_eq!(returned.len(), 1, "{id}: one query returns data");
        assert_eq!(
            returned[0].1,
            Ty::Ts,
            "{id}: {:?} must be a single time series",
            returned[0].0
        );
    }
    assert!(
        checked >= 6,
        "expected the error-rate and capacity alarms, checked {checked}"
    );
}
