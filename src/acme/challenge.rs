//! Challenge responders. HTTP-01 answers `/.well-known/acme-challenge/<token>` from a pre-routing
//! hook (before any redirect, router or middleware); TLS-ALPN-01 goes through the TLS module's
//! `AlpnChallenges` (src/tls/challenge.rs); DNS-01 runs lego's `exec` hook (`EXEC_PATH present|cleanup fqdn value`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::{Request, Response};

use crate::body::Body;
use crate::proxy::{HookCtx, PreRouteHook};

/// The path prefix HTTP-01 answers under.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// Pending HTTP-01 tokens → key authorizations, shared by every resolver of the process.
#[derive(Debug, Default)]
pub struct Http01Tokens {
    tokens: RwLock<HashMap<String, String>>,
}

impl Http01Tokens {
    pub fn insert(&self, token: &str, key_auth: &str) {
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.to_string(), key_auth.to_string());
    }

    pub fn remove(&self, token: &str) {
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token);
    }

    pub fn get(&self, token: &str) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()
    }
}

/// The HTTP-01 hook: answers known tokens with the key authorization; unknown tokens get 404
/// here too (as Traefik answers them), so a router never sees the challenge path.
#[derive(Clone, Debug)]
pub struct Http01Hook(pub Arc<Http01Tokens>);

impl PreRouteHook for Http01Hook {
    fn handle(&self, req: &Request<Body>, _ctx: &HookCtx<'_>) -> Option<Response<Body>> {
        let token = req.uri().path().strip_prefix(HTTP01_PREFIX)?;
        let mut resp = match self.0.get(token) {
            Some(ka) => Response::new(Body::full(ka)),
            None => {
                let mut r = Response::new(Body::full("404 page not found\n"));
                *r.status_mut() = http::StatusCode::NOT_FOUND;
                r
            }
        };
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Some(resp)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    #[error("DNS-01 exec `{path}`: {reason}")]
    Exec { path: String, reason: String },
}

/// lego's `exec` DNS provider: `EXEC_PATH present <fqdn> <value>` then `cleanup`; with
/// `EXEC_MODE=RAW`, `<domain> <token> <key authorization>` instead.
#[derive(Clone, Debug)]
pub struct DnsExec {
    pub path: String,
    pub raw: bool,
}

impl DnsExec {
    /// From the environment (`EXEC_PATH`, `EXEC_MODE`); `None` when `EXEC_PATH` is unset.
    pub fn from_env() -> Option<Self> {
        Self::from_lego_env(&super::dns::LegoEnv::process())
            .ok()
            .flatten()
    }

    /// From lego's variables (`EXEC_PATH`, `EXEC_MODE`, or their `_FILE` forms).
    pub fn from_lego_env(env: &super::dns::LegoEnv) -> Result<Option<Self>, super::dns::DnsError> {
        let Some(path) = env.get("EXEC_PATH")? else {
            return Ok(None);
        };
        let raw = env
            .get("EXEC_MODE")?
            .is_some_and(|m| m.eq_ignore_ascii_case("raw"));
        Ok(Some(DnsExec { path, raw }))
    }

    /// Runs `EXEC_PATH <action> <fqdn> <value>` (raw mode: `<domain> <token> <key authorization>`).
    pub async fn run(&self, action: &str, r: &super::dns::DnsRecord) -> Result<(), ChallengeError> {
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.arg(action);
        if self.raw {
            cmd.args([&r.domain, &r.token, &r.key_auth]);
        } else {
            cmd.args([&r.fqdn, &r.value]);
        }
        let out = cmd.output().await.map_err(|e| ChallengeError::Exec {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(ChallengeError::Exec {
                path: self.path.clone(),
                reason: format!(
                    "{action} exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }
}
