//! Jwt: validates a bearer token (signature, `exp`/`nbf`/`iat` with leeway, issuer, audience,
//! required claims, a claims expression, groups) before the request goes on; forwards chosen
//! claims as headers and records the consumer in `FlowState` for per-consumer rate limits.
//! Option names follow Traefik Hub's `jwt` middleware. Keys come from the spec or from a JWKS
//! file loaded before compile; verification uses aws-lc-rs (no `ring`).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::{hmac, signature};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE, WWW_AUTHENTICATE};
use http::{request, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{de, Action, CompileCtx, Duration, FlowState, SpecError};

/// `jwt` (also accepted as `plugin: {jwt: {...}}`, as Traefik Hub writes it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtSpec {
    /// HMAC secret for HS256/384/512 tokens.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub signing_secret: String,
    /// `signingSecret` is base64: decode it first.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub signing_secret_base64_encoded: bool,
    /// PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) for RS*/PS*/ES256/ES384/EdDSA tokens.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub public_key: String,
    /// Path of a JWKS file (`{"keys": [...]}`), loaded before compile.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub jwks_file: String,
    /// JWKS URL (`https://`, or `http://` to a loopback address), fetched in the background,
    /// cached, refreshed periodically and when a token names an unknown `kid`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub jwks_url: String,
    /// wharf: longest time between two JWKS fetches (default 15m; a shorter
    /// `Cache-Control: max-age` from the server wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_refresh_interval: Option<Duration>,
    /// wharf: shortest time between two JWKS fetches (default 10s): bounds refreshes caused by
    /// unknown `kid`s and retries after failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_min_refresh_interval: Option<Duration>,
    /// wharf: deadline of one JWKS fetch (default 5s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_timeout: Option<Duration>,
    /// Request header name → claim name; the claim's value is sent in that header.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub forward_headers: BTreeMap<String, String>,
    /// Claims expression: ``Equals(`grp`, `admin`) && Prefix(`sub`, `user-`)``.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub claims: String,
    /// Query parameter that may carry the token (when no `Authorization: Bearer` is sent).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub token_key: String,
    /// wharf: read the token from this header instead of `Authorization` (a `Bearer ` prefix is
    /// accepted).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub token_header: String,
    /// wharf: cookie that may carry the token.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub token_cookie: String,
    /// Keep the `Authorization` header when forwarding (Traefik Hub's default: removed).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub forward_authorization: bool,
    /// Accepted issuers (`iss`); empty = any.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud`, string or list); empty = any.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub audiences: Vec<String>,
    /// Claims that must be present.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub required_claims: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf`, `iat` (default 0s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leeway: Option<Duration>,
    /// Longest token accepted, in bytes (default 8192).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub max_token_size: Option<i64>,
    /// Claim naming the consumer (FlowState, access log, `sourceCriterion.consumer`); default `sub`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub consumer_claim: String,
    /// Claim holding the groups (string list, or a comma/space separated string); default `groups`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub groups_claim: String,
    /// Only tokens with one of these groups pass (403 otherwise); empty = any.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub allowed_groups: Vec<String>,
}

/// Default `maxTokenSize`.
const MAX_TOKEN: usize = 8192;

const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signing algorithm wharf verifies. `none` and anything else are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "HS256" => Alg::Hs256,
            "HS384" => Alg::Hs384,
            "HS512" => Alg::Hs512,
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }
}

