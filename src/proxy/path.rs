//! The request target as Traefik's entry point hands it on, before any router sees it:
//! percent-encodings normalized (unreserved characters decoded, hex digits upper-case; RFC 3986
//! §2.3 and §6.2.2.1), dot segments and duplicate slashes removed (`sanitizePath`, default on;
//! §6.2.2.3), and `;` in the query read as `&` (Go's `AllowQuerySemicolons`, or encoded as
//! `%3B` with `encodeQuerySemicolons`). The backend receives the rewritten target.
//! Nothing is allocated when the target is already clean (the common case).

use std::borrow::Cow;

use http::uri::{PathAndQuery, Uri};

/// Why a request target is refused (400).
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidTarget;

/// Rewrites the target when needed. `Ok(None)`: unchanged.
pub fn clean_target(
    uri: &Uri,
    sanitize: bool,
    encode_query_semicolons: bool,
) -> Result<Option<Uri>, InvalidTarget> {
    let path = uri.path();
    let normalized = normalize_escapes(path)?;
    let cleaned = match sanitize && needs_cleaning(&normalized) {
        true => Cow::Owned(clean_path(&normalized)),
        false => normalized,
    };
    let query = uri.query();
    let new_query = query.filter(|q| q.contains(';')).map(|q| {
        if encode_query_semicolons {
            q.replace(';', "%3B")
        } else {
            q.replace(';', "&")
        }
    });
    if matches!(cleaned, Cow::Borrowed(_)) && new_query.is_none() {
        return Ok(None);
    }
    let mut pq = String::with_capacity(cleaned.len() + query.map_or(0, |q| q.len() + 1));
    pq.push_str(&cleaned);
    if let Some(q) = new_query.as_deref().or(query) {
        pq.push('?');
        pq.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).map_err(|_| InvalidTarget)?);
    Uri::from_parts(parts).map(Some).map_err(|_| InvalidTarget)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes percent-encoded unreserved characters and upper-cases the other escapes.
fn normalize_escapes(path: &str) -> Result<Cow<'_, str>, InvalidTarget> {
    let b = path.as_bytes();
    let Some(first) = b.iter().position(|&c| c == b'%') else {
        return Ok(Cow::Borrowed(path));
    };
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
            return Err(InvalidTarget);
        };
        let c = (hex(h).ok_or(InvalidTarget)? << 4) | hex(l).ok_or(InvalidTarget)?;
        if is_unreserved(c) {
            out.push(c);
        } else {
            out.push(b'%');
            out.push(h.to_ascii_uppercase());
            out.push(l.to_ascii_uppercase());
        }
        i += 3;
    }
    if out == b {
        return Ok(Cow::Borrowed(path));
    }
    // Only ASCII was produced from ASCII input (escapes decode to unreserved ASCII only).
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| InvalidTarget)
}

fn needs_cleaning(path: &str) -> bool {
    path.contains("//") || path.split('/').skip(1).any(|s| s == "." || s == "..")
}

/// Go's `url.JoinPath()` with no elements: `path.Join` (dot segments and duplicate slashes
/// removed, `..` never above the root) keeping a trailing slash.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segs: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => match segs.last() {
                Some(&last) if last != ".." => {
                    segs.pop();
                }
                _ if rooted => {}
                _ => segs.push(".."),
            },
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if rooted {
        out.push('/');
    }
    out.push_str(&segs.join("/"));
    if out.is_empty() {
        out.push('.');
    }
    if path.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(target: &str) -> Result<Option<String>, InvalidTarget> {
        let uri: Uri = target.parse().unwrap();
        clean_target(&uri, true, false).map(|u| u.map(|u| u.to_string()))
    }

    #[test]
    fn clean_targets_are_left_alone() {
        for t in [
            "/",
            "/a/b",
            "/a/b/",
            "/a.b/..c/d.",
            "/a?x=1&y=2",
            "*",
            "/%2F%20",
        ] {
            assert_eq!(clean(t), Ok(None), "{t}");
        }
    }

    #[test]
    fn escapes_are_normalized() {
        assert_eq!(clean("/%61%62c"), Ok(Some("/abc".into())));
        assert_eq!(clean("/a%2fb%3a"), Ok(Some("/a%2Fb%3A".into())));
        assert_eq!(clean("/%7e%2D%5f"), Ok(Some("/~-_".into())));
        assert_eq!(clean("/a%2"), Err(InvalidTarget));
        assert_eq!(clean("/a%zz"), Err(InvalidTarget));
    }

    #[test]
    fn dot_segments_and_double_slashes_are_removed() {
        assert_eq!(clean("/a/../b"), Ok(Some("/b".into())));
        assert_eq!(clean("/a/./b/"), Ok(Some("/a/b/".into())));
        assert_eq!(clean("//a//b"), Ok(Some("/a/b".into())));
        assert_eq!(clean("/../../etc/passwd"), Ok(Some("/etc/passwd".into())));
        assert_eq!(clean("/a/.."), Ok(Some("/".into())));
        assert_eq!(clean("/a/b/..?q=1"), Ok(Some("/a?q=1".into())));
        // Encoded dots are dot segments once normalized.
        assert_eq!(clean("/a/%2e%2E/b"), Ok(Some("/b".into())));
        // An encoded slash is not a separator.
        assert_eq!(clean("/a%2F..%2Fb"), Ok(None));
    }

    #[test]
    fn sanitize_off_keeps_dot_segments() {
        let uri: Uri = "/a/../b".parse().unwrap();
        assert_eq!(clean_target(&uri, false, false), Ok(None));
    }

    #[test]
    fn query_semicolons() {
        assert_eq!(clean("/p?a=1;b=2"), Ok(Some("/p?a=1&b=2".into())));
        let uri: Uri = "/p?a=1;b=2".parse().unwrap();
        let encoded = clean_target(&uri, true, true).unwrap().unwrap();
        assert_eq!(encoded.to_string(), "/p?a=1%3Bb=2");
    }

    #[test]
    fn absolute_form_keeps_its_authority() {
        assert_eq!(
            clean("http://a.test/x/../y"),
            Ok(Some("http://a.test/y".into()))
        );
    }
}
