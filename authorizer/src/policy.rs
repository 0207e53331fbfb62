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
//! matches every request path that goes to that route; a rule matching only some of those paths
//! (or none of the routes) is a configuration error. Each route gets one decision. A request goes to
//! the most specific route matching it (at the first segment where two routes differ, a literal
//! beats `{name}`, which beats `{name+}`), so a route's paths are its forms (see [`reach`]) less
//! those of more specific routes. The policy is built from per-route resources (see [`Table`]):
//! each allowed route's Allow, and for a denied route an Allow reaches, a Deny covering just what
//! it reaches, so that for every request form that can reach the authorizer IAM evaluation gives
//! exactly that decision. A rule set is refused at init, naming the routes, when for some
//! principal these resources are not exact; the message then gives three paths proving that no
//! IAM policy at all is exact (see [`witness`]) when it finds them. Never accepting an inexact set
//! holds by construction; never refusing an expressible one is checked against an exhaustive search
//! over small route tables (`tests/tests/authorizer_suite/route_exhaustive.rs`). The language
//! searches behind the check are bounded ([`MAX_STATES`]: the check runs at every cold start);
//! past the bound they answer on the side of refusing.
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

    /// The rule's paths as a route of method `method` (`{name}`/`*` one segment, a final
    /// `{name+}`/`*` the rest): the request forms it matches, as [`reach`] gives them.
    fn as_route(&self, method: &'static str) -> ApiRoute {
        ApiRoute {
            method,
            path: String::new(),
            segs: self
                .segs
                .iter()
                .map(|s| match s {
                    RuleSeg::Lit(l) => RouteSeg::Lit(l.clone()),
                    RuleSeg::One => RouteSeg::Param,
                    RuleSeg::Rest => RouteSeg::Greedy,
                })
                .collect(),
        }
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
/// is one or more of any characters (not a lone `/`, the trailing slash API Gateway ignores, and
/// not starting with `/` as the first segment: extra leading slashes are stripped before routing).
/// Paths a more specific route takes are removed by [`Lang`], not here.
/// A union of languages (a greedy value takes two alternatives to say).
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
                if i == 0 {
                    return vec![a];
                }
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
const MAX_STATES: usize = 512;

/// The same bound for [`strings_of`], which runs a few times per route table (not per pattern)
/// and whose candidates the exact covers depend on.
const MAX_STRING_STATES: usize = 50_000;

/// Is there a string in every language of `all` and in none of `none`? Subset construction on
/// the fly over the bytes that matter: every literal byte, plus one byte standing for all others.
fn some_string(all: &[&Atoms], none: &[&Atoms]) -> bool {
    // Cheap exact answers first (pairwise products): two languages of `all` that share no string
    // leave none; a language of `none` sharing no string with one of `all` excludes nothing.
    for (i, a) in all.iter().enumerate() {
        if all[i + 1..].iter().any(|b| !intersects(a, b)) {
            return false;
        }
    }
    let mut kept: Vec<&Atoms> = Vec::with_capacity(none.len());
    for n in none {
        if all.iter().all(|a| intersects(a, n)) && !kept.contains(n) {
            kept.push(n);
        }
    }
    let none = &kept[..];
    match (all, none) {
        // Every language of atoms holds some string.
        ([_], []) => return true,
        ([a, b], []) => return intersects(a, b),
        _ => {}
    }
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
    let p = Product::new(all, none, &alphabet);
    let mut seen: FastSet<Key> = FastSet::default();
    let mut buf = Key(vec![0u64; p.width]);
    let mut queue = vec![p.start()];
    while let Some(state) = queue.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        if p.accepts(&state.0) {
            return true;
        }
        if seen.len() > MAX_STATES {
            return true;
        }
        for class in &p.classes {
            p.step_into(&state.0, class[0], &mut buf.0);
            if p.alive(&buf.0) && !seen.contains(&buf) {
                queue.push(buf.clone());
            }
        }
    }
    false
}

/// One language over one alphabet, its set of positions held as bits (position `len` is the end):
/// a step is a few word operations (per byte, the positions whose class holds it; starred
/// positions stay, the others advance; then the skippable ones are passed).
struct BitLang {
    words: usize,
    /// Per alphabet index, the positions whose class holds that byte (`words` words each).
    masks: Vec<u64>,
    star: Vec<u64>,
    /// Positions that may be skipped (`Opt`, `Star`).
    skip: Vec<u64>,
    end: usize,
}

impl BitLang {
    fn new(a: &Atoms, alphabet: &[u8]) -> BitLang {
        let words = a.len() / 64 + 1;
        let mut star = vec![0u64; words];
        let mut skip = vec![0u64; words];
        for (i, (_, rep)) in a.iter().enumerate() {
            if *rep == Rep::Star {
                star[i / 64] |= 1 << (i % 64);
            }
            if *rep != Rep::One {
                skip[i / 64] |= 1 << (i % 64);
            }
        }
        let mut masks = vec![0u64; alphabet.len() * words];
        for (k, &b) in alphabet.iter().enumerate() {
            for (i, (c, _)) in a.iter().enumerate() {
                if class_has(*c, b) {
                    masks[k * words + i / 64] |= 1 << (i % 64);
                }
            }
        }
        BitLang {
            words,
            masks,
            star,
            skip,
            end: a.len(),
        }
    }

