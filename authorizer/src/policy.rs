//! Route rules and IAM policies.
//!
//! API Gateway caches an authorizer's answer per identity source and reuses it on every route of
//! the API, so the answer must never depend on the incoming route. A decision is therefore the
//! list of resources the principal may call and the list it may not, rendered under the API and
//! stage of the event's `methodArn`/`routeArn` (keeping its partition). API Gateway evaluates them
//! with IAM semantics: `*` matches any characters (`/` included), `?` one character, an explicit
//! Deny overrides every Allow, and no Allow means deny.
//!
//! # Rules (`ROUTE_RULES`)
//! A JSON array of `{"route": "METHOD /path", "groups_any": [..], "groups_all": [..],
//! "scopes_any": [..], "scopes_all": [..]}`. Every condition present must hold (`*_any`: at least
//! one listed value; `*_all`: every listed value). `METHOD` is one of GET POST PUT PATCH DELETE
//! HEAD OPTIONS, or `ANY`/`*`. Path segments are literals, `{name}` or `*` (exactly one segment),
//! or, as the last segment only, `{name+}` or `*` (one or more segments). A request is decided by
//! the rules that match it: it is allowed when every matching rule holds, denied when one fails,
//! and follows `ROUTE_DEFAULT` (`allow` without rules, `deny` once rules exist) when none matches.
//!
//! # With the route table (`API_ROUTES`)
//! The API's own routes (`"METHOD /path"`, `{name}` one segment, a final `{name+}` one or more,
//! `ANY` for every method). Rules are matched against routes: a rule applies to a route when it
//! matches every request path of that route; a rule matching only some of a route's paths (or
//! none of the routes) is a configuration error. Each route gets one decision, and the policy is
//! built from per-route resources (see [`Table`]) so that, for every request form that can reach
//! the authorizer (see [`reach`]), IAM evaluation gives exactly that decision. Rule sets where
//! per-route resources cannot be exact for some principal are refused at init, naming the routes.
//!
//! # Without the route table
//! Policies never grant more than the rules say for the paths they name: an Allow for a
//! `{name}` segment comes with Denies for deeper and empty values, `ANY` expands to one Allow
//! per method, and a failed rule's Deny covers every form of its paths (trailing slash, extra
//! leading slashes). This under-grants (trailing-slash forms of allowed routes, deeper routes next
//! to a `{name}` rule); set `API_ROUTES` for exact policies.

use serde::{Deserialize, Serialize};

use crate::claims::Principal;

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

/// The methods API Gateway puts in a method ARN (what `ANY` expands to).
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// One segment of a rule's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSeg {
    Lit(String),
    /// `{name}` or a `*` segment before the last: exactly one non-empty segment.
    One,
    /// A final `{name+}` or `*`: one or more segments.
    Rest,
}

/// One segment of a route template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSeg {
    Lit(String),
    /// `{name}`: one non-empty segment without `/`.
    Param,
    /// A final `{name+}`: one or more segments.
    Greedy,
}

/// One validated route rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// The rule as written (`"DELETE /items/{id}"`), for messages.
    pub route: String,
    /// `None` = any method.
    pub method: Option<&'static str>,
    pub segs: Vec<RuleSeg>,
    pub groups_any: Vec<String>,
    pub groups_all: Vec<String>,
    pub scopes_any: Vec<String>,
    pub scopes_all: Vec<String>,
}

/// Which groups and scopes a principal holds, as far as the rules can tell.
trait Holder {
    fn group(&self, g: &str) -> bool;
    fn scope(&self, s: &str) -> bool;
}

impl Holder for Principal {
    fn group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
    fn scope(&self, s: &str) -> bool {
        self.scopes().any(|x| x == s)
    }
}

/// "Every group and scope the rules name, except these": the largest principal lacking them.
struct AllExcept<'a> {
    groups: &'a [String],
    scopes: &'a [String],
}

impl Holder for AllExcept<'_> {
    fn group(&self, g: &str) -> bool {
        !self.groups.iter().any(|x| x == g)
    }
    fn scope(&self, s: &str) -> bool {
        !self.scopes.iter().any(|x| x == s)
    }
}

impl RouteRule {
    pub fn permits(&self, p: &Principal) -> bool {
        self.holds(p)
    }

    fn holds(&self, h: &impl Holder) -> bool {
        (self.groups_any.is_empty() || self.groups_any.iter().any(|g| h.group(g)))
            && self.groups_all.iter().all(|g| h.group(g))
            && (self.scopes_any.is_empty() || self.scopes_any.iter().any(|s| h.scope(s)))
            && self.scopes_all.iter().all(|s| h.scope(s))
    }

    fn method_matches(&self, m: &str) -> bool {
        self.method.is_none_or(|x| x == m)
    }

