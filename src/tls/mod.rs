//! TLS termination: sits between the accept loop and hyper. The proxy peeks at each new
//! connection; a TLS ClientHello goes through [`accept`], which picks the TLS options by SNI
//! (or the ACME TLS-ALPN-01 challenge path) from the current snapshot's [`TlsState`], then
//! hyper serves the decrypted stream with the entry point's TLS route table.
//!
//! `compile` builds the [`TlsState`] (certificates, options, inventory) from `tls:` of the
//! dynamic configuration with [`TlsBuilder`]; process-wide state that must outlive snapshots
//! (session-ticket keys, the session cache, ACME challenge certificates, the generated
//! default certificate) lives in [`TlsRuntime`].
//!
//! Behaviour at the edges (as Traefik, unless marked):
//! - Which routers answer: a router with `tls` (or on an entry point with `http.tls`) answers
//!   only on TLS connections; one without, only on plain ones. TLS is detected on every entry
//!   point by the first byte (0x16), so `web` terminates TLS too (Traefik does the same).
//! - Certificate choice: SNI exact name, then a wildcard one label deep (`*.example.com`
//!   covers `a.example.com`, not `a.b.example.com` nor `example.com`), then the default
//!   certificate (`tls.stores.default.defaultCertificate`; else the certificate the ACME
//!   resolver of `defaultGeneratedCert` obtained for its `domain`; else `TRAEFIK DEFAULT CERT`,
//!   self-signed, generated once per process). No SNI: the default certificate.
//! - `sniStrict` (of the options chosen for the SNI, the default options for an unknown SNI):
//!   a missing or unknown SNI fails the handshake (alert `unrecognized_name`/handshake
//!   failure); nothing is served.
//! - TLS options are chosen by SNI: the options of the TLS routers whose `Host` names it;
//!   two routers naming different options for one host → default options, warning on both.
//! - A request whose Host needs other TLS options than the connection's gets 421 Misdirected
//!   Request (Traefik's SNI check; wharf also applies it when the client sent no SNI).
//! - Garbage after a 0x16 byte, a ClientHello rustls cannot parse, no common version/suite,
//!   a refused client certificate: the handshake fails, the connection closes, logged at
//!   debug level. A client silent for `readTimeout` (default 60 s) is closed.
//! - Broken certificate files (unreadable, not PEM, key mismatch, expired): that certificate
//!   is disabled with the reason in the report's problems and in the inventory; the default
//!   certificate answers its names. Expiring within 7 days: a warning.

mod accept;
mod certs;
mod challenge;
mod options;
mod state;

use std::sync::{Arc, OnceLock};

use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::ServerConfig;

pub use accept::{accept, is_tls_client_hello, AcceptError, TlsConnInfo};
pub use certs::{rfc3339, CertStore, CertificateInfo, CertificateSource};
pub use challenge::{AlpnChallenges, ACME_TLS_ALPN};
pub use options::BuiltOptions;
pub use state::{generated_cert_names, RouterTlsUse, TlsBuilder, TlsProblems, TlsState};

/// Errors of certificate handling.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Pem(String),
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
}

/// Process-wide TLS state shared by every snapshot.
pub struct TlsRuntime {
    /// TLS-ALPN-01 challenge certificates (the ACME resolver's hook).
    pub challenges: Arc<AlpnChallenges>,
    /// One ticket key source for the process: a ticket issued before a reload resumes after it.
    pub(crate) ticketer: Arc<dyn ProducesTickets>,
    /// One session-ID cache (TLS 1.2 resumption without tickets), likewise shared.
    pub(crate) sessions: Arc<dyn StoresServerSessions>,
    /// The config for TLS-ALPN-01 validations.
    pub(crate) challenge_config: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for TlsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsRuntime")
            .field("challenges", &self.challenges.len())
            .finish_non_exhaustive()
    }
}

impl TlsRuntime {
    /// The process's runtime, created on first use.
    pub fn global() -> &'static TlsRuntime {
        static RT: OnceLock<TlsRuntime> = OnceLock::new();
        RT.get_or_init(TlsRuntime::new)
    }

    fn new() -> TlsRuntime {
        let ticketer: Arc<dyn ProducesTickets> = match rustls::crypto::aws_lc_rs::Ticketer::new() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "no TLS session tickets (ticketer failed)");
                Arc::new(NoTickets)
            }
        };
        let sessions: Arc<dyn StoresServerSessions> =
            rustls::server::ServerSessionMemoryCache::new(65_536);
        let challenges = Arc::new(AlpnChallenges::default());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // The default protocol versions of the provider always build.
        let challenge_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| {
                let mut c = b
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::new(challenge::ChallengeResolver(challenges.clone())));
                c.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
                c.send_tls13_tickets = 0;
                Arc::new(c)
            });
        let challenge_config = match challenge_config {
            Ok(c) => Some(c),
            Err(e) => {
                // Unreachable with the stock provider; validations then fail their handshake.
                tracing::error!(error = %e, "TLS-ALPN-01 config");
                None
            }
        };
        TlsRuntime {
            challenges,
            ticketer,
            sessions,
            challenge_config,
        }
    }
}

#[derive(Debug)]
struct NoTickets;

impl ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}
