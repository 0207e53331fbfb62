//! Routing. Routes are matched on API Gateway's resource (REST: `/items/{id}`) or route key
//! (HTTP API: `GET /items/{id}`), so a stage or base-path prefix in the raw path never matters.
//! When the template is not one of these (a catch-all such as `/{proxy+}` or `$default`) or is
//! absent (in-process callers), the whole path is matched, as API Gateway matches it: extra
//! leading slashes and one trailing slash are ignored, and nothing else is: `/anything/items` is
//! no route (a prefix never falls through to a trailing match).

use http::Method;

/// Every route this service answers: (method, path template). The OpenAPI description must list
/// exactly these (checked by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/items"),
    ("POST", "/items"),
    ("GET", "/items/{id}"),
    ("PUT", "/items/{id}"),
    ("PATCH", "/items/{id}"),
    ("DELETE", "/items/{id}"),
    ("GET", "/profile"),
    ("PUT", "/profile"),
    ("DELETE", "/sessions/current"),
    ("DELETE", "/sessions"),
    ("DELETE", "/users/{sub}/sessions"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Items,
    Item(String),
    Profile,
    Sessions,
    CurrentSession,
    UserSessions(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListItems,
    CreateItem,
    GetItem(String),
    ReplaceItem(String),
    PatchItem(String),
    DeleteItem(String),
    GetProfile,
    PutProfile,
    RevokeCurrentSession,
    RevokeSessions,
    RevokeUserSessions(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    MethodNotAllowed(&'static str),
}

/// Where a request points. `template` is the resource / route key (method prefix allowed),
/// `path_id` the `{id}` path parameter, `raw_path` the request path.
pub fn resource(template: Option<&str>, path_id: Option<&str>, raw_path: &str) -> Option<Resource> {
    resource_at(template, path_id, raw_path, None)
}

/// [`resource_at`] with the `{sub}` path parameter of `/users/{sub}/sessions`.
pub fn resource_with(
    template: Option<&str>,
    path_id: Option<&str>,
    path_sub: Option<&str>,
    raw_path: &str,
    stage: Option<&str>,
) -> Option<Resource> {
    let t = template.map(|t| t.split_once(' ').map_or(t, |(_, p)| p));
    if t == Some("/users/{sub}/sessions") {
        if let Some(sub) = path_sub {
            return Some(Resource::UserSessions(sub.to_owned()));
        }
    }
    resource_at(template, path_id, raw_path, stage)
}

/// [`resource`] for a raw path that starts with the stage name (HTTP API named stages put it in
/// `rawPath`): `/{stage}` is removed before the whole path is matched. `$default` has no prefix.
pub fn resource_at(
    template: Option<&str>,
    path_id: Option<&str>,
    raw_path: &str,
    stage: Option<&str>,
) -> Option<Resource> {
    let raw_path = match stage.filter(|s| !s.is_empty() && *s != "$default") {
        Some(s) => match raw_path.strip_prefix('/').and_then(|p| p.strip_prefix(s)) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => raw_path,
        },
        None => raw_path,
    };
    let template = template.map(|t| t.split_once(' ').map_or(t, |(_, p)| p));
    match template {
        Some("/items") => return Some(Resource::Items),
        Some("/profile") => return Some(Resource::Profile),
        Some("/sessions") => return Some(Resource::Sessions),
        Some("/sessions/current") => return Some(Resource::CurrentSession),
        Some("/items/{id}") => {
            if let Some(id) = path_id {
                return Some(Resource::Item(id.to_owned()));
            }
        }
        _ => {}
    }
    let path = raw_path.trim_start_matches('/');
    let path = path.strip_suffix('/').unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["items"] => Some(Resource::Items),
        ["items", id] if !id.is_empty() => Some(Resource::Item((*id).to_owned())),
        ["profile"] => Some(Resource::Profile),
        ["sessions"] => Some(Resource::Sessions),
        ["sessions", "current"] => Some(Resource::CurrentSession),
        ["users", sub, "sessions"] if !sub.is_empty() => {
            Some(Resource::UserSessions((*sub).to_owned()))
        }
        _ => None,
    }
}

pub fn route(resource: Resource, method: &Method) -> Result<Route, RouteError> {
    match (resource, method.as_str()) {
        (Resource::Items, "GET") => Ok(Route::ListItems),
        (Resource::Items, "POST") => Ok(Route::CreateItem),
        (Resource::Items, _) => Err(RouteError::MethodNotAllowed("GET, POST")),
        (Resource::Item(id), "GET") => Ok(Route::GetItem(id)),
        (Resource::Item(id), "PUT") => Ok(Route::ReplaceItem(id)),
        (Resource::Item(id), "PATCH") => Ok(Route::PatchItem(id)),
        (Resource::Item(id), "DELETE") => Ok(Route::DeleteItem(id)),
        (Resource::Item(_), _) => Err(RouteError::MethodNotAllowed("GET, PUT, PATCH, DELETE")),
        (Resource::Profile, "GET") => Ok(Route::GetProfile),
        (Resource::Profile, "PUT") => Ok(Route::PutProfile),
        (Resource::Profile, _) => Err(RouteError::MethodNotAllowed("GET, PUT")),
        (Resource::Sessions, "DELETE") => Ok(Route::RevokeSessions),
        (Resource::CurrentSession, "DELETE") => Ok(Route::RevokeCurrentSession),
        (Resource::UserSessions(sub), "DELETE") => Ok(Route::RevokeUserSessions(sub)),
        (Resource::Sessions | Resource::CurrentSession | Resource::UserSessions(_), _) => {
            Err(RouteError::MethodNotAllowed("DELETE"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_raw_paths() {
        assert_eq!(
            resource(Some("/items"), None, "/prod/items"),
            Some(Resource::Items)
        );
        assert_eq!(
            resource(Some("GET /items/{id}"), Some("X"), "/whatever"),
            Some(Resource::Item("X".into()))
        );
        assert_eq!(
            resource(Some("/{proxy+}"), None, "/items/ABC"),
            Some(Resource::Item("ABC".into()))
        );
        assert_eq!(
            resource(Some("ANY /{proxy+}"), None, "//items/ABC/"),
            Some(Resource::Item("ABC".into()))
        );
        assert_eq!(
            resource(Some("$default"), None, "/profile/"),
            Some(Resource::Profile)
        );
        // The whole path, never its trailing segments.
        for p in [
            "/prod/items/ABC",
            "/anything/items",
            "/v1/profile/",
            "/items//",
            "/items/a/b",
            "/items/",
            "/x/profile",
        ] {
            let want = if p == "/items/" {
                Some(Resource::Items)
            } else {
                None
            };
            assert_eq!(resource(Some("/{proxy+}"), None, p), want, "{p}");
            assert_eq!(resource(None, None, p), want, "{p}");
        }
        // An HTTP API named stage in rawPath, and only that.
        let at = |p: &str, st: &str| resource_at(Some("$default"), None, p, Some(st));
        assert_eq!(at("/v1/profile/", "v1"), Some(Resource::Profile));
        assert_eq!(at("/v1/items/A", "v1"), Some(Resource::Item("A".into())));
        assert_eq!(at("/v1x/items", "v1"), None);
        assert_eq!(at("/v2/items", "v1"), None);
        assert_eq!(at("/items", "$default"), Some(Resource::Items));
        assert_eq!(resource(None, None, "/items"), Some(Resource::Items));
        assert_eq!(resource(None, None, "/"), None);
        assert_eq!(resource(None, None, "/admin"), None);
        assert_eq!(resource(None, None, "/items/a/b"), None);
    }

    #[test]
    fn every_route_template_routes() {
        for (m, t) in ROUTES {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            let r = resource_with(Some(t), Some("ID"), Some("SUB"), "", None).unwrap();
            assert!(route(r, &method).is_ok(), "{m} {t}");
        }
        assert_eq!(
            route(Resource::Items, &Method::DELETE),
            Err(RouteError::MethodNotAllowed("GET, POST"))
        );
    }
}
