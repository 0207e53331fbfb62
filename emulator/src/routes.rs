//! The API's routes and how API Gateway matches a request to one (README, "Path semantics").
//!
//! The table is `API_ROUTES` when set (the same setting the authorizer reads), otherwise
//! `crud::routes::ROUTES`, the routes the template deploys: one source, no second copy here. It is
//! parsed by the authorizer's own parser, so the gateway and the policies agree on what a route is.
//!
//! Matching, as the local model of API Gateway: extra leading slashes are ignored, one trailing
//! slash is ignored, and every other segment must be non-empty; a `{name}` takes one segment, a
//! final `{name+}` the rest (one or more characters); among the routes that match, the most
//! specific wins (at the first segment where two differ, a literal beats `{name}`, which beats
//! `{name+}`). The method ARN is built from the path as sent, not from the matched form.

use authorizer::policy::{more_specific, parse_api_routes, ApiRoute, RouteSeg};
// path parameters are decoded as crud decodes them (one implementation; `%` and two hex digits)
use crud::encoding::percent_decode;

/// A matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The resource template, e.g. `/items/{id}`.
    pub resource: String,
    /// Path parameters (name, percent-decoded value), in template order.
    pub params: Vec<(String, String)>,
}

impl Route {
    /// The `id` path parameter, when the resource has one.
    pub fn id(&self) -> Option<&str> {
        self.param("id")
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The route table.
#[derive(Debug, Clone)]
pub struct Routes {
    routes: Vec<(ApiRoute, Vec<String>)>,
}

/// `crud::routes::ROUTES` as an `API_ROUTES` value.
pub fn crud_routes_json() -> String {
    let list: Vec<String> = crud::routes::ROUTES
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// Parameter names of a template, in order (`{id}` → `id`, `{proxy+}` → `proxy`).
fn param_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|x| x.strip_suffix('}')))
        .map(|n| n.trim_end_matches('+').to_string())
        .collect()
}

impl Routes {
    /// Parse an `API_ROUTES` value (the error says what is wrong).
    pub fn parse(json: &str) -> Result<Routes, String> {
        let routes = parse_api_routes(json)?
            .into_iter()
            .map(|r| {
                let names = param_names(&r.path);
                (r, names)
            })
            .collect();
        Ok(Routes { routes })
    }

    /// crud's own routes.
    pub fn crud() -> Routes {
        // The constant is checked by this module's tests; an empty table would only refuse.
        Routes::parse(&crud_routes_json()).unwrap_or(Routes { routes: Vec::new() })
    }

    /// Match `method path` (path without query, as sent). `None` means API Gateway's "Missing
    /// Authentication Token" answer (no route for this method and path).
    pub fn match_route(&self, method: &str, path: &str) -> Option<Route> {
        let rest = path.strip_prefix('/')?.trim_start_matches('/');
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut best: Option<(&ApiRoute, Vec<(String, String)>)> = None;
        for (r, names) in &self.routes {
            if r.method != method {
                continue;
            }
            let Some(values) = match_segments(&r.segs, &segs) else {
                continue;
            };
            if best
                .as_ref()
                .is_some_and(|(b, _)| !more_specific(&r.segs, &b.segs))
            {
                continue;
            }
            let params = names.iter().cloned().zip(values).collect();
            best = Some((r, params));
        }
        best.map(|(r, params)| Route {
            resource: r.path.clone(),
            params,
        })
    }
}

/// The parameter values when `segs` (the normalised path) matches the template.
fn match_segments(template: &[RouteSeg], segs: &[&str]) -> Option<Vec<String>> {
    let mut values = Vec::new();
    for (i, t) in template.iter().enumerate() {
        match t {
            RouteSeg::Lit(l) => {
                if segs.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            RouteSeg::Param => {
                let s = segs.get(i).filter(|s| !s.is_empty())?;
                values.push(percent_decode(s));
            }
            RouteSeg::Greedy => {
                let rest = segs.get(i..).map(|r| r.join("/")).unwrap_or_default();
                if rest.is_empty() {
                    return None;
                }
                values.push(percent_decode(&rest));
                return Some(values);
            }
        }
    }
    (segs.len() == template.len()).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn match_route(method: &str, path: &str) -> Option<Route> {
        Routes::crud().match_route(method, path)
    }

    #[test]
    fn matches_like_api_gateway() {
        assert_eq!(match_route("GET", "/items").unwrap().resource, "/items");
        assert_eq!(match_route("GET", "/items/").unwrap().resource, "/items");
        let r = match_route("PATCH", "/items/01ABC").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.id()),
            ("/items/{id}", Some("01ABC"))
        );
        assert_eq!(
            match_route("GET", "/items/a%20b").unwrap().id(),
            Some("a b")
        );
        assert!(match_route("DELETE", "/items").is_none());
        assert!(match_route("GET", "/items/a/b").is_none());
        assert!(match_route("GET", "/admin").is_none());
        assert!(match_route("OPTIONS", "/items").is_none());
        assert_eq!(match_route("PUT", "/profile").unwrap().resource, "/profile");
        // trailing and doubled slashes
        assert_eq!(match_route("GET", "/items/x/").unwrap().id(), Some("x"));
        assert_eq!(match_route("GET", "//items").unwrap().resource, "/items");
        assert_eq!(match_route("GET", "///items/x/").unwrap().id(), Some("x"));
        for p in [
            "/items//",
            "/items//x",
            "/items/x//",
            "items",
            "",
            "/",
            "/items/x/y/",
        ] {
            assert!(match_route("GET", p).is_none(), "{p}");
        }
        assert_eq!(Routes::crud().routes.len(), crud::routes::ROUTES.len());
    }

    #[test]
    fn most_specific_route_wins_and_greedy_takes_the_rest() {
        let t = Routes::parse(
            r#"["GET /items/{id}","GET /items/special","ANY /{proxy+}","GET /a/{p+}","GET /"]"#,
        )
        .unwrap();
        let m = |meth: &str, p: &str| t.match_route(meth, p).map(|r| (r.resource, r.params));
        assert_eq!(m("GET", "/items/special").unwrap().0, "/items/special");
        assert_eq!(m("GET", "/items/other").unwrap().0, "/items/{id}");
        assert_eq!(m("GET", "/items").unwrap().0, "/{proxy+}");
        assert_eq!(
            m("DELETE", "/items/x/y/").unwrap(),
            (
                "/{proxy+}".into(),
                vec![("proxy".into(), "items/x/y".into())]
            )
        );
        assert_eq!(
            m("GET", "/a/b//c").unwrap(),
            ("/a/{p+}".into(), vec![("p".into(), "b//c".into())])
        );
        assert_eq!(
            m("GET", "/a//").unwrap().0,
            "/{proxy+}",
            "no value for /a/{{p+}}"
        );
        assert_eq!(m("GET", "/").unwrap().0, "/");
        assert_eq!(m("GET", "//").unwrap().0, "/");
        assert!(m("POST", "/").is_none());
        assert_eq!(m("POST", "/x").unwrap().0, "/{proxy+}");
    }
}
