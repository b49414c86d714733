//! The TLS part of a snapshot, built by compile: certificates into a [`CertStore`], TLS
//! options into rustls configs, the host → options map from TLS routers, and the certificate
//! inventory. Pure: file contents and `now` are inputs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::sign::CertifiedKey;
use sha2::Digest;
use wharf_providers::{DynamicConfig, ItemKind, Problem, TlsOptions};

use super::certs::{self, CertStore, CertificateInfo, CertificateSource, LeafFacts};
use super::options::{self, BuiltOptions};
use super::TlsRuntime;
use crate::compile::FileContents;

/// Certificates expiring within this are reported with a warning.
const EXPIRY_WARNING: Duration = Duration::from_secs(7 * 86_400);

/// The TLS state of one snapshot.
#[derive(Debug)]
pub struct TlsState {
    pub store: Arc<CertStore>,
    /// `tls.options.default` (or Traefik's defaults).
    pub default_options: Arc<BuiltOptions>,
    /// Options chosen by SNI: the hosts of TLS routers that name non-default options.
    pub by_host: HashMap<String, Arc<BuiltOptions>>,
    /// Every certificate (file, default store, generated) for `/api/certificates`.
    pub certificates: Vec<CertificateInfo>,
}

impl Default for TlsState {
    fn default() -> Self {
        let (state, _) = TlsBuilder::new(
            &DynamicConfig::default(),
            &FileContents::new(),
            SystemTime::now(),
        )
        .finish();
        state
    }
}

impl TlsState {
    /// Whether a request for `host` (normalized) arrived on a connection set up with other
    /// TLS options than `host`'s own (`conn_options`: [`TlsConnInfo::options`]): domain
    /// fronting around per-host client authentication or versions; the proxy answers 421.
    /// Stricter than Traefik, which skips the check when the client sent no SNI.
    ///
    /// [`TlsConnInfo::options`]: super::TlsConnInfo::options
    pub fn misdirected(&self, host: &str, conn_options: &str) -> bool {
        if self.by_host.is_empty() || host.is_empty() {
            return false;
        }
        self.options_for(Some(host)).name != conn_options
    }

    /// The options for a connection: those of the routers for its SNI, else the default.
    pub fn options_for(&self, sni: Option<&str>) -> &Arc<BuiltOptions> {
        if self.by_host.is_empty() {
            return &self.default_options;
        }
        sni.and_then(|s| {
            self.by_host
                .get(&s.trim_end_matches('.').to_ascii_lowercase())
        })
        .unwrap_or(&self.default_options)
    }
}

/// How one router uses TLS on one entry point (its own `tls`, or the entry point's default).
#[derive(Clone, Debug, Default)]
pub struct RouterTlsUse {
    /// Qualified router name.
    pub router: String,
    /// Qualified options name; empty means `default`.
    pub options: String,
    /// The router's domains: `tls.domains` (main and SANs), then the `Host`s of its rule.
    pub domains: Vec<String>,
}

struct LoadedCert {
    info: CertificateInfo,
    /// Names to match routers against (empty when disabled).
    names: Vec<String>,
}

/// Builds a [`TlsState`]: `new` loads certificates and options, [`TlsBuilder::options`]
/// resolves a router's options (and its warnings), [`TlsBuilder::add_router`] records a TLS
/// router, [`TlsBuilder::finish`] returns the state and the problems to report.
pub struct TlsBuilder {
    store: Arc<CertStore>,
    certs: Vec<LoadedCert>,
    options: BTreeMap<String, Result<Arc<BuiltOptions>, String>>,
    default_options: Arc<BuiltOptions>,
    routers: Vec<(RouterTlsUse, Arc<BuiltOptions>)>,
    problems: Vec<Problem>,
}