    fn close(&self, s: &mut [u64]) {
        loop {
            let mut changed = false;
            let mut carry = 0u64;
            for (w, x) in s.iter_mut().enumerate() {
                let moving = *x & self.skip[w];
                let n = *x | moving << 1 | carry;
                carry = moving >> 63;
                if n != *x {
                    *x = n;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn mask(&self, b: usize) -> &[u64] {
        &self.masks[b * self.words..(b + 1) * self.words]
    }

    fn step(&self, s: &[u64], b: usize, out: &mut [u64]) {
        let mask = self.mask(b);
        let mut carry = 0u64;
        for w in 0..self.words {
            let m = s[w] & mask[w];
            let advance = m & !self.star[w];
            out[w] = (m & self.star[w]) | advance << 1 | carry;
            carry = advance >> 63;
        }
        self.close(out);
    }

    fn at_end(&self, s: &[u64]) -> bool {
        s[self.end / 64] >> (self.end % 64) & 1 == 1
    }
}

/// A state of a [`Product`]: every language's position bits, one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key(Vec<u64>);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for w in &self.0 {
            h.write_u64(*w);
        }
    }
}

/// The searches' state sets and maps hashed with foldhash (fixed seed: the same runs every time),
/// not SipHash, which dominated them.
type FastSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// The product of `all` (positive) and `none` (negative) languages, run in step on one alphabet.
struct Product {
    langs: Vec<BitLang>,
    /// Where each language's words start in a state.
    offs: Vec<usize>,
    width: usize,
    /// How many of `langs` are positive.
    k: usize,
    /// The alphabet's indices grouped by how every language treats them.
    classes: Vec<Vec<usize>>,
}

impl Product {
    fn new(all: &[&Atoms], none: &[&Atoms], alphabet: &[u8]) -> Product {
        let langs: Vec<BitLang> = all
            .iter()
            .chain(none)
            .map(|a| BitLang::new(a, alphabet))
            .collect();
        let mut offs = Vec::with_capacity(langs.len());
        let mut width = 0;
        for l in &langs {
            offs.push(width);
            width += l.words;
        }
        // Bytes that every language treats alike lead to the same state: one step serves them.
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for b in 0..alphabet.len() {
            let alike = |c: &&mut Vec<usize>| langs.iter().all(|l| l.mask(b) == l.mask(c[0]));
            match classes.iter_mut().find(alike) {
                Some(members) => members.push(b),
                None => classes.push(vec![b]),
            }
        }
        Product {
            langs,
            offs,
            width,
            k: all.len(),
            classes,
        }
    }

    /// Like [`Product::step`], into `out` (no allocation).
    fn step_into(&self, st: &[u64], b: usize, out: &mut [u64]) {
        for (l, &o) in self.langs.iter().zip(&self.offs) {
            l.step(&st[o..o + l.words], b, &mut out[o..o + l.words]);
        }
    }

    fn part<'s>(&self, st: &'s [u64], j: usize) -> &'s [u64] {
        &st[self.offs[j]..self.offs[j] + self.langs[j].words]
    }

    fn start(&self) -> Key {
        let mut st = vec![0u64; self.width];
        for (l, &o) in self.langs.iter().zip(&self.offs) {
            let s = &mut st[o..o + l.words];
            s[0] = 1;
            l.close(s);
        }
        Key(st)
    }

    fn step(&self, st: &[u64], b: usize) -> Key {
        let mut out = vec![0u64; self.width];
        for (l, &o) in self.langs.iter().zip(&self.offs) {
            l.step(&st[o..o + l.words], b, &mut out[o..o + l.words]);
        }
        Key(out)
    }

    /// Every positive language still has a live position.
    fn alive(&self, st: &[u64]) -> bool {
        (0..self.k).all(|j| self.part(st, j).iter().any(|w| *w != 0))
    }

    /// In every positive language and in no negative one.
    fn accepts(&self, st: &[u64]) -> bool {
        self.langs
            .iter()
            .enumerate()
            .all(|(j, l)| l.at_end(self.part(st, j)) == (j < self.k))
    }
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
// Request forms as languages, and what IAM patterns can tell apart.
// ------------------------------------------------------------------------------------------------

/// A byte no pattern names: it stands for the path characters outside the routes' literals. A
/// policy names finitely many characters while a path value can hold any, so a pattern meets such
/// a character only with `?` or `*` (both of which also match `/`).
const FRESH: u8 = 0xFF;

/// The forms of one route: the strings in some `pos` alternative and in no `neg` one (`neg`: the
/// forms of the routes API Gateway prefers for the same path).
#[derive(Debug, Clone)]
struct Lang {
    pos: Vec<Atoms>,
    neg: Vec<Atoms>,
}

impl Lang {
    fn negs(&self) -> Vec<&Atoms> {
        self.neg.iter().collect()
    }

    fn part_states(&self) -> Vec<Vec<bool>> {
        self.pos.iter().chain(&self.neg).map(start_state).collect()
    }

    fn step(&self, st: &[Vec<bool>], b: u8) -> Vec<Vec<bool>> {
        self.pos
            .iter()
            .chain(&self.neg)
            .zip(st)
            .map(|(a, s)| step(a, s, b))
            .collect()
    }

    fn alive(&self, st: &[Vec<bool>]) -> bool {
        st[..self.pos.len()].iter().any(|s| s.iter().any(|x| *x))
    }

    fn accepts(&self, st: &[Vec<bool>]) -> bool {
        let fin = |(a, s): (&Atoms, &Vec<bool>)| s[a.len()];
        let n = self.pos.len();
        self.pos.iter().zip(&st[..n]).any(fin) && !self.neg.iter().zip(&st[n..]).any(fin)
    }

    fn bytes(&self, out: &mut Vec<u8>) {
        for a in self.pos.iter().chain(&self.neg) {
            for (c, _) in a {
                if let Class::Byte(b) = c {
                    if !out.contains(b) {
                        out.push(*b);
                    }
                }
            }
        }
    }
}

fn start_state(a: &Atoms) -> Vec<bool> {
    let mut s = vec![false; a.len() + 1];
    s[0] = true;
    closure(a, &mut s);
    s
}

/// Does some pattern of `globs` match some string of `l` (of `l ∩ within`, when given)?
fn meets(globs: &[Atoms], l: &Lang, within: Option<&[Atoms]>) -> bool {
    let neg = l.negs();
    globs.iter().any(|g| {
        l.pos.iter().any(|alt| {
            intersects(g, alt)
                && match within {
                    None => some_string(&[g, alt], &neg),
                    Some(w) => w
                        .iter()
                        .any(|x| intersects(x, alt) && some_string(&[g, alt, x], &neg)),
                }
        })
    })
}