    /// The rule's path as an IAM pattern (`{name}` and `*` segments as `*`), without the method.
    fn body_glob(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                RuleSeg::Lit(l) => l.as_str(),
                RuleSeg::One | RuleSeg::Rest => "*",
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Deny resources covering every form of every path of the rule (wider is allowed: a Deny
    /// can only under-grant).
    fn deny_resources(&self) -> Vec<String> {
        let m = self.method.unwrap_or("*");
        forms(m, &self.body_glob(), self.ends_wild(), true)
    }

    fn ends_wild(&self) -> bool {
        matches!(self.segs.last(), Some(RuleSeg::One | RuleSeg::Rest))
    }

    /// Without a route table: Allow resources and the Denies that keep them from granting more
    /// than the rule's own paths (deeper or empty `{name}` values, an empty rest).
    fn allow_resources(&self) -> (Vec<String>, Vec<String>) {
        let methods: Vec<&str> = match self.method {
            Some(m) => vec![m],
            None => METHODS.to_vec(),
        };
        let parts: Vec<&str> = self
            .segs
            .iter()
            .map(|s| match s {
                RuleSeg::Lit(l) => l.as_str(),
                RuleSeg::One | RuleSeg::Rest => "*",
            })
            .collect();
        let mut cuts = Vec::new();
        for (i, s) in self.segs.iter().enumerate() {
            let mut with = |rep: &str| {
                let mut p = parts.clone();
                p[i] = rep;
                cuts.push(p.join("/"));
            };
            match s {
                RuleSeg::Lit(_) => {}
                RuleSeg::One => {
                    with("*/*");
                    with("");
                }
                RuleSeg::Rest => with(""),
            }
        }
        let body = parts.join("/");
        let mut allow = Vec::new();
        let mut deny = Vec::new();
        for m in methods {
            allow.push(format!("{m}/{body}"));
            deny.extend(cuts.iter().map(|c| format!("{m}/{c}")));
        }
        (allow, deny)
    }
}

/// The resources (relative to `arn:...:api/stage/`) covering the forms of a path in which API
/// Gateway can present it (see [`reach`]): `M/body` and `M/body/`, and with `leading` the same
/// after extra leading slashes (`M//*body`, used for Denies: a Deny must cover every form, an
/// Allow need not). A body ending in `*` already covers its trailing-slash form.
fn forms(method: &str, body: &str, ends_wild: bool, leading: bool) -> Vec<String> {
    let mut v = vec![format!("{method}/{body}")];
    let slash = !ends_wild && !body.is_empty();
    if slash {
        v.push(format!("{method}/{body}/"));
    }
    if leading {
        v.push(format!("{method}//*{body}"));
        if slash {
            v.push(format!("{method}//*{body}/"));
        }
    }
    v
}

fn valid_literal(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:@!$&'()+,;=".contains(c))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Split `"METHOD /path"`.
fn split_route(route: &str) -> Result<(&str, &str), String> {
    let (method, path) = route
        .split_once(' ')
        .ok_or_else(|| format!("must be \"METHOD /path\", got {route:?}"))?;
    let path = path.trim();
    if !path.starts_with('/') {
        return Err(format!("path must start with '/', got {path:?}"));
    }
    Ok((method, path))
}

/// The segments of a path (`"/"` has none). Empty segments are refused.
fn path_segments(path: &str) -> Result<Vec<&str>, String> {
    let rest = &path[1..];
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "empty segment in {path:?} (no doubled or trailing '/')"
        ));
    }
    Ok(segs)
}

fn parse_rule_path(path: &str) -> Result<Vec<RuleSeg>, String> {
    let segs = path_segments(path)?;
    let n = segs.len();
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            let last = i + 1 == n;
            if *s == "*" {
                return Ok(if last { RuleSeg::Rest } else { RuleSeg::One });
            }
            if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                if let Some(name) = inner.strip_suffix('+') {
                    if !last {
                        return Err(format!("{{{inner}}} must be the last segment"));
                    }
                    if valid_name(name) {
                        return Ok(RuleSeg::Rest);
                    }
                } else if valid_name(inner) {
                    return Ok(RuleSeg::One);
                }
                return Err(format!("bad parameter segment {s:?}"));
            }
            if s.contains('{') || s.contains('}') {
                return Err(format!("unclosed or partial '{{' in segment {s:?}"));
            }
            if s.contains('*') {
                return Err(format!(
                    "'*' must be a whole segment (one segment, or the last for one or more), got {s:?}"
                ));
            }
            if !valid_literal(s) {
                return Err(format!("character not allowed in segment {s:?}"));
            }
            Ok(RuleSeg::Lit((*s).to_string()))
        })
        .collect()
}

/// Parse `ROUTE_RULES`; the error says what is wrong with which rule.
pub fn parse_rules(json: &str) -> Result<Vec<RouteRule>, String> {
    let raw: Vec<RawRule> = serde_json::from_str(json).map_err(|e| {
        format!("expected a JSON array of {{\"route\": \"METHOD /path\", \"groups_any\"|\"groups_all\"|\"scopes_any\"|\"scopes_all\": [...]}}: {e}")
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let (method, path) =
                split_route(&r.route).map_err(|e| format!("rule {i}: route {e}"))?;
            let method = match method {
                "ANY" | "*" => None,
                m => match METHODS.iter().find(|x| **x == m) {
                    Some(x) => Some(*x),
                    None => return Err(format!("rule {i}: unknown method {m:?}")),
                },
            };
            let segs = parse_rule_path(path).map_err(|e| format!("rule {i}: {e}"))?;
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
                route: r.route.trim().to_string(),
                method,
                segs,
                groups_any: r.groups_any,
                groups_all: r.groups_all,
                scopes_any: r.scopes_any,
                scopes_all: r.scopes_all,
            })
        })
        .collect()
}

/// One route of the API, with one method (`ANY` is expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    pub method: &'static str,
    /// The path as given (`/items/{id}`).
    pub path: String,
    pub segs: Vec<RouteSeg>,
}

impl ApiRoute {
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Same method and the same paths (parameter names aside).
    fn same_shape(&self, o: &ApiRoute) -> bool {
        self.method == o.method && self.segs == o.segs
    }
}