/// Elliptic curves for ES256 / ES384.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// Key material, typed so an algorithm can only meet the key kind it belongs to (an HS token is
/// never checked with an RSA public key as an HMAC secret: no algorithm confusion).
#[derive(Clone)]
pub enum VerifyKey {
    Hmac(Vec<u8>),
    /// DER: `RSAPublicKey` or `SubjectPublicKeyInfo`.
    Rsa(Vec<u8>),
    /// JWK modulus and exponent (big-endian).
    RsaParts {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// DER `SubjectPublicKeyInfo` or an uncompressed point.
    Ec(Curve, Vec<u8>),
    /// DER `SubjectPublicKeyInfo` or the raw 32 bytes.
    Ed25519(Vec<u8>),
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.write_str(match self {
            VerifyKey::Hmac(_) => "Hmac(..)",
            VerifyKey::Rsa(_) | VerifyKey::RsaParts { .. } => "Rsa(..)",
            VerifyKey::Ec(..) => "Ec(..)",
            VerifyKey::Ed25519(_) => "Ed25519(..)",
        })
    }
}

impl VerifyKey {
    /// Checks `sig` over `msg` when `alg` belongs to this key kind; false otherwise.
    pub fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        use signature as s;
        match (self, alg) {
            (VerifyKey::Hmac(secret), Alg::Hs256 | Alg::Hs384 | Alg::Hs512) => {
                let a = match alg {
                    Alg::Hs256 => hmac::HMAC_SHA256,
                    Alg::Hs384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::verify(&hmac::Key::new(a, secret), msg, sig).is_ok()
            }
            (VerifyKey::Rsa(_) | VerifyKey::RsaParts { .. }, _) => {
                let params: &s::RsaParameters = match alg {
                    Alg::Rs256 => &s::RSA_PKCS1_2048_8192_SHA256,
                    Alg::Rs384 => &s::RSA_PKCS1_2048_8192_SHA384,
                    Alg::Rs512 => &s::RSA_PKCS1_2048_8192_SHA512,
                    Alg::Ps256 => &s::RSA_PSS_2048_8192_SHA256,
                    Alg::Ps384 => &s::RSA_PSS_2048_8192_SHA384,
                    Alg::Ps512 => &s::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                match self {
                    VerifyKey::Rsa(der) => s::UnparsedPublicKey::new(params, der)
                        .verify(msg, sig)
                        .is_ok(),
                    VerifyKey::RsaParts { n, e } => s::RsaPublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    }
                    .verify(params, msg, sig)
                    .is_ok(),
                    _ => false,
                }
            }
            (VerifyKey::Ec(Curve::P256, key), Alg::Es256) => {
                s::UnparsedPublicKey::new(&s::ECDSA_P256_SHA256_FIXED, key)
                    .verify(msg, sig)
                    .is_ok()
            }
            (VerifyKey::Ec(Curve::P384, key), Alg::Es384) => {
                s::UnparsedPublicKey::new(&s::ECDSA_P384_SHA384_FIXED, key)
                    .verify(msg, sig)
                    .is_ok()
            }
            (VerifyKey::Ed25519(key), Alg::EdDsa) => s::UnparsedPublicKey::new(&s::ED25519, key)
                .verify(msg, sig)
                .is_ok(),
            _ => false,
        }
    }
}

/// A key with its optional `kid`.
#[derive(Clone, Debug)]
pub struct Key {
    pub kid: Option<String>,
    pub key: VerifyKey,
}

/// Reads a PEM public key. The key kind is read from the `SubjectPublicKeyInfo` algorithm.
pub fn parse_pem(pem: &str) -> Result<VerifyKey, String> {
    let pem = pem.trim();
    let label = pem
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("not a PEM block (expected -----BEGIN PUBLIC KEY-----)")?
        .to_string();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "bad base64 in the PEM block".to_string())?;
    match label.as_str() {
        "RSA PUBLIC KEY" => Ok(VerifyKey::Rsa(der)),
        "PUBLIC KEY" => {
            // OIDs (DER content bytes) of the SPKI algorithm and EC curve.
            const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
            const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
            const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
            const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
            const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
            let head = &der[..der.len().min(40)];
            let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
            if has(RSA) {
                Ok(VerifyKey::Rsa(der))
            } else if has(EC) && has(P256) {
                Ok(VerifyKey::Ec(Curve::P256, der))
            } else if has(EC) && has(P384) {
                Ok(VerifyKey::Ec(Curve::P384, der))
            } else if has(ED25519) {
                Ok(VerifyKey::Ed25519(der))
            } else {
                Err("unsupported public key type (RSA, EC P-256/P-384 and Ed25519 are)".into())
            }
        }
        other => Err(format!(
            "unsupported PEM block `{other}` (expected PUBLIC KEY or RSA PUBLIC KEY)"
        )),
    }
}

