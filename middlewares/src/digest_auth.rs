//! DigestAuth: HTTP Digest authentication against `name:realm:md5(name:realm:password)` users.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `digestAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct DigestAuthSpec {
    /// `name:realm:hash` entries as `htdigest` writes them.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub users: Vec<String>,
    /// Path of an htdigest file.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub users_file: String,
    /// Remove the `Authorization` header before forwarding.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub remove_header: bool,
    /// Realm (default `traefik`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub realm: String,
    /// Request header that receives the authenticated user name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header_field: String,
}

// ---- compiled form -------------------------------------------------------------------------

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::StatusCode;

use crate::{Action, CompileCtx, FlowState, SpecError};

/// Nonces kept before the oldest are purged (go-http-auth's cache size and tolerance).
const NONCE_CACHE: usize = 1000;
const NONCE_TOLERANCE: usize = 100;

#[derive(Debug)]
struct NonceState {
    nc: u64,
    last_seen: Instant,
}

/// Issued nonces and the opaque value; kept in the state registry so a config swap that does
/// not touch this middleware does not invalidate clients' sessions.
#[derive(Debug)]
pub struct DigestSessions {
    opaque: String,
    nonces: Mutex<HashMap<String, NonceState>>,
}

impl DigestSessions {
    fn new() -> Self {
        DigestSessions {
            opaque: random_key(),
            nonces: Mutex::new(HashMap::new()),
        }
    }
}

fn random_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    let d = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `digestAuth`, compiled (RFC 2617 MD5 with `qop="auth"`, as go-http-auth which Traefik uses).
pub struct DigestAuth {
    /// `user:realm` → HA1 (md5 hex of `user:realm:password`).
    users: HashMap<String, String>,
    realm: String,
    header_field: Option<HeaderName>,
    remove_header: bool,
    sessions: Arc<DigestSessions>,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("users", &self.users.len())
            .field("realm", &self.realm)
            .field("header_field", &self.header_field)
            .field("remove_header", &self.remove_header)
            .finish_non_exhaustive()
    }
}

/// Checks every option (users parsed, file loaded).
pub fn validate(spec: &DigestAuthSpec, ctx: &CompileCtx<'_>) -> Result<(), SpecError> {
    parse_users(spec, ctx).map(|_| ())
}

fn parse_users(
    spec: &DigestAuthSpec,
    ctx: &CompileCtx<'_>,
) -> Result<HashMap<String, String>, SpecError> {
    let lines =
        crate::basic_auth::load_users("digestAuth.users", &spec.users, &spec.users_file, ctx)?;
    let mut users = HashMap::with_capacity(lines.len());
    for line in lines {
        let parts: Vec<&str> = line.split(':').collect();
        let ok = parts.len() == 3
            && parts[2].len() == 32
            && parts[2].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(SpecError::invalid(
                "digestAuth.users",
                "each user must be written name:realm:md5hex as htdigest writes it",
            ));
        }
        users.insert(
            format!("{}:{}", parts[0], parts[1]),
            parts[2].to_ascii_lowercase(),
        );
    }
    Ok(users)
}

