//! HTTP routing with Spin's rules (`spin-routes`): routes are normalised to a
//! "based route", handed to `routefinder` 0.5.4 (the exact version Spin pins,
//! whose precedence rules are the contract), and matched against the raw,
//! undecoded request path. Also builds the `spin-*` request headers.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{Result, anyhow};

/// Spin's trailing-wildcard spelling in manifests.
const WILDCARD_SUFFIX: &str = "/...";

/// Paths Spin reserves for itself; routes under them never match.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// What a route resolves to.
#[derive(Debug, Clone)]
pub struct RouteHandler {
    /// Index of the component (into the app's component list).
    pub component: usize,
    pub component_id: String,
    /// The route as written in the manifest.
    pub raw_route: String,
    /// Normalised route: leading `/`, one trailing `/` stripped (`/` → ``).
    pub based_route: String,
    pub wildcard: bool,
}

/// Two triggers with the same raw route: only the last is reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRoute {
    pub route: String,
    pub replaced_component: String,
    pub effective_component: String,
}

/// The app's router.
pub struct Router {
    inner: routefinder::Router<RouteHandler>,
}

/// A successful match.
#[derive(Debug)]
pub struct RouteMatch<'a> {
    pub handler: &'a RouteHandler,
    /// `spin-path-info`.
    pub path_info: String,
    /// `(name, value)` for every `:name` segment.
    pub params: Vec<(String, String)>,
}

/// Spin's based route: absolutised, then one trailing `/` stripped.
pub fn based_route(raw: &str) -> String {
    let abs = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    match abs.strip_suffix('/') {
        Some(s) => s.to_owned(),
        None => abs,
    }
}

impl Router {
    /// Builds the router from `(component index, component id, raw route)`
    /// in trigger order. Returns the routes that a later trigger shadows.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (usize, &'a str, &'a str)>,
    ) -> Result<(Self, Vec<DuplicateRoute>)> {
        // Keyed by raw route; the last trigger wins, like Spin's IndexMap.
        let mut by_raw: Vec<RouteHandler> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        for (component, component_id, raw) in routes {
            let based = based_route(raw);
            let handler = RouteHandler {
                component,
                component_id: component_id.to_owned(),
                raw_route: raw.to_owned(),
                wildcard: based.ends_with(WILDCARD_SUFFIX) || based.ends_with("/*"),
                based_route: based,
            };
            if let Some(&i) = index.get(raw) {
                duplicates.push(DuplicateRoute {
                    route: raw.to_owned(),
                    replaced_component: by_raw[i].component_id.clone(),
                    effective_component: component_id.to_owned(),
                });
                by_raw[i] = handler;
            } else {
                index.insert(raw.to_owned(), by_raw.len());
                by_raw.push(handler);
            }
        }
        let mut inner = routefinder::Router::new();
        for handler in &by_raw {
            let spec = match handler.based_route.strip_suffix(WILDCARD_SUFFIX) {
                Some(prefix) => format!("{prefix}/*"),
                None => handler.based_route.clone(),
            };
            inner
                .add(spec.as_str(), handler.clone())
                .map_err(|e| anyhow!("invalid route {:?}: {e}", handler.raw_route))?;
        }
        Ok((Self { inner }, duplicates))
    }

    /// Routes in routefinder's order (its `RouteSpec` ordering, not the
    /// manifest's), after de-duplication: the order `spin up` lists them in.
    pub fn routes(&self) -> impl Iterator<Item = &RouteHandler> {
        self.inner.iter().map(|(_, handler)| handler)
    }

    /// Matches a raw request path (no query).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        if path.starts_with(WELL_KNOWN_PREFIX) {
            return None;
        }
        let best = self.inner.best_match(path)?;
        let handler = best.handler();
        let captures = best.captures();
        let params = captures
            .params()
            .iter()
            .map(|c| (c.name().to_owned(), c.value().to_owned()))
            .collect();
        // routefinder drops slashes around the wildcard; Spin restores them
        // for backward compatibility (`spin-routes` `trailing_wildcard`).
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(w) => match (w.is_empty(), path.ends_with('/')) {
                (true, true) => "/".to_owned(),
                (true, false) => String::new(),
                (false, true) => format!("/{w}/"),
                (false, false) => format!("/{w}"),
            },
        };
        Some(RouteMatch {
            handler,
            path_info,
            params,
        })
    }
}

