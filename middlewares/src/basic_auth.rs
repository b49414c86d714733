//! BasicAuth: HTTP Basic authentication against htpasswd-style users (bcrypt, apr1 MD5, SHA1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `basicAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct BasicAuthSpec {
    /// `name:hash` entries as `htpasswd` writes them. With `usersFile`, both are merged and the
    /// inline entry wins for a name given twice.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub users: Vec<String>,
    /// Path of an htpasswd file (one `name:hash` per line).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub users_file: String,
    /// Realm in the `WWW-Authenticate` challenge (default `traefik`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub realm: String,
    /// Remove the `Authorization` header before forwarding.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub remove_header: bool,
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

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::StatusCode;
use sha2::Digest as _;

use crate::{Action, CompileCtx, FlowState, SpecError};

/// Verified credentials kept at most (the cache is cleared when full).
const CACHE_CAP: usize = 1024;

/// A password hash in one of the formats htpasswd writes and Traefik accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordHash {
    /// `$2a$`, `$2b$`, `$2x$`, `$2y$`.
    Bcrypt(String),
    /// `$apr1$salt$hash` (Apache) or `$1$salt$hash` (MD5-crypt).
    Md5Crypt {
        magic: &'static str,
        salt: String,
        hash: String,
    },
    /// `{SHA}` + base64(SHA-1(password)).
    Sha1([u8; 20]),
}

impl PasswordHash {
    /// Recognises the hash format; anything else (plain text included) is an error, since
    /// Traefik could never authenticate it either.
    pub fn parse(s: &str) -> Result<Self, String> {
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| s.starts_with(p))
        {
            if s.len() != 60 {
                return Err("malformed bcrypt hash (expected 60 characters)".into());
            }
            return Ok(PasswordHash::Bcrypt(s.to_string()));
        }
        if let Some(b64) = s.strip_prefix("{SHA}") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "malformed {SHA} hash (bad base64)".to_string())?;
            let arr: [u8; 20] = raw
                .try_into()
                .map_err(|_| "malformed {SHA} hash (not 20 bytes)".to_string())?;
            return Ok(PasswordHash::Sha1(arr));
        }
        for magic in ["$apr1$", "$1$"] {
            if let Some(rest) = s.strip_prefix(magic) {
                let (salt, hash) = rest
                    .split_once('$')
                    .ok_or("malformed MD5 hash (no salt separator)")?;
                if salt.len() > 8 || hash.len() != 22 {
                    return Err("malformed MD5 hash".into());
                }
                return Ok(PasswordHash::Md5Crypt {
                    magic,
                    salt: salt.into(),
                    hash: hash.into(),
                });
            }
        }
        Err("unknown hash format (use bcrypt, apr1/MD5 or {SHA} as htpasswd writes them; plain-text passwords are not accepted)".into())
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            PasswordHash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            PasswordHash::Sha1(want) => {
                let got = sha1::Sha1::digest(password);
                crate::util::constant_time_eq(&got, want)
            }
            PasswordHash::Md5Crypt { magic, salt, hash } => {
                let got = md5_crypt(password, salt.as_bytes(), magic.as_bytes());
                crate::util::constant_time_eq(got.as_bytes(), hash.as_bytes())
            }
        }
    }
}

/// The MD5-crypt digest (the 22 characters after the salt), as used by `$1$` and `$apr1$`.
pub(crate) fn md5_crypt(pw: &[u8], salt: &[u8], magic: &[u8]) -> String {
    use md5::{Digest, Md5};
    const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let salt = &salt[..salt.len().min(8)];
    let mut alt = Md5::new();
    alt.update(pw);
    alt.update(salt);
    alt.update(pw);
    let alt = alt.finalize();

    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(magic);
    ctx.update(salt);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(pw);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(pw);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize();
    }
    let mut out = String::with_capacity(22);
    let mut push = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    let f = |i: usize| u32::from(fin[i]);
    push((f(0) << 16) | (f(6) << 8) | f(12), 4);
    push((f(1) << 16) | (f(7) << 8) | f(13), 4);
    push((f(2) << 16) | (f(8) << 8) | f(14), 4);
    push((f(3) << 16) | (f(9) << 8) | f(15), 4);
    push((f(4) << 16) | (f(10) << 8) | f(5), 4);
    push(f(11), 2);
    out
}