/// Reads a JWKS document. Keys of unknown types or with `use` other than `sig` are skipped.
pub fn parse_jwks(text: &str) -> Result<Vec<Key>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no `keys` list")?;
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let field = |name: &str| -> Result<Vec<u8>, String> {
            let v = k
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("JWKS key {i}: missing `{name}`"))?;
            B64.decode(v)
                .map_err(|_| format!("JWKS key {i}: bad base64url in `{name}`"))
        };
        if k.get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let kid = k.get("kid").and_then(Value::as_str).map(str::to_string);
        let key = match k.get("kty").and_then(Value::as_str) {
            Some("RSA") => VerifyKey::RsaParts {
                n: field("n")?,
                e: field("e")?,
            },
            Some("EC") => {
                let curve = match k.get("crv").and_then(Value::as_str) {
                    Some("P-256") => Curve::P256,
                    Some("P-384") => Curve::P384,
                    _ => continue,
                };
                let mut point = vec![4u8];
                point.extend(field("x")?);
                point.extend(field("y")?);
                VerifyKey::Ec(curve, point)
            }
            Some("OKP") if k.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
                VerifyKey::Ed25519(field("x")?)
            }
            Some("oct") => VerifyKey::Hmac(field("k")?),
            _ => continue,
        };
        out.push(Key { kid, key });
    }
    if out.is_empty() {
        return Err("JWKS holds no usable signing key".into());
    }
    Ok(out)
}

// ---- claims expressions --------------------------------------------------------------------

/// A parsed `claims` expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimExpr {
    And(Box<ClaimExpr>, Box<ClaimExpr>),
    Or(Box<ClaimExpr>, Box<ClaimExpr>),
    Not(Box<ClaimExpr>),
    /// Function name and its string arguments (the first is the claim path).
    Call(ClaimFn, Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimFn {
    Equals,
    Prefix,
    Contains,
    OneOf,
    SplitContains,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Tok::LParen),
            ')' => out.push(Tok::RParen),
            ',' => out.push(Tok::Comma),
            '!' => out.push(Tok::Not),
            '&' | '|' => {
                if it.next().map(|(_, d)| d) != Some(c) {
                    return Err(format!("expected `{c}{c}` at column {}", i + 1));
                }
                out.push(if c == '&' { Tok::And } else { Tok::Or });
            }
            '`' | '"' => {
                let mut s = String::new();
                loop {
                    match it.next() {
                        Some((_, d)) if d == c => break,
                        Some((_, d)) => s.push(d),
                        None => return Err(format!("unterminated string at column {}", i + 1)),
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_alphabetic() => {
                let mut s = String::from(c);
                while let Some((_, d)) = it.peek().copied() {
                    if d.is_ascii_alphanumeric() {
                        s.push(d);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Ident(s));
            }
            _ => return Err(format!("unexpected `{c}` at column {}", i + 1)),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<ClaimExpr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = ClaimExpr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<ClaimExpr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = ClaimExpr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<ClaimExpr, String> {
        match self.next() {
            Some(Tok::Not) => Ok(ClaimExpr::Not(Box::new(self.unary()?))),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Tok::Ident(name)) => {
                let f = match name.as_str() {
                    "Equals" => ClaimFn::Equals,
                    "Prefix" => ClaimFn::Prefix,
                    "Contains" => ClaimFn::Contains,
                    "OneOf" => ClaimFn::OneOf,
                    "SplitContains" => ClaimFn::SplitContains,
                    _ => return Err(format!("unknown function `{name}` (Equals, Prefix, Contains, OneOf, SplitContains)")),
                };
                if self.next() != Some(Tok::LParen) {
                    return Err(format!("expected `(` after `{name}`"));
                }
                let mut args = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::Str(s)) => args.push(s),
                        Some(Tok::RParen) if args.is_empty() => break,
                        _ => return Err(format!("`{name}` takes string arguments")),
                    }
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::RParen) => break,
                        _ => return Err(format!("expected `,` or `)` in `{name}`")),
                    }
                }
                let ok = match f {
                    ClaimFn::Equals | ClaimFn::Prefix | ClaimFn::Contains => args.len() == 2,
                    ClaimFn::OneOf => args.len() >= 2,
                    ClaimFn::SplitContains => args.len() == 3,
                };
                if !ok {
                    return Err(format!("wrong number of arguments to `{name}`"));
                }
                Ok(ClaimExpr::Call(f, args))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// Parses a `claims` expression.
pub fn parse_claims(src: &str) -> Result<ClaimExpr, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(e)
}

/// A claim by dotted path (`realm_access.roles`).
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    claims
        .get(path)
        .or_else(|| path.split('.').try_fold(claims, |v, seg| v.get(seg)))
}

