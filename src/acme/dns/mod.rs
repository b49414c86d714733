//! DNS-01 for the ACME resolvers: the DNS providers (`rfc2136`: dynamic updates signed with
//! TSIG; `exec`: lego's external program), and the propagation check that runs after the record
//! is published and before the CA is told to validate (Traefik v3's `dnsChallenge.resolvers` and
//! `dnsChallenge.propagation.*`). Credentials come from lego's environment variables
//! (`RFC2136_NAMESERVER`, `RFC2136_TSIG_KEY`, ...; each also as `<NAME>_FILE`).

pub mod tsig;
pub mod wire;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::challenge::DnsExec;
use crate::config::DnsChallenge;

/// Why a DNS-01 step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("{0}")]
    Config(String),
    #[error("DNS server {server}: {reason}")]
    Exchange { server: String, reason: String },
    #[error("DNS update of `{fqdn}` on {server} refused: {rcode}")]
    Refused {
        fqdn: String,
        server: String,
        rcode: String,
    },
    #[error("no zone found for `{0}` (no SOA answered)")]
    NoZone(String),
    #[error("DNS server {server}: {source}")]
    Tsig {
        server: String,
        source: tsig::TsigError,
    },
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error("{0}")]
    Exec(String),
}

/// lego's environment variables: the process environment, or a fixed map (tests, embedding).
#[derive(Clone, Debug, Default)]
pub struct LegoEnv(Option<Arc<BTreeMap<String, String>>>);

impl LegoEnv {
    pub fn process() -> Self {
        LegoEnv(None)
    }

    pub fn fixed(vars: BTreeMap<String, String>) -> Self {
        LegoEnv(Some(Arc::new(vars)))
    }

    fn raw(&self, name: &str) -> Option<String> {
        match &self.0 {
            Some(m) => m.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
        .filter(|v| !v.is_empty())
    }

    /// `NAME`, else the trimmed contents of the file named by `NAME_FILE` (lego's convention).
    pub fn get(&self, name: &str) -> Result<Option<String>, DnsError> {
        if let Some(v) = self.raw(name) {
            return Ok(Some(v));
        }
        let Some(path) = self.raw(&format!("{name}_FILE")) else {
            return Ok(None);
        };
        std::fs::read_to_string(&path)
            .map(|s| Some(s.trim().to_string()))
            .map_err(|e| DnsError::Config(format!("{name}_FILE `{path}`: {e}")))
    }

    /// A duration in seconds (lego's `env.GetOrDefaultSecond`).
    fn seconds(&self, name: &str, default: Duration) -> Result<Duration, DnsError> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| DnsError::Config(format!("{name}: `{v}` is not a number of seconds"))),
        }
    }
}

/// lego's defaults for every DNS provider.
const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_POLLING_INTERVAL: Duration = Duration::from_secs(2);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `host`, `host:port`, `[v6]:port` or `v6` → an address (port 53 by default); host names are
/// looked up.
pub async fn server_addr(s: &str) -> Result<SocketAddr, DnsError> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    let target = if s
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_string()
    } else {
        format!("{s}:53")
    };
    tokio::net::lookup_host(&target)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| DnsError::Config(format!("cannot resolve DNS server `{s}`")))
}

