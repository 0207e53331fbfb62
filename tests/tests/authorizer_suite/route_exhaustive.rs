//! Route-rule acceptance is exact: compared with an exhaustive search over small route tables.
//!
//! **The question.** A principal's decision is one Allow/Deny per route. A policy (Allow and Deny
//! statements whose resources are IAM patterns over `METHOD/path`) is exact for it when, for every
//! concrete request path that API Gateway routes to some route, the policy's IAM verdict (explicit
//! Deny wins, `*` any run of characters including `/`, `?` one character) is that route's decision
//! — forms with extra leading slashes (`//a`) excepted on the Allow side only: they must be denied
//! when their route is, and may be denied when it is allowed (docs/authorizer.md, "Path
//! semantics"). The authorizer must accept a rule set exactly when every principal's decisions
//! have an exact policy, and then answer with one.
//!
//! **The model of API Gateway** is the local gateway's router (`emulator::routes`, written apart
//! from the authorizer's policy code): extra leading slashes and one trailing slash are ignored for
//! routing, other empty segments only fit a greedy `{name+}`, the most specific route wins (a
//! literal over `{name}` over `{name+}` at the first segment where routes differ), and the method
//! ARN holds the path as sent. Policies are evaluated by `emulator::iam` (also written apart).
//!
//! **The bounded space, searched exhaustively.**
//! - Route tables: every set of 2 or 3 routes (and, in `four_route_tables`, of 4) drawn from the
//!   17 `GET` templates of at most two segments over the literals `a`, `b`, `{p}`/`{r}` and a final
//!   `{g+}` (the root `/` included). One method is enough: a method is a literal prefix of every
//!   method ARN, so the methods' routes never share a path and policies for them never interact
//!   beyond what a `METHOD/`-prefixed pattern can say.
//! - Decisions: every one of the 2^n Allow/Deny assignments to the table's routes (the set of
//!   assignments any rule set can produce is a subset of these).
//! - Request paths: every path over the characters `a`, `b`, `z` and `/` of at most 6 characters
//!   (1,365 paths). `z` is in no route and in no pattern: it stands for the characters a policy
//!   does not name (a path value can hold any character, a policy names finitely many), so a
//!   pattern meets it only with `?` or `*`, exactly as for an unbounded alphabet.
//! - Patterns: `GET/` followed by every string of at most 6 characters over `a`, `b`, `/`, `?`,
//!   `*` (without `**`, which is `*`): 16,466 patterns (fewer distinct ones over these paths).
//!
//! **Why the search is complete for that space.** If any policy (A allow patterns, D deny
//! patterns) is exact, then so is the maximal one: Deny every pattern that matches no path that
//! must be allowed (D ⊆ that set, and more Denies cannot take an allowed path), then Allow every
//! pattern that matches no path that must be denied and is not already denied (A ⊆ that set). So
//! a policy exists iff that maximal policy allows every path that must be allowed; the search
//! computes exactly this with bitsets over the 1,365 paths, i.e. over all 2^16,466 × 2^16,466
//! policies of the pattern space at once.
//!
//! **What the bound covers.** The longest pattern a table of this space needs is six characters
//! after `GET/` (`?*/*/?*` less its first `?`: a value, a deeper part and a last value), and a
//! 6-character path holds every route's paths with one-character values (`a`, `b` or a fresh `z`),
//! two-character values for one-segment routes, with and without the trailing slash, with an extra
//! leading slash, and the empty-segment forms (`/a//`, `/a//b`, `/z//`) that decide greedy routes.
//! The authorizer's own check is not bounded (it works on the routes' languages, any length); the
//! bound is the search's. Both directions are counted: a set the search finds
//! expressible but the authorizer refuses, and a set the authorizer accepts that the search finds
//! inexpressible; both must be 0. Every accepted set's policy is then checked path by path.

use std::collections::HashMap;

use authorizer::claims::{Fields, Principal};
use authorizer::policy::{
    parse_api_routes, parse_rules, Access, ApiPrefix, PolicyDocument, RouteDefault, RouteRules,
    Table,
};
use emulator::iam::{Policy, Verdict};
use emulator::routes::Routes;

const TEMPLATES: [&str; 17] = [
    "/",
    "/a",
    "/b",
    "/{p}",
    "/{g+}",
    "/a/a",
    "/a/b",
    "/a/{p}",
    "/a/{g+}",
    "/b/a",
    "/b/b",
    "/b/{p}",
    "/b/{g+}",
    "/{p}/a",
    "/{p}/b",
    "/{p}/{r}",
    "/{p}/{g+}",
];

const PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/";
const MAX_PATH: usize = 6;
const MAX_PATTERN: usize = 6;

type Bits = Vec<u64>;

fn set(b: &mut Bits, i: usize) {
    b[i / 64] |= 1 << (i % 64);
}

fn get(b: &Bits, i: usize) -> bool {
    b[i / 64] >> (i % 64) & 1 == 1
}

/// Every string of length 0..=max over `alphabet`.
fn strings(alphabet: &[char], max: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..max {
        let mut next = Vec::new();
        for s in &layer {
            for c in alphabet {
                let mut t = s.clone();
                t.push(*c);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

struct Space {
    paths: Vec<String>,
    /// Per pattern, the paths (`GET` + path) it matches.
    matches: Vec<Bits>,
    words: usize,
}

impl Space {
    fn new() -> Space {
        let paths: Vec<String> = strings(&['a', 'b', 'z', '/'], MAX_PATH - 1)
            .into_iter()
            .map(|s| format!("/{s}"))
            .collect();
        let words = paths.len().div_ceil(64);
        let patterns: Vec<String> = strings(&['a', 'b', '/', '?', '*'], MAX_PATTERN)
            .into_iter()
            .filter(|s| !s.contains("**"))
            .map(|s| format!("GET/{s}"))
            .collect();
        let arns: Vec<String> = paths.iter().map(|p| format!("GET{p}")).collect();
        // Patterns matching the same paths are one pattern here.
        let mut matches: Vec<Bits> = patterns
            .iter()
            .map(|p| {
                let mut b = vec![0u64; words];
                for (i, arn) in arns.iter().enumerate() {
                    if emulator::iam::glob(p, arn) {
                        set(&mut b, i);
                    }
                }
                b
            })
            .collect();
        matches.sort_unstable();
        matches.dedup();
        println!(
            "search space: {} paths, {} patterns ({} distinct over these paths)",
            paths.len(),
            patterns.len(),
            matches.len()
        );
        Space {
            paths,
            matches,
            words,
        }
    }

    /// Is there a policy over the pattern space allowing every path of `allow` and denying every
    /// path of `deny`? (The maximal policy, see the module doc.)
    fn expressible(&self, allow: &Bits, deny: &Bits) -> bool {
        let disjoint = |m: &Bits, x: &Bits| m.iter().zip(x).all(|(a, b)| a & b == 0);
        let mut denied = vec![0u64; self.words];
        for m in &self.matches {
            if disjoint(m, allow) {
                for (d, x) in denied.iter_mut().zip(m) {
                    *d |= x;
                }
            }
        }
        let left: Bits = deny.iter().zip(&denied).map(|(d, x)| d & !x).collect();
        let mut allowed = vec![0u64; self.words];
        for m in &self.matches {
            if disjoint(m, &left) {
                for (a, x) in allowed.iter_mut().zip(m) {
                    *a |= x;
                }
            }
        }
        allow.iter().zip(&allowed).all(|(a, x)| a & !x == 0)
    }
}

/// One route table of the space, routed by the gateway's router.
struct Case {
    json: String,
    n: usize,
    /// Per path: the route (index in the table) it goes to, and whether it has extra leading
    /// slashes.
    routed: Vec<Option<(usize, bool)>>,
}

impl Case {
    fn new(space: &Space, templates: &[&str]) -> Case {
        let list: Vec<String> = templates.iter().map(|t| format!("GET {t}")).collect();
        let json = serde_json::to_string(&list).unwrap();
        let router = Routes::parse(&json).unwrap();
        let routed = space
            .paths
            .iter()
            .map(|p| {
                router.match_route("GET", p).map(|r| {
                    let k = templates.iter().position(|t| *t == r.resource).unwrap();
                    (k, p.starts_with("//"))
                })
            })
            .collect();
        Case {
            json,
            n: templates.len(),
            routed,
        }
    }

    /// The paths that must be allowed and those that must be denied under `allowed`.
    fn obligations(&self, space: &Space, allowed: &[bool]) -> (Bits, Bits) {
        let mut a = vec![0u64; space.words];
        let mut d = vec![0u64; space.words];
        for (i, r) in self.routed.iter().enumerate() {
            match r {
                Some((k, false)) if allowed[*k] => set(&mut a, i),
                Some((k, true)) if allowed[*k] => {}
                Some(_) => set(&mut d, i),
                None => {}
            }
        }
        (a, d)
    }

    /// Paths where the policy for `access` breaks the obligations.
    fn violations(&self, space: &Space, access: &Access, a: &Bits, d: &Bits) -> Vec<String> {
        let prefix = ApiPrefix::parse(&format!("{PREFIX}GET/")).unwrap();
        let doc = serde_json::to_value(PolicyDocument::new(&prefix, access)).unwrap();
        let policy = Policy::from_value(&doc);
        let mut bad = Vec::new();
        for (i, p) in space.paths.iter().enumerate() {
            if !get(a, i) && !get(d, i) {
                continue;
            }
            let arn = format!("{PREFIX}GET/{}", &p[1..]);
            let allowed = policy.evaluate(&arn) == Verdict::Allow;
            if allowed != get(a, i) {
                bad.push(format!("{p}: allowed={allowed}"));
            }
        }
        bad
    }
}

#[derive(Default, Debug)]
struct Tally {
    tables: usize,
    assignments: usize,
    expressible: usize,
    inexpressible: usize,
    expressible_refused: usize,
    inexpressible_accepted: usize,
    wrong_policies: usize,
    explained: usize,
    proved: usize,
    compile_time: std::time::Duration,
    search_time: std::time::Duration,
}

fn run(space: &Space, size: usize, failures: &mut Vec<String>) -> Tally {
    let mut t = Tally::default();
    let n = TEMPLATES.len();
    let mut pick = (0..size).collect::<Vec<usize>>();
    loop {
        let templates: Vec<&str> = pick.iter().map(|&i| TEMPLATES[i]).collect();
        let case = Case::new(space, &templates);
        let clock = std::time::Instant::now();
        let table = Table::new(parse_api_routes(&case.json).unwrap());
        t.compile_time += clock.elapsed();
        t.tables += 1;
        for mask in 0u32..1 << case.n {
            let allowed: Vec<bool> = (0..case.n).map(|k| mask >> k & 1 == 1).collect();
            let (a, d) = case.obligations(space, &allowed);
            let clock = std::time::Instant::now();
            let want = space.expressible(&a, &d);
            t.search_time += clock.elapsed();
            let got = table.access_for(&allowed);
            t.assignments += 1;
            if want {
                t.expressible += 1;
            } else {
                t.inexpressible += 1;
            }
            let what = || format!("{} allowed={allowed:?}", case.json);
            match (&got, want) {
                (Ok(access), _) => {
                    if !want {
                        t.inexpressible_accepted += 1;
                        failures.push(format!("ACCEPTED, no policy exists: {} {access:?}", what()));
                    }
                    let bad = case.violations(space, access, &a, &d);
                    if !bad.is_empty() {
                        t.wrong_policies += 1;
                        failures.push(format!("WRONG POLICY {} {access:?}: {bad:?}", what()));
                    }
                }
                (Err(c), true) => {
                    t.expressible_refused += 1;
                    let e = table.explain(c, "a principal");
                    failures.push(format!("REFUSED, a policy exists: {}: {e}", what()));
                }
                (Err(c), false) => {
                    // Every refusal names the routes; one in 25 is also explained (a proof by
                    // three paths, when the authorizer finds one: counted).
                    if t.inexpressible % 25 == 0 {
                        let e = table.explain(c, "a principal");
                        assert!(
                            e.contains("no exact IAM policy") && e.contains("GET /"),
                            "{e}"
                        );
                        t.explained += 1;
                        if e.contains("no IAM pattern tells their paths apart") {
                            t.proved += 1;
                        }
                    }
                }
            }
        }
        // next combination
        let mut i = size;
        loop {
            if i == 0 {
                return t;
            }
            i -= 1;
            if pick[i] < n - size + i {
                pick[i] += 1;
                for j in i + 1..size {
                    pick[j] = pick[j - 1] + 1;
                }
                break;
            }
        }
    }
}

fn report(name: &str, t: &Tally, failures: &[String]) {
    println!(
        "route acceptance vs exhaustive search ({name}): {} tables, {} decision assignments ({} expressible, {} not); {} expressible refused, {} inexpressible accepted, {} accepted with a wrong policy; {} refusals explained, {} of them with a three-path proof",
        t.tables,
        t.assignments,
        t.expressible,
        t.inexpressible,
        t.expressible_refused,
        t.inexpressible_accepted,
        t.wrong_policies,
        t.explained,
        t.proved
    );
    assert!(
        t.expressible_refused == 0 && t.inexpressible_accepted == 0 && t.wrong_policies == 0,
        "{t:?}\n{}",
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn acceptance_matches_an_exhaustive_search_over_small_route_tables() {
    let started = std::time::Instant::now();
    let space = Space::new();
    println!("search space built in {:?}", started.elapsed());
    let mut failures = Vec::new();
    let mut total = Tally::default();
    for size in [2, 3] {
        let t = run(&space, size, &mut failures);
        println!("{size} routes: {t:?} after {:?}", started.elapsed());
        total.tables += t.tables;
        total.assignments += t.assignments;
        total.expressible += t.expressible;
        total.inexpressible += t.inexpressible;
        total.expressible_refused += t.expressible_refused;
        total.inexpressible_accepted += t.inexpressible_accepted;
        total.wrong_policies += t.wrong_policies;
        total.explained += t.explained;
        total.proved += t.proved;
    }
    report("2 and 3 routes", &total, &failures);
    assert!(total.inexpressible > 0 && total.expressible > 0);
}

/// The same through the configuration: rule sets (one rule per route, on its own group, over
/// both defaults) are accepted exactly when every principal's decisions are expressible, and the
/// policy every principal then gets is exact. Every table of 3 routes with rules on all three
/// (`ROUTE_DEFAULT=deny`); with `allow` and a route without a rule, one table in four.
///
/// A route's decision comes from the rules that match its paths, matched here on the paths the
/// router sends to it (normalised as the router does: extra leading slashes and one trailing slash
/// dropped, a `{name+}`/final `*` taking any non-empty rest, empty segments included), not from
/// the authorizer's template comparison. When a rule matches some but not all of a route's paths
/// the set must be refused for that (rule fit), and only then.
#[test]
fn rule_sets_are_accepted_exactly_when_every_principal_has_an_exact_policy() {
    let space = Space::new();
    let mut tally: HashMap<&str, usize> = HashMap::new();
    let mut failures = Vec::new();
    for (i, ti) in TEMPLATES.iter().enumerate() {
        for (j, tj) in TEMPLATES.iter().enumerate().skip(i + 1) {
            for (k, tk) in TEMPLATES.iter().enumerate().skip(j + 1) {
                let templates = [*ti, *tj, *tk];
                let case = Case::new(&space, &templates);
                let all = (i + j + k) % 4 == 0;
                for (default, ruled) in [
                    (RouteDefault::Deny, [true, true, true]),
                    (RouteDefault::Allow, [true, false, true]),
                    (RouteDefault::Allow, [false, true, true]),
                ]
                .into_iter()
                .take(if all { 3 } else { 1 })
                {
                    let rules: Vec<String> = (0..3)
                        .filter(|&r| ruled[r])
                        .map(|r| {
                            format!(
                                r#"{{"route":"GET {}","groups_any":["g{r}"]}}"#,
                                templates[r]
                            )
                        })
                        .collect();
                    let rules = parse_rules(&format!("[{}]", rules.join(","))).unwrap();
                    let compiled = RouteRules::new(rules.clone(), default, Some(&case.json));
                    let what = || format!("{} {default:?} ruled={ruled:?}", case.json);
                    // The rules of each route, or the route whose paths they split.
                    let applying: Result<Vec<Vec<usize>>, String> = (0..3)
                        .map(|r| route_rules(&rules, &case, &space, r))
                        .collect();
                    let applying = match (applying, &compiled) {
                        (Err(_), Err((_, e))) if !e.contains("no exact IAM policy") => {
                            *tally.entry("refused for rule fit").or_default() += 1;
                            continue;
                        }
                        (Err(split), _) => {
                            *tally
                                .entry("rule fitting part of a route not refused for it")
                                .or_default() += 1;
                            failures.push(format!(
                                "not refused for rule fit ({split}): {}: {compiled:?}",
                                what()
                            ));
                            continue;
                        }
                        (Ok(_), Err((_, e))) if !e.contains("no exact IAM policy") => {
                            *tally
                                .entry("refused for rule fit, every rule fits whole routes")
                                .or_default() += 1;
                            failures.push(format!("refused for rule fit: {}: {e}", what()));
                            continue;
                        }
                        (Ok(a), _) => a,
                    };
                    // Each principal (a subset of the three groups) and its decisions.
                    let mut all_ok = true;
                    let mut decisions = Vec::new();
                    for mask in 0u32..8 {
                        let p = Principal::new(Fields {
                            sub: "s".into(),
                            username: "u".into(),
                            client_id: "c".into(),
                            token_use: "access".into(),
                            groups: (0..3)
                                .filter(|g| mask >> g & 1 == 1)
                                .map(|g| format!("g{g}"))
                                .collect(),
                            ..Fields::default()
                        });
                        let allowed: Vec<bool> = applying
                            .iter()
                            .map(|on| {
                                if on.is_empty() {
                                    default == RouteDefault::Allow
                                } else {
                                    on.iter().all(|&x| rules[x].permits(&p))
                                }
                            })
                            .collect();
                        let (a, d) = case.obligations(&space, &allowed);
                        all_ok &= space.expressible(&a, &d);
                        decisions.push((p, allowed, a, d));
                    }
                    match (&compiled, all_ok) {
                        (Ok(rr), _) => {
                            *tally.entry("accepted").or_default() += 1;
                            if !all_ok {
                                *tally.entry("inexpressible accepted").or_default() += 1;
                                failures.push(format!("accepted, no policy exists: {}", what()));
                            }
                            for (p, allowed, a, d) in &decisions {
                                let access = Access::compute(rr, default, p);
                                let bad = case.violations(&space, &access, a, d);
                                if !bad.is_empty() {
                                    *tally.entry("wrong policies").or_default() += 1;
                                    failures.push(format!(
                                        "wrong policy: {} groups={:?} decisions={allowed:?} {access:?}: {:?}",
                                        what(),
                                        p.groups,
                                        &bad[..bad.len().min(4)]
                                    ));
                                }
                            }
                        }
                        (Err(_), true) => {
                            *tally.entry("expressible refused").or_default() += 1;
                            failures.push(format!(
                                "refused, every principal has a policy: {}: {compiled:?}",
                                what()
                            ));
                        }
                        (Err(_), false) => *tally.entry("refused").or_default() += 1,
                    }
                }
            }
        }
    }
    println!("rule sets vs exhaustive search: {tally:?}");
    let expected = ["accepted", "refused", "refused for rule fit"];
    assert!(
        tally.keys().all(|k| expected.contains(k))
            && expected
                .iter()
                .all(|k| tally.get(k).copied().unwrap_or(0) > 0),
        "{tally:?}\n{}",
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A path as the router matches it: extra leading slashes and one trailing slash dropped, then
/// split at every `/` (empty segments kept).
fn normalised(path: &str) -> Vec<&str> {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

/// The rules matching route `r`'s paths (every path the router sends to it), or the first path
/// on which they differ from another of its paths: a rule fitting only part of the route.
fn route_rules(
    rules: &[authorizer::policy::RouteRule],
    case: &Case,
    space: &Space,
    r: usize,
) -> Result<Vec<usize>, String> {
    let mut seen: Option<(&str, Vec<usize>)> = None;
    for (x, path) in case.routed.iter().zip(&space.paths) {
        if !matches!(x, Some((k, _)) if *k == r) {
            continue;
        }
        let segs = normalised(path);
        let on: Vec<usize> = (0..rules.len())
            .filter(|&i| rule_matches(&rules[i], &segs))
            .collect();
        match &seen {
            None => seen = Some((path, on)),
            Some((first, v)) if *v != on => {
                return Err(format!("rules {v:?} on {first}, {on:?} on {path}"))
            }
            Some(_) => {}
        }
    }
    Ok(seen.map(|(_, v)| v).unwrap_or_default())
}

/// Does the rule match the normalised path? A literal is that segment, `{name}` (or a `*` before
/// the last) one non-empty segment, a final `{name+}` (or `*`) any non-empty rest.
fn rule_matches(rule: &authorizer::policy::RouteRule, segs: &[&str]) -> bool {
    use authorizer::policy::RuleSeg;
    for (k, s) in rule.segs.iter().enumerate() {
        match s {
            RuleSeg::Lit(l) => {
                if segs.get(k) != Some(&l.as_str()) {
                    return false;
                }
            }
            RuleSeg::One => {
                if segs.get(k).is_none_or(|v| v.is_empty()) {
                    return false;
                }
            }
            RuleSeg::Rest => {
                return k + 1 == rule.segs.len()
                    && !segs.get(k..).unwrap_or_default().join("/").is_empty()
            }
        }
    }
    segs.len() == rule.segs.len()
}