/// The claim's scalar values as strings (a list gives each element).
fn claim_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(claim_strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

impl ClaimExpr {
    pub fn eval(&self, claims: &Value) -> bool {
        match self {
            ClaimExpr::And(a, b) => a.eval(claims) && b.eval(claims),
            ClaimExpr::Or(a, b) => a.eval(claims) || b.eval(claims),
            ClaimExpr::Not(a) => !a.eval(claims),
            ClaimExpr::Call(f, args) => {
                let Some(v) = claim(claims, &args[0]) else {
                    return false;
                };
                let vals = claim_strings(v);
                match f {
                    ClaimFn::Equals => vals.iter().any(|s| *s == args[1]),
                    ClaimFn::Prefix => vals.iter().any(|s| s.starts_with(&args[1])),
                    ClaimFn::Contains => vals.iter().any(|s| s.contains(&args[1])),
                    ClaimFn::OneOf => vals.iter().any(|s| args[1..].contains(s)),
                    ClaimFn::SplitContains => vals
                        .iter()
                        .any(|s| s.split(args[1].as_str()).any(|p| p == args[2])),
                }
            }
        }
    }
}

// ---- compiled filter -----------------------------------------------------------------------

/// The compiled `jwt` middleware.
#[derive(Debug)]
pub struct Jwt {
    keys: Vec<Key>,
    /// Keys fetched from `jwksUrl` by the runtime.
    remote: Option<Arc<crate::jwks::JwksCache>>,
    forward: Vec<(HeaderName, String)>,
    claims: Option<ClaimExpr>,
    token_key: String,
    token_header: Option<HeaderName>,
    token_cookie: String,
    forward_authorization: bool,
    issuers: Vec<String>,
    audiences: Vec<String>,
    required: Vec<String>,
    leeway: u64,
    max_size: usize,
    consumer_claim: String,
    groups_claim: String,
    allowed_groups: Vec<String>,
}

/// Why a token was refused (logged, never sent to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Missing,
    TooLarge,
    Malformed,
    Algorithm,
    Signature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    Issuer,
    Audience,
    MissingClaim,
    /// Valid token, but claims or groups do not allow this request (403).
    Forbidden,
    /// `jwksUrl` never loaded and no other key verified the token: wharf cannot judge it (503).
    KeysUnavailable,
}

