//! The API's resources, as the SAM template declares them: matching a request path to a resource
//! template (`/items/{id}`) and its path parameters, as API Gateway does before anything else.

/// A matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The resource template, e.g. `/items/{id}`.
    pub resource: &'static str,
    /// `id` path parameter, when the resource has one.
    pub id: Option<String>,
}

const RESOURCES: &[(&str, &[&str])] = &[
    ("/items", &["GET", "POST"]),
    ("/items/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/profile", &["GET", "PUT"]),
];

/// Match `method path` (path without query). `None` means API Gateway's "Missing Authentication
/// Token" 403 (unknown resource or method).
pub fn match_route(method: &str, path: &str) -> Option<Route> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    for (resource, methods) in RESOURCES {
        if !methods.contains(&method) {
            continue;
        }
        if let Some(prefix) = resource.strip_suffix("/{id}") {
            if let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
                if !rest.is_empty() && !rest.contains('/') {
                    return Some(Route {
                        resource,
                        id: Some(percent_decode(rest)),
                    });
                }
            }
        } else if path == *resource {
            return Some(Route { resource, id: None });
        }
    }
    None
}

/// Percent-decoding of one path segment (invalid escapes are kept literally).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_api_gateway() {
        assert_eq!(match_route("GET", "/items").unwrap().resource, "/items");
        assert_eq!(match_route("GET", "/items/").unwrap().resource, "/items");
        let r = match_route("PATCH", "/items/01ABC").unwrap();
        assert_eq!(
            (r.resource, r.id.as_deref()),
            ("/items/{id}", Some("01ABC"))
        );
        assert_eq!(
            match_route("GET", "/items/a%20b").unwrap().id.as_deref(),
            Some("a b")
        );
        assert!(match_route("DELETE", "/items").is_none());
        assert!(match_route("GET", "/items/a/b").is_none());
        assert!(match_route("GET", "/admin").is_none());
        assert!(match_route("OPTIONS", "/items").is_none());
        assert_eq!(match_route("PUT", "/profile").unwrap().resource, "/profile");
    }
}