/// One request/answer with `server`: UDP, then TCP when the answer is truncated.
pub async fn exchange(
    server: SocketAddr,
    msg: &[u8],
    timeout: Duration,
) -> Result<(Vec<u8>, wire::Message), DnsError> {
    let err = |reason: String| DnsError::Exchange {
        server: server.to_string(),
        reason,
    };
    let Some(id) = msg.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return Err(err("empty message".into()));
    };
    let udp = async {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().unwrap_or(server)
        } else {
            "[::]:0".parse().unwrap_or(server)
        };
        let sock = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| err(e.to_string()))?;
        sock.connect(server).await.map_err(|e| err(e.to_string()))?;
        sock.send(msg).await.map_err(|e| err(e.to_string()))?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| err(e.to_string()))?;
            // Stray datagrams (late answers to an earlier try) are skipped.
            if let Ok(m) = wire::parse(&buf[..n]) {
                if m.id == id && m.is_response() {
                    return Ok::<_, DnsError>((buf[..n].to_vec(), m));
                }
            }
        }
    };
    let (bytes, m) = tokio::time::timeout(timeout, udp)
        .await
        .map_err(|_| err(format!("no answer within {timeout:?}")))??;
    if !m.truncated() {
        return Ok((bytes, m));
    }
    let tcp = async {
        let mut s = tokio::net::TcpStream::connect(server)
            .await
            .map_err(|e| err(e.to_string()))?;
        let len = u16::try_from(msg.len()).map_err(|_| err("message too long".into()))?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        s.write_all(&framed).await.map_err(|e| err(e.to_string()))?;
        let n = s.read_u16().await.map_err(|e| err(e.to_string()))?;
        let mut buf = vec![0u8; usize::from(n)];
        s.read_exact(&mut buf)
            .await
            .map_err(|e| err(e.to_string()))?;
        let m = wire::parse(&buf).map_err(|e| err(e.to_string()))?;
        Ok::<_, DnsError>((buf, m))
    };
    tokio::time::timeout(timeout, tcp)
        .await
        .map_err(|_| err(format!("no TCP answer within {timeout:?}")))?
}

