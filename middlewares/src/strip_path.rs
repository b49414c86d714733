//! Prefix stripping as Traefik 3.7 does it, shared by stripPrefix and stripPrefixRegex (request
//! phase, after the entry point normalized the target): the prefix is matched and cut on the
//! decoded path (Go's `URL.Path`), the encoded path (`URL.RawPath`) is cut at the same place,
//! the result is cleaned like `url.JoinPath()`, and a request whose decoded path the cleaning
//! changes is refused (400): so `/api%2F..%2Fx` can never reach a backend as `/../x`.

use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Go's `url.PathUnescape` (invalid escapes are left as they are; the entry point already
/// refused them). Borrowed when there is no escape, which is the common case.
pub(crate) fn decode(raw: &str) -> Cow<'_, [u8]> {
    let b = raw.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// The byte offset in `raw` where the first `n` decoded bytes end (an escape counts as one).
fn encoded_len(raw: &[u8], n: usize) -> usize {
    let (mut i, mut seen) = (0, 0);
    while seen < n && i < raw.len() {
        let esc = raw[i] == b'%'
            && raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        i += if esc { 3 } else { 1 };
        seen += 1;
    }
    i.min(raw.len())
}

/// Traefik's leading-slash rule on the remainder (`forceSlash`: always one slash; otherwise a
/// slash is added to a non-empty remainder that lacks one).
fn lead(rest: &[u8], force_slash: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(rest.len() + 1);
    if force_slash {
        out.push(b'/');
        out.extend_from_slice(rest.strip_prefix(b"/").unwrap_or(rest));
    } else if !rest.is_empty() {
        if rest[0] != b'/' {
            out.push(b'/');
        }
        out.extend_from_slice(rest);
    }
    out
}

/// Go's `url.PathEscape`-like escaping of a decoded path (`shouldEscape` in path mode).
fn escape(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &c in path {
        if c.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Go's `path.Join` of one rooted element, keeping a trailing slash (`url.JoinPath()`).
fn join_clean(path: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    out.push('/');
    out.push_str(&segs.join("/"));
    if path.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Why a stripped path is refused: cleaning it would change what the backend sees.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ambiguous;

/// The new encoded path: `Cut(lead, skip)` is `lead + raw[skip..]` (the common case, built
/// with one allocation by `util::set_path_from`); `Path` is a rebuilt one (empty: `/`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stripped {
    Cut(&'static str, usize),
    Path(String),
}

/// A duplicate slash or a `.`/`..` segment: what `url.JoinPath()` would rewrite.
fn needs_cleaning(p: &[u8]) -> bool {
    p.windows(2).any(|w| w == b"//") || p.split(|&c| c == b'/').any(|s| s == b"." || s == b"..")
}

/// Strips the first `plen` bytes of the decoded path `decoded` (of the encoded path `raw`) and
/// returns the encoded path to send upstream.
pub(crate) fn strip(
    raw: &str,
    decoded: &[u8],
    plen: usize,
    force_slash: bool,
) -> Result<Stripped, Ambiguous> {
    let rb = raw.as_bytes();
    // Fast path: no escape and nothing to clean, the raw path is cut in place.
    if !rb.contains(&b'%') && plen <= rb.len() && !needs_cleaning(&rb[plen..]) {
        let rest = &rb[plen..];
        return Ok(if force_slash {
            Stripped::Cut("/", plen + usize::from(rest.starts_with(b"/")))
        } else if rest.is_empty() || rest[0] == b'/' {
            Stripped::Cut("", plen)
        } else {
            Stripped::Cut("/", plen)
        });
    }
    strip_slow(raw, decoded, plen, force_slash).map(Stripped::Path)
}

fn strip_slow(
    raw: &str,
    decoded: &[u8],
    plen: usize,
    force_slash: bool,
) -> Result<String, Ambiguous> {
    let path = lead(decoded.get(plen..).unwrap_or_default(), force_slash);
    if path.is_empty() {
        return Ok(String::new());
    }
    let rb = raw.as_bytes();
    let raw_rest = lead(&rb[encoded_len(rb, plen)..], force_slash);
    // Go's `EscapedPath()`: the cut raw path only when it still decodes to the cut path (it
    // does not when the prefix ended just before a `%2F`), else the path re-escaped.
    let escaped = match String::from_utf8(raw_rest) {
        Ok(r) if crate::util::valid_escapes(&r) && decode(&r) == path.as_slice() => r,
        _ => escape(&path),
    };
    let cleaned = join_clean(&escaped);
    if decode(&cleaned) != path.as_slice() {
        return Err(Ambiguous);
    }
    Ok(cleaned)
}

/// Whether Go's `url.JoinPath()` would rewrite the encoded path `p` (a duplicate slash or a dot
/// segment): Traefik 3.7 refuses such a rewritten path (400) rather than forward it.
pub(crate) fn changed_by_join_path(p: &str) -> bool {
    if p.is_empty() || !needs_cleaning(p.as_bytes()) {
        return false;
    }
    let cleaned = match p.strip_prefix('/') {
        Some(_) => join_clean(p),
        // Go roots a relative path for `path.Join`, then drops the added slash.
        None => join_clean(&format!("/{p}"))[1..].to_string(),
    };
    decode(&cleaned) != decode(p)
}