/// Reads `users` and `usersFile` lines (`#` comments and blank lines skipped; inline users win
/// over file users of the same name, as in Traefik) and splits each with `split`.
pub(crate) fn load_users<'a>(
    field: &'static str,
    inline: &'a [String],
    users_file: &str,
    ctx: &'a CompileCtx<'_>,
) -> Result<Vec<&'a str>, SpecError> {
    let mut lines: Vec<&str> = Vec::new();
    if !users_file.is_empty() {
        let text = ctx
            .files
            .read(users_file)
            .ok_or_else(|| SpecError::FileNotLoaded(users_file.to_string()))?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
    }
    lines.extend(inline.iter().map(|s| s.trim()).filter(|l| !l.is_empty()));
    if lines.is_empty() {
        return Err(SpecError::Missing(field));
    }
    Ok(lines)
}

/// `basicAuth`, compiled.
pub struct BasicAuth {
    users: HashMap<String, PasswordHash>,
    challenge: HeaderValue,
    header_field: Option<HeaderName>,
    remove_header: bool,
    /// SHA-256 of an `Authorization` value already verified → the user. Never the password.
    cache: Mutex<HashMap<[u8; 32], Arc<str>>>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.len())
            .field("challenge", &self.challenge)
            .field("header_field", &self.header_field)
            .field("remove_header", &self.remove_header)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    pub fn compile(spec: &BasicAuthSpec, ctx: &CompileCtx<'_>) -> Result<Self, SpecError> {
        let lines = load_users("basicAuth.users", &spec.users, &spec.users_file, ctx)?;
        let mut users = HashMap::with_capacity(lines.len());
        for line in lines {
            let mut it = line.split(':');
            let (Some(user), Some(hash), None) = (it.next(), it.next(), it.next()) else {
                return Err(SpecError::invalid(
                    "basicAuth.users",
                    "each user must be written name:hash".to_string(),
                ));
            };
            let hash = PasswordHash::parse(hash).map_err(|reason| {
                SpecError::invalid("basicAuth.users", format!("user {user:?}: {reason}"))
            })?;
            users.insert(user.to_string(), hash);
        }
        let realm = if spec.realm.is_empty() {
            "traefik"
        } else {
            spec.realm.as_str()
        };
        let challenge =
            HeaderValue::from_str(&format!("Basic realm=\"{}\"", realm.replace('"', "\\\"")))
                .map_err(|_| {
                    SpecError::invalid(
                        "basicAuth.realm",
                        format!("{realm:?} cannot be sent in a header"),
                    )
                })?;
        let header_field = match spec.header_field.trim() {
            "" => None,
            h => Some(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                SpecError::invalid(
                    "basicAuth.headerField",
                    format!("{h:?} is not a valid header name"),
                )
            })?),
        };
        Ok(BasicAuth {
            users,
            challenge,
            header_field,
            remove_header: spec.remove_header,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `Authorization: Basic`; a known credential is answered from the cache (no bcrypt
    /// per request). Failure: 401 with `WWW-Authenticate: Basic realm="..."`.
    pub fn on_request(&self, parts: &mut http::request::Parts, flow: &mut FlowState) -> Action {
        let user = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| self.authenticate(v.as_bytes()));
        let Some(user) = user else {
            let mut resp = http::Response::new(bytes::Bytes::from_static(b"401 Unauthorized\n"));
            *resp.status_mut() = StatusCode::UNAUTHORIZED;
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, self.challenge.clone());
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return Action::Respond(resp);
        };
        if let Some(h) = &self.header_field {
            if let Ok(v) = HeaderValue::from_str(&user) {
                parts.headers.insert(h.clone(), v);
            }
        }
        if self.remove_header {
            parts.headers.remove(AUTHORIZATION);
        }
        flow.user = Some(user);
        Action::Continue
    }

    fn authenticate(&self, header: &[u8]) -> Option<Arc<str>> {
        let key: [u8; 32] = sha2::Sha256::digest(header).into();
        if let Some(u) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Some(Arc::clone(u));
        }
        // Go's Request.BasicAuth: case-insensitive "Basic " prefix, std base64, split at the
        // first colon.
        if header.len() < 6 || !header[..6].eq_ignore_ascii_case(b"Basic ") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&header[6..])
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        let user = std::str::from_utf8(&decoded[..colon]).ok()?;
        let hash = self.users.get(user)?;
        if !hash.verify(&decoded[colon + 1..]) {
            return None;
        }
        let user: Arc<str> = Arc::from(user);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&user));
        Some(user)
    }

    /// Credentials currently cached (for tests and the API).
    pub fn cached(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    fn check(f: &BasicAuth, auth: Option<&str>) -> (u16, http::request::Parts) {
        let mut b = http::Request::get("/");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let (mut p, ()) = b.body(()).unwrap().into_parts();
        let mut flow = FlowState::default();
        let code = match f.on_request(&mut p, &mut flow) {
            Action::Continue => 200,
            Action::Respond(r) => {
                assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"traefik\"");
                r.status().as_u16()
            }
            _ => panic!("unexpected action"),
        };
        (code, p)
    }

    #[test]
    fn md5_crypt_vectors() {
        // From `openssl passwd -apr1 -salt r31Hb2.. myPassword` and `openssl passwd -1 -salt saltsalt secret`.
        assert_eq!(
            md5_crypt(b"myPassword", b"r31Hb2..", b"$apr1$"),
            "4pdjb/c0nMgGs/H4gXNHv1"
        );
        assert_eq!(
            md5_crypt(b"secret", b"saltsalt", b"$1$"),
            "9xy1btjgzLYfb7hivXtC//"
        );
    }

    #[test]
    fn every_hash_format() {
        let bcrypt_hash = bcrypt::hash("bpw", 4).expect("bcrypt");
        let spec = BasicAuthSpec {
            users: vec![
                "apr:$apr1$r31Hb2..$4pdjb/c0nMgGs/H4gXNHv1".into(),
                "md5:$1$saltsalt$9xy1btjgzLYfb7hivXtC//".into(),
                "sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=".into(),
                format!("bc:{bcrypt_hash}"),
            ],
            ..Default::default()
        };
        let f = BasicAuth::compile(&spec, &CompileCtx::default()).unwrap();
        assert_eq!(check(&f, Some(&basic("apr", "myPassword"))).0, 200);
        assert_eq!(check(&f, Some(&basic("md5", "secret"))).0, 200);
        assert_eq!(check(&f, Some(&basic("sha", "password"))).0, 200);
        assert_eq!(check(&f, Some(&basic("bc", "bpw"))).0, 200);
        assert_eq!(check(&f, Some(&basic("bc", "wrong"))).0, 401);
        assert_eq!(check(&f, Some(&basic("nobody", "bpw"))).0, 401);
        assert_eq!(check(&f, None).0, 401);
        assert_eq!(check(&f, Some("Bearer x")).0, 401);
        assert_eq!(f.cached(), 4, "only verified credentials are cached");
        // A cached credential still passes, a different password for the same user does not.
        assert_eq!(check(&f, Some(&basic("bc", "bpw"))).0, 200);
        assert_eq!(check(&f, Some(&basic("bc", "bpw2"))).0, 401);
    }

    #[test]
    fn header_field_remove_header_and_users_file() {
        let mut files = BTreeMap::new();
        files.insert(
            "/etc/users".to_string(),
            "# comment\n\nsha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n".to_string(),
        );
        let ctx = CompileCtx {
            files: &files,
            ..CompileCtx::default()
        };
        let spec = BasicAuthSpec {
            users_file: "/etc/users".into(),
            header_field: "X-WebAuth-User".into(),
            remove_header: true,
            ..Default::default()
        };
        let f = BasicAuth::compile(&spec, &ctx).unwrap();
        let (code, p) = check(&f, Some(&basic("sha", "password")));
        assert_eq!(code, 200);
        assert_eq!(p.headers["x-webauth-user"], "sha");
        assert!(!p.headers.contains_key("authorization"));
    }

    #[test]
    fn realm() {
        let spec = BasicAuthSpec {
            users: vec!["a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=".into()],
            realm: "my realm".into(),
            ..Default::default()
        };
        let f = BasicAuth::compile(&spec, &CompileCtx::default()).unwrap();
        let (mut p, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        match f.on_request(&mut p, &mut FlowState::default()) {
            Action::Respond(r) => {
                assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"my realm\"")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_config() {
        let e = BasicAuth::compile(
            &BasicAuthSpec {
                users: vec!["a:plaintext".into()],
                ..Default::default()
            },
            &CompileCtx::default(),
        );
        assert!(e.unwrap_err().to_string().contains("unknown hash format"));
        let e = BasicAuth::compile(&BasicAuthSpec::default(), &CompileCtx::default());
        assert_eq!(
            e.unwrap_err().to_string(),
            "missing required option `basicAuth.users`"
        );
        let e = BasicAuth::compile(
            &BasicAuthSpec {
                users_file: "/nope".into(),
                ..Default::default()
            },
            &CompileCtx::default(),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "users file `/nope` was not loaded (missing or unreadable)"
        );
        let e = BasicAuth::compile(
            &BasicAuthSpec {
                users: vec!["nocolon".into()],
                ..Default::default()
            },
            &CompileCtx::default(),
        );
        assert!(e.unwrap_err().to_string().contains("name:hash"));
    }
}
