//! Sticky sessions by cookie, as Traefik v3 writes and reads them: the default cookie name is
//! `_` + a SHA-1 of the service name (6 characters in all); the value is the first 16 hex digits
//! of SHA-256 of the server URL (load balancer) or child service name (weighted). Older values
//! (the raw name, its FNV-1 64 hash, the double FNV) are still accepted and then rewritten.
//! Everything is computed at build time; a request only compares strings.

use std::collections::HashMap;

use http::header::{HeaderValue, COOKIE};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use wharf_providers::StickyCookie;

/// A compiled sticky cookie over a fixed list of handlers (servers or child services).
#[derive(Debug)]
pub(crate) struct Sticky {
    name: String,
    /// Cookie value → (handler index, value is a legacy form to rewrite).
    lookup: HashMap<String, (usize, bool)>,
    /// The full `Set-Cookie` value per handler.
    set_cookie: Vec<HeaderValue>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Traefik's default cookie name for a service.
pub fn default_cookie_name(service: &str) -> String {
    let digest = Sha1::digest(format!("_TRAEFIK_BACKEND_{service}").as_bytes());
    let mut s = String::from("_");
    s.push_str(&hex(&digest));
    s.truncate(6);
    s
}

/// Replaces characters not allowed in a cookie name (RFC 2616 token) with `_`.
fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => c,
            '!' | '#' | '$' | '%' | '&' | '\'' | '*' | '+' | '-' | '.' | '^' | '`' | '|' | '~' => c,
            _ => '_',
        })
        .collect()
}

/// The cookie value Traefik v3 writes for a handler name.
pub fn cookie_value(name: &str) -> String {
    let mut h = hex(&Sha256::digest(name.as_bytes()));
    h.truncate(16);
    h
}

/// FNV-1 64-bit (Go's `fnv.New64`), lowercase hex without padding: Traefik's older cookie value.
fn fnv1_64(input: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input.bytes() {
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        hash ^= u64::from(b);
    }
    format!("{hash:x}")
}

impl Sticky {
    /// `handlers` are the server URLs or child service names, in balancer order.
    pub fn new(cfg: &StickyCookie, service: &str, handlers: &[&str]) -> Result<Sticky, String> {
        let name = if cfg.name.is_empty() {
            default_cookie_name(service)
        } else {
            sanitize_name(&cfg.name)
        };
        let path = if cfg.path.is_empty() {
            "/"
        } else {
            cfg.path.as_str()
        };
        let mut attrs = format!("; Path={path}");
        if !cfg.domain.is_empty() {
            attrs.push_str("; Domain=");
            attrs.push_str(cfg.domain.trim_start_matches('.'));
        }
        match cfg.max_age {
            Some(n) if n > 0 => attrs.push_str(&format!("; Max-Age={n}")),
            Some(n) if n < 0 => attrs.push_str("; Max-Age=0"),
            _ => {}
        }
        if cfg.http_only {
            attrs.push_str("; HttpOnly");
        }
        if cfg.secure {
            attrs.push_str("; Secure");
        }
        match cfg.same_site.to_ascii_lowercase().as_str() {
            "none" => attrs.push_str("; SameSite=None"),
            "lax" => attrs.push_str("; SameSite=Lax"),
            "strict" => attrs.push_str("; SameSite=Strict"),
            "" => {}
            other => {
                return Err(format!(
                    "sticky.cookie.sameSite {other:?} must be none, lax or strict"
                ))
            }
        }
        let mut lookup = HashMap::new();
        let mut set_cookie = Vec::with_capacity(handlers.len());
        for (i, h) in handlers.iter().enumerate() {
            let value = cookie_value(h);
            let header = HeaderValue::from_str(&format!("{name}={value}{attrs}"))
                .map_err(|_| format!("sticky cookie for {h:?} is not a valid header value"))?;
            set_cookie.push(header);
            let fnv = fnv1_64(h);
            let double = fnv1_64(&fnv);
            for legacy in [h.to_string(), fnv, double] {
                lookup.entry(legacy).or_insert((i, true));
            }
            lookup.insert(value, (i, false));
        }
        Ok(Sticky {
            name,
            lookup,
            set_cookie,
        })
    }

    /// The handler the request's cookie names, and whether the cookie must be rewritten.
    pub fn find(&self, headers: &HeaderMap) -> Option<(usize, bool)> {
        for v in headers.get_all(COOKIE) {
            let Ok(s) = v.to_str() else { continue };
            for pair in s.split(';') {
                let Some((k, val)) = pair.trim().split_once('=') else {
                    continue;
                };
                if k.trim() == self.name {
                    let val = val.trim().trim_matches('"');
                    return self.lookup.get(val).copied();
                }
            }
        }
        None
    }

    pub fn set_cookie(&self, index: usize) -> Option<&HeaderValue> {
        self.set_cookie.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_matches_go() {
        // Go: fnv.New64() of "" is the offset basis; of "a" is af63bd4c8601b7be.
        assert_eq!(fnv1_64(""), "cbf29ce484222325");
        assert_eq!(fnv1_64("a"), "af63bd4c8601b7be");
    }

    #[test]
    fn default_name_shape() {
        let n = default_cookie_name("whoami@docker");
        assert_eq!(n.len(), 6);
        assert!(n.starts_with('_'));
        assert_eq!(cookie_value("http://127.0.0.1:80").len(), 16);
    }

    #[test]
    fn set_cookie_attributes() {
        let cfg = StickyCookie {
            name: "lb cookie".into(),
            secure: true,
            http_only: true,
            same_site: "lax".into(),
            max_age: Some(60),
            path: String::new(),
            domain: "example.com".into(),
        };
        let s = Sticky::new(&cfg, "svc@file", &["http://a", "http://b"]).expect("sticky");
        let h = s
            .set_cookie(1)
            .expect("cookie")
            .to_str()
            .expect("ascii")
            .to_string();
        assert_eq!(
            h,
            format!("lb_cookie={}; Path=/; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Lax", cookie_value("http://b"))
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("other=1; lb_cookie=http://a"),
        );
        assert_eq!(s.find(&headers), Some((0, true)));
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("lb_cookie={}", cookie_value("http://b"))).expect("hv"),
        );
        assert_eq!(s.find(&headers), Some((1, false)));
    }
}