/// Is every string of `l` (of `l ∩ within`, when given) matched by some pattern of `cover`?
fn covered(l: &Lang, within: Option<&[Atoms]>, cover: &[Atoms]) -> bool {
    let mut none = l.negs();
    none.extend(cover.iter());
    l.pos.iter().all(|alt| match within {
        None => !some_string(&[alt], &none),
        Some(w) => w
            .iter()
            .all(|g| !intersects(g, alt) || !some_string(&[g, alt], &none)),
    })
}

/// Patterns for the shortest strings of `l ∩ within` (those at most `slack` longer than the
/// shortest), each the narrowest pattern matching it ([`FRESH`] as `?`), at most `cap` of them;
/// with `all` set, `None` unless that is every string of `l ∩ within`.
fn short_patterns(
    l: &Lang,
    within: &[Atoms],
    slack: usize,
    cap: usize,
    all: bool,
) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let none = l.negs();
    for w in within {
        for alt in &l.pos {
            let (strings, complete) = strings_of(&[alt, w], &none, slack, cap)?;
            if all && !complete {
                return None;
            }
            for s in strings {
                let p: String = s
                    .iter()
                    .map(|&b| if b == FRESH { '?' } else { b as char })
                    .collect();
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            if out.len() > cap {
                return if all { None } else { Some(out) };
            }
        }
    }
    Some(out)
}

