//! Entry-point addresses as Traefik writes them (`:80`, `0.0.0.0:80`, `[::]:443`, `:80/tcp`,
//! `:53/udp`) parsed into socket addresses for the listeners.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an entry-point address is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("empty address (expected e.g. \":80\" or \"0.0.0.0:8080\")")]
    Empty,
    #[error("UDP entry points are not supported yet ({0:?})")]
    UdpUnsupported(String),
    #[error("unknown protocol {protocol:?} in {input:?} (expected tcp or udp)")]
    BadProtocol { input: String, protocol: String },
    #[error("invalid address {input:?}: {reason}")]
    Invalid { input: String, reason: String },
}

/// A parsed entry-point address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress {
    /// Where to bind. `:80` binds all interfaces (IPv6 wildcard `[::]` as Traefik does, which
    /// on Linux also accepts IPv4 unless `bindv6only` is set; the listener may fall back).
    pub addr: SocketAddr,
    /// True when the host part was omitted (`:80`).
    pub any_host: bool,
}

impl ListenAddress {
    /// An address a local client (healthcheck) can connect to: the bound address, or loopback
    /// when bound to a wildcard.
    pub fn local_target(&self) -> SocketAddr {
        let ip = match self.addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port())
    }
}

/// Parses an entry-point address. Host names other than `localhost` are not resolved (a
/// listener binds an IP); `localhost` means 127.0.0.1.
pub fn parse_address(input: &str) -> Result<ListenAddress, AddressError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(AddressError::Empty);
    }
    let invalid = |reason: &str| AddressError::Invalid {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let (hostport, proto) = match s.rsplit_once('/') {
        Some((hp, p)) => (hp, Some(p)),
        None => (s, None),
    };
    match proto.map(str::to_ascii_lowercase).as_deref() {
        None | Some("tcp") => {}
        Some("udp") => return Err(AddressError::UdpUnsupported(input.to_string())),
        Some(p) => {
            return Err(AddressError::BadProtocol {
                input: input.to_string(),
                protocol: p.to_string(),
            })
        }
    }
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| invalid("expected [ipv6]:port"))?;
        (h, p)
    } else {
        hostport
            .rsplit_once(':')
            .ok_or_else(|| invalid("missing \":port\""))?
    };
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port must be a number from 0 to 65535"))?;
    let (ip, any_host) = if host.is_empty() {
        (IpAddr::V6(Ipv6Addr::UNSPECIFIED), true)
    } else if host.eq_ignore_ascii_case("localhost") {
        (IpAddr::V4(Ipv4Addr::LOCALHOST), false)
    } else {
        let ip = host
            .parse::<IpAddr>()
            .map_err(|_| invalid("the host must be an IP address (or empty for all interfaces)"))?;
        (ip, false)
    };
    Ok(ListenAddress {
        addr: SocketAddr::new(ip, port),
        any_host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = parse_address(":80").unwrap();
        assert_eq!(a.addr, "[::]:80".parse().unwrap());
        assert!(a.any_host);
        assert_eq!(a.local_target(), "127.0.0.1:80".parse().unwrap());
        assert_eq!(
            parse_address("0.0.0.0:8080").unwrap().addr,
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(
            parse_address("[::]:443").unwrap().addr,
            "[::]:443".parse().unwrap()
        );
        assert_eq!(
            parse_address("[::1]:443").unwrap().local_target(),
            "[::1]:443".parse().unwrap()
        );
        assert_eq!(
            parse_address(":80/tcp").unwrap().addr,
            "[::]:80".parse().unwrap()
        );
        assert_eq!(
            parse_address("127.0.0.1:0").unwrap().addr,
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_address("localhost:9000").unwrap().addr,
            "127.0.0.1:9000".parse().unwrap()
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_address(":53/udp"),
            Err(AddressError::UdpUnsupported(":53/udp".into()))
        );
        assert!(matches!(
            parse_address(":80/sctp"),
            Err(AddressError::BadProtocol { .. })
        ));
        assert!(matches!(
            parse_address("80"),
            Err(AddressError::Invalid { .. })
        ));
        assert!(matches!(
            parse_address(":99999"),
            Err(AddressError::Invalid { .. })
        ));
        assert!(matches!(
            parse_address("example.com:80"),
            Err(AddressError::Invalid { .. })
        ));
        assert_eq!(parse_address(""), Err(AddressError::Empty));
    }
}
