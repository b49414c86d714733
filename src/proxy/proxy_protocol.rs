//! PROXY protocol v1 (text) and v2 (binary), read once at the start of a connection on entry
//! points with a `proxyProtocol` section, before hyper sees a byte.
//!
//! Semantics follow Traefik (go-proxyproto with policy USE for trusted peers, IGNORE for the
//! others): a header is optional; a valid header from a trusted peer replaces the client
//! address; a header from an untrusted peer is read and dropped; a malformed header (or a peer
//! that stalls or hangs up inside it) closes the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line the spec allows, CRLF included.
const V1_MAX: usize = 107;
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Why a connection was closed while reading its PROXY header.
#[derive(Debug, thiserror::Error)]
pub enum ProxyProtocolError {
    #[error("connection closed inside the PROXY header")]
    Eof,
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed PROXY v1 header: {0}")]
    V1(&'static str),
    #[error("malformed PROXY v2 header: {0}")]
    V2(&'static str),
}

/// The outcome of reading the start of a connection.
#[derive(Debug)]
pub struct ProxyHeader {
    /// The client's address from the header; `None` without a header, for `LOCAL`/`UNKNOWN`,
    /// or for address families other than TCP/UDP over IPv4/IPv6.
    pub source: Option<SocketAddr>,
    /// Whether a header was present (and consumed).
    pub present: bool,
    /// Bytes read past the header (or all bytes read, without a header): hyper gets them first.
    pub rest: Bytes,
}

/// Reads a PROXY header if the connection starts with one. The caller bounds it with a timeout.
pub async fn read_header<R: AsyncRead + Unpin>(
    io: &mut R,
) -> Result<ProxyHeader, ProxyProtocolError> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        match classify(&buf)? {
            Step::NoHeader => {
                return Ok(ProxyHeader {
                    source: None,
                    present: false,
                    rest: buf.freeze(),
                });
            }
            Step::Header { len, source } => {
                buf.advance(len);
                return Ok(ProxyHeader {
                    source,
                    present: true,
                    rest: buf.freeze(),
                });
            }
            Step::NeedMore => {
                if io.read_buf(&mut buf).await? == 0 {
                    if buf.is_empty() {
                        // Closed before sending anything: nothing to serve, not an error of ours.
                        return Ok(ProxyHeader {
                            source: None,
                            present: false,
                            rest: Bytes::new(),
                        });
                    }
                    return Err(ProxyProtocolError::Eof);
                }
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Step {
    NeedMore,
    NoHeader,
    Header {
        len: usize,
        source: Option<SocketAddr>,
    },
}

fn classify(buf: &[u8]) -> Result<Step, ProxyProtocolError> {
    if buf.is_empty() {
        return Ok(Step::NeedMore);
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] == V1_PREFIX[..n] {
        return if n < V1_PREFIX.len() {
            Ok(Step::NeedMore)
        } else {
            parse_v1(buf)
        };
    }
    let n = buf.len().min(V2_SIG.len());
    if buf[..n] == V2_SIG[..n] {
        return if n < V2_SIG.len() {
            Ok(Step::NeedMore)
        } else {
            parse_v2(buf)
        };
    }
    Ok(Step::NoHeader)
}

fn parse_v1(buf: &[u8]) -> Result<Step, ProxyProtocolError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= V1_MAX {
            Err(ProxyProtocolError::V1("no CRLF within 107 bytes"))
        } else {
            Ok(Step::NeedMore)
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ProxyProtocolError::V1("line does not end in CRLF"));
    }
    let line = std::str::from_utf8(&window[V1_PREFIX.len()..lf - 1])
        .map_err(|_| ProxyProtocolError::V1("not ASCII"))?;
    let mut parts = line.split(' ');
    let source = match parts.next() {
        Some("UNKNOWN") => None,
        Some(fam @ ("TCP4" | "TCP6")) => {
            let src = parts
                .next()
                .ok_or(ProxyProtocolError::V1("missing source address"))?;
            let dst = parts
                .next()
                .ok_or(ProxyProtocolError::V1("missing destination address"))?;
            let sport = parts
                .next()
                .ok_or(ProxyProtocolError::V1("missing source port"))?;
            let dport = parts
                .next()
                .ok_or(ProxyProtocolError::V1("missing destination port"))?;
            if parts.next().is_some() {
                return Err(ProxyProtocolError::V1("trailing fields"));
            }
            let src: IpAddr = src
                .parse()
                .map_err(|_| ProxyProtocolError::V1("bad source address"))?;
            let dst: IpAddr = dst
                .parse()
                .map_err(|_| ProxyProtocolError::V1("bad destination address"))?;
            let v4 = fam == "TCP4";
            if src.is_ipv4() != v4 || dst.is_ipv4() != v4 {
                return Err(ProxyProtocolError::V1("address does not match the family"));
            }
            let sport = parse_port(sport)?;
            parse_port(dport)?;
            Some(SocketAddr::new(src, sport))
        }
        _ => return Err(ProxyProtocolError::V1("unknown protocol family")),
    };
    Ok(Step::Header {
        len: lf + 1,
        source,
    })
}

fn parse_port(s: &str) -> Result<u16, ProxyProtocolError> {
    // The spec forbids leading zeroes and signs; `u16::from_str` would accept "+1".
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(ProxyProtocolError::V1("bad port"));
    }
    s.parse().map_err(|_| ProxyProtocolError::V1("bad port"))
}

fn parse_v2(buf: &[u8]) -> Result<Step, ProxyProtocolError> {
    if buf.len() < 16 {
        return Ok(Step::NeedMore);
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err(ProxyProtocolError::V2("unsupported version"));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyProtocolError::V2("unknown command")),
    };
    let fam = buf[13];
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if buf.len() < 16 + len {
        return Ok(Step::NeedMore);
    }
    let body = &buf[16..16 + len];
    let source = match fam >> 4 {
        // AF_INET: src(4) dst(4) sport(2) dport(2)
        1 => {
            if body.len() < 12 {
                return Err(ProxyProtocolError::V2("IPv4 address block too short"));
            }
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([body[8], body[9]]),
            ))
        }
        // AF_INET6: src(16) dst(16) sport(2) dport(2)
        2 => {
            if body.len() < 36 {
                return Err(ProxyProtocolError::V2("IPv6 address block too short"));
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&body[..16]);
            Some(SocketAddr::new(
                Ipv6Addr::from(a).into(),
                u16::from_be_bytes([body[32], body[33]]),
            ))
        }
        // AF_UNSPEC, AF_UNIX: no usable client address.
        0 | 3 => None,
        _ => return Err(ProxyProtocolError::V2("unknown address family")),
    };
    Ok(Step::Header {
        len: 16 + len,
        source: if local { None } else { source },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(input: &[u8]) -> Result<ProxyHeader, ProxyProtocolError> {
        let mut r = input;
        read_header(&mut r).await
    }

    pub(crate) fn v2_header(cmd: u8, fam: u8, addr: &[u8], tlv: &[u8]) -> Vec<u8> {
        let mut v = V2_SIG.to_vec();
        v.push(0x20 | cmd);
        v.push(fam);
        v.extend_from_slice(&((addr.len() + tlv.len()) as u16).to_be_bytes());
        v.extend_from_slice(addr);
        v.extend_from_slice(tlv);
        v
    }

    #[tokio::test]
    async fn v1_tcp4_and_tcp6() {
        let h = read(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n")
            .await
            .unwrap();
        assert!(h.present);
        assert_eq!(h.source, Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(&h.rest[..], b"GET / HTTP/1.1\r\n");
        let h = read(b"PROXY TCP6 2001:db8::1 2001:db8::2 1000 80\r\n")
            .await
            .unwrap();
        assert_eq!(h.source, Some("[2001:db8::1]:1000".parse().unwrap()));
        assert!(h.rest.is_empty());
        let h = read(b"PROXY UNKNOWN whatever\r\nX").await.unwrap();
        assert!(h.present);
        assert_eq!(h.source, None);
        assert_eq!(&h.rest[..], b"X");
    }

    #[tokio::test]
    async fn v1_malformed() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
        ] {
            assert!(
                read(bad).await.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = [b"PROXY ".as_slice(), &[b'A'; 200]].concat();
        assert!(matches!(read(&long).await, Err(ProxyProtocolError::V1(_))));
    }

    #[tokio::test]
    async fn no_header_passes_bytes_through() {
        let h = read(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(!h.present);
        assert_eq!(&h.rest[..], b"GET / HTTP/1.1\r\n\r\n");
        // A prefix of "PROXY " that diverges is plain data.
        let h = read(b"PROXZ").await.unwrap();
        assert!(!h.present);
        let h = read(b"").await.unwrap();
        assert!(!h.present && h.rest.is_empty());
    }

    #[tokio::test]
    async fn v2_families_and_commands() {
        let addr4 = [10, 0, 0, 9, 10, 0, 0, 1, 0x30, 0x39, 0, 80];
        let mut bytes = v2_header(1, 0x11, &addr4, &[0x04, 0, 1, 7]);
        bytes.extend_from_slice(b"PRI * HTTP/2.0");
        let h = read(&bytes).await.unwrap();
        assert_eq!(h.source, Some("10.0.0.9:12345".parse().unwrap()));
        assert_eq!(&h.rest[..], b"PRI * HTTP/2.0");

        let mut addr6 = [0u8; 36];
        addr6[15] = 1;
        addr6[32] = 0x01;
        addr6[33] = 0x02;
        let h = read(&v2_header(1, 0x21, &addr6, &[])).await.unwrap();
        assert_eq!(h.source, Some("[::1]:258".parse().unwrap()));

        let h = read(&v2_header(0, 0x11, &addr4, &[])).await.unwrap();
        assert!(h.present);
        assert_eq!(h.source, None, "LOCAL keeps the peer address");

        let h = read(&v2_header(1, 0x00, &[], &[])).await.unwrap();
        assert_eq!(h.source, None);
    }

    #[tokio::test]
    async fn v2_malformed() {
        assert!(read(&v2_header(1, 0x11, &[1, 2, 3], &[])).await.is_err());
        assert!(read(&v2_header(2, 0x11, &[0; 12], &[])).await.is_err());
        assert!(read(&v2_header(1, 0x51, &[0; 12], &[])).await.is_err());
        let mut bad_version = v2_header(1, 0x11, &[0; 12], &[]);
        bad_version[12] = 0x11;
        assert!(read(&bad_version).await.is_err());
        // Truncated: the peer hangs up inside the header.
        let full = v2_header(1, 0x11, &[0; 12], &[]);
        assert!(matches!(
            read(&full[..20]).await,
            Err(ProxyProtocolError::Eof)
        ));
    }
}
