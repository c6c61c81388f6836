//! The daemon's routes, written once: the server's router registers these patterns and the
//! client builds its paths from them, so the two cannot drift apart.
//!
//! `{name}` is the container's name (the router's path parameter). Query parameters are those of
//! [`ListQuery`], [`DestroyQuery`], [`LogsQuery`] and [`AllQuery`].

use crate::types::{AllQuery, DestroyQuery, ListQuery, LogsQuery};

/// `GET`: who the daemon thinks the caller is.
pub const WHOAMI: &str = "/v1/whoami";
/// `GET`: the daemon's self-checks.
pub const DOCTOR: &str = "/v1/doctor";
/// `GET`: list ([`ListQuery`]); `POST`: create (a long operation).
pub const CONTAINERS: &str = "/v1/containers";
/// `GET`: status; `DELETE`: destroy ([`DestroyQuery`], a long operation).
pub const CONTAINER: &str = "/v1/containers/{name}";
/// `POST`: start (a long operation).
pub const START: &str = "/v1/containers/{name}/start";
/// `POST`: stop (a long operation).
pub const STOP: &str = "/v1/containers/{name}/stop";
/// `POST`: deliver a fresh Tailscale key (a long operation).
pub const ROTATE_KEY: &str = "/v1/containers/{name}/rotate-key";
/// `GET`: the container's log as raw bytes ([`LogsQuery`]).
pub const LOGS: &str = "/v1/containers/{name}/logs";
/// `POST`: postpone the automatic stop or destroy.
pub const KEEP: &str = "/v1/containers/{name}/keep";
/// `GET`: the caller's pending notices.
pub const NOTICES: &str = "/v1/notices";
/// `GET`: kept home volumes ([`AllQuery`]).
pub const VOLUMES: &str = "/v1/volumes";
/// `GET`: what the reconciler will do and when ([`AllQuery`]).
pub const LIFECYCLE: &str = "/v1/lifecycle";
/// `POST`: a reconciler pass now (a long operation).
pub const RECONCILE: &str = "/v1/reconcile";

/// The placeholder the router fills with the container's name.
const NAME: &str = "{name}";

/// `pattern` (one of the `{name}` routes) for container `name`. The name is percent-encoded
/// beyond `[A-Za-z0-9._~-]`, so whatever it holds stays one path segment (a valid name is
/// left as it is).
pub fn for_container(pattern: &str, name: &str) -> String {
    pattern.replacen(NAME, &encode_segment(name), 1)
}

/// `GET` [`CONTAINERS`] with its query.
pub fn list(q: &ListQuery) -> String {
    format!("{CONTAINERS}?all={}", q.all)
}

/// `DELETE` [`CONTAINER`] with its query.
pub fn destroy(name: &str, q: &DestroyQuery) -> String {
    format!(
        "{}?keepVolume={}",
        for_container(CONTAINER, name),
        q.keep_volume
    )
}

/// `GET` [`LOGS`] with its query (`tail` only when set).
pub fn logs(name: &str, q: &LogsQuery) -> String {
    let mut path = format!("{}?follow={}", for_container(LOGS, name), q.follow);
    if let Some(t) = q.tail {
        path.push_str(&format!("&tail={t}"));
    }
    path
}

/// `GET` [`VOLUMES`] with its query.
pub fn volumes(q: &AllQuery) -> String {
    format!("{VOLUMES}?all={}", q.all)
}

/// `GET` [`LIFECYCLE`] with its query.
pub fn lifecycle(q: &AllQuery) -> String {
    format!("{LIFECYCLE}?all={}", q.all)
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::de::DeserializeOwned;

    /// The query of `path` decoded as the server's extractor would see it (flat `k=v` pairs
    /// into the query type, strings for numbers and booleans as JSON scalars).
    fn query<T: DeserializeOwned>(path: &str) -> T {
        let (_, q) = path.split_once('?').unwrap();
        let mut map = serde_json::Map::new();
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            map.insert(k.to_string(), serde_json::from_str(v).unwrap());
        }
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    #[test]
    fn paths_fill_the_patterns_the_server_routes() {
        assert_eq!(for_container(CONTAINER, "web"), "/v1/containers/web");
        assert_eq!(for_container(START, "web"), "/v1/containers/web/start");
        assert_eq!(
            for_container(ROTATE_KEY, "a-1"),
            "/v1/containers/a-1/rotate-key"
        );
        for pattern in [CONTAINER, START, STOP, ROTATE_KEY, LOGS, KEEP] {
            assert!(pattern.starts_with(CONTAINERS), "{pattern}");
            assert!(!for_container(pattern, "web").contains('{'), "{pattern}");
        }
    }

    #[test]
    fn a_name_stays_one_path_segment() {
        assert_eq!(
            for_container(CONTAINER, "../x?all=true#y"),
            "/v1/containers/..%2Fx%3Fall%3Dtrue%23y"
        );
        assert_eq!(for_container(STOP, "é"), "/v1/containers/%C3%A9/stop");
        assert_eq!(for_container(STOP, ""), "/v1/containers//stop");
    }

    #[test]
    fn queries_decode_into_the_server_query_types() {
        for all in [false, true] {
            let q: ListQuery = query(&list(&ListQuery { all }));
            assert_eq!(q.all, all);
            let q: AllQuery = query(&volumes(&AllQuery { all }));
            assert_eq!(q.all, all);
            let q: AllQuery = query(&lifecycle(&AllQuery { all }));
            assert_eq!(q.all, all);
            let d = DestroyQuery { keep_volume: all };
            assert_eq!(query::<DestroyQuery>(&destroy("web", &d)), d);
        }
        for l in [
            LogsQuery {
                follow: true,
                tail: Some(5),
            },
            LogsQuery {
                follow: false,
                tail: None,
            },
        ] {
            assert_eq!(query::<LogsQuery>(&logs("web", &l)), l);
        }
        assert_eq!(
            logs(
                "web",
                &LogsQuery {
                    follow: false,
                    tail: Some(3)
                }
            ),
            "/v1/containers/web/logs?follow=false&tail=3"
        );
    }
}