/// Parse a route table (`API_ROUTES`): a JSON array of `"METHOD /path"`. `ANY` expands to every
/// method the table does not list for the same path.
pub fn parse_api_routes(json: &str) -> Result<Vec<ApiRoute>, String> {
    let raw: Vec<String> = serde_json::from_str(json)
        .map_err(|e| format!("expected a JSON array of \"METHOD /path\" strings: {e}"))?;
    if raw.is_empty() {
        return Err("empty route table".into());
    }
    let mut explicit: Vec<ApiRoute> = Vec::new();
    let mut any: Vec<ApiRoute> = Vec::new();
    for r in &raw {
        let (method, path) = split_route(r).map_err(|e| format!("route {r:?}: {e}"))?;
        let mut names = Vec::new();
        let segs = path_segments(path)
            .map_err(|e| format!("route {r:?}: {e}"))?
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                    let (name, greedy) = match inner.strip_suffix('+') {
                        Some(n) => (n, true),
                        None => (inner, false),
                    };
                    if !valid_name(name) {
                        return Err(format!("route {r:?}: bad parameter {s:?}"));
                    }
                    if names.contains(&name) {
                        return Err(format!("route {r:?}: parameter {name:?} used twice"));
                    }
                    names.push(name);
                    if greedy {
                        if i + 1 != path_segments(path).map(|v| v.len()).unwrap_or(0) {
                            return Err(format!(
                                "route {r:?}: a greedy {{{inner}}} must be the last segment"
                            ));
                        }
                        return Ok(RouteSeg::Greedy);
                    }
                    return Ok(RouteSeg::Param);
                }
                if !valid_literal(s) {
                    return Err(format!(
                        "route {r:?}: character not allowed in segment {s:?}"
                    ));
                }
                Ok(RouteSeg::Lit((*s).to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let route = |m: &'static str| ApiRoute {
            method: m,
            path: path.to_string(),
            segs: segs.clone(),
        };
        match method {
            "ANY" => any.push(route("ANY")),
            m => match METHODS.iter().find(|x| **x == m) {
                Some(x) => explicit.push(route(x)),
                None => return Err(format!("route {r:?}: unknown method {m:?}")),
            },
        }
    }
    let mut out: Vec<ApiRoute> = Vec::new();
    for r in explicit {
        if let Some(o) = out.iter().find(|o| o.same_shape(&r)) {
            return Err(format!(
                "routes {:?} and {:?} are the same route",
                o.name(),
                r.name()
            ));
        }
        out.push(r);
    }
    let mut anys: Vec<&ApiRoute> = Vec::new();
    for a in &any {
        if let Some(o) = anys.iter().find(|o| o.segs == a.segs) {
            return Err(format!(
                "routes \"ANY {}\" and \"ANY {}\" are the same route",
                o.path, a.path
            ));
        }
        anys.push(a);
        for m in METHODS {
            if !out.iter().any(|o| o.method == m && o.segs == a.segs) {
                out.push(ApiRoute {
                    method: m,
                    path: a.path.clone(),
                    segs: a.segs.clone(),
                });
            }
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// Languages: IAM patterns and the request forms of a route, as sequences of quantified atoms.
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Byte(u8),
    NotSlash,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rep {
    One,
    Opt,
    Star,
}

type Atoms = Vec<(Class, Rep)>;

fn glob_atoms(p: &str) -> Atoms {
    p.bytes()
        .map(|b| match b {
            b'*' => (Class::Any, Rep::Star),
            b'?' => (Class::Any, Rep::One),
            b => (Class::Byte(b), Rep::One),
        })
        .collect()
}

fn lit_atoms(out: &mut Atoms, s: &str) {
    out.extend(s.bytes().map(|b| (Class::Byte(b), Rep::One)));
}

/// Every method-ARN suffix (after `arn:...:api/stage/`) by which a request can reach `route`, as
/// the local gateway models API Gateway (README, "Path semantics"): the request path with its
/// first `/` removed, where the path may carry one trailing slash and (with `leading`) extra
/// leading slashes, a `{name}` is one or more characters other than `/`, and a greedy `{name+}`
/// is one or more of any characters. This over-approximates (it ignores that a more specific
/// route wins), which only makes the exactness check stricter.
/// A union of languages: a greedy value is one or more characters but not a lone `/` (the
/// trailing slash API Gateway ignores), which takes two alternatives to say.
fn reach(route: &ApiRoute, leading: bool) -> Vec<Atoms> {
    let mut a = Atoms::new();
    lit_atoms(&mut a, route.method);
    lit_atoms(&mut a, "/");
    if leading {
        a.push((Class::Byte(b'/'), Rep::Star));
    }
    for (i, s) in route.segs.iter().enumerate() {
        if i > 0 {
            lit_atoms(&mut a, "/");
        }
        match s {
            RouteSeg::Lit(l) => lit_atoms(&mut a, l),
            RouteSeg::Param => {
                a.push((Class::NotSlash, Rep::One));
                a.push((Class::NotSlash, Rep::Star));
            }
            RouteSeg::Greedy => {
                let mut b = a.clone();
                a.push((Class::NotSlash, Rep::One));
                a.push((Class::Any, Rep::Star));
                b.push((Class::Byte(b'/'), Rep::One));
                b.push((Class::Any, Rep::One));
                b.push((Class::Any, Rep::Star));
                return vec![a, b];
            }
        }
    }
    if matches!(route.segs.last(), Some(RouteSeg::Lit(_) | RouteSeg::Param)) {
        a.push((Class::Byte(b'/'), Rep::Opt));
    }
    vec![a]
}

fn compatible(x: Class, y: Class) -> bool {
    match (x, y) {
        (Class::Byte(a), Class::Byte(b)) => a == b,
        (Class::Byte(a), Class::NotSlash) | (Class::NotSlash, Class::Byte(a)) => a != b'/',
        _ => true,
    }
}

fn class_has(c: Class, b: u8) -> bool {
    match c {
        Class::Byte(x) => x == b,
        Class::NotSlash => b != b'/',
        Class::Any => true,
    }
}

/// The positions reachable from `set` without consuming (an optional or starred atom may be
/// skipped).
fn closure(a: &Atoms, set: &mut [bool]) {
    for i in 0..a.len() {
        if set[i] && a[i].1 != Rep::One {
            set[i + 1] = true;
        }
    }
}

fn step(a: &Atoms, set: &[bool], b: u8) -> Vec<bool> {
    let mut out = vec![false; a.len() + 1];
    for i in 0..a.len() {
        if set[i] && class_has(a[i].0, b) {
            out[if a[i].1 == Rep::Star { i } else { i + 1 }] = true;
        }
    }
    closure(a, &mut out);
    out
}

/// Most product states explored before [`some_string`] gives up and answers "yes" (which can
/// only make the init check refuse more, never accept an inexact policy).
const MAX_STATES: usize = 50_000;

/// Is there a string in every language of `all` and in none of `none`? Subset construction on
/// the fly over the bytes that matter: every literal byte, plus one byte standing for all others.
fn some_string(all: &[&Atoms], none: &[&Atoms]) -> bool {
    let mut alphabet: Vec<u8> = vec![b'/'];
    for a in all.iter().chain(none) {
        for (c, _) in a.iter() {
            if let Class::Byte(b) = c {
                if !alphabet.contains(b) {
                    alphabet.push(*b);
                }
            }
        }
    }
    // A byte no literal uses (patterns and routes are ASCII).
    alphabet.push(0xFF);
    let langs: Vec<&Atoms> = all.iter().chain(none).copied().collect();
    let start: Vec<Vec<bool>> = langs
        .iter()
        .map(|a| {
            let mut s = vec![false; a.len() + 1];
            s[0] = true;
            closure(a, &mut s);
            s
        })
        .collect();
    let accepts = |state: &[Vec<bool>]| {
        state.iter().zip(&langs).enumerate().all(|(k, (s, a))| {
            let fin = s[a.len()];
            if k < all.len() {
                fin
            } else {
                !fin
            }
        })
    };
    let alive = |state: &[Vec<bool>]| state[..all.len()].iter().all(|s| s.iter().any(|x| *x));
    let mut seen: std::collections::HashSet<Vec<Vec<bool>>> = std::collections::HashSet::new();
    let mut queue = vec![start];
    while let Some(state) = queue.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        if accepts(&state) {
            return true;
        }
        if seen.len() > MAX_STATES {
            return true;
        }
        for &b in &alphabet {
            let next: Vec<Vec<bool>> = state
                .iter()
                .zip(&langs)
                .map(|(s, a)| step(a, s, b))
                .collect();
            if alive(&next) && !seen.contains(&next) {
                queue.push(next);
            }
        }
    }
    false
}

/// Is there a string in both languages? (Product automaton, breadth first.)
fn intersects(a: &Atoms, b: &Atoms) -> bool {
    let (n, m) = (a.len(), b.len());
    let mut seen = vec![false; (n + 1) * (m + 1)];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((i, j)) = stack.pop() {
        let k = i * (m + 1) + j;
        if seen[k] {
            continue;
        }
        seen[k] = true;
        if i == n && j == m {
            return true;
        }
        if i < n && a[i].1 != Rep::One {
            stack.push((i + 1, j));
        }
        if j < m && b[j].1 != Rep::One {
            stack.push((i, j + 1));
        }
        if i < n && j < m && compatible(a[i].0, b[j].0) {
            let ni = if a[i].1 == Rep::Star { i } else { i + 1 };
            let nj = if b[j].1 == Rep::Star { j } else { j + 1 };
            stack.push((ni, nj));
        }
    }
    false
}

// ------------------------------------------------------------------------------------------------
// Rules over routes
// ------------------------------------------------------------------------------------------------

/// Does the rule path match every path of the route (`Full`), some (`Partial`) or none?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overlap {
    None,
    Partial,
    Full,
}

fn full(p: &[RuleSeg], t: &[RouteSeg]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(RuleSeg::Rest), _) => !t.is_empty(),
        (None, Some(_)) | (Some(_), None) => false,
        (Some(_), Some(RouteSeg::Greedy)) => false,
        (Some(RuleSeg::Lit(a)), Some(RouteSeg::Lit(b))) => a == b && full(&p[1..], &t[1..]),
        (Some(RuleSeg::Lit(_)), Some(RouteSeg::Param)) => false,
        (Some(RuleSeg::One), Some(_)) => full(&p[1..], &t[1..]),
    }
}

