//! Small request/response helpers shared by the filters: path rewriting on `http::Uri`, the
//! request host, and Go-style plain-text error responses.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::uri::PathAndQuery;
use http::{request, Response, StatusCode, Uri};

/// The request host as Go's `req.Host` holds it: the Host header, else the URI authority.
pub(crate) fn host(parts: &request::Parts) -> &str {
    if let Some(h) = parts.headers.get(HOST).and_then(|v| v.to_str().ok()) {
        return h;
    }
    parts.uri.authority().map(|a| a.as_str()).unwrap_or("")
}

/// The request target as Go's `req.RequestURI` holds it (origin form: path and query).
pub(crate) fn request_uri(parts: &request::Parts) -> &str {
    parts
        .uri
        .path_and_query()
        .map(PathAndQuery::as_str)
        .unwrap_or("/")
}

/// Replaces the path, keeping the query. An empty path becomes `/` (what Go sends upstream for
/// an empty `URL.Path`). Fails when the result is not a valid request target.
pub(crate) fn set_path(parts: &mut request::Parts, path: &str) -> Result<(), http::Error> {
    let path = if path.is_empty() { "/" } else { path };
    let pq = match parts.uri.query() {
        Some(q) => {
            let mut s = String::with_capacity(path.len() + 1 + q.len());
            s.push_str(path);
            s.push('?');
            s.push_str(q);
            PathAndQuery::try_from(s)?
        }
        None => PathAndQuery::try_from(path)?,
    };
    let mut up = std::mem::take(&mut parts.uri).into_parts();
    up.path_and_query = Some(pq);
    parts.uri = Uri::from_parts(up)?;
    Ok(())
}

/// Sets the path to `leads` joined + `path[skip..]`, keeping the query, with one allocation
/// (an empty result becomes `/`).
pub(crate) fn set_path_from(
    parts: &mut request::Parts,
    leads: &[&str],
    skip: usize,
) -> Result<(), http::Error> {
    let path = parts.uri.path();
    let rest = path.get(skip..).unwrap_or("");
    let q = parts.uri.query();
    let lead_len: usize = leads.iter().map(|l| l.len()).sum();
    // Exact capacity: `Bytes::from` a full Vec takes it over without another allocation.
    let path_len = (lead_len + rest.len()).max(1);
    let mut s = String::with_capacity(path_len + q.map_or(0, |q| q.len() + 1));
    for l in leads {
        s.push_str(l);
    }
    s.push_str(rest);
    if s.is_empty() {
        s.push('/');
    }
    if let Some(q) = q {
        s.push('?');
        s.push_str(q);
    }
    let pq = PathAndQuery::from_maybe_shared(bytes::Bytes::from(s))?;
    let mut up = std::mem::take(&mut parts.uri).into_parts();
    up.path_and_query = Some(pq);
    parts.uri = Uri::from_parts(up)?;
    Ok(())
}

/// Go's `url.PathUnescape` acceptance: every `%` starts a two-hex-digit escape.
pub(crate) fn valid_escapes(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() {
                return false;
            }
            if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// A plain-text response as Go's `http.Error` writes it.
/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(format!("{body}\n")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A response whose body is the status text without a newline (Traefik's `reject` helpers).
pub(crate) fn status_text(status: StatusCode) -> Response<Bytes> {
    let reason = status.canonical_reason().unwrap_or("");
    let mut resp = Response::new(Bytes::from_static(reason.as_bytes()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert!(valid_escapes("/a%20b"));
        assert!(!valid_escapes("/a%2"));
        assert!(!valid_escapes("/a%zz"));
        assert!(!valid_escapes("/%"));
    }

    #[test]
    fn set_path_keeps_query() {
        let (mut parts, ()) = http::Request::get("http://h/a/b?x=1")
            .body(())
            .unwrap()
            .into_parts();
        set_path(&mut parts, "/c").unwrap();
        assert_eq!(parts.uri.to_string(), "http://h/c?x=1");
        set_path(&mut parts, "").unwrap();
        assert_eq!(parts.uri.path(), "/");
    }
}