impl RouteHandler {
    /// How `spin up` prints the route after the base URL.
    pub fn display(&self) -> String {
        match self.based_route.strip_suffix(WILDCARD_SUFFIX) {
            Some(prefix) => format!("{prefix} (wildcard)"),
            None => self.based_route.clone(),
        }
    }
}

/// The `spin-*` headers appended to the guest's request, in Spin's order
/// (`trigger-http/src/headers.rs`).
pub fn spin_headers(
    m: &RouteMatch<'_>,
    full_url: &str,
    client_addr: SocketAddr,
) -> Vec<(String, String)> {
    let h = m.handler;
    let component_route = h
        .raw_route
        .strip_suffix(WILDCARD_SUFFIX)
        .unwrap_or(&h.raw_route)
        .to_owned();
    let mut out = vec![
        ("spin-full-url".to_owned(), full_url.to_owned()),
        ("spin-path-info".to_owned(), m.path_info.clone()),
        ("spin-matched-route".to_owned(), h.based_route.clone()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        ("spin-raw-component-route".to_owned(), h.raw_route.clone()),
        ("spin-component-route".to_owned(), component_route),
        ("spin-client-addr".to_owned(), client_addr.to_string()),
    ];
    for (name, value) in &m.params {
        let name = name.to_ascii_lowercase().replace('_', "-");
        out.push((format!("spin-path-match-{name}"), value.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().enumerate().map(|(i, (id, r))| (i, *id, *r)))
            .unwrap()
            .0
    }

    fn who(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.handler.component_id.clone())
    }

    fn app() -> Router {
        router(&[
            ("areas", "/api/v1.0/areas"),
            ("users-new", "/users/new"),
            ("user", "/users/:id"),
            ("users-any", "/users/..."),
            ("house-detail", "/api/v1.0/houses/:id"),
            ("house-photo-upload", "/api/v1.0/houses/:id/images"),
            ("images", "/images/..."),
            ("static", "/..."),
            ("root", "/"),
        ])
    }

    #[test]
    fn precedence_exact_then_param_then_wildcard() {
        let r = app();
        assert_eq!(who(&r, "/users/new").as_deref(), Some("users-new"));
        assert_eq!(who(&r, "/users/42").as_deref(), Some("user"));
        assert_eq!(who(&r, "/users/42/x").as_deref(), Some("users-any"));
        assert_eq!(who(&r, "/api/v1.0/areas").as_deref(), Some("areas"));
        assert_eq!(
            who(&r, "/api/v1.0/houses/7").as_deref(),
            Some("house-detail")
        );
        assert_eq!(
            who(&r, "/api/v1.0/houses/7/images").as_deref(),
            Some("house-photo-upload")
        );
        assert_eq!(who(&r, "/images/ab/cd.jpg").as_deref(), Some("images"));
        assert_eq!(who(&r, "/index.html").as_deref(), Some("static"));
        assert_eq!(who(&r, "/").as_deref(), Some("root"));
        assert_eq!(who(&r, "/.well-known/spin/x"), None);
    }

    #[test]
    fn trailing_slashes_and_prefix_boundaries() {
        let r = router(&[("areas", "/api/v1.0/areas"), ("api", "/api/...")]);
        assert_eq!(who(&r, "/api/v1.0/areas/").as_deref(), Some("areas"));
        assert_eq!(who(&r, "/api").as_deref(), Some("api"));
        assert_eq!(who(&r, "/api/").as_deref(), Some("api"));
        assert_eq!(who(&r, "/apix"), None);
        assert_eq!(who(&r, "/"), None);
        assert_eq!(r.route("/api").unwrap().path_info, "");
        assert_eq!(r.route("/api/").unwrap().path_info, "/");
        assert_eq!(r.route("/api/items/42").unwrap().path_info, "/items/42");
        assert_eq!(r.route("/api/items/42/").unwrap().path_info, "/items/42/");
    }

    #[test]
    fn dots_separate_segments() {
        // `:id` stops at a dot, so `/api/v1.0/...` routes work and a param
        // cannot swallow a `.ext`.
        let r = router(&[("file", "/files/:name.txt"), ("v", "/api/:version/areas")]);
        let m = r.route("/files/readme.txt").unwrap();
        assert_eq!(m.params, [("name".to_owned(), "readme".to_owned())]);
        assert_eq!(who(&r, "/api/v1.0/areas").as_deref(), Some("v"));
    }

    #[test]
    fn root_and_root_wildcard() {
        let r = router(&[("all", "/..."), ("root", "/")]);
        assert_eq!(who(&r, "/").as_deref(), Some("root"));
        assert_eq!(who(&r, "/x").as_deref(), Some("all"));
        let only_wild = router(&[("all", "/...")]);
        assert_eq!(only_wild.route("/").unwrap().path_info, "/");
        assert_eq!(only_wild.route("/a/b").unwrap().path_info, "/a/b");
        let shown = |r: &Router, id: &str| {
            r.routes()
                .find(|h| h.component_id == id)
                .map(RouteHandler::display)
        };
        assert_eq!(shown(&only_wild, "all").as_deref(), Some(" (wildcard)"));
        assert_eq!(shown(&r, "root").as_deref(), Some(""));
    }

    #[test]
    fn last_duplicate_wins() {
        let (r, dups) = Router::build([(0, "a", "/x"), (1, "b", "/x")]).unwrap();
        assert_eq!(who(&r, "/x").as_deref(), Some("b"));
        assert_eq!(
            dups,
            [DuplicateRoute {
                route: "/x".into(),
                replaced_component: "a".into(),
                effective_component: "b".into()
            }]
        );
    }

    #[test]
    fn normalisation() {
        assert_eq!(based_route("/"), "");
        assert_eq!(based_route("/api/"), "/api");
        assert_eq!(based_route("api"), "/api");
        assert_eq!(based_route("/..."), "/...");
    }

    #[test]
    fn spin_headers_match_the_table() {
        let r = router(&[("items", "/api/items/:item_id"), ("api", "/api/...")]);
        let addr: SocketAddr = "127.0.0.1:54321".parse().unwrap();
        let m = r.route("/api/items/42").unwrap();
        let h = spin_headers(&m, "http://127.0.0.1:3000/api/items/42?x=1", addr);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("spin-full-url"),
            Some("http://127.0.0.1:3000/api/items/42?x=1")
        );
        assert_eq!(get("spin-path-info"), Some(""));
        assert_eq!(get("spin-matched-route"), Some("/api/items/:item_id"));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-raw-component-route"), Some("/api/items/:item_id"));
        assert_eq!(get("spin-component-route"), Some("/api/items/:item_id"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:54321"));
        assert_eq!(get("spin-path-match-item-id"), Some("42"));

        let m = r.route("/api/other/x").unwrap();
        let h = spin_headers(&m, "http://h/api/other/x", addr);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("spin-path-info"), Some("/other/x"));
        assert_eq!(get("spin-matched-route"), Some("/api/..."));
        assert_eq!(get("spin-component-route"), Some("/api"));

        let root = router(&[("all", "/...")]);
        let m = root.route("/").unwrap();
        let h = spin_headers(&m, "http://h/", addr);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("spin-component-route"), Some(""));
        assert_eq!(get("spin-path-info"), Some("/"));
    }
}