fn some(p: &[RuleSeg], t: &[RouteSeg]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(RuleSeg::Rest), _) => !t.is_empty(),
        // A greedy segment produces one or more segments of any value: any non-empty rest of
        // the rule can be met.
        (Some(_), Some(RouteSeg::Greedy)) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(RuleSeg::Lit(a)), Some(RouteSeg::Lit(b))) => a == b && some(&p[1..], &t[1..]),
        (Some(RuleSeg::Lit(_) | RuleSeg::One), Some(_)) => some(&p[1..], &t[1..]),
    }
}

/// Is every path the rule matches a path of the route?
fn within(p: &[RuleSeg], t: &[RouteSeg]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(_), Some(RouteSeg::Greedy)) => true,
        (None, Some(_)) | (Some(_), None) | (Some(RuleSeg::Rest), _) => false,
        (Some(RuleSeg::Lit(a)), Some(RouteSeg::Lit(b))) => a == b && within(&p[1..], &t[1..]),
        (Some(RuleSeg::Lit(_) | RuleSeg::One), Some(RouteSeg::Param)) => within(&p[1..], &t[1..]),
        (Some(RuleSeg::One), Some(RouteSeg::Lit(_))) => false,
    }
}

fn rank(s: &RouteSeg) -> u8 {
    match s {
        RouteSeg::Lit(_) => 0,
        RouteSeg::Param => 1,
        RouteSeg::Greedy => 2,
    }
}

/// Does `a` win over `b` for every path both match? API Gateway prefers, at the first segment
/// where two routes differ, a literal over a `{name}` over a greedy `{name+}`.
pub fn more_specific(a: &[RouteSeg], b: &[RouteSeg]) -> bool {
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (RouteSeg::Lit(l), RouteSeg::Lit(m)) if l == m => continue,
            (RouteSeg::Lit(_), RouteSeg::Lit(_)) => return false,
            _ if rank(x) == rank(y) => continue,
            _ => return rank(x) < rank(y),
        }
    }
    false
}

fn overlap(rule: &RouteRule, route: &ApiRoute) -> Overlap {
    if !rule.method_matches(route.method) {
        Overlap::None
    } else if full(&rule.segs, &route.segs) {
        Overlap::Full
    } else if some(&rule.segs, &route.segs) {
        Overlap::Partial
    } else {
        Overlap::None
    }
}

/// The route table compiled against the rules (built once at init).
#[derive(Debug, Clone)]
pub struct Table {
    routes: Vec<ApiRoute>,
    /// Indices of the rules that apply to each route.
    rules_of: Vec<Vec<usize>>,
    /// Allow resources of each route: its paths, with and without a trailing slash.
    allow: Vec<Vec<String>>,
    /// Deny resources of each route: every form of its paths (extra leading slashes too).
    deny: Vec<Vec<String>>,
    /// Routes whose Allow resources reach some form of this route's paths.
    leakers: Vec<Vec<usize>>,
    /// Routes some path of which (without extra leading slashes) this route's Deny reaches.
    hits: Vec<Vec<usize>>,
}

impl Table {
    pub fn routes(&self) -> &[ApiRoute] {
        &self.routes
    }
}

/// The rules, the default, and (with `API_ROUTES`) the compiled route table.
#[derive(Debug, Clone)]
pub struct RouteRules {
    rules: Vec<RouteRule>,
    table: Option<Table>,
}