/// Strings in every language of `all` and in none of `none` (over the routes' bytes, `/` and
/// [`FRESH`]): those at most `slack` longer than the shortest, at most `cap` of them, and whether
/// that is every string of the intersection. `None` when the search is too large.
fn strings_of(
    all: &[&Atoms],
    none: &[&Atoms],
    slack: usize,
    cap: usize,
) -> Option<(Vec<Vec<u8>>, bool)> {
    let langs: Vec<&Atoms> = all.iter().chain(none).copied().collect();
    let mut alphabet: Vec<u8> = vec![b'/', FRESH];
    for a in &langs {
        for (c, _) in a.iter() {
            if let Class::Byte(b) = c {
                if !alphabet.contains(b) {
                    alphabet.push(*b);
                }
            }
        }
    }
    let p = Product::new(all, none, &alphabet);
    let accepts = |s: &Key| p.accepts(&s.0);
    let alive = |s: &Key| p.alive(&s.0);
    let start = p.start();
    let mut ids: FastMap<Key, usize> = FastMap::default();
    let mut states: Vec<Key> = vec![start.clone()];
    let mut edges: Vec<Vec<(u8, usize)>> = vec![Vec::new()];
    ids.insert(start, 0);
    let mut k = 0;
    while k < states.len() {
        if states.len() > MAX_STRING_STATES {
            return None;
        }
        let mut step: Vec<Option<usize>> = vec![None; alphabet.len()];
        for class in &p.classes {
            let next = p.step(&states[k].0, class[0]);
            if !alive(&next) {
                continue;
            }
            let id = match ids.get(&next) {
                Some(&id) => id,
                None => {
                    states.push(next.clone());
                    edges.push(Vec::new());
                    ids.insert(next, states.len() - 1);
                    states.len() - 1
                }
            };
            for &bi in class {
                step[bi] = Some(id);
            }
        }
        // In alphabet order, as the strings are enumerated.
        for (bi, &b) in alphabet.iter().enumerate() {
            let Some(id) = step[bi] else { continue };
            edges[k].push((b, id));
        }
        k += 1;
    }
    // Distance to acceptance (usize::MAX: none).
    let n = states.len();
    let mut dist: Vec<usize> = states
        .iter()
        .map(|s| if accepts(s) { 0 } else { usize::MAX })
        .collect();
    loop {
        let mut changed = false;
        for i in 0..n {
            for &(_, j) in &edges[i] {
                if dist[j] != usize::MAX && dist[j] + 1 < dist[i] {
                    dist[i] = dist[j] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    if dist[0] == usize::MAX {
        return Some((Vec::new(), true));
    }
    // Finite iff no cycle runs through states from which acceptance is reachable.
    let live: Vec<bool> = dist.iter().map(|d| *d != usize::MAX).collect();
    let mut color = vec![0u8; n];
    fn cyclic(i: usize, e: &[Vec<(u8, usize)>], live: &[bool], color: &mut [u8]) -> bool {
        color[i] = 1;
        for &(_, j) in &e[i] {
            if !live[j] {
                continue;
            }
            if color[j] == 1 || (color[j] == 0 && cyclic(j, e, live, color)) {
                return true;
            }
        }
        color[i] = 2;
        false
    }
    let finite = !cyclic(0, &edges, &live, &mut color);
    let limit = dist[0] + slack;
    let mut out = Vec::new();
    let mut complete = finite;
    // Breadth first: shortest strings first.
    let mut queue: std::collections::VecDeque<(usize, Vec<u8>)> =
        std::collections::VecDeque::from([(0, Vec::new())]);
    let mut steps = 0usize;
    while let Some((i, s)) = queue.pop_front() {
        steps += 1;
        if steps > MAX_STRING_STATES {
            return None;
        }
        if accepts(&states[i]) {
            if out.len() == cap {
                complete = false;
                break;
            }
            out.push(s.clone());
        }
        // A byte taking these languages where FRESH takes them gives no other string worth a
        // pattern: FRESH's (a `?`) matches it too.
        let fresh = edges[i].iter().find(|(b, _)| *b == FRESH).map(|(_, j)| *j);
        for &(b, j) in &edges[i] {
            if !live[j] || (b != FRESH && Some(j) == fresh) {
                continue;
            }
            if s.len() + 1 + dist[j] > limit {
                complete = false;
                continue;
            }
            let mut t = s.clone();
            t.push(b);
            queue.push_back((j, t));
        }
    }
    Some((out, complete))
}

/// Three strings proving that no IAM policy allows every string of `s` and `t` and denies every
/// string of `u`: `s0` in `s`, `u0` in `u` and `t0` in `t`, of one length, where `u0` equals `s0`
/// at every position `s0` does not hold [`FRESH`], and `t0` equals `u0` wherever `u0` does not.
/// Every pattern matching `s0` then matches `u0` (a pattern meets a fresh character only with `?`
/// or `*`, which match anything), so `u0` needs a Deny, and every pattern matching `u0` matches
/// `t0`, so that Deny takes `t0`. Conversely, when no such triple exists for any allowed `s`, `t`
/// and denied `u`, denying every string whose narrowest pattern misses the allowed ones and
/// allowing every string whose narrowest pattern misses what is left is exact.
fn witness(s: &Lang, u: &Lang, t: &Lang) -> Option<[Vec<u8>; 3]> {
    let mut alphabet: Vec<u8> = vec![b'/'];
    for l in [s, u, t] {
        l.bytes(&mut alphabet);
    }
    let mut triples: Vec<[u8; 3]> = Vec::new();
    for &x in alphabet.iter().chain([&FRESH]) {
        if x != FRESH {
            triples.push([x, x, x]);
            continue;
        }
        for &y in alphabet.iter().chain([&FRESH]) {
            if y != FRESH {
                triples.push([x, y, y]);
                continue;
            }
            for &z in alphabet.iter().chain([&FRESH]) {
                triples.push([x, y, z]);
            }
        }
    }
    let langs = [s, u, t];
    type St = [Vec<Vec<bool>>; 3];
    let start: St = [s.part_states(), u.part_states(), t.part_states()];
    let mut seen: std::collections::HashSet<St> = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<(St, [Vec<u8>; 3])> =
        std::collections::VecDeque::new();
    queue.push_back((start, [Vec::new(), Vec::new(), Vec::new()]));
    while let Some((st, strs)) = queue.pop_front() {
        if !seen.insert(st.clone()) {
            continue;
        }
        if (0..3).all(|k| langs[k].accepts(&st[k])) {
            return Some(strs);
        }
        if seen.len() > MAX_STATES {
            return None;
        }
        for tr in &triples {
            let next: St = [
                langs[0].step(&st[0], tr[0]),
                langs[1].step(&st[1], tr[1]),
                langs[2].step(&st[2], tr[2]),
            ];
            if (0..3).all(|k| langs[k].alive(&next[k])) && !seen.contains(&next) {
                let mut s2 = strs.clone();
                for k in 0..3 {
                    s2[k].push(tr[k]);
                }
                queue.push_back((next, s2));
            }
        }
    }
    None
}

/// A method-ARN suffix as a request (`GET/a/b` → `GET /a/b`), [`FRESH`] shown as a letter no
/// route uses.
fn show(suffix: &[u8], routes: &[ApiRoute]) -> String {
    let used = |c: char| {
        routes
            .iter()
            .any(|r| r.path.contains(c) || r.method.contains(c))
    };
    let fresh = "xqzjkvw0123456789"
        .chars()
        .find(|c| !used(*c))
        .unwrap_or('x');
    let s: String = suffix
        .iter()
        .map(|&b| if b == FRESH { fresh } else { b as char })
        .collect();
    match s.split_once('/') {
        Some((m, p)) => format!("{m} /{p}"),
        None => s,
    }
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

/// What an allowed route's Allow resources reach of another route's forms: the Deny that route
/// then needs when it is denied, and the routes (other than it) some path of which that Deny
/// would also match.
#[derive(Debug, Clone)]
struct Leak {
    route: usize,
    deny: Vec<String>,
    hits: Vec<usize>,
}

/// The route table, compiled once at init: per route its Allow resources and, for every other
/// route they reach, the Deny that keeps them exact (see [`Table::access_for`]).
#[derive(Debug, Clone)]
pub struct Table {
    routes: Vec<ApiRoute>,
    /// Indices of the rules that apply to each route.
    rules_of: Vec<Vec<usize>>,
    /// Allow resources of each route: its paths with and without a trailing slash, each value
    /// as `?*` (at least one character), or a narrower cover when one is exact.
    allow: Vec<Vec<String>>,
    /// Per route, what its Allow reaches of other routes.
    leaks: Vec<Vec<Leak>>,
    /// `linked[a][i]`: the resources for route a allowed beside route i denied were computed
    /// (every pair without rules; with them, the pairs some principal can be in).
    linked: Vec<Vec<bool>>,
    /// Forms of each route without extra leading slashes (promised exactly).
    plain: Vec<Lang>,
    /// Every form of each route (extra leading slashes too: never over-granted).
    every: Vec<Lang>,
}

/// A route's paths as IAM patterns under `METHOD/` (with `leading`, under `METHOD//*`: the forms
/// with extra leading slashes): `{name}` as `?*`, a greedy value as `?*` or (`two`) `?*/?*`, and
/// a path ending in a literal also with its trailing slash.
fn render(r: &ApiRoute, two: bool, leading: bool) -> Vec<String> {
    let body = r
        .segs
        .iter()
        .map(|s| match s {
            RouteSeg::Lit(l) => l.as_str(),
            RouteSeg::Param => "?*",
            RouteSeg::Greedy if two => "?*/?*",
            RouteSeg::Greedy => "?*",
        })
        .collect::<Vec<_>>()
        .join("/");
    let head = if leading {
        format!("{}//*", r.method)
    } else {
        format!("{}/", r.method)
    };
    let mut v = vec![format!("{head}{body}")];
    if matches!(r.segs.last(), Some(RouteSeg::Lit(_))) {
        v.push(format!("{head}{body}/"));
    }
    v
}

fn globs_atoms(globs: &[String]) -> Vec<Atoms> {
    globs.iter().map(|g| glob_atoms(g)).collect()
}

fn has_greedy(r: &ApiRoute) -> bool {
    r.segs.contains(&RouteSeg::Greedy)
}

/// A pattern for a whole family of values: each run of `?` (a fresh value) as `?*` (any
/// non-empty value).
fn widened(g: &str) -> String {
    let mut out = String::with_capacity(g.len() + 4);
    let mut run = false;
    for c in g.chars() {
        if c == '?' {
            if !run {
                out.push_str("?*");
            }
            run = true;
        } else {
            out.push(c);
            run = false;
        }
    }
    out
}

/// Narrower variants of a pattern that keep only the strings where one `?*` spans a `/`
/// (`GET/a/?*` → `GET/a/?*/*`, `GET/a/*/?*`): the deeper paths a greedy route takes.
fn deeper(g: &str) -> Vec<String> {
    g.match_indices("?*")
        .flat_map(|(k, _)| ["?*/*", "*/?*"].map(|rep| format!("{}{rep}{}", &g[..k], &g[k + 2..])))
        .collect()
}

/// Of the patterns in `pool`, a set matching every string of `target` (∩ `within`) whose cost
/// (the routes whose paths its patterns meet) is least: for each pattern, in order of its own
/// cost, every pattern costing no more than it is tried as the cover; redundant ones are dropped.
fn cheapest_cover(
    pool: Vec<String>,
    target: &Lang,
    within: Option<&[Atoms]>,
    cost: impl Fn(&Atoms) -> Vec<usize>,
) -> Option<(Vec<usize>, Vec<String>)> {
    let mut items: Vec<(String, Atoms, Vec<usize>)> = Vec::new();
    for g in pool {
        if items.iter().any(|(x, _, _)| *x == g) {
            continue;
        }
        let atoms = glob_atoms(&g);
        if !meets(std::slice::from_ref(&atoms), target, within) {
            continue;
        }
        let c = cost(&atoms);
        items.push((g, atoms, c));
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&k| items[k].2.len());
    let atoms = |set: &[usize]| -> Vec<Atoms> { set.iter().map(|&j| items[j].1.clone()).collect() };
    let mut tried: Vec<&Vec<usize>> = Vec::new();
    // Whether each pattern alone covers the target (asked at most once).
    let mut single: Vec<Option<bool>> = vec![None; items.len()];
    for &k in &order {
        let bound = &items[k].2;
        if tried.contains(&bound) {
            continue;
        }
        tried.push(bound);
        let mut chosen: Vec<usize> = (0..items.len())
            .filter(|&j| items[j].2.iter().all(|x| bound.contains(x)))
            .collect();
        // Narrowest first (most literal characters): one pattern often does (tried first: a
        // single pattern is a small search, the whole set can be a large one); otherwise the whole
        // set, less the redundant ones, widest first.
        let literals = |j: usize| {
            items[j]
                .0
                .bytes()
                .filter(|b| *b != b'*' && *b != b'?')
                .count()
        };
        chosen.sort_by_key(|&j| std::cmp::Reverse(literals(j)));
        let mut covers_alone =
            |j: usize| *single[j].get_or_insert_with(|| covered(target, within, &atoms(&[j])));
        if let Some(&one) = chosen.iter().find(|&&j| covers_alone(j)) {
            chosen = vec![one];
        } else {
            if !covered(target, within, &atoms(&chosen)) {
                continue;
            }
            let mut j = chosen.len();
            while j > 0 {
                j -= 1;
                let mut rest = chosen.clone();
                rest.remove(j);
                if covered(target, within, &atoms(&rest)) {
                    chosen = rest;
                }
            }
        }
        let mut hits: Vec<usize> = chosen.iter().flat_map(|&j| items[j].2.clone()).collect();
        hits.sort_unstable();
        hits.dedup();
        let globs = chosen.iter().map(|&j| items[j].0.clone()).collect();
        return Some((hits, globs));
    }
    None
}

impl Table {
    pub fn routes(&self) -> &[ApiRoute] {
        &self.routes
    }

    /// Compile a route table (see [`parse_api_routes`]); rules are not needed for this part.
    pub fn new(routes: Vec<ApiRoute>) -> Table {
        let n = routes.len();
        let mut t = Table::languages(routes);
        t.link(&vec![true; n], &vec![vec![true; n]; n]);
        t
    }

    /// The paths each route really receives ([`Table::link`] adds the resources).
    fn languages(routes: Vec<ApiRoute>) -> Table {
        let n = routes.len();
        let same = |i: usize, j: usize| routes[i].method == routes[j].method;
        // The paths that really go to route i: its forms, less those of more specific routes.
        let winners: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| {
                        j != i && same(i, j) && more_specific(&routes[j].segs, &routes[i].segs)
                    })
                    .collect()
            })
            .collect();
        let lang = |i: usize, leading: bool| Lang {
            pos: reach(&routes[i], leading),
            neg: winners[i]
                .iter()
                .flat_map(|&j| reach(&routes[j], true))
                .collect(),
        };
        let plain: Vec<Lang> = (0..n).map(|i| lang(i, false)).collect();
        let every: Vec<Lang> = (0..n).map(|i| lang(i, true)).collect();
        Table {
            routes,
            rules_of: vec![Vec::new(); n],
            allow: vec![Vec::new(); n],
            leaks: vec![Vec::new(); n],
            linked: vec![vec![false; n]; n],
            plain,
            every,
        }
    }

    /// The resources: the Allow of every route some principal may be allowed (`allowable`), and
    /// the Deny for route i next to an allowed route a where `need[a][i]` (some principal may be
    /// allowed a and denied i; with the rules known, the other pairs never meet in one policy,
    /// and computing every pair's Deny is most of the work at init).
    fn link(&mut self, allowable: &[bool], need: &[Vec<bool>]) {
        let (routes, plain, every) = (&self.routes, &self.plain, &self.every);
        let n = routes.len();
        let same = |i: usize, j: usize| routes[i].method == routes[j].method;
        // Allow: of the covers on offer, the one whose patterns meet the paths of the fewest other
        // routes (forms with extra leading slashes aside: those may be denied).
        let allow: Vec<Vec<String>> = (0..n)
            .map(|a| {
                if !allowable[a] {
                    return Vec::new();
                }
                let mut pool = render(&routes[a], false, false);
                if has_greedy(&routes[a]) {
                    pool.extend(render(&routes[a], true, false));
                    let everything = [glob_atoms(&format!("{}/*", routes[a].method))];
                    if let Some(p) = short_patterns(&plain[a], &everything, 2, 16, false) {
                        pool.extend(p.iter().map(|g| widened(g)));
                    }
                    let deeper: Vec<String> = pool.iter().flat_map(|g| deeper(g)).collect();
                    pool.extend(deeper);
                }
                let cost = |g: &Atoms| -> Vec<usize> {
                    (0..n)
                        .filter(|&i| i != a && same(a, i))
                        .filter(|&i| meets(std::slice::from_ref(g), &plain[i], None))
                        .collect()
                };
                cheapest_cover(pool, &plain[a], None, cost)
                    .map(|(_, g)| g)
                    .unwrap_or_else(|| render(&routes[a], false, false))
            })
            .collect();
        let leaks: Vec<Vec<Leak>> = (0..n)
            .map(|a| {
                let within = globs_atoms(&allow[a]);
                (0..n)
                    .filter(|&i| {
                        need[a][i] && i != a && same(a, i) && meets(&within, &every[i], None)
                    })
                    .map(|i| Self::leak(routes, &allow[a], plain, every, i))
                    .collect()
            })
            .collect();
        self.linked = (0..n)
            .map(|a| (0..n).map(|i| allowable[a] && need[a][i]).collect())
            .collect();
        self.allow = allow;
        self.leaks = leaks;
    }

    /// The Deny for route `i`'s forms that the Allow patterns `within` match: the forms with extra
    /// leading slashes by `i`'s own `METHOD//*…` patterns (no form without them starts `METHOD//`,
    /// so those match no allowed path), the others by the cover on offer that matches paths of
    /// the fewest other routes: the reached strings themselves when finitely many (`GET/admin//`),
    /// or `i`'s own patterns.
    fn leak(
        routes: &[ApiRoute],
        allow: &[String],
        plain: &[Lang],
        every: &[Lang],
        i: usize,
    ) -> Leak {
        let r = &routes[i];
        let within = globs_atoms(allow);
        let mut pool: Vec<String> = Vec::new();
        if let Some(p) = short_patterns(&plain[i], &within, 2, 16, false) {
            pool.extend(p.iter().map(|g| widened(g)));
            pool.extend(p);
        }
        pool.extend(render(r, false, false));
        if has_greedy(r) {
            pool.extend(render(r, true, false));
        }
        pool.extend(allow.iter().cloned());
        let deeper: Vec<String> = pool.iter().flat_map(|g| deeper(g)).collect();
        pool.extend(deeper);
        let cost = |g: &Atoms| -> Vec<usize> {
            (0..routes.len())
                .filter(|&b| b != i && routes[b].method == r.method)
                .filter(|&b| meets(std::slice::from_ref(g), &plain[b], None))
                .collect()
        };
        let (hits, mut deny) = if meets(&within, &plain[i], None) {
            cheapest_cover(pool, &plain[i], Some(&within), cost).unwrap_or_else(|| {
                // Not reached (a route's own patterns cover all of its forms); stay exact or refuse.
                let deny = render(r, false, false);
                let hits = globs_atoms(&deny).iter().flat_map(cost).collect();
                (hits, deny)
            })
        } else {
            (Vec::new(), Vec::new())
        };
        let leading = render(r, false, true);
        if meets(&globs_atoms(&leading), &every[i], Some(&within)) {
            deny.extend(leading);
        }
        Leak {
            route: i,
            deny,
            hits,
        }
    }

    /// The resources for a principal allowed exactly the routes `k` with `allowed[k]`: each
    /// allowed route's Allow (`METHOD/*` when every route of a method is allowed, `*` when every
    /// route is), and for each denied route such an Allow reaches, the Deny covering what it
    /// reaches. `Err` (naming the routes) when that Deny would also take an allowed route's path;
    /// [`RouteRules::new`] refuses every rule set under which some principal gets there.
    pub fn access_for(&self, allowed: &[bool]) -> Result<Access, Conflict> {
        let n = self.routes.len();
        if allowed.iter().take(n).all(|a| *a) {
            return Ok(Access {
                allow: vec!["*".to_string()],
                deny: Vec::new(),
            });
        }
        let mut allow = Vec::new();
        let mut deny = Vec::new();
        for m in METHODS {
            let of_m: Vec<usize> = (0..n).filter(|&k| self.routes[k].method == m).collect();
            if !of_m.is_empty() && of_m.iter().all(|&k| allowed[k]) {
                // Every route of this method: one resource (the method is a literal prefix, so it
                // reaches no other method's paths).
                push_unique(&mut allow, [format!("{m}/*")]);
                continue;
            }
            for &a in of_m.iter().filter(|&&a| allowed[a]) {
                // A pair the rules were said never to produce (see `link`): refuse rather than
                // answer without its Deny.
                if let Some(i) = of_m.iter().find(|&&i| !allowed[i] && !self.linked[a][i]) {
                    return Err(Conflict {
                        denied: *i,
                        allowed: [a, a],
                    });
                }
                push_unique(&mut allow, self.allow[a].iter().cloned());
                for leak in self.leaks[a].iter().filter(|l| !allowed[l.route]) {
                    if let Some(&b) = leak.hits.iter().find(|&&b| allowed[b]) {
                        return Err(Conflict {
                            denied: leak.route,
                            allowed: [a, b],
                        });
                    }
                    push_unique(&mut deny, leak.deny.iter().cloned());
                }
            }
        }
        Ok(Access { allow, deny })
    }

    /// Why `who`, denied route `c.denied` and allowed the routes `c.allowed`, gets no exact
    /// policy: with three paths proving that none exists when [`witness`] finds them.
    pub fn explain(&self, c: &Conflict, who: &str) -> String {
        self.conflict(c.denied, c.allowed[0], c.allowed[1], who)
    }

    fn conflict(&self, i: usize, a: usize, b: usize, who: &str) -> String {
        let name = |k: usize| self.routes[k].name();
        let show = |s: &[u8]| show(s, &self.routes);
        match witness(&self.plain[a], &self.every[i], &self.plain[b]) {
            Some([s, u, t]) => format!(
                "no exact IAM policy for route {:?} next to {:?} and {:?}: {who} is denied {:?} but allowed the other two, and no IAM pattern tells their paths apart: every resource matching {:?} (route {:?}) also matches {:?} (route {:?}, so that needs a Deny), and every resource matching {:?} also matches {:?} (route {:?}). Give these routes compatible rules",
                name(i),
                name(a),
                name(b),
                name(i),
                show(&s),
                name(a),
                show(&u),
                name(i),
                show(&u),
                show(&t),
                name(b),
            ),
            None => {
                let deny = self.leaks[a]
                    .iter()
                    .find(|l| l.route == i)
                    .map(|l| l.deny.join(", "))
                    .unwrap_or_default();
                format!(
                    "no exact IAM policy found for route {:?} next to {:?} and {:?}: {who} is denied {:?} but allowed the other two; the resources for {:?} ({}) also match {:?}'s paths, and the Deny for those ({deny}) would also match {:?}'s paths. Give these routes compatible rules",
                    name(i),
                    name(a),
                    name(b),
                    name(i),
                    name(a),
                    self.allow[a].join(", "),
                    name(i),
                    name(b),
                )
            }
        }
    }
}

/// A principal denied route `denied` (an index into [`Table::routes`]) and allowed both routes of
/// `allowed`: the first one's Allow reaches the denied route's paths, and the Deny for those would
/// take paths of the second (possibly the first itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub denied: usize,
    pub allowed: [usize; 2],
}

/// The rules, the default, and (with `API_ROUTES`) the compiled route table.
#[derive(Debug, Clone)]
pub struct RouteRules {
    rules: Vec<RouteRule>,
    table: Option<Table>,
}

impl RouteRules {
    /// Compile the rules. `api_routes` is the `API_ROUTES` JSON, when set. The error names the
    /// setting and, for rule sets no IAM policy expresses exactly, the routes in conflict.
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
    let mut t = Table::languages(routes);
    let mut rules_of = vec![Vec::new(); t.routes.len()];
    for (ri, rule) in rules.iter().enumerate() {
        let mut any = false;
        for (k, route) in t.routes.iter().enumerate() {
            let applies = match overlap(rule, route) {
                Overlap::Full => true,
                Overlap::None => false,
                // Fine when every path of the rule goes to a more specific route (a rule for
                // `/items/special` next to `/items/{id}`).
                Overlap::Partial
                    if t.routes.iter().any(|o| {
                        o.method == route.method
                            && within(&rule.segs, &o.segs)
                            && more_specific(&o.segs, &route.segs)
                    }) =>
                {
                    false
                }
                // Otherwise decided on the paths that really go to the route (its forms less
                // those of more specific routes, which may take them together: `GET /{p}/a`
                // meets `GET /a/{p}` only at `/a/a`, which `GET /a/a` takes): the rule applies
                // when it matches all of them, is ignored when it matches none.
                Overlap::Partial => {
                    let forms = reach(&rule.as_route(route.method), false);
                    if !meets(&forms, &t.plain[k], None) {
                        false
                    } else if covered(&t.plain[k], None, &forms) {
                        true
                    } else {
                        return Err(format!(
                            "rule {ri} ({:?}) matches only some paths of route {:?}: a policy cached for every route cannot give that route two decisions; write the rule for the whole route, or add the narrower route to API_ROUTES",
                            rule.route,
                            route.name()
                        ));
                    }
                }
            };
            if applies {
                rules_of[k].push(ri);
                any = true;
            }
        }
        if !any {
            return Err(format!(
                "rule {ri} ({:?}) matches no route of API_ROUTES",
                rule.route
            ));
        }
    }
    t.rules_of = rules_of;
    // Resources only for what some principal can be allowed, and Denies only for the pairs some
    // principal can be in (allowed a, denied i): exact for every principal the rules produce.
    let n = t.routes.len();
    let everything = AllExcept {
        groups: &[],
        scopes: &[],
    };
    let allowable: Vec<bool> = (0..n)
        .map(|a| route_allows(rules, default, &t, a, &everything))
        .collect();
    let need: Vec<Vec<bool>> = (0..n)
        .map(|a| {
            (0..n)
                .map(|i| allowable[a] && achievable(rules, default, &t, i, a, a).is_some())
                .collect()
        })
        .collect();
    t.link(&allowable, &need);
    // A principal denied route i and allowed a route whose Allow reaches i's paths and a route
    // the Deny for those would reach: no exact policy for that principal (see `witness` for why
    // none exists at all when the patterns on offer fail).
    for a in 0..t.routes.len() {
        for leak in &t.leaks[a] {
            for &b in &leak.hits {
                if let Some(who) = achievable(rules, default, &t, leak.route, a, b) {
                    return Err(t.conflict(leak.route, a, b, &who));
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
    let allowed: Vec<bool> = (0..t.routes.len())
        .map(|k| route_allows(rules, default, t, k, p))
        .collect();
    t.access_for(&allowed).unwrap_or_else(|c| {
        // Refused at init; never answer with an over-granting policy.
        tracing::error!(
            problem = %t.explain(&c, "a principal"),
            "route rules have no exact policy for this principal; denying every route"
        );
        Access::nothing()
    })
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
    use crate::claims::Fields;

    fn p(groups: &[&str], scope: &str) -> Principal {
        Principal::new(Fields {
            sub: "s".into(),
            username: "u".into(),
            client_id: "c".into(),
            token_use: "access".into(),
            scope: scope.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            ..Fields::default()
        })
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
        // A catch-all allowed next to a denied greedy route under it: `/admin//` goes to the
        // catch-all (no value for `/admin/{proxy+}`), and every pattern matching `/admin/x` for
        // every character x (which needs `?` or `*` there) also matches `/admin//`. Refused on
        // purpose: where API Gateway routes an empty segment inside a path is not documented
        // (docs/authorizer.md, "Path semantics"). If it goes to the catch-all, as modelled, no
        // policy is exact; if it went to `/admin/{proxy+}` or nowhere, one would be. Accepting
        // would mean guessing, and a wrong guess answers `/admin//` wrongly for everyone.
        let (setting, msg) = refuse(
            r#"[{"route":"GET /admin/{proxy+}","groups_any":["admin"]}]"#,
            r#"["GET /{proxy+}","GET /admin/{proxy+}"]"#,
            RouteDefault::Allow,
        );
        assert_eq!(setting, "ROUTE_RULES");
        for r in [
            "GET /admin/{proxy+}",
            "GET /{proxy+}",
            "no exact IAM policy",
            "\"GET /admin//\"",
        ] {
            assert!(msg.contains(r), "{msg}");
        }
        // The same for a denied parameter route under an allowed catch-all: `/reports/2024//`
        // has an empty month, so it goes to the catch-all.
        let (_, msg) = refuse(
            r#"[{"route":"GET /reports/{year}/{month}","groups_any":["finance"]}]"#,
            r#"["GET /{proxy+}","GET /reports/{year}","GET /reports/{year}/{month}"]"#,
            RouteDefault::Allow,
        );
        for r in [
            "GET /reports/{year}/{month}",
            "GET /{proxy+}",
            "no exact IAM policy",
        ] {
            assert!(msg.contains(r), "{msg}");
        }
        // Without the catch-all the same rule is accepted.
        assert!(RouteRules::new(
            parse_rules(r#"[{"route":"GET /reports/{year}/{month}","groups_any":["finance"]}]"#)
                .unwrap(),
            RouteDefault::Allow,
            Some(r#"["GET /reports/{year}","GET /reports/{year}/{month}"]"#),
        )
        .is_ok());
        // /items/{id} denied, /{x}/b and the deeper route allowed: the Allow GET/?*/b reaches
        // /items/b only, which gets a Deny of its own (GET/items/* would reach the deeper route).
        let rules = compiled(
            r#"[{"route":"GET /items/{id}","groups_any":["admin"]}]"#,
            RouteDefault::Allow,
            Some(r#"["GET /{x}/b","GET /items/{id}","GET /items/{id}/attachments"]"#),
        );
        let a = Access::compute(&rules, RouteDefault::Allow, &p(&[], ""));
        for s in ["GET/items/b", "GET/items/b/", "GET/items/x", "GET//items/b"] {
            assert!(!allowed(&a, s), "{s}: {a:?}");
        }
        for s in [
            "GET/x/b",
            "GET/items/x/attachments",
            "GET/items/b/attachments/",
        ] {
            assert!(allowed(&a, s), "{s}: {a:?}");
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

    /// The layouts of issue 23: a greedy or parameter route next to a more specific one, with a
    /// different decision on each, in both directions (and the one direction no policy can
    /// express). Decisions are given per route (`Table::access_for`), as any rule set yields.
    #[test]
    fn overlapping_routes_with_different_decisions_get_exact_policies() {
        let check = |routes: &str, decisions: [bool; 2], yes: &[&str], no: &[&str]| {
            let t = Table::new(parse_api_routes(routes).unwrap());
            let a = t.access_for(&decisions).unwrap();
            for s in yes {
                assert!(allowed(&a, s), "{routes} {decisions:?}: {s} {a:?}");
            }
            for s in no {
                assert!(!allowed(&a, s), "{routes} {decisions:?}: {s} {a:?}");
            }
        };
        // A parameter route allowed beside a denied greedy one sharing its first segment: the
        // Allow GET/?*/a reaches the greedy route's deeper paths only, denied by a narrower
        // pattern than the greedy route's own GET/?*/?* (which would also take `/x/a`).
        check(
            r#"["GET /{p}/a","GET /{p}/{g+}"]"#,
            [true, false],
            &["GET/x/a", "GET/x/a/"],
            &["GET/x/y/a", "GET/x/y", "GET/x/a/b", "GET/x//a"],
        );
        let admin = r#"["GET /admin/{proxy+}","GET /admin/users"]"#;
        check(
            admin,
            [true, false],
            &["GET/admin/x", "GET/admin/users/x", "GET/admin/users//"],
            &["GET/admin/users", "GET/admin/users/", "GET//admin/users"],
        );
        check(
            admin,
            [false, true],
            &["GET/admin/users", "GET/admin/users/"],
            &[
                "GET/admin/x",
                "GET/admin/users/x",
                "GET/admin/a/b/",
                "GET//admin/x",
            ],
        );
        let reports = r#"["GET /reports/{year}","GET /reports/{year}/{month}"]"#;
        check(
            reports,
            [false, true],
            &["GET/reports/2024/01", "GET/reports/2024/01/"],
            &["GET/reports/2024", "GET/reports/2024/", "GET//reports/2024"],
        );
        check(
            reports,
            [true, false],
            &["GET/reports/2024", "GET/reports/2024/"],
            &[
                "GET/reports/2024/01",
                "GET/reports/2024/01/",
                "GET//reports/1/2",
            ],
        );
        let proxy = r#"["GET /{proxy+}","GET /admin/{proxy+}"]"#;
        check(
            proxy,
            [false, true],
            &["GET/admin/x", "GET/admin/x/y/"],
            &[
                "GET/admin",
                "GET/admin/",
                "GET/admin//",
                "GET/x/y",
                "GET//admin/x",
            ],
        );
        let t = Table::new(parse_api_routes(proxy).unwrap());
        let c = t.access_for(&[true, false]).unwrap_err();
        let msg = t.explain(&c, "a principal");
        assert!(
            msg.contains("\"GET /admin//\"") && msg.contains("no IAM pattern"),
            "{msg}"
        );
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