fn id_of(bytes: &[u8]) -> String {
    let d = sha2::Sha256::digest(bytes);
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The PEM of a `certFile`/`keyFile` field: inline, or the loaded file.
fn pem_of<'a>(field: &'a str, files: &'a FileContents, what: &str) -> Result<&'a [u8], String> {
    if field.contains("-----BEGIN") {
        return Ok(field.as_bytes());
    }
    if field.is_empty() {
        return Err(format!("{what} is empty"));
    }
    match files.get(field) {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(format!("{what} `{field}` cannot be read: {e}")),
        None => Err(format!("{what} `{field}` was not loaded")),
    }
}

fn label(field: &str) -> String {
    if field.contains("-----BEGIN") {
        "inline".into()
    } else {
        field.to_string()
    }
}

/// A loaded pair (or why not), the certificate's id, and its warnings.
type Loaded = (
    Result<(Arc<CertifiedKey>, LeafFacts), String>,
    String,
    Vec<String>,
);

/// Loads one certificate/key pair: the rustls key and the leaf's facts, or why not.
fn load_pair(cert_field: &str, key_field: &str, files: &FileContents, now: SystemTime) -> Loaded {
    let mut warnings = Vec::new();
    let cert_pem = match pem_of(cert_field, files, "certFile") {
        Ok(p) => p,
        Err(e) => return (Err(e), id_of(cert_field.as_bytes()), warnings),
    };
    let key_pem = match pem_of(key_field, files, "keyFile") {
        Ok(p) => p,
        Err(e) => return (Err(e), id_of(cert_field.as_bytes()), warnings),
    };
    let (chain, key) = match certs::load_pem_pair(cert_pem, key_pem) {
        Ok(x) => x,
        Err(e) => {
            return (
                Err(format!("certFile `{}`: {e}", label(cert_field))),
                id_of(cert_field.as_bytes()),
                warnings,
            )
        }
    };
    let id = id_of(chain[0].as_ref());
    let facts = match certs::leaf_facts(&chain[0]) {
        Ok(f) => f,
        Err(e) => {
            return (
                Err(format!("certFile `{}`: {e}", label(cert_field))),
                id,
                warnings,
            )
        }
    };
    let ck = match certs::certified_key(chain, key) {
        Ok(k) => k,
        Err(e) => {
            return (
                Err(format!(
                    "certFile `{}` / keyFile `{}`: {e}",
                    label(cert_field),
                    label(key_field)
                )),
                id,
                warnings,
            )
        }
    };
    if facts.not_after < now {
        return (
            Err(format!(
                "certFile `{}`: certificate expired on {}",
                label(cert_field),
                certs::rfc3339(facts.not_after)
            )),
            id,
            warnings,
        );
    }
    if facts.not_before > now {
        warnings.push(format!(
            "not valid before {}",
            certs::rfc3339(facts.not_before)
        ));
    }
    if facts.not_after < now + EXPIRY_WARNING {
        warnings.push(format!("expires on {}", certs::rfc3339(facts.not_after)));
    }
    (Ok((Arc::new(ck), facts)), id, warnings)
}

fn info(
    id: String,
    source: CertificateSource,
    cert_file: String,
    facts: Option<&LeafFacts>,
    error: Option<String>,
    warnings: Vec<String>,
) -> CertificateInfo {
    CertificateInfo {
        id,
        source,
        cert_file,
        stores: vec!["default".into()],
        domains: facts.map(|f| f.domains.clone()).unwrap_or_default(),
        subject: facts.map(|f| f.subject.clone()).unwrap_or_default(),
        issuer: facts.map(|f| f.issuer.clone()).unwrap_or_default(),
        serial: facts.map(|f| f.serial.clone()).unwrap_or_default(),
        not_before: facts
            .map(|f| certs::rfc3339(f.not_before))
            .unwrap_or_default(),
        not_after: facts
            .map(|f| certs::rfc3339(f.not_after))
            .unwrap_or_default(),
        not_after_unix: facts.map(|f| certs::unix(f.not_after)).unwrap_or(0),
        routers: Vec::new(),
        status: if error.is_some() {
            "disabled"
        } else {
            "enabled"
        }
        .into(),
        error,
        warnings,
    }
}

/// `domain.main` then `domain.sans`, lower-case, without duplicates or empties.
pub fn generated_cert_names(d: &wharf_providers::Domain) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in std::iter::once(&d.main).chain(d.sans.iter()) {
        let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Whether certificate name `pattern` (maybe `*.x`) covers `host`.
fn name_covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(_, parent)| parent == suffix),
        None => pattern == host,
    }
}