impl RouteRules {
    /// Compile the rules. `api_routes` is the `API_ROUTES` JSON, when set. The error names the
    /// setting and, for rule sets no per-route policy expresses exactly, the routes in conflict.
    pub fn new(
        rules: Vec<RouteRule>,
        default: RouteDefault,
        api_routes: Option<&str>,
    ) -> Result<RouteRules, (&'static str, String)> {
        let table = match api_routes {
            None => None,
            Some(json) => {
                let routes = parse_api_routes(json).map_err(|e| ("API_ROUTES", e))?;
                Some(compile(&rules, default, routes).map_err(|e| ("ROUTE_RULES", e))?)
            }
        };
        Ok(RouteRules { rules, table })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    pub fn table(&self) -> Option<&Table> {
        self.table.as_ref()
    }
}

fn compile(
    rules: &[RouteRule],
    default: RouteDefault,
    routes: Vec<ApiRoute>,
) -> Result<Table, String> {
    let mut rules_of = vec![Vec::new(); routes.len()];
    for (ri, rule) in rules.iter().enumerate() {
        let mut any = false;
        for (k, route) in routes.iter().enumerate() {
            match overlap(rule, route) {
                Overlap::Full => {
                    rules_of[k].push(ri);
                    any = true;
                }
                // Fine when every path of the rule goes to a more specific route (a rule for
                // `/items/special` next to `/items/{id}`).
                Overlap::Partial
                    if routes.iter().any(|o| {
                        o.method == route.method
                            && within(&rule.segs, &o.segs)
                            && more_specific(&o.segs, &route.segs)
                    }) => {}
                Overlap::Partial => {
                    return Err(format!(
                        "rule {ri} ({:?}) matches only some paths of route {:?}: a policy cached for every route cannot give that route two decisions; write the rule for the whole route, or add the narrower route to API_ROUTES",
                        rule.route,
                        route.name()
                    ))
                }
                Overlap::None => {}
            }
        }
        if !any {
            return Err(format!(
                "rule {ri} ({:?}) matches no route of API_ROUTES",
                rule.route
            ));
        }
    }
    let cover = |leading: bool| -> Vec<Vec<String>> {
        routes
            .iter()
            .map(|r| {
                let body = r
                    .segs
                    .iter()
                    .map(|s| match s {
                        RouteSeg::Lit(l) => l.as_str(),
                        RouteSeg::Param | RouteSeg::Greedy => "*",
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let ends_wild = matches!(r.segs.last(), Some(RouteSeg::Param | RouteSeg::Greedy));
                forms(r.method, &body, ends_wild, leading)
            })
            .collect()
    };
    let (allow, deny) = (cover(false), cover(true));
    let atoms = |c: &Vec<Vec<String>>| -> Vec<Vec<Atoms>> {
        c.iter()
            .map(|c| c.iter().map(|p| glob_atoms(p)).collect())
            .collect()
    };
    let (allow_atoms, deny_atoms) = (atoms(&allow), atoms(&deny));
    let reach_all: Vec<Vec<Atoms>> = routes.iter().map(|r| reach(r, true)).collect();
    let reach_plain: Vec<Vec<Atoms>> = routes.iter().map(|r| reach(r, false)).collect();
    let n = routes.len();
    let mut leakers = vec![Vec::new(); n];
    let mut hits = vec![Vec::new(); n];
    // The paths that really go to route i: its forms, less those of more specific routes.
    let winners: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    j != i
                        && routes[j].method == routes[i].method
                        && more_specific(&routes[j].segs, &routes[i].segs)
                })
                .collect()
        })
        .collect();
    let reaches = |pattern: &Atoms, reach: &[Vec<Atoms>], i: usize| {
        reach[i].iter().any(|alt| {
            intersects(pattern, alt) && {
                let none: Vec<&Atoms> = winners[i].iter().flat_map(|&j| &reach_all[j]).collect();
                some_string(&[pattern, alt], &none)
            }
        })
    };
    for k in 0..n {
        for i in 0..n {
            if i == k || routes[i].method != routes[k].method {
                continue;
            }
            // k's Allow reaches some form of i's paths: if i is denied it needs its Deny.
            if allow_atoms[k].iter().any(|c| reaches(c, &reach_all, i)) {
                leakers[i].push(k);
            }
            // k's Deny reaches i's paths: if i is allowed, that Deny would take them away.
            // (Forms with extra leading slashes are never promised to an allowed route.)
            if deny_atoms[k].iter().any(|c| reaches(c, &reach_plain, i)) {
                hits[k].push(i);
            }
        }
    }
    let t = Table {
        routes,
        rules_of,
        allow,
        deny,
        leakers,
        hits,
    };
    // A principal denied route i, allowed a route whose resources reach i's paths (so i needs an
    // explicit Deny) and allowed a route that Deny would reach: no per-route policy is exact.
    for i in 0..n {
        if t.leakers[i].is_empty() || t.hits[i].is_empty() {
            continue;
        }
        for &a in &t.leakers[i] {
            for &b in &t.hits[i] {
                if let Some(why) = achievable(rules, default, &t, i, a, b) {
                    return Err(format!(
                        "no exact IAM policy for route {:?} next to {:?} and {:?}: {why} is denied {:?} but allowed the other two; the resources for {:?} ({}) also match {:?}'s paths, and a Deny for {:?} ({}) would also match {:?}'s paths. Give these routes compatible rules",
                        t.routes[i].name(),
                        t.routes[a].name(),
                        t.routes[b].name(),
                        t.routes[i].name(),
                        t.routes[a].name(),
                        t.allow[a].join(", "),
                        t.routes[i].name(),
                        t.routes[i].name(),
                        t.deny[i].join(", "),
                        t.routes[b].name(),
                    ));
                }
            }
        }
    }
    Ok(t)
}

fn route_allows(
    rules: &[RouteRule],
    default: RouteDefault,
    t: &Table,
    k: usize,
    h: &impl Holder,
) -> bool {
    if t.rules_of[k].is_empty() {
        default == RouteDefault::Allow
    } else {
        t.rules_of[k].iter().all(|&r| rules[r].holds(h))
    }
}