/// Asks `servers` in order until one answers.
async fn query_any(
    servers: &[SocketAddr],
    name: &str,
    qtype: u16,
    rd: bool,
    timeout: Duration,
) -> Result<wire::Message, DnsError> {
    let mut last = DnsError::Config("no DNS server to ask".into());
    for s in servers {
        let q = wire::query(rand::random(), name, qtype, rd)?;
        match exchange(*s, &q, timeout).await {
            Ok((_, m)) => return Ok(m),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The zone holding `fqdn`: the closest enclosing name whose SOA query answers with a SOA
/// (lego's `FindZoneByFqdn`).
pub async fn find_zone(
    fqdn: &str,
    servers: &[SocketAddr],
    timeout: Duration,
) -> Result<String, DnsError> {
    let fqdn = wire::fqdn(fqdn);
    let mut candidate = fqdn.as_str();
    loop {
        if candidate.is_empty() || candidate == "." {
            return Err(DnsError::NoZone(fqdn));
        }
        if let Ok(m) = query_any(servers, candidate, wire::TYPE_SOA, true, timeout).await {
            match m.rcode() {
                0 => {
                    let cname = m.answers.iter().any(|r| r.rtype == wire::TYPE_CNAME);
                    if let Some(soa) = m.answers.iter().find(|r| r.rtype == wire::TYPE_SOA) {
                        if !cname {
                            return Ok(soa.name.clone());
                        }
                    }
                }
                3 => {}
                rc => {
                    return Err(DnsError::Exchange {
                        server: format!("{servers:?}"),
                        reason: format!(
                            "SOA query for `{candidate}` answered {}",
                            wire::rcode_name(rc)
                        ),
                    })
                }
            }
        }
        candidate = match candidate.split_once('.') {
            Some((_, rest)) => rest,
            None => "",
        };
    }
}

/// The nameservers from `/etc/resolv.conf` (lego's default recursive servers).
fn system_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|v| v.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The propagation check (Traefik v3 `dnsChallenge.propagation`, lego's pre-check).
#[derive(Clone, Debug)]
pub struct Propagation {
    /// `dnsChallenge.resolvers` (else `/etc/resolv.conf`), as configured.
    pub resolvers: Vec<String>,
    pub delay: Duration,
    /// `disableChecks` (or the deprecated `disablePropagationCheck`).
    pub disabled: bool,
    pub disable_ans: bool,
    pub require_all_rns: bool,
    pub timeout: Duration,
    pub interval: Duration,
    pub query_timeout: Duration,
    /// Follow a CNAME at `_acme-challenge.<domain>` (off with `LEGO_DISABLE_CNAME_SUPPORT`).
    pub follow_cname: bool,
}

impl Propagation {
    /// From `dnsChallenge` and the provider's `<PREFIX>_PROPAGATION_TIMEOUT` /
    /// `<PREFIX>_POLLING_INTERVAL`.
    pub fn new(d: &DnsChallenge, env: &LegoEnv, prefix: &str) -> Result<Self, DnsError> {
        let p = d.propagation.clone().unwrap_or_default();
        let delay = Some(p.delay_before_checks.get())
            .filter(|d| !d.is_zero())
            .unwrap_or(d.delay_before_check.get());
        Ok(Propagation {
            resolvers: d.resolvers.clone(),
            delay,
            disabled: p.disable_checks || d.disable_propagation_check,
            disable_ans: p.disable_ans_checks,
            require_all_rns: p.require_all_rns,
            timeout: env.seconds(
                &format!("{prefix}_PROPAGATION_TIMEOUT"),
                DEFAULT_PROPAGATION_TIMEOUT,
            )?,
            interval: env
                .seconds(
                    &format!("{prefix}_POLLING_INTERVAL"),
                    DEFAULT_POLLING_INTERVAL,
                )?
                .max(Duration::from_millis(100)),
            query_timeout: Duration::from_secs(5),
            follow_cname: !env
                .get("LEGO_DISABLE_CNAME_SUPPORT")?
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true")),
        })
    }

    /// Where the record for `fqdn` goes: the end of its CNAME chain on the resolvers (lego:
    /// delegating `_acme-challenge` to another zone by CNAME is the recommended setup), or
    /// `fqdn` itself when there is none or no resolver answers.
    pub async fn effective_fqdn(&self, fqdn: &str) -> String {
        let mut fqdn = wire::fqdn(fqdn);
        if !self.follow_cname {
            return fqdn;
        }
        let Ok(resolvers) = self.resolver_addrs().await else {
            return fqdn;
        };
        for _ in 0..50 {
            let Ok(m) = query_any(
                &resolvers,
                &fqdn,
                wire::TYPE_CNAME,
                true,
                self.query_timeout,
            )
            .await
            else {
                break;
            };
            if m.rcode() != 0 {
                break;
            }
            let next = m.answers.iter().find_map(|r| match &r.data {
                wire::RData::Name(n) if r.rtype == wire::TYPE_CNAME && r.name == fqdn => {
                    Some(n.clone())
                }
                _ => None,
            });
            match next {
                Some(n) if n != fqdn => fqdn = n,
                _ => break,
            }
        }
        fqdn
    }

    async fn resolver_addrs(&self) -> Result<Vec<SocketAddr>, DnsError> {
        if self.resolvers.is_empty() {
            let sys = system_resolvers();
            if sys.is_empty() {
                return Err(DnsError::Config(
                    "no DNS resolver: set dnsChallenge.resolvers (no nameserver in /etc/resolv.conf)"
                        .into(),
                ));
            }
            return Ok(sys);
        }
        let mut out = Vec::new();
        for r in &self.resolvers {
            out.push(server_addr(r).await?);
        }
        Ok(out)
    }

    /// Waits `delayBeforeChecks`, then polls until the TXT value is visible where required, or
    /// fails after the propagation timeout with the last reason.
    pub async fn wait(&self, fqdn: &str, value: &str) -> Result<(), DnsError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.disabled {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let why = match self.check(fqdn, value).await {
                Ok(None) => return Ok(()),
                Ok(Some(why)) => why,
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() + self.interval > deadline {
                return Err(DnsError::Exec(format!(
                    "propagation: `{fqdn}` TXT not visible after {:?}: {why}",
                    self.timeout
                )));
            }
            tracing::debug!(%fqdn, "TXT record not visible yet: {why}");
            tokio::time::sleep(self.interval).await;
        }
    }

    /// `Ok(None)`: visible everywhere required; `Ok(Some(why))`: not yet.
    async fn check(&self, fqdn: &str, value: &str) -> Result<Option<String>, DnsError> {
        let resolvers = self.resolver_addrs().await?;
        let t = self.query_timeout;
        let mut fqdn = wire::fqdn(fqdn);
        // The first answer follows a CNAME (delegated `_acme-challenge` names).
        let first = query_any(&resolvers, &fqdn, wire::TYPE_TXT, true, t).await?;
        if first.rcode() == 0 {
            if let Some(target) = first.answers.iter().find_map(|r| match &r.data {
                wire::RData::Name(n) if r.rtype == wire::TYPE_CNAME && r.name == fqdn => {
                    Some(n.clone())
                }
                _ => None,
            }) {
                fqdn = target;
            }
        }
        if self.require_all_rns {
            for r in &resolvers {
                if let Some(why) = txt_visible(*r, &fqdn, value, true, t).await {
                    return Ok(Some(format!("recursive nameserver {r}: {why}")));
                }
            }
        }
        if self.disable_ans {
            return Ok(None);
        }
        let zone = find_zone(&fqdn, &resolvers, t).await?;
        let ns = query_any(&resolvers, &zone, wire::TYPE_NS, true, t).await?;
        let names: Vec<String> = ns
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                wire::RData::Name(n) if r.rtype == wire::TYPE_NS => Some(n.clone()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Ok(Some(format!("no NS record for zone `{zone}`")));
        }
        for n in names {
            let a = query_any(&resolvers, &n, wire::TYPE_A, true, t).await?;
            let ip = a.answers.iter().find_map(|r| match r.data {
                wire::RData::A(ip) => Some(IpAddr::V4(ip)),
                _ => None,
            });
            let Some(ip) = ip else {
                return Ok(Some(format!(
                    "no address for authoritative nameserver `{n}`"
                )));
            };
            let addr = SocketAddr::new(ip, 53);
            if let Some(why) = txt_visible(addr, &fqdn, value, false, t).await {
                return Ok(Some(format!(
                    "authoritative nameserver {n} ({addr}): {why}"
                )));
            }
        }
        Ok(None)
    }
}

/// `None` when `server` answers the TXT value for `fqdn`, else why not.
async fn txt_visible(
    server: SocketAddr,
    fqdn: &str,
    value: &str,
    rd: bool,
    timeout: Duration,
) -> Option<String> {
    let q = match wire::query(rand::random(), fqdn, wire::TYPE_TXT, rd) {
        Ok(q) => q,
        Err(e) => return Some(e.to_string()),
    };
    match exchange(server, &q, timeout).await {
        Err(e) => Some(e.to_string()),
        Ok((_, m)) if m.rcode() != 0 => Some(format!("answered {}", wire::rcode_name(m.rcode()))),
        Ok((_, m)) => {
            let found = m
                .answers
                .iter()
                .any(|r| matches!(&r.data, wire::RData::Txt(t) if t == value));
            (!found).then(|| "the TXT value is not there yet".to_string())
        }
    }
}

/// lego's `rfc2136` provider.
#[derive(Clone, Debug)]
pub struct Rfc2136 {
    /// `RFC2136_NAMESERVER` as given (resolved on use).
    pub nameserver: String,
    pub key: Option<tsig::Key>,
    /// `RFC2136_TTL` (default 120).
    pub ttl: u32,
    /// `RFC2136_DNS_TIMEOUT` (default 10 s).
    pub timeout: Duration,
}

/// Reads BIND's key file (`tsig-keygen` output: `key "name" { algorithm ...; secret "..."; };`).
fn parse_bind_key(text: &str) -> Option<(String, String, String)> {
    let after = text.split_once("key")?.1;
    let (name_part, body) = after.split_once('{')?;
    let name = name_part.trim().trim_matches('"').to_string();
    let mut alg = None;
    let mut secret = None;
    for stmt in body.split(';') {
        let stmt = stmt.trim().trim_start_matches('{').trim();
        if let Some(v) = stmt.strip_prefix("algorithm") {
            alg = Some(v.trim().trim_matches('"').to_string());
        } else if let Some(v) = stmt.strip_prefix("secret") {
            secret = Some(v.trim().trim_matches('"').to_string());
        }
    }
    Some((name, alg?, secret?))
}

impl Rfc2136 {
    /// From lego's variables: `RFC2136_NAMESERVER` (required), `RFC2136_TSIG_KEY`,
    /// `RFC2136_TSIG_SECRET`, `RFC2136_TSIG_ALGORITHM` (default `hmac-sha1.`), or
    /// `RFC2136_TSIG_FILE` (a BIND key file), `RFC2136_TTL`, `RFC2136_DNS_TIMEOUT`.
    pub fn from_env(env: &LegoEnv) -> Result<Self, DnsError> {
        let nameserver = env.get("RFC2136_NAMESERVER")?.ok_or_else(|| {
            DnsError::Config("dnsChallenge.provider `rfc2136` needs RFC2136_NAMESERVER".into())
        })?;
        let mut key_name = env.get("RFC2136_TSIG_KEY")?;
        let mut secret = env.get("RFC2136_TSIG_SECRET")?;
        let mut alg = env.get("RFC2136_TSIG_ALGORITHM")?;
        if let Some(path) = env.raw("RFC2136_TSIG_FILE") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| DnsError::Config(format!("RFC2136_TSIG_FILE `{path}`: {e}")))?;
            let (n, a, s) = parse_bind_key(&text).ok_or_else(|| {
                DnsError::Config(format!(
                    "RFC2136_TSIG_FILE `{path}`: not a key file (key \"name\" {{ algorithm ...; secret \"...\"; }};)"
                ))
            })?;
            key_name = Some(n);
            alg = Some(a);
            secret = Some(s);
        }
        // As lego: TSIG only when both the key name and the secret are set.
        let key = match (key_name, secret) {
            (Some(name), Some(secret)) => {
                let alg_name = alg.unwrap_or_else(|| "hmac-sha1.".into());
                let algorithm = tsig::Algorithm::parse(&alg_name).ok_or_else(|| {
                    DnsError::Config(format!(
                        "RFC2136_TSIG_ALGORITHM `{alg_name}` is not supported (hmac-md5.sig-alg.reg.int., hmac-sha1., hmac-sha224., hmac-sha256., hmac-sha384., hmac-sha512.)"
                    ))
                })?;
                let secret = super::store::decode_b64_lenient(&secret)
                    .ok_or_else(|| DnsError::Config("RFC2136_TSIG_SECRET is not base64".into()))?;
                Some(tsig::Key {
                    name: wire::fqdn(&name),
                    algorithm,
                    secret,
                })
            }
            _ => None,
        };
        let ttl = match env.get("RFC2136_TTL")? {
            None => 120,
            Some(v) => v.trim().parse().map_err(|_| {
                DnsError::Config(format!("RFC2136_TTL: `{v}` is not a number of seconds"))
            })?,
        };
        let timeout = env.seconds("RFC2136_DNS_TIMEOUT", Duration::from_secs(10))?;
        Ok(Rfc2136 {
            nameserver,
            key,
            ttl,
            timeout,
        })
    }

    /// Adds (`present`) or removes (`cleanup`) the TXT record `value` at `fqdn`.
    pub async fn change(&self, present: bool, fqdn: &str, value: &str) -> Result<(), DnsError> {
        let server = server_addr(&self.nameserver).await?;
        let fqdn = wire::fqdn(fqdn);
        // As lego: the zone is found by asking the update server itself.
        let zone = find_zone(&fqdn, &[server], self.timeout).await?;
        let rr = if present {
            wire::add_txt(&fqdn, value, self.ttl)
        } else {
            wire::delete_txt(&fqdn, value)
        };
        let mut msg = wire::update(rand::random(), &zone, &[rr])?;
        let mac = match &self.key {
            Some(k) => Some(tsig::sign(&mut msg, k, unix_now(), 300)?),
            None => None,
        };
        let (bytes, answer) = exchange(server, &msg, self.timeout).await?;
        if answer.rcode() != 0 {
            // A TSIG failure comes back as NOTAUTH with the TSIG error inside; name it.
            let detail = match (&self.key, &mac) {
                (Some(k), Some(m)) => match tsig::verify(&bytes, &answer, k, m, unix_now()) {
                    Err(e @ tsig::TsigError::Server(_)) => format!(" ({e})"),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            return Err(DnsError::Refused {
                fqdn,
                server: server.to_string(),
                rcode: format!("{}{detail}", wire::rcode_name(answer.rcode())),
            });
        }
        if let (Some(k), Some(m)) = (&self.key, &mac) {
            tsig::verify(&bytes, &answer, k, m, unix_now()).map_err(|source| DnsError::Tsig {
                server: server.to_string(),
                source,
            })?;
        }
        Ok(())
    }
}

/// A DNS-01 provider.
#[derive(Clone, Debug)]
pub enum DnsProvider {
    Exec(DnsExec),
    Rfc2136(Rfc2136),
}

impl DnsProvider {
    /// The provider `dnsChallenge.provider` names, with its lego variables and propagation check.
    pub fn new(
        d: &DnsChallenge,
        env: &LegoEnv,
        exec_override: Option<DnsExec>,
    ) -> Result<(DnsProvider, Propagation), DnsError> {
        match d.provider.as_str() {
            "rfc2136" => Ok((
                DnsProvider::Rfc2136(Rfc2136::from_env(env)?),
                Propagation::new(d, env, "RFC2136")?,
            )),
            "exec" => {
                let exec = match exec_override {
                    Some(e) => e,
                    None => DnsExec::from_lego_env(env)?.ok_or_else(|| {
                        DnsError::Config(
                            "dnsChallenge.provider `exec` needs the EXEC_PATH environment variable"
                                .into(),
                        )
                    })?,
                };
                Ok((DnsProvider::Exec(exec), Propagation::new(d, env, "EXEC")?))
            }
            "" => Err(DnsError::Config("dnsChallenge.provider is empty".into())),
            other => Err(DnsError::Config(format!(
                "dnsChallenge.provider `{other}` is not supported (use `rfc2136`, or `exec` with EXEC_PATH for any other DNS service)"
            ))),
        }
    }

    /// Publishes (`present`) or removes (`cleanup`) a challenge record.
    pub async fn run(&self, present: bool, r: &DnsRecord) -> Result<(), DnsError> {
        match self {
            DnsProvider::Exec(e) => e
                .run(if present { "present" } else { "cleanup" }, r)
                .await
                .map_err(|e| DnsError::Exec(e.to_string())),
            DnsProvider::Rfc2136(p) => p.change(present, &r.fqdn, &r.value).await,
        }
    }
}

/// One DNS-01 challenge record.
#[derive(Clone, Debug)]
pub struct DnsRecord {
    /// The identifier (a wildcard's `*.` removed).
    pub domain: String,
    /// Where the TXT record goes: `_acme-challenge.<domain>.`, or the end of its CNAME chain.
    pub fqdn: String,
    pub token: String,
    pub key_auth: String,
    /// The TXT value (base64url SHA-256 of the key authorization).
    pub value: String,
}

/// `_acme-challenge.<domain>.` (a wildcard's `*.` removed).
pub fn challenge_fqdn(domain: &str) -> String {
    wire::fqdn(&format!(
        "_acme-challenge.{}",
        domain.trim_start_matches("*.")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> LegoEnv {
        LegoEnv::fixed(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn rfc2136_reads_lego_variables() {
        let e = env(&[
            ("RFC2136_NAMESERVER", "127.0.0.1:5353"),
            ("RFC2136_TSIG_KEY", "Wharf-Key"),
            ("RFC2136_TSIG_SECRET", "c2VjcmV0"),
            ("RFC2136_TSIG_ALGORITHM", "hmac-sha256."),
            ("RFC2136_TTL", "30"),
        ]);
        let r = Rfc2136::from_env(&e).expect("config");
        let k = r.key.expect("tsig");
        assert_eq!(
            (k.name.as_str(), k.algorithm),
            ("wharf-key.", tsig::Algorithm::HmacSha256)
        );
        assert_eq!(k.secret, b"secret");
        assert_eq!(r.ttl, 30);
        // No secret: no TSIG (lego's rule); the default algorithm is HMAC-SHA1.
        let r = Rfc2136::from_env(&env(&[
            ("RFC2136_NAMESERVER", "ns"),
            ("RFC2136_TSIG_KEY", "k"),
        ]))
        .expect("config");
        assert!(r.key.is_none());
        let r = Rfc2136::from_env(&env(&[
            ("RFC2136_NAMESERVER", "ns"),
            ("RFC2136_TSIG_KEY", "k"),
            ("RFC2136_TSIG_SECRET", "c2VjcmV0"),
        ]))
        .expect("config");
        assert_eq!(r.key.expect("key").algorithm, tsig::Algorithm::HmacSha1);
        let e = Rfc2136::from_env(&env(&[])).expect_err("needs a nameserver");
        assert!(e.to_string().contains("RFC2136_NAMESERVER"), "{e}");
        let e = Rfc2136::from_env(&env(&[
            ("RFC2136_NAMESERVER", "ns"),
            ("RFC2136_TSIG_KEY", "k"),
            ("RFC2136_TSIG_SECRET", "c2VjcmV0"),
            ("RFC2136_TSIG_ALGORITHM", "gss-tsig."),
        ]))
        .expect_err("unsupported");
        assert!(e.to_string().contains("gss-tsig"), "{e}");
    }

    #[test]
    fn file_variables_and_bind_key_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "c2VjcmV0\n").expect("write");
        let keyfile = dir.path().join("k.key");
        std::fs::write(
            &keyfile,
            "key \"ddns-key\" {\n\talgorithm hmac-sha512;\n\tsecret \"c2VjcmV0\";\n};\n",
        )
        .expect("write");
        let r = Rfc2136::from_env(&env(&[
            ("RFC2136_NAMESERVER", "ns"),
            ("RFC2136_TSIG_KEY", "k"),
            ("RFC2136_TSIG_SECRET_FILE", secret.to_str().expect("utf8")),
        ]))
        .expect("config");
        assert_eq!(r.key.expect("key").secret, b"secret");
        let r = Rfc2136::from_env(&env(&[
            ("RFC2136_NAMESERVER", "ns"),
            ("RFC2136_TSIG_FILE", keyfile.to_str().expect("utf8")),
        ]))
        .expect("config");
        let k = r.key.expect("key");
        assert_eq!(
            (k.name.as_str(), k.algorithm),
            ("ddns-key.", tsig::Algorithm::HmacSha512)
        );
    }

    #[test]
    fn propagation_settings_as_traefik_names_them() {
        let d: DnsChallenge = serde_norway::from_str(
            "provider: rfc2136\nresolvers: [\"127.0.0.1:53\"]\npropagation:\n  delayBeforeChecks: 2s\n  disableANSChecks: true\n  requireAllRNS: true\n",
        )
        .expect("yaml");
        let p = Propagation::new(&d, &env(&[("RFC2136_PROPAGATION_TIMEOUT", "7")]), "RFC2136")
            .expect("propagation");
        assert_eq!(p.delay, Duration::from_secs(2));
        assert!(p.disable_ans && p.require_all_rns && !p.disabled);
        assert_eq!(p.timeout, Duration::from_secs(7));
        assert_eq!(p.interval, Duration::from_secs(2));
        let d: DnsChallenge = serde_norway::from_str(
            "provider: exec\ndisablePropagationCheck: true\ndelayBeforeCheck: 1s\n",
        )
        .expect("yaml");
        let p = Propagation::new(&d, &env(&[]), "EXEC").expect("propagation");
        assert!(p.disabled);
        assert_eq!(p.delay, Duration::from_secs(1));
        assert_eq!(challenge_fqdn("*.A.test"), "_acme-challenge.a.test.");
    }
}