impl TlsBuilder {
    /// Loads certificates and compiles every `tls.options` entry.
    pub fn new(cfg: &DynamicConfig, files: &FileContents, now: SystemTime) -> TlsBuilder {
        let rt = TlsRuntime::global();
        let mut store = CertStore::default();
        let mut loaded = Vec::new();
        let mut problems = Vec::new();
        // Keys of the usable certificates with their names, for `defaultGeneratedCert`.
        let mut usable: Vec<(Vec<String>, Arc<CertifiedKey>)> = Vec::new();

        for (i, c) in cfg.tls.certificates.iter().enumerate() {
            let name = format!("tls.certificates[{i}]");
            let (r, id, mut warnings) = load_pair(&c.cert_file, &c.key_file, files, now);
            if !c.stores.is_empty() && c.stores.iter().any(|s| s != "default") {
                warnings.push(format!(
                    "stores {:?}: only the `default` store exists; the certificate is put there",
                    c.stores
                ));
            }
            match r {
                Ok((key, facts)) => {
                    let taken = store.add(&facts.domains, &key);
                    if !taken.is_empty() {
                        warnings.push(format!(
                            "{} already served by an earlier certificate",
                            taken.join(", ")
                        ));
                    }
                    for w in &warnings {
                        problems.push(Problem::warning(
                            ItemKind::TlsCertificate,
                            &name,
                            format!("{name} ({}): {w}", label(&c.cert_file)),
                        ));
                    }
                    let names = facts.domains.clone();
                    usable.push((names.clone(), key.clone()));
                    loaded.push(LoadedCert {
                        info: info(
                            id,
                            CertificateSource::File,
                            label(&c.cert_file),
                            Some(&facts),
                            None,
                            warnings,
                        ),
                        names,
                    });
                }
                Err(e) => {
                    problems.push(Problem::error(
                        ItemKind::TlsCertificate,
                        &name,
                        format!("{name}: disabled: {e}"),
                    ));
                    loaded.push(LoadedCert {
                        info: info(
                            id,
                            CertificateSource::File,
                            label(&c.cert_file),
                            None,
                            Some(e),
                            warnings,
                        ),
                        names: Vec::new(),
                    });
                }
            }
        }

        // The default certificate: the store's, else the generated one.
        let mut default: Option<Arc<CertifiedKey>> = None;
        if let Some(dc) = cfg
            .tls
            .stores
            .get("default")
            .and_then(|s| s.default_certificate.as_ref())
        {
            let name = "tls.stores.default.defaultCertificate";
            let (r, id, warnings) = load_pair(&dc.cert_file, &dc.key_file, files, now);
            match r {
                Ok((key, facts)) => {
                    default = Some(key);
                    loaded.push(LoadedCert {
                        info: info(
                            id,
                            CertificateSource::DefaultStore,
                            label(&dc.cert_file),
                            Some(&facts),
                            None,
                            warnings,
                        ),
                        names: Vec::new(),
                    });
                }
                Err(e) => {
                    problems.push(Problem::error(
                        ItemKind::TlsStore,
                        "default",
                        format!("{name}: disabled: {e}; serving the generated default certificate"),
                    ));
                    loaded.push(LoadedCert {
                        info: info(
                            id,
                            CertificateSource::DefaultStore,
                            label(&dc.cert_file),
                            None,
                            Some(e),
                            warnings,
                        ),
                        names: Vec::new(),
                    });
                }
            }
        }
        // `defaultGeneratedCert`: the certificate an ACME resolver obtains for `domain` (its
        // resolver orders it even when no router asks) becomes the default one. Until it is
        // issued, the generated certificate answers.
        if let Some(g) = cfg
            .tls
            .stores
            .get("default")
            .and_then(|s| s.default_generated_cert.as_ref())
        {
            let name = "tls.stores.default.defaultGeneratedCert";
            let names = g
                .domain
                .as_ref()
                .map(generated_cert_names)
                .unwrap_or_default();
            if default.is_some() {
                problems.push(Problem::warning(
                    ItemKind::TlsStore,
                    "default",
                    format!("{name} is ignored: defaultCertificate is set too (set only one)"),
                ));
            } else if g.resolver.is_empty() || names.is_empty() {
                problems.push(Problem::error(
                    ItemKind::TlsStore,
                    "default",
                    format!("{name} needs `resolver` and `domain.main`; the generated default certificate is used"),
                ));
            } else if let Some((_, key)) = usable
                .iter()
                .find(|(have, _)| names.iter().all(|n| have.iter().any(|h| name_covers(h, n))))
            {
                default = Some(key.clone());
            } else {
                problems.push(Problem::warning(
                    ItemKind::TlsStore,
                    "default",
                    format!(
                        "{name}: resolver `{}` has no certificate for {} yet; the generated default certificate is used meanwhile",
                        g.resolver,
                        names.join(", ")
                    ),
                ));
            }
        }
        for (name, s) in &cfg.tls.stores {
            if name != "default"
                && (s.default_generated_cert.is_some() || s.default_certificate.is_some())
            {
                problems.push(Problem::warning(
                    ItemKind::TlsStore,
                    name,
                    format!("tls.stores.{name} is ignored: only the `default` store exists (as in Traefik)"),
                ));
            }
        }
        if default.is_none() {
            match certs::generated_default() {
                Ok((key, facts)) => {
                    default = Some(key.clone());
                    loaded.push(LoadedCert {
                        info: info(
                            id_of(key.cert[0].as_ref()),
                            CertificateSource::Generated,
                            String::new(),
                            Some(facts),
                            None,
                            Vec::new(),
                        ),
                        names: Vec::new(),
                    });
                }
                Err(e) => problems.push(Problem::error(
                    ItemKind::TlsStore,
                    "default",
                    format!("no default certificate: {e}"),
                )),
            }
        }
        store.default = default;
        let store = Arc::new(store);

        // Options.
        let mut built = BTreeMap::new();
        for (name, o) in &cfg.tls.options {
            let r = options::build(name, o, files, &store, rt).map(Arc::new);
            if let Err(e) = &r {
                problems.push(Problem::error(ItemKind::TlsOptions, name, e.clone()));
            }
            built.insert(name.clone(), r);
        }
        let default_options = match built.get("default") {
            Some(Ok(o)) => o.clone(),
            _ => match options::build("default", &TlsOptions::default(), files, &store, rt) {
                Ok(o) => Arc::new(o),
                Err(e) => {
                    // Traefik's defaults always build; keep a visible trace if not.
                    problems.push(Problem::error(ItemKind::TlsOptions, "default", e.clone()));
                    fallback_options(&store)
                }
            },
        };
        TlsBuilder {
            store,
            certs: loaded,
            options: built,
            default_options,
            routers: Vec::new(),
            problems,
        }
    }