impl Jwt {
    pub fn compile(spec: &JwtSpec, ctx: &CompileCtx<'_>) -> Result<Jwt, SpecError> {
        let mut keys = Vec::new();
        let remote = if spec.jwks_url.trim().is_empty() {
            None
        } else {
            let source = jwks_source(spec)?;
            Some(match ctx.backends {
                Some(b) => b.jwks(&source),
                // No runtime (unit tests, `wharf check`): nothing fetches; tokens that only a
                // JWKS key could verify get 503.
                None => Arc::new(crate::jwks::JwksCache::new(source)),
            })
        };
        if !spec.signing_secret.is_empty() {
            let secret = if spec.signing_secret_base64_encoded {
                base64::engine::general_purpose::STANDARD
                    .decode(spec.signing_secret.trim())
                    .map_err(|_| SpecError::invalid("jwt.signingSecret", "not valid base64"))?
            } else {
                spec.signing_secret.as_bytes().to_vec()
            };
            keys.push(Key {
                kid: None,
                key: VerifyKey::Hmac(secret),
            });
        }
        if !spec.public_key.is_empty() {
            keys.push(Key {
                kid: None,
                key: parse_pem(&spec.public_key)
                    .map_err(|e| SpecError::invalid("jwt.publicKey", e))?,
            });
        }
        if !spec.jwks_file.is_empty() {
            let text = ctx
                .files
                .read(&spec.jwks_file)
                .ok_or_else(|| SpecError::FileNotLoaded(spec.jwks_file.clone()))?;
            keys.extend(parse_jwks(text).map_err(|e| SpecError::invalid("jwt.jwksFile", e))?);
        }
        if keys.is_empty() && remote.is_none() {
            return Err(SpecError::Missing(
                "jwt.signingSecret (or publicKey, jwksFile, jwksUrl)",
            ));
        }
        let mut forward = Vec::new();
        for (h, c) in &spec.forward_headers {
            let name = HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| {
                SpecError::invalid(
                    "jwt.forwardHeaders",
                    format!("{h:?} is not a valid header name"),
                )
            })?;
            forward.push((name, c.clone()));
        }
        let claims = if spec.claims.trim().is_empty() {
            None
        } else {
            Some(parse_claims(&spec.claims).map_err(|e| SpecError::invalid("jwt.claims", e))?)
        };
        let token_header = if spec.token_header.is_empty() {
            None
        } else {
            Some(
                HeaderName::from_bytes(spec.token_header.trim().as_bytes()).map_err(|_| {
                    SpecError::invalid("jwt.tokenHeader", "not a valid header name")
                })?,
            )
        };
        let leeway = match spec.leeway {
            None => 0,
            Some(d) => d
                .to_std()
                .ok_or_else(|| SpecError::invalid("jwt.leeway", "must not be negative"))?
                .as_secs(),
        };
        let max_size = match spec.max_token_size {
            None => MAX_TOKEN,
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(MAX_TOKEN),
            Some(n) => {
                return Err(SpecError::invalid(
                    "jwt.maxTokenSize",
                    format!("must be positive (got {n})"),
                ))
            }
        };
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        Ok(Jwt {
            keys,
            remote,
            forward,
            claims,
            token_key: spec.token_key.clone(),
            token_header,
            token_cookie: spec.token_cookie.clone(),
            forward_authorization: spec.forward_authorization,
            issuers: spec.issuers.clone(),
            audiences: spec.audiences.clone(),
            required: spec.required_claims.clone(),
            leeway,
            max_size,
            consumer_claim: or(&spec.consumer_claim, "sub"),
            groups_claim: or(&spec.groups_claim, "groups"),
            allowed_groups: spec.allowed_groups.clone(),
        })
    }

    /// The token from the configured header, `Authorization: Bearer`, the query or a cookie.
    fn token<'a>(&self, parts: &'a request::Parts) -> Option<&'a str> {
        let bearer = |v: &'a str| -> &'a str {
            match v.get(..7) {
                Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
                _ => v.trim(),
            }
        };
        if let Some(h) = &self.token_header {
            if let Some(v) = parts.headers.get(h).and_then(|v| v.to_str().ok()) {
                return Some(bearer(v));
            }
        } else if let Some(v) = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            if v.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
            {
                return Some(bearer(v));
            }
        }
        if !self.token_key.is_empty() {
            if let Some(q) = parts.uri.query() {
                for pair in q.split('&') {
                    if let Some((k, v)) = pair.split_once('=') {
                        if k == self.token_key {
                            return Some(v);
                        }
                    }
                }
            }
        }
        if !self.token_cookie.is_empty() {
            for h in parts.headers.get_all(COOKIE) {
                let Ok(h) = h.to_str() else { continue };
                for c in h.split(';') {
                    if let Some((k, v)) = c.trim().split_once('=') {
                        if k == self.token_cookie {
                            return Some(v);
                        }
                    }
                }
            }
        }
        None
    }

    /// Validates a token at time `now` (Unix seconds) and returns its claims.
    pub fn validate(&self, token: &str, now: u64) -> Result<Value, Reject> {
        if token.len() > self.max_size {
            return Err(Reject::TooLarge);
        }
        let mut it = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(Reject::Malformed);
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(Reject::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::parse)
            .ok_or(Reject::Algorithm)?;
        let kid = header.get("kid").and_then(Value::as_str);
        let sig = B64.decode(s).map_err(|_| Reject::Malformed)?;
        let msg = &token.as_bytes()[..h.len() + 1 + p.len()];
        let remote = self.remote.as_ref().map(|c| (c, c.keys()));
        let remote_keys = remote.as_ref().map(|(_, k)| k.as_slice()).unwrap_or(&[]);
        let matches = |k: &&Key| match (kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        };
        let verified = self
            .keys
            .iter()
            .chain(remote_keys)
            .filter(matches)
            .any(|k| k.key.verify(alg, msg, &sig));
        if !verified {
            if let Some((cache, _)) = &remote {
                if !cache.is_loaded() {
                    cache.request_refresh();
                    return Err(Reject::KeysUnavailable);
                }
                // A `kid` the JWKS does not hold: the issuer may have rotated its keys. The
                // fetcher refreshes in the background (bounded rate); this request is refused.
                if kid
                    .is_some_and(|want| !remote_keys.iter().any(|k| k.kid.as_deref() == Some(want)))
                {
                    cache.request_refresh();
                }
            }
            return Err(Reject::Signature);
        }
        let claims: Value = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(Value::is_object)
            .ok_or(Reject::Malformed)?;
        let num = |name: &str| -> Result<Option<f64>, Reject> {
            match claims.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or(Reject::Malformed),
            }
        };
        let now_f = now as f64;
        let leeway = self.leeway as f64;
        if let Some(exp) = num("exp")? {
            if now_f >= exp + leeway {
                return Err(Reject::Expired);
            }
        }
        if let Some(nbf) = num("nbf")? {
            if now_f + leeway < nbf {
                return Err(Reject::NotYetValid);
            }
        }
        if let Some(iat) = num("iat")? {
            if now_f + leeway < iat {
                return Err(Reject::IssuedInFuture);
            }
        }
        if !self.issuers.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|i| self.issuers.iter().any(|w| w == i)) {
                return Err(Reject::Issuer);
            }
        }
        if !self.audiences.is_empty() {
            let aud = claims.get("aud").map(claim_strings).unwrap_or_default();
            if !aud.iter().any(|a| self.audiences.contains(a)) {
                return Err(Reject::Audience);
            }
        }
        if self.required.iter().any(|c| claim(&claims, c).is_none()) {
            return Err(Reject::MissingClaim);
        }
        if let Some(expr) = &self.claims {
            if !expr.eval(&claims) {
                return Err(Reject::Forbidden);
            }
        }
        if !self.allowed_groups.is_empty() {
            let groups: Vec<String> = claim(&claims, &self.groups_claim)
                .map(|v| match v {
                    Value::String(s) => s
                        .split([',', ' '])
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect(),
                    other => claim_strings(other),
                })
                .unwrap_or_default();
            if !groups.iter().any(|g| self.allowed_groups.contains(g)) {
                return Err(Reject::Forbidden);
            }
        }
        Ok(claims)
    }

    pub fn on_request(&self, parts: &mut request::Parts, flow: &mut FlowState) -> Action {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.check(parts, flow, now)
    }

    /// `on_request` at a given time (tests).
    pub fn check(&self, parts: &mut request::Parts, flow: &mut FlowState, now: u64) -> Action {
        let result = match self.token(parts) {
            None => Err(Reject::Missing),
            Some(t) => self.validate(t, now),
        };
        let claims = match result {
            Ok(c) => c,
            Err(reason) => {
                tracing::debug!(?reason, "jwt: request refused");
                return Action::Respond(refuse(reason));
            }
        };
        // Client-sent copies of forwarded headers never reach the service.
        for (name, c) in &self.forward {
            parts.headers.remove(name);
            if let Some(v) = claim(&claims, c) {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(_) => claim_strings(v).join(","),
                    other => other.to_string(),
                };
                if let Ok(v) = HeaderValue::from_str(&text) {
                    parts.headers.insert(name.clone(), v);
                }
            }
        }
        if !self.forward_authorization && self.token_header.is_none() {
            parts.headers.remove(AUTHORIZATION);
        }
        if let Some(c) = claim(&claims, &self.consumer_claim) {
            let name: Arc<str> = match c {
                Value::String(s) => s.as_str().into(),
                other => other.to_string().into(),
            };
            flow.user = Some(name.clone());
            flow.consumer = Some(name);
        }
        Action::Continue
    }
}