impl DigestAuth {
    pub fn compile(
        name: &str,
        spec: &DigestAuthSpec,
        ctx: &CompileCtx<'_>,
    ) -> Result<Self, SpecError> {
        let users = parse_users(spec, ctx)?;
        let realm = if spec.realm.is_empty() {
            "traefik".to_string()
        } else {
            spec.realm.clone()
        };
        if realm.contains('"') || HeaderValue::from_str(&realm).is_err() {
            return Err(SpecError::invalid(
                "digestAuth.realm",
                format!("{realm:?} cannot be sent in a header"),
            ));
        }
        let header_field = match spec.header_field.trim() {
            "" => None,
            h => Some(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                SpecError::invalid(
                    "digestAuth.headerField",
                    format!("{h:?} is not a valid header name"),
                )
            })?),
        };
        let sessions = match ctx.registry {
            Some(reg) => reg.get_or_insert(&ctx.state_key(name), spec, DigestSessions::new),
            None => Arc::new(DigestSessions::new()),
        };
        Ok(DigestAuth {
            users,
            realm,
            header_field,
            remove_header: spec.remove_header,
            sessions,
        })
    }

    /// Verifies `Authorization: Digest`; otherwise 401 with a fresh nonce.
    pub fn on_request(&self, parts: &mut http::request::Parts, flow: &mut FlowState) -> Action {
        let Some(user) = self.check(parts) else {
            return Action::Respond(self.challenge());
        };
        if let Some(h) = &self.header_field {
            if let Ok(v) = HeaderValue::from_str(&user) {
                parts.headers.insert(h.clone(), v);
            }
        }
        if self.remove_header {
            parts.headers.remove(AUTHORIZATION);
        }
        flow.user = Some(Arc::from(user));
        Action::Continue
    }

    fn challenge(&self) -> http::Response<bytes::Bytes> {
        let nonce = random_key();
        {
            let mut nonces = self
                .sessions
                .nonces
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if nonces.len() > NONCE_CACHE + NONCE_TOLERANCE {
                // Drop the least recently used nonces, as go-http-auth's Purge.
                let mut by_age: Vec<(Instant, String)> = nonces
                    .iter()
                    .map(|(k, v)| (v.last_seen, k.clone()))
                    .collect();
                by_age.sort();
                for (_, k) in by_age.into_iter().take(NONCE_TOLERANCE * 2) {
                    nonces.remove(&k);
                }
            }
            nonces.insert(
                nonce.clone(),
                NonceState {
                    nc: 0,
                    last_seen: Instant::now(),
                },
            );
        }
        let value = format!(
            "Digest realm=\"{}\", nonce=\"{}\", opaque=\"{}\", algorithm=MD5, qop=\"auth\"",
            self.realm, nonce, self.sessions.opaque
        );
        let mut resp = http::Response::new(bytes::Bytes::from_static(b"401 Unauthorized\n"));
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        resp
    }

    fn check(&self, parts: &http::request::Parts) -> Option<String> {
        let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let rest = header.strip_prefix("Digest ")?;
        let auth = parse_pairs(rest);
        let get = |k: &str| auth.get(k).map(String::as_str).unwrap_or("");
        let algorithm = auth.get("algorithm").map(String::as_str).unwrap_or("MD5");
        if get("opaque") != self.sessions.opaque || algorithm != "MD5" || get("qop") != "auth" {
            return None;
        }
        let uri = get("uri");
        let request_uri = crate::util::request_uri(parts);
        if uri != request_uri {
            // go-http-auth also accepts a `uri` whose path is a prefix of the request path.
            let u_path = uri.split('?').next().unwrap_or("");
            if u_path.is_empty() || !parts.uri.path().starts_with(u_path) {
                return None;
            }
        }
        let username = get("username");
        let ha1 = self
            .users
            .get(&format!("{username}:{}", self.realm))
            .map(String::as_str)
            .unwrap_or("");
        let ha2 = md5_hex(&format!("{}:{uri}", parts.method));
        let kd = md5_hex(
            &[
                ha1,
                get("nonce"),
                get("nc"),
                get("cnonce"),
                get("qop"),
                &ha2,
            ]
            .join(":"),
        );
        if ha1.is_empty()
            || !crate::util::constant_time_eq(kd.as_bytes(), get("response").as_bytes())
        {
            return None;
        }
        let nc = u64::from_str_radix(get("nc"), 16).ok()?;
        let mut nonces = self
            .sessions
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let client = nonces.get_mut(get("nonce"))?;
        if client.nc != 0 && client.nc >= nc {
            return None; // replayed nonce count
        }
        client.nc = nc;
        client.last_seen = Instant::now();
        Some(username.to_string())
    }

    /// Nonces currently tracked (for tests and the API).
    pub fn nonces(&self) -> usize {
        self.sessions
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// `k=v, k="v, with comma"` pairs, quotes removed (backslash escapes honoured).
fn parse_pairs(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut items = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            cur.push(c);
        } else if c == ',' && !quoted {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    items.push(cur);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match item.split_once('=') {
            Some((k, v)) => {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                out.insert(k.trim().to_string(), v.to_string());
            }
            None => {
                out.insert(item.to_string(), String::new());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// htdigest entry for test:traefik:test (from Traefik's docs).
    const USER: &str = "test:traefik:a2688e031edb4be6a3797f3882655c05";

    fn authorization(
        f: &DigestAuth,
        nonce: &str,
        nc: &str,
        method: &str,
        uri: &str,
        pw: &str,
    ) -> String {
        let ha1 = md5_hex(&format!("test:traefik:{pw}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let resp = md5_hex(&format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"));
        format!(
            "Digest username=\"test\", realm=\"traefik\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5, \
             response=\"{resp}\", opaque=\"{}\", qop=auth, nc={nc}, cnonce=\"abc\"",
            f.sessions.opaque
        )
    }

    fn nonce_of(resp: &http::Response<bytes::Bytes>) -> String {
        let h = resp.headers()["www-authenticate"].to_str().unwrap();
        let pairs = parse_pairs(h.strip_prefix("Digest ").unwrap());
        pairs["nonce"].clone()
    }

    fn send(f: &DigestAuth, auth: Option<&str>, uri: &str) -> Action {
        let mut b = http::Request::get(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let (mut p, ()) = b.body(()).unwrap().into_parts();
        f.on_request(&mut p, &mut FlowState::default())
    }

    #[test]
    fn challenge_then_accept_then_reject_replay() {
        assert_eq!(
            md5_hex("test:traefik:test"),
            "a2688e031edb4be6a3797f3882655c05"
        );
        let spec = DigestAuthSpec {
            users: vec![USER.into()],
            ..Default::default()
        };
        let f = DigestAuth::compile("d", &spec, &CompileCtx::default()).unwrap();
        let Action::Respond(challenge) = send(&f, None, "/x") else {
            panic!("expected 401")
        };
        assert_eq!(challenge.status(), 401);
        let www = challenge.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            www.starts_with("Digest realm=\"traefik\", nonce=\"")
                && www.ends_with("algorithm=MD5, qop=\"auth\""),
            "{www}"
        );
        let nonce = nonce_of(&challenge);
        let ok = authorization(&f, &nonce, "00000001", "GET", "/x", "test");
        assert!(matches!(send(&f, Some(&ok), "/x"), Action::Continue));
        assert!(
            matches!(send(&f, Some(&ok), "/x"), Action::Respond(_)),
            "same nc is a replay"
        );
        let next = authorization(&f, &nonce, "00000002", "GET", "/x", "test");
        assert!(matches!(send(&f, Some(&next), "/x"), Action::Continue));
        let wrong = authorization(&f, &nonce, "00000003", "GET", "/x", "nope");
        assert!(matches!(send(&f, Some(&wrong), "/x"), Action::Respond(_)));
        let unknown = authorization(&f, "deadbeef", "00000001", "GET", "/x", "test");
        assert!(matches!(send(&f, Some(&unknown), "/x"), Action::Respond(_)));
    }

    #[test]
    fn bad_users() {
        let e = DigestAuth::compile(
            "d",
            &DigestAuthSpec {
                users: vec!["a:b".into()],
                ..Default::default()
            },
            &CompileCtx::default(),
        );
        assert!(e.unwrap_err().to_string().contains("name:realm:md5hex"));
    }

    #[test]
    fn pairs() {
        let p = parse_pairs(r#"username="a, b", qop=auth, uri="/x?y=1""#);
        assert_eq!(p["username"], "a, b");
        assert_eq!(p["qop"], "auth");
        assert_eq!(p["uri"], "/x?y=1");
    }
}