    /// The options a router names (empty: `default`), with the warnings to show on it, or
    /// the error that disables it.
    pub fn options(&self, name: &str) -> Result<&Arc<BuiltOptions>, String> {
        if name.is_empty() || name == "default" {
            return Ok(&self.default_options);
        }
        match self.options.get(name) {
            Some(Ok(o)) => Ok(o),
            Some(Err(e)) => Err(format!("TLS options `{name}` are broken: {e}")),
            None => Err(format!("unknown TLS options: {name}")),
        }
    }

    /// Records a TLS router (after [`options`](Self::options) accepted its options). Returns
    /// warnings for the router (options replaced, conflicting options on a host).
    pub fn add_router(&mut self, u: RouterTlsUse) -> Vec<String> {
        let mut warnings = Vec::new();
        let opts = match self.options(&u.options) {
            Ok(o) => o.clone(),
            Err(e) => return vec![e],
        };
        warnings.extend(opts.warnings.iter().cloned());
        self.routers.push((u, opts));
        warnings
    }

    /// The state and the problems (certificates, stores, options) to show in the report, plus
    /// per-router warnings found once every router is known (conflicting options on a host).
    pub fn finish(mut self) -> (TlsState, TlsProblems) {
        let mut by_host: HashMap<String, Arc<BuiltOptions>> = HashMap::new();
        let mut conflicts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut conflicted: std::collections::BTreeSet<String> = Default::default();
        for (u, o) in &self.routers {
            for d in &u.domains {
                match by_host.get(d) {
                    Some(prev) if !Arc::ptr_eq(prev, o) => {
                        conflicted.insert(d.clone());
                    }
                    Some(_) => {}
                    None => {
                        by_host.insert(d.clone(), o.clone());
                    }
                }
            }
        }
        for (u, _) in &self.routers {
            for d in &u.domains {
                if conflicted.contains(d) {
                    conflicts.entry(u.router.clone()).or_default().push(format!(
                        "different TLS options for routers on host `{d}`; the default TLS options are used"
                    ));
                }
            }
        }
        for d in &conflicted {
            by_host.remove(d);
        }
        by_host.retain(|_, o| !Arc::ptr_eq(o, &self.default_options));

        // Inventory: which routers each certificate serves.
        for (u, _) in &self.routers {
            for d in &u.domains {
                let mut served = false;
                for c in &mut self.certs {
                    if c.names.iter().any(|n| name_covers(n, d)) {
                        served = true;
                        if !c.info.routers.contains(&u.router) {
                            c.info.routers.push(u.router.clone());
                        }
                        break;
                    }
                }
                if !served {
                    // The default certificate answers it.
                    if let Some(c) = self.certs.iter_mut().find(|c| {
                        c.info.error.is_none()
                            && matches!(
                                c.info.source,
                                CertificateSource::DefaultStore | CertificateSource::Generated
                            )
                    }) {
                        if !c.info.routers.contains(&u.router) {
                            c.info.routers.push(u.router.clone());
                        }
                    }
                }
            }
        }
        let state = TlsState {
            store: self.store,
            default_options: self.default_options,
            by_host,
            certificates: self.certs.into_iter().map(|c| c.info).collect(),
        };
        (
            state,
            TlsProblems {
                problems: self.problems,
                router_warnings: conflicts,
            },
        )
    }
}