/// Checks `jwksUrl` and the fetch settings.
fn jwks_source(spec: &JwtSpec) -> Result<crate::jwks::JwksSource, SpecError> {
    let url = spec.jwks_url.trim();
    let field = "jwt.jwksUrl";
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| SpecError::invalid(field, format!("{url:?} is not an absolute URL")))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(SpecError::invalid(field, format!("{url:?} has no host")));
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(SpecError::invalid(
                field,
                "must use https (plain http is accepted for loopback addresses only)",
            ))
        }
        other => {
            return Err(SpecError::invalid(
                field,
                format!("unsupported scheme `{other}` (https)"),
            ))
        }
    }
    let dur =
        |d: Option<Duration>, name: &str, default: u64| -> Result<std::time::Duration, SpecError> {
            match d {
                None => Ok(std::time::Duration::from_secs(default)),
                Some(d) => d
                    .to_std()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| SpecError::invalid(format!("jwt.{name}"), "must be positive")),
            }
        };
    let refresh = dur(spec.jwks_refresh_interval, "jwksRefreshInterval", 900)?;
    let min_refresh = dur(spec.jwks_min_refresh_interval, "jwksMinRefreshInterval", 10)?;
    if min_refresh > refresh {
        return Err(SpecError::invalid(
            "jwt.jwksMinRefreshInterval",
            "must not exceed jwksRefreshInterval",
        ));
    }
    Ok(crate::jwks::JwksSource {
        url: url.to_string(),
        refresh,
        min_refresh,
        timeout: dur(spec.jwks_timeout, "jwksTimeout", 5)?,
        max_bytes: crate::jwks::MAX_JWKS_BYTES,
    })
}

/// 401 with `WWW-Authenticate: Bearer` for token problems, 403 when claims refuse.
fn refuse(reason: Reject) -> http::Response<bytes::Bytes> {
    if reason == Reject::Forbidden {
        return crate::util::status_text(StatusCode::FORBIDDEN);
    }
    if reason == Reject::KeysUnavailable {
        let mut resp = crate::util::status_text(StatusCode::SERVICE_UNAVAILABLE);
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    let mut resp = crate::util::status_text(StatusCode::UNAUTHORIZED);
    let challenge = if reason == Reject::Missing {
        "Bearer"
    } else {
        "Bearer error=\"invalid_token\""
    };
    resp.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    resp
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