/// Can some principal be denied route `i` and allowed routes `a` and `b`? The conditions are
/// monotone (holding more groups or scopes never fails a rule), so the best witness for "rule
/// `r` fails at clause `c`" is every named group and scope except what makes `c` fail. Returns
/// a description of the witness.
fn achievable(
    rules: &[RouteRule],
    default: RouteDefault,
    t: &Table,
    i: usize,
    a: usize,
    b: usize,
) -> Option<String> {
    let ok = |h: &AllExcept| {
        route_allows(rules, default, t, a, h) && route_allows(rules, default, t, b, h)
    };
    if t.rules_of[i].is_empty() {
        let everything = AllExcept {
            groups: &[],
            scopes: &[],
        };
        return (default == RouteDefault::Deny && ok(&everything))
            .then(|| "a principal (ROUTE_DEFAULT=deny)".to_string());
    }
    for &r in &t.rules_of[i] {
        let rule = &rules[r];
        let mut tries: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        if !rule.groups_any.is_empty() {
            tries.push((rule.groups_any.clone(), vec![]));
        }
        if !rule.scopes_any.is_empty() {
            tries.push((vec![], rule.scopes_any.clone()));
        }
        tries.extend(rule.groups_all.iter().map(|g| (vec![g.clone()], vec![])));
        tries.extend(rule.scopes_all.iter().map(|s| (vec![], vec![s.clone()])));
        for (groups, scopes) in tries {
            let h = AllExcept {
                groups: &groups,
                scopes: &scopes,
            };
            if ok(&h) {
                return Some(format!(
                    "a principal without groups {groups:?} and scopes {scopes:?} (failing rule {r}, {:?})",
                    rule.route
                ));
            }
        }
    }
    None
}

/// What a principal may call, independent of the incoming route: resources (relative to
/// `arn:...:api/stage/`) to allow and to deny. A principal allowed nothing gets a Deny on
/// everything and no Allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for s in items {
        if !v.contains(&s) {
            v.push(s);
        }
    }
}

impl Access {
    pub fn compute(rules: &RouteRules, default: RouteDefault, p: &Principal) -> Access {
        let access = match &rules.table {
            Some(t) => exact(&rules.rules, default, t, p),
            None => untabled(&rules.rules, default, p),
        };
        if access.allow.is_empty() {
            return Access::nothing();
        }
        access
    }

    fn nothing() -> Access {
        Access {
            allow: Vec::new(),
            deny: vec!["*".to_string()],
        }
    }

    /// Is every route denied?
    pub fn denies_all(&self) -> bool {
        self.allow.is_empty()
    }
}

/// Without the route table: never more than the rules name.
fn untabled(rules: &[RouteRule], default: RouteDefault, p: &Principal) -> Access {
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    if default == RouteDefault::Allow {
        allow.push("*".to_string());
    }
    for r in rules {
        if r.permits(p) {
            if default == RouteDefault::Deny {
                let (a, cuts) = r.allow_resources();
                push_unique(&mut allow, a);
                push_unique(&mut deny, cuts);
            }
        } else {
            push_unique(&mut deny, r.deny_resources());
        }
    }
    Access { allow, deny }
}