/// What [`TlsBuilder::finish`] reports.
#[derive(Debug, Default)]
pub struct TlsProblems {
    /// Certificates, stores and options (`ItemKind::TlsCertificate`, `TlsStore`, `TlsOptions`).
    pub problems: Vec<Problem>,
    /// Warnings for routers, by qualified name.
    pub router_warnings: BTreeMap<String, Vec<String>>,
}

/// Options that cannot fail to build (no client auth, provider defaults).
fn fallback_options(store: &Arc<CertStore>) -> Arc<BuiltOptions> {
    let rt = TlsRuntime::global();
    let resolver = Arc::new(FallbackResolver(store.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(rustls::DEFAULT_VERSIONS)
    .map(|b| b.with_no_client_auth().with_cert_resolver(resolver.clone()))
    .unwrap_or_else(|_| {
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(resolver)
    });
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ticketer = rt.ticketer.clone();
    config.session_storage = rt.sessions.clone();
    Arc::new(BuiltOptions {
        name: "default".into(),
        config: Arc::new(config),
        sni_strict: false,
        warnings: Vec::new(),
    })
}

#[derive(Debug)]
struct FallbackResolver(Arc<CertStore>);

impl rustls::server::ResolvesServerCert for FallbackResolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.resolve(hello.server_name(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(yaml: &str) -> TlsBuilder {
        let cfg: DynamicConfig = serde_norway::from_str(yaml).unwrap_or_default();
        TlsBuilder::new(&cfg, &FileContents::new(), SystemTime::now())
    }

    #[test]
    fn unknown_and_broken_options_disable_routers() {
        let b = builder(
            "tls:\n  options:\n    bad:\n      clientAuth:\n        clientAuthType: VerifyClientCertIfGiven\n    weird:\n      minVersion: VersionTLS99\n",
        );
        assert_eq!(
            b.options("nope").err().as_deref(),
            Some("unknown TLS options: nope")
        );
        let e = b.options("bad").err().unwrap_or_default();
        assert!(
            e.contains("VerifyClientCertIfGiven needs clientAuth.caFiles"),
            "{e}"
        );
        let e = b.options("weird").err().unwrap_or_default();
        assert!(e.contains("unknown minVersion `VersionTLS99`"), "{e}");
        assert!(b.options("").is_ok() && b.options("default").is_ok());
    }

    #[test]
    fn unsupported_settings_become_warnings() {
        let mut b = builder(
            "tls:\n  options:\n    old:\n      maxVersion: VersionTLS11\n      curvePreferences: [CurveP521, CurveP256]\n      clientAuth:\n        clientAuthType: RequireAnyClientCert\n",
        );
        let w = b.add_router(RouterTlsUse {
            router: "r@file".into(),
            options: "old".into(),
            domains: vec!["a.test".into()],
        });
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("maxVersion VersionTLS11 is not supported"));
        assert!(w[1].contains("curve `CurveP521` is not supported"));
        let (state, problems) = b.finish();
        assert!(problems.problems.is_empty(), "{:?}", problems.problems);
        assert_eq!(state.options_for(Some("A.test")).name, "old");
        assert_eq!(state.options_for(Some("b.test")).name, "default");
        assert!(state.misdirected("a.test", "default"));
        assert!(!state.misdirected("b.test", "default"));
        // The generated default certificate serves a.test (no file certificate covers it).
        assert_eq!(state.certificates.len(), 1);
        assert_eq!(state.certificates[0].routers, vec!["r@file"]);
    }

    #[test]
    fn default_generated_cert_picks_the_resolvers_certificate() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["gen.test".into(), "*.gen.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let store = "tls:\n  stores:\n    default:\n      defaultGeneratedCert:\n        resolver: le\n        domain:\n          main: gen.test\n          sans: [a.gen.test]\n";
        // Not issued yet: the generated certificate, and a warning that says so.
        let (state, problems) = builder(store).finish();
        let generated = state.store.default.clone().expect("default");
        assert_eq!(problems.problems.len(), 1, "{:?}", problems.problems);
        assert!(problems.problems[0]
            .message
            .contains("resolver `le` has no certificate for gen.test, a.gen.test yet"));
        // Issued (the resolver publishes it as a certificate): it becomes the default.
        let cfg: DynamicConfig = serde_norway::from_str(store).expect("yaml");
        let mut cfg = cfg;
        cfg.tls.certificates.push(wharf_providers::TlsCertificate {
            cert_file: cert.pem(),
            key_file: key.serialize_pem(),
            stores: Vec::new(),
        });
        let (state, problems) =
            TlsBuilder::new(&cfg, &FileContents::new(), SystemTime::now()).finish();
        assert!(problems.problems.is_empty(), "{:?}", problems.problems);
        let default = state.store.default.clone().expect("default");
        assert!(!Arc::ptr_eq(&default, &generated));
        assert_eq!(default.cert[0].as_ref(), cert.der().as_ref());
        // Half a configuration is an error (the generated certificate serves).
        let (_, problems) = builder(
            "tls:\n  stores:\n    default:\n      defaultGeneratedCert:\n        resolver: le\n",
        )
        .finish();
        assert!(problems.problems[0]
            .message
            .contains("needs `resolver` and `domain.main`"));
    }

    #[test]
    fn conflicting_options_on_a_host_fall_back_to_default() {
        let mut b = builder("tls:\n  options:\n    a:\n      sniStrict: true\n    b: {}\n");
        for (r, o) in [("r1@file", "a"), ("r2@file", "b")] {
            b.add_router(RouterTlsUse {
                router: r.into(),
                options: o.into(),
                domains: vec!["x.test".into()],
            });
        }
        let (state, problems) = b.finish();
        assert_eq!(state.options_for(Some("x.test")).name, "default");
        assert_eq!(problems.router_warnings.len(), 2);
    }
}
