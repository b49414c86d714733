//! The TLS handshake of one client connection: read the ClientHello, pick the config (the
//! TLS-ALPN-01 challenge path, else the options for the SNI from the snapshot), complete the
//! handshake. What was negotiated is kept for the request path (SNI, ALPN, client chain).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::challenge::is_challenge;
use super::{TlsRuntime, TlsState};

/// Why a TLS connection did not come up (each is logged at debug level and the connection is
/// closed; none is an error of wharf).
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Not TLS, or a malformed ClientHello (rustls sends the alert).
    #[error("bad ClientHello: {0}")]
    Hello(std::io::Error),
    /// The handshake failed (no certificate under sniStrict, no common version or suite,
    /// client certificate refused...).
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    /// An `acme-tls/1` ClientHello for a domain with no pending challenge.
    #[error("TLS-ALPN-01 validation for `{0}` with no pending challenge")]
    NoChallenge(String),
}

/// What a TLS connection negotiated.
#[derive(Clone, Debug, Default)]
pub struct TlsConnInfo {
    /// The SNI the client sent (lower-case).
    pub sni: Option<Arc<str>>,
    /// The negotiated ALPN protocol (`h2`, `http/1.1`).
    pub alpn: Option<Vec<u8>>,
    /// The client's certificate chain, leaf first, when it presented one (mTLS,
    /// PassTLSClientCert).
    pub peer_certificates: Option<Arc<[CertificateDer<'static>]>>,
    /// `TLSv1_3` / `TLSv1_2`.
    pub version: Option<&'static str>,
    /// The negotiated cipher suite by its IANA name (`TLS_AES_128_GCM_SHA256`), as Go names it.
    pub cipher: Option<&'static str>,
    /// The TLS options used (their qualified name).
    pub options: Arc<str>,
}

/// Whether the first byte a client sent opens a TLS handshake record.
pub fn is_tls_client_hello(first: u8) -> bool {
    first == 0x16
}

/// Runs the server side of a handshake with the configs of `state`.
pub async fn accept<IO>(
    io: IO,
    state: &TlsState,
) -> Result<(TlsStream<IO>, TlsConnInfo), AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io)
        .await
        .map_err(AcceptError::Hello)?;
    let hello = start.client_hello();
    let sni: Option<Arc<str>> = hello
        .server_name()
        .map(|s| Arc::from(s.trim_end_matches('.').to_ascii_lowercase()));
    let (config, options_name) = if is_challenge(&hello) {
        let rt = TlsRuntime::global();
        let has = sni
            .as_deref()
            .is_some_and(|s| rt.challenges.get(s).is_some());
        match (&rt.challenge_config, has) {
            (Some(c), true) => (c.clone(), Arc::<str>::from("acme-tls/1")),
            _ => {
                return Err(AcceptError::NoChallenge(
                    sni.as_deref().unwrap_or("").to_string(),
                ))
            }
        }
    } else {
        let o = state.options_for(sni.as_deref());
        (o.config.clone(), Arc::<str>::from(o.name.as_str()))
    };
    let stream = start
        .into_stream(config)
        .await
        .map_err(AcceptError::Handshake)?;
    let (_, conn) = stream.get_ref();
    let info = TlsConnInfo {
        sni,
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        peer_certificates: conn.peer_certificates().map(|c| Arc::from(c.to_vec())),
        version: conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1_3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1_2",
            _ => "other",
        }),
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .map(|n| match n.strip_prefix("TLS13_") {
                // rustls spells TLS 1.3 suites `TLS13_*`; IANA (and Go) `TLS_*`.
                Some(rest) => match rest {
                    "AES_128_GCM_SHA256" => "TLS_AES_128_GCM_SHA256",
                    "AES_256_GCM_SHA384" => "TLS_AES_256_GCM_SHA384",
                    "CHACHA20_POLY1305_SHA256" => "TLS_CHACHA20_POLY1305_SHA256",
                    _ => n,
                },
                None => n,
            }),
        options: options_name,
    };
    Ok((stream, info))
}