/// With the route table: exactly the rules' decision on every route.
fn exact(rules: &[RouteRule], default: RouteDefault, t: &Table, p: &Principal) -> Access {
    let n = t.routes.len();
    let allowed: Vec<bool> = (0..n)
        .map(|k| route_allows(rules, default, t, k, p))
        .collect();
    if allowed.iter().all(|a| *a) {
        return Access {
            allow: vec!["*".to_string()],
            deny: Vec::new(),
        };
    }
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for m in METHODS {
        let of_m: Vec<usize> = (0..n).filter(|&k| t.routes[k].method == m).collect();
        if !of_m.is_empty() && of_m.iter().all(|&k| allowed[k]) {
            // Every route of this method: one resource (the method is a literal prefix, so it
            // reaches no other method's paths).
            push_unique(&mut allow, [format!("{m}/*")]);
            continue;
        }
        for &k in &of_m {
            if allowed[k] {
                push_unique(&mut allow, t.allow[k].iter().cloned());
            } else if t.leakers[k].iter().any(|&a| allowed[a]) {
                if t.hits[k].iter().any(|&b| allowed[b]) {
                    // Refused at init; never answer with an over-granting policy.
                    tracing::error!(
                        route = %t.routes[k].name(),
                        "route rules have no exact policy for this principal; denying every route"
                    );
                    return Access::nothing();
                }
                push_unique(&mut deny, t.deny[k].iter().cloned());
            }
        }
    }
    Access { allow, deny }
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
            || !valid_stage(stage)
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

    /// The same API under `stage` (`None` when that is not a stage name).
    pub fn on_stage(&self, stage: &str) -> Option<ApiPrefix> {
        if !valid_stage(stage) {
            return None;
        }
        let (api, _) = self.0.trim_end_matches('/').rsplit_once('/')?;
        Some(ApiPrefix(format!("{api}/{stage}/")))
    }

    /// This prefix first, then the same API under each of `stages` (`API_STAGES`) but its own.
    pub fn and_stages(&self, stages: &[String]) -> Vec<ApiPrefix> {
        let mut out = vec![self.clone()];
        for s in stages {
            if let Some(p) = self.on_stage(s) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// A stage name as it appears in an execute-api ARN: letters, digits, `-_$.` (no glob).
pub fn valid_stage(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_$.".contains(c))
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
        Self::for_prefixes(std::slice::from_ref(prefix), access)
    }

    /// The same decision under each prefix (the request's stage and the `API_STAGES` others):
    /// resources are rendered per prefix, so what each stage allows and denies is exactly what
    /// [`PolicyDocument::new`] gives for that stage alone.
    pub fn for_prefixes(prefixes: &[ApiPrefix], access: &Access) -> PolicyDocument {
        let render = |suffixes: &[String]| -> Vec<String> {
            prefixes
                .iter()
                .flat_map(|p| suffixes.iter().map(move |s| p.resource(s)))
                .collect()
        };
        let mut statement = Vec::with_capacity(2);
        if !access.allow.is_empty() {
            statement.push(Statement {
                action: "execute-api:Invoke",
                effect: "Allow",
                resource: render(&access.allow),
            });
        }
        if !access.deny.is_empty() {
            statement.push(Statement {
                action: "execute-api:Invoke",
                effect: "Deny",
                resource: render(&access.deny),
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
            ..Principal::default()
        }
    }

    fn compiled(rules: &str, default: RouteDefault, routes: Option<&str>) -> RouteRules {
        RouteRules::new(parse_rules(rules).unwrap(), default, routes).unwrap()
    }

    /// IAM glob (test copy, for the unit tests only; the tests crate has an independent one).
    fn glob(p: &str, s: &str) -> bool {
        intersects(
            &glob_atoms(p),
            &s.bytes().map(|b| (Class::Byte(b), Rep::One)).collect(),
        )
    }

    fn allowed(a: &Access, suffix: &str) -> bool {
        !a.deny.iter().any(|d| glob(d, suffix)) && a.allow.iter().any(|x| glob(x, suffix))
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

    /// `API_STAGES`: one decision rendered under every listed stage, the request's own first;
    /// each stage's resources are exactly the single-stage ones, and no resource of one stage
    /// matches a method ARN of another.
    #[test]
    fn policies_cover_the_same_routes_on_every_listed_stage() {
        let prefix =
            ApiPrefix::parse("arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/items")
                .unwrap();
        let stages: Vec<String> = ["canary", "v1", "bad*", "canary"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let all = prefix.and_stages(&stages);
        assert_eq!(
            all.iter().map(|p| p.resource("")).collect::<Vec<_>>(),
            [
                "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/",
                "arn:aws:execute-api:us-east-1:123456789012:abc123/canary/"
            ]
        );
        assert_eq!(prefix.and_stages(&[]), vec![prefix.clone()]);
        assert!(prefix.on_stage("").is_none() && prefix.on_stage("a/b").is_none());
        let rules = compiled(
            r#"[{"route":"DELETE /items/{id}","groups_any":["admin"]}]"#,
            RouteDefault::Allow,
            Some(r#"["GET /items","DELETE /items/{id}"]"#),
        );
        let access = Access::compute(&rules, RouteDefault::Allow, &p(&[], ""));
        let one = serde_json::to_value(PolicyDocument::new(&prefix, &access)).unwrap();
        let both = serde_json::to_value(PolicyDocument::for_prefixes(&all, &access)).unwrap();
        let canary = serde_json::to_value(PolicyDocument::new(&all[1], &access)).unwrap();
        let stmts = |v: &serde_json::Value| v["Statement"].as_array().unwrap().clone();
        assert_eq!(stmts(&both).len(), stmts(&one).len());
        for (i, st) in stmts(&both).iter().enumerate() {
            let mut want: Vec<serde_json::Value> =
                stmts(&one)[i]["Resource"].as_array().unwrap().clone();
            want.extend(stmts(&canary)[i]["Resource"].as_array().unwrap().clone());
            assert_eq!(st["Effect"], stmts(&one)[i]["Effect"]);
            assert_eq!(st["Resource"].as_array().unwrap(), &want);
        }
        // Each stage's resources name that stage only.
        for r in stmts(&both)
            .iter()
            .flat_map(|s| s["Resource"].as_array().unwrap().clone())
        {
            let r = r.as_str().unwrap();
            assert!(
                r.starts_with("arn:aws:execute-api:us-east-1:123456789012:abc123/v1/")
                    || r.starts_with("arn:aws:execute-api:us-east-1:123456789012:abc123/canary/"),
                "{r}"
            );
        }
    }

    #[test]
    fn rules_parse_and_decide() {
        let json = r#"[{"route":"DELETE /items/{id}","groups_any":["admin","ops"]},
                {"route":"ANY /reports/*","scopes_all":["reports/read","reports/list"]},
                {"route":"GET /items","scopes_any":["items/read"]}]"#;
        let rules = parse_rules(json).unwrap();
        assert_eq!(rules[0].method, Some("DELETE"));
        assert_eq!(
            rules[0].segs,
            vec![RuleSeg::Lit("items".into()), RuleSeg::One]
        );
        assert_eq!(rules[1].method, None);
        assert_eq!(
            rules[1].segs,
            vec![RuleSeg::Lit("reports".into()), RuleSeg::Rest]
        );
        let rules = compiled(json, RouteDefault::Allow, None);

        // Default allow: failed rules are denied in every form of their paths.
        let a = Access::compute(&rules, RouteDefault::Allow, &p(&["admin"], "items/read"));
        assert_eq!(a.allow, vec!["*"]);
        assert_eq!(a.deny, vec!["*/reports/*", "*//*reports/*"]);
        for s in ["GET/reports/1", "DELETE/reports/a/b", "GET//reports/x"] {
            assert!(!allowed(&a, s), "{s}");
        }
        assert!(allowed(&a, "DELETE/items/1"));

        // Default deny: `{id}` grants one segment only, `ANY` one resource per method.
        let a = Access::compute(
            &rules,
            RouteDefault::Deny,
            &p(&["ops"], "reports/read reports/list"),
        );
        assert!(a.allow.contains(&"DELETE/items/*".to_string()));
        assert!(a.allow.contains(&"GET/reports/*".to_string()));
        assert!(!a.allow.iter().any(|x| x.starts_with("*/")));
        for s in ["DELETE/items/1", "GET/reports/a", "PATCH/reports/a/b"] {
            assert!(allowed(&a, s), "{s}");
        }
        for s in [
            "DELETE/items/1/attachments",
            "DELETE/items/",
            "DELETE/items//x",
            "GET/reports/",
            "GET/items",
            "GET/items/",
            "DELETE/admin/reports/1",
            "GET/admin/reports/1",
        ] {
            assert!(!allowed(&a, s), "{s}");
        }

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
            r#"[{"route":"GET /items/a*","groups_any":["a"]}]"#,
            r#"[{"route":"GET /items//x","groups_any":["a"]}]"#,
            r#"[{"route":"GET /{p+}/x","groups_any":["a"]}]"#,
        ] {
            assert!(parse_rules(bad).is_err(), "{bad}");
        }
    }

    const ROUTES: &str = r#"["GET /items","POST /items","GET /items/{id}","DELETE /items/{id}",
        "GET /items/{id}/attachments","GET /profile","ANY /reports/{proxy+}"]"#;

    #[test]
    fn with_the_route_table_every_form_of_every_route_gets_the_rule_decision() {
        let rules = compiled(
            r#"[{"route":"GET /items","groups_any":["readers"]},
                {"route":"GET /items/{id}","groups_any":["readers"]},
                {"route":"ANY /reports/*","groups_any":["reporters"]}]"#,
            RouteDefault::Allow,
            Some(ROUTES),
        );
        let t = rules.table().unwrap();
        assert_eq!(t.routes().len(), 6 + 7);
        let a = Access::compute(&rules, RouteDefault::Allow, &p(&[], ""));
        for s in [
            "GET/items",
            "GET/items/",
            "GET//items",
            "GET///items/",
            "GET/items/1",
            "GET/items/1/",
            "GET/reports/1",
            "DELETE/reports/a/b/",
        ] {
            assert!(!allowed(&a, s), "{s}: {a:?}");
        }
        for s in [
            "POST/items",
            "POST/items/",
            "GET/items/1/attachments",
            "GET/items/reports/attachments/",
            "DELETE/items/1",
            "GET/profile/",
        ] {
            assert!(allowed(&a, s), "{s}: {a:?}");
        }
        let a = Access::compute(&rules, RouteDefault::Allow, &p(&["readers"], ""));
        assert!(allowed(&a, "GET/items/"));
        assert!(!allowed(&a, "PUT/reports/x"));
        let a = Access::compute(
            &rules,
            RouteDefault::Allow,
            &p(&["readers", "reporters"], ""),
        );
        assert_eq!(a.allow, vec!["*"]);
        assert!(a.deny.is_empty());
    }

    #[test]
    fn unrepresentable_and_ill_fitting_rules_are_refused_naming_the_routes() {
        let refuse = |rules: &str, routes: &str, default: RouteDefault| {
            RouteRules::new(parse_rules(rules).unwrap(), default, Some(routes))
                .expect_err("must be refused")
        };
        // /items/{id} denied, /{x}/b and the deeper route allowed: GET/*/b reaches /items/b, and
        // a Deny GET/items/* would reach /items/x/attachments.
        let (setting, msg) = refuse(
            r#"[{"route":"GET /items/{id}","groups_any":["admin"]}]"#,
            r#"["GET /{x}/b","GET /items/{id}","GET /items/{id}/attachments"]"#,
            RouteDefault::Allow,
        );
        assert_eq!(setting, "ROUTE_RULES");
        for r in ["GET /items/{id}", "GET /{x}/b", "no exact IAM policy"] {
            assert!(msg.contains(r), "{msg}");
        }
        // A rule covering part of a route.
        let (_, msg) = refuse(
            r#"[{"route":"GET /items/special","groups_any":["admin"]}]"#,
            r#"["GET /items/{id}"]"#,
            RouteDefault::Allow,
        );
        assert!(
            msg.contains("GET /items/{id}") && msg.contains("only some"),
            "{msg}"
        );
        let (_, msg) = refuse(
            r#"[{"route":"GET /r/{x}","groups_any":["admin"]}]"#,
            r#"["GET /r/{proxy+}"]"#,
            RouteDefault::Allow,
        );
        assert!(msg.contains("GET /r/{proxy+}"), "{msg}");
        // A rule for no route.
        let (_, msg) = refuse(
            r#"[{"route":"GET /nope","groups_any":["admin"]}]"#,
            r#"["GET /items"]"#,
            RouteDefault::Allow,
        );
        assert!(msg.contains("matches no route"), "{msg}");
        // A rule claiming paths another route takes (/items/b goes to /items/{id}).
        let (_, msg) = refuse(
            r#"[{"route":"GET /{x}/b","groups_any":["admin"]}]"#,
            r#"["GET /{x}/b","GET /items/{id}"]"#,
            RouteDefault::Allow,
        );
        assert!(
            msg.contains("GET /items/{id}") && msg.contains("only some"),
            "{msg}"
        );
        // The same routes are fine when no principal can get that combination: whoever is
        // denied /items/{id} is denied /items/{id}/attachments too.
        RouteRules::new(
            parse_rules(
                r#"[{"route":"GET /items/{id}","groups_any":["admin"]},
                    {"route":"GET /items/{id}/attachments","groups_all":["admin"]}]"#,
            )
            .unwrap(),
            RouteDefault::Allow,
            Some(r#"["GET /{x}/b","GET /items/{id}","GET /items/{id}/attachments"]"#),
        )
        .unwrap();
        // A literal route next to a parameter: its rule is its own, and its Deny is exact.
        let rules = compiled(
            r#"[{"route":"GET /items/special","groups_any":["admin"]}]"#,
            RouteDefault::Allow,
            Some(r#"["GET /items/{id}","GET /items/special","GET /items/{id}/x"]"#),
        );
        let a = Access::compute(&rules, RouteDefault::Allow, &p(&[], ""));
        assert!(!allowed(&a, "GET/items/special/"), "{a:?}");
        assert!(allowed(&a, "GET/items/specia"), "{a:?}");
        assert!(allowed(&a, "GET/items/special/x"), "{a:?}");
        for bad in [
            "[]",
            "x",
            r#"["GET items"]"#,
            r#"["FETCH /items"]"#,
            r#"["GET /items/"]"#,
            r#"["GET /a/{p+}/b"]"#,
            r#"["GET /a/{x}/{x}"]"#,
            r#"["GET /a/{x}","GET /a/{y}"]"#,
            r#"["GET /a*"]"#,
        ] {
            let e = RouteRules::new(Vec::new(), RouteDefault::Allow, Some(bad)).unwrap_err();
            assert_eq!(e.0, "API_ROUTES", "{bad}");
        }
    }

    #[test]
    fn route_forms_and_intersections() {
        let r = |s: &str| parse_api_routes(&format!("[\"{s}\"]")).unwrap().remove(0);
        let hit = |pat: &str, route: &str| {
            reach(&r(route), true)
                .iter()
                .any(|alt| intersects(&glob_atoms(pat), alt))
        };
        assert!(hit("GET/*", "GET /items"));
        assert!(hit("GET/items/*", "GET /items"), "the trailing-slash form");
        assert!(!hit("GET/items/*/x", "GET /items/{id}"));
        assert!(hit("GET/items/*", "GET /items/{id}/x"));
        assert!(!hit("GET/items", "GET /items/{id}"));
        assert!(hit("GET//*items", "GET /items"));
        assert!(!hit("POST/*", "GET /items"));
        assert!(hit("GET/a/*", "GET /a/{p+}"));
        assert!(!hit("GET/a/", "GET /a/{p+}"));
        assert!(
            !hit("GET/a//", "GET /a/{p+}"),
            "a lone trailing slash is no value"
        );
        assert!(hit("GET/a///", "GET /a/{p+}"));
        assert!(hit("GET/", "GET /"));
        assert!(!hit("GET/x", "GET /"));
    }
}
