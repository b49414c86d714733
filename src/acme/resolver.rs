//! One resolver's loop: wanted domains from each snapshot → what is missing or due → orders
//! (bounded per CA, merged per domain set, backed off per domain set) → `acme.json` → a published
//! view of `tls.certificates`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, ExternalAccountKey, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use tokio::sync::mpsc;
use wharf_providers::provider::{self, ProviderHandle, ProviderSender};
use wharf_providers::DynamicConfig;

use super::challenge::Http01Tokens;
use super::client::{AcmeHttp, KeyType};
use super::dns::{DnsProvider, Propagation};
use super::inventory::{CertState, CertificateInfo, Inventory};
use super::store::{
    AcmeStore, BackoffEntry, Registration, StoredAccount, StoredCertificate, StoredDomain,
};
use super::{ca_queue, domain_key, name_covers, provider_name, AcmeOptions};
use crate::config::Acme;
use crate::rule::RuleSyntax;
use crate::snapshot::SnapshotStore;
use crate::tls::AlpnChallenges;

/// What every resolver shares with the runtime.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub http01: Arc<Http01Tokens>,
    pub tls_alpn: Arc<AlpnChallenges>,
    pub inventory: Inventory,
    pub snapshots: SnapshotStore,
    pub options: AcmeOptions,
}

#[derive(Clone, Debug)]
enum Challenge {
    Http,
    TlsAlpn,
    Dns {
        provider: DnsProvider,
        propagation: Propagation,
    },
}

/// A certificate held in the store, with what its PEM says.
#[derive(Clone, Debug)]
struct Held {
    stored: StoredCertificate,
    names: Vec<String>,
    issuer: String,
    not_after: u64,
    renew_at: u64,
}

impl Held {
    /// `duration_hours`: the resolver's `certificatesDuration`.
    fn from_stored(stored: StoredCertificate, duration_hours: u64) -> Result<Held, String> {
        let pem = x509_parser::pem::parse_x509_pem(&stored.certificate)
            .map_err(|e| format!("certificate PEM: {e}"))?
            .1;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("certificate DER: {e}"))?;
        let nb = cert.validity().not_before.timestamp().max(0) as u64;
        let na = cert.validity().not_after.timestamp().max(0) as u64;
        let (before, jitter_max) = renew_before(na.saturating_sub(nb), duration_hours);
        let renew_at = na
            .saturating_sub(before)
            .saturating_sub(rand::random_range(0..=jitter_max));
        let mut names = stored.domain.names();
        if names.is_empty() {
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                for n in &san.value.general_names {
                    if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                        names.push(d.to_ascii_lowercase());
                    }
                }
            }
        }
        Ok(Held {
            issuer: cert.issuer().to_string(),
            stored,
            names,
            not_after: na,
            renew_at,
        })
    }

    fn covers(&self, wanted: &[String]) -> bool {
        wanted
            .iter()
            .all(|w| self.names.iter().any(|n| name_covers(n, w)))
    }
}

/// When renewal starts, in seconds before not-after, and the most jitter to add to that:
/// a third of the lifetime (30 days for Let's Encrypt's 90-day certificates, 2 days for 6-day
/// ones), plus up to a thirtieth of it (a day for 90 days) so a fleet's renewals spread out.
/// The lifetime is the certificate's own (as Traefik v3 reads it), capped by
/// `certificatesDuration` (hours; 0 = not set) when that is shorter: a CA issuing longer than
/// declared is renewed on the declared schedule, one issuing shorter on its real one.
pub(crate) fn renew_before(cert_lifetime: u64, duration_hours: u64) -> (u64, u64) {
    let declared = duration_hours.saturating_mul(3600);
    let lifetime = match declared {
        0 => cert_lifetime,
        d => cert_lifetime.min(d),
    }
    .max(1);
    (lifetime / 3, lifetime / 30)
}

/// One wanted domain set and the routers that want it.
#[derive(Clone, Debug, Default)]
struct Want {
    names: Vec<String>,
    routers: BTreeSet<String>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now() -> u64 {
    unix(SystemTime::now())
}

/// Domain sets wanted from `resolver` by the routers of `cfg`: each `tls.domains` entry, or else
/// every `Host` of the rule in one certificate.
fn wanted(
    cfg: &DynamicConfig,
    resolver: &str,
    default_syntax: RuleSyntax,
    entry_point_tls: &BTreeMap<String, wharf_providers::RouterTls>,
) -> BTreeMap<String, Want> {
    let mut out: BTreeMap<String, Want> = BTreeMap::new();
    for (rname, router) in &cfg.http.routers {
        // The router's own TLS, else the default TLS of one of its entry points.
        let tls = router.tls.as_deref().or_else(|| {
            router
                .entry_points
                .iter()
                .find_map(|ep| entry_point_tls.get(ep))
        });
        let Some(tls) = tls else { continue };
        if tls.cert_resolver != resolver {
            continue;
        }
        let mut sets: Vec<Vec<String>> = Vec::new();
        if !tls.domains.is_empty() {
            for d in &tls.domains {
                let names = StoredDomain {
                    main: d.main.clone(),
                    sans: d.sans.clone(),
                }
                .names();
                if !names.is_empty() {
                    sets.push(names);
                }
            }
        } else {
            let syntax = match router.rule_syntax.as_deref() {
                Some(s) if s.eq_ignore_ascii_case("v2") => RuleSyntax::V2,
                Some(s) if s.eq_ignore_ascii_case("v3") => RuleSyntax::V3,
                _ => default_syntax,
            };
            if let Ok(rule) = crate::rule::parse(&router.rule, syntax) {
                let mut names: Vec<String> = Vec::new();
                for d in rule.domains() {
                    let d = d.to_ascii_lowercase();
                    if !d.is_empty()
                        && d.parse::<std::net::IpAddr>().is_err()
                        && !names.contains(&d)
                    {
                        names.push(d);
                    }
                }
                if !names.is_empty() {
                    sets.push(names);
                }
            }
        }
        for names in sets {
            let w = out.entry(domain_key(&names)).or_default();
            if w.names.is_empty() {
                w.names = names;
            }
            w.routers.insert(rname.clone());
        }
    }
    // `tls.stores.default.defaultGeneratedCert` naming this resolver: wanted with no router.
    if let Some(g) = cfg
        .tls
        .stores
        .get("default")
        .and_then(|s| s.default_generated_cert.as_ref())
        .filter(|g| g.resolver == resolver)
    {
        let names = g
            .domain
            .as_ref()
            .map(crate::tls::generated_cert_names)
            .unwrap_or_default();
        if !names.is_empty() {
            let w = out.entry(domain_key(&names)).or_default();
            if w.names.is_empty() {
                w.names = names;
            }
        }
    }
    out
}

/// What an order task reports back to the loop.
struct Outcome {
    key: String,
    names: Vec<String>,
    result: Result<(String, String), String>,
    account: Option<StoredAccount>,
}

/// The account, created on first use and shared by the resolver's orders.
struct AccountSlot {
    account: Option<Account>,
    stored: Option<StoredAccount>,
}

struct Ctx {
    name: String,
    acme: Acme,
    key_type: KeyType,
    challenge: Challenge,
    http: AcmeHttp,
    shared: Shared,
    account: tokio::sync::Mutex<AccountSlot>,
}

pub(crate) fn spawn(
    name: String,
    acme: Acme,
    shared: Shared,
    renewals: mpsc::UnboundedReceiver<String>,
) -> ProviderHandle {
    let (tx, handle) = provider::channel(provider_name(&name));
    tokio::spawn(run(name, acme, shared, tx, renewals));
    handle
}

fn disabled(name: &str, shared: &Shared, tx: &ProviderSender, message: String) {
    tracing::error!(resolver = %name, "ACME resolver disabled: {message}");
    tx.publish(DynamicConfig::default());
    tx.fail(message.clone());
    shared.inventory.replace(
        name,
        vec![CertificateInfo {
            id: format!("{name}:"),
            resolver: name.to_string(),
            domains: Vec::new(),
            state: CertState::Disabled,
            issuer: String::new(),
            not_after: None,
            next_renewal: None,
            last_error: Some(message),
            failures: 0,
            retry_at: None,
            routers: Vec::new(),
        }],
    );
}

async fn run(
    name: String,
    acme: Acme,
    shared: Shared,
    tx: ProviderSender,
    mut renewals: mpsc::UnboundedReceiver<String>,
) {
    let store = AcmeStore::new(&acme.storage);
    if let Err(e) = store.check_mode() {
        return disabled(&name, &shared, &tx, e.to_string());
    }
    let (key_type, warn) = KeyType::parse(&acme.key_type);
    if let Some(w) = warn {
        tracing::warn!(resolver = %name, "{w}");
    }
    let challenge = if acme.http_challenge.is_some() {
        Challenge::Http
    } else if acme.tls_challenge.is_some() {
        Challenge::TlsAlpn
    } else if let Some(d) = &acme.dns_challenge {
        match DnsProvider::new(d, &shared.options.lego_env, shared.options.dns_exec.clone()) {
            Ok((provider, propagation)) => Challenge::Dns {
                provider,
                propagation,
            },
            Err(e) => return disabled(&name, &shared, &tx, e.to_string()),
        }
    } else {
        return disabled(
            &name,
            &shared,
            &tx,
            "no challenge configured (httpChallenge, tlsChallenge or dnsChallenge)".into(),
        );
    };
    let http = match AcmeHttp::new(&acme, &shared.options.lego_env) {
        Ok(h) => h,
        Err(e) => return disabled(&name, &shared, &tx, e.to_string()),
    };
    let loaded = match store.load(&name) {
        Ok(l) => l,
        Err(e) => return disabled(&name, &shared, &tx, e.to_string()),
    };
    for p in &loaded.problems {
        tracing::error!(resolver = %name, "{p}");
    }
    let mut data = loaded.data;
    let mut held: Vec<Held> = Vec::new();
    for c in data.certificates.drain(..) {
        match Held::from_stored(c.clone(), acme.certificates_duration) {
            Ok(h) => held.push(h),
            Err(e) => {
                tracing::error!(resolver = %name, domain = %c.domain.main, "stored certificate unreadable, skipped: {e}");
            }
        }
    }
    let mut backoff = store.load_backoff(&name);
    let ctx = Arc::new(Ctx {
        name: name.clone(),
        key_type,
        challenge,
        http,
        account: tokio::sync::Mutex::new(AccountSlot {
            account: None,
            stored: data.account.clone(),
        }),
        shared: shared.clone(),
        acme,
    });
    publish(&tx, &held);

    let (otx, mut orx) = mpsc::channel::<Outcome>(16);
    let mut in_flight: BTreeSet<String> = BTreeSet::new();
    let mut generations = shared.snapshots.subscribe();
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let snap = shared.snapshots.load();
        let want = wanted(
            &snap.config,
            &name,
            shared.options.default_rule_syntax,
            &shared.options.entry_point_tls,
        );
        let t = now();
        let mut next_wake = t + 3600;
        for (key, w) in &want {
            let cover = held.iter().find(|h| h.covers(&w.names) && h.not_after > t);
            let (order_key, names) = match cover {
                Some(h) if h.renew_at > t => {
                    next_wake = next_wake.min(h.renew_at);
                    continue;
                }
                // Due: renew the held certificate's own names.
                Some(h) => (domain_key(&h.names), h.names.clone()),
                None => (key.clone(), w.names.clone()),
            };
            if in_flight.contains(&order_key) {
                continue; // merged with the running order
            }
            if let Some(b) = backoff.get(&order_key) {
                if b.retry_at > t {
                    next_wake = next_wake.min(b.retry_at);
                    continue;
                }
            }
            in_flight.insert(order_key.clone());
            let ctx = ctx.clone();
            let otx = otx.clone();
            tokio::spawn(async move {
                let (result, account) = order(&ctx, &names).await;
                let _ = otx
                    .send(Outcome {
                        key: order_key,
                        names,
                        result,
                        account,
                    })
                    .await;
            });
        }
        shared.inventory.replace(
            &name,
            inventory(&name, &want, &held, &backoff, &errors, &in_flight, t),
        );

        let sleep = Duration::from_secs(next_wake.saturating_sub(now()).max(1));
        tokio::select! {
            r = generations.changed() => if r.is_err() { return },
            Some(o) = orx.recv() => {
                in_flight.remove(&o.key);
                let mut dirty = false;
                if let Some(a) = o.account {
                    data.account = Some(a);
                    dirty = true;
                }
                match o.result {
                    Ok((cert, key)) => {
                        let stored = StoredCertificate {
                            domain: StoredDomain { main: o.names[0].clone(), sans: o.names[1..].to_vec() },
                            certificate: cert.into_bytes(),
                            key: key.into_bytes(),
                            store: "default".into(),
                        };
                        match Held::from_stored(stored, ctx.acme.certificates_duration) {
                            Ok(h) => {
                                tracing::info!(resolver = %name, domains = %o.key, not_after = h.not_after, "certificate obtained");
                                // The new certificate replaces any held one for the same names.
                                held.retain(|old| domain_key(&old.names) != o.key);
                                held.push(h);
                                dirty = true;
                                errors.remove(&o.key);
                                if backoff.remove(&o.key).is_some() {
                                    save_backoff(&store, &name, &backoff);
                                }
                            }
                            Err(e) => fail(&shared.options, &mut backoff, &mut errors, &o.key, format!("CA returned an unreadable certificate: {e}"), &store, &name),
                        }
                    }
                    Err(e) => fail(&shared.options, &mut backoff, &mut errors, &o.key, e, &store, &name),
                }
                if dirty {
                    data.certificates = held.iter().map(|h| h.stored.clone()).collect();
                    if let Err(e) = store.save(&name, &data) {
                        tracing::error!(resolver = %name, "cannot save certificates: {e}");
                        tx.fail(e.to_string());
                    }
                    publish(&tx, &held);
                }
            }
            Some(key) = renewals.recv() => {
                for h in held.iter_mut().filter(|h| domain_key(&h.names) == key) {
                    tracing::info!(resolver = %name, domains = %key, "forced renewal requested");
                    h.renew_at = 0;
                }
            }
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fail(
    options: &AcmeOptions,
    backoff: &mut BTreeMap<String, BackoffEntry>,
    errors: &mut BTreeMap<String, String>,
    key: &str,
    error: String,
    store: &AcmeStore,
    name: &str,
) {
    let b = backoff.entry(key.to_string()).or_default();
    b.failures = b.failures.saturating_add(1);
    let factor = 2u32.saturating_pow(b.failures.saturating_sub(1).min(20));
    let delay = options
        .backoff_base
        .saturating_mul(factor)
        .min(options.backoff_max);
    b.retry_at = now() + delay.as_secs().max(1);
    b.last_error = error.clone();
    tracing::error!(resolver = %name, domains = %key, failures = b.failures, retry_in_s = delay.as_secs(), "certificate order failed: {error}");
    errors.insert(key.to_string(), error);
    save_backoff(store, name, backoff);
}

fn save_backoff(store: &AcmeStore, name: &str, backoff: &BTreeMap<String, BackoffEntry>) {
    if let Err(e) = store.save_backoff(name, backoff) {
        tracing::error!(resolver = %name, "cannot save ACME backoff state: {e}");
    }
}

/// Publishes the held, unexpired certificates as `tls.certificates` with inline PEM.
fn publish(tx: &ProviderSender, held: &[Held]) {
    let t = now();
    let mut cfg = DynamicConfig::default();
    for h in held.iter().filter(|h| h.not_after > t) {
        cfg.tls.certificates.push(wharf_providers::TlsCertificate {
            cert_file: String::from_utf8_lossy(&h.stored.certificate).into_owned(),
            key_file: String::from_utf8_lossy(&h.stored.key).into_owned(),
            stores: Vec::new(),
        });
    }
    tx.publish(cfg);
}

fn inventory(
    name: &str,
    want: &BTreeMap<String, Want>,
    held: &[Held],
    backoff: &BTreeMap<String, BackoffEntry>,
    errors: &BTreeMap<String, String>,
    in_flight: &BTreeSet<String>,
    t: u64,
) -> Vec<CertificateInfo> {
    let mut out = Vec::new();
    let mut listed = BTreeSet::new();
    for h in held {
        let key = domain_key(&h.names);
        let b = backoff.get(&key);
        let routers: BTreeSet<String> = want
            .values()
            .filter(|w| h.covers(&w.names))
            .flat_map(|w| w.routers.iter().cloned())
            .collect();
        let state = if h.not_after <= t {
            CertState::Expired
        } else if b.is_some_and(|b| b.retry_at > t) {
            CertState::BackingOff
        } else if in_flight.contains(&key) {
            CertState::Pending
        } else {
            CertState::Valid
        };
        listed.insert(key.clone());
        out.push(CertificateInfo {
            id: format!("{name}:{key}"),
            resolver: name.to_string(),
            domains: h.names.clone(),
            state,
            issuer: h.issuer.clone(),
            not_after: Some(h.not_after),
            next_renewal: Some(h.renew_at),
            last_error: errors
                .get(&key)
                .cloned()
                .or_else(|| b.map(|b| b.last_error.clone())),
            failures: b.map_or(0, |b| b.failures),
            retry_at: b.map(|b| b.retry_at).filter(|r| *r > t),
            routers: routers.into_iter().collect(),
        });
    }
    for (key, w) in want {
        if listed.contains(key) || held.iter().any(|h| h.covers(&w.names) && h.not_after > t) {
            continue;
        }
        let b = backoff.get(key);
        let state = if b.is_some_and(|b| b.retry_at > t) {
            CertState::BackingOff
        } else {
            CertState::Pending
        };
        out.push(CertificateInfo {
            id: format!("{name}:{key}"),
            resolver: name.to_string(),
            domains: w.names.clone(),
            state,
            issuer: String::new(),
            not_after: None,
            next_renewal: None,
            last_error: errors
                .get(key)
                .cloned()
                .or_else(|| b.map(|b| b.last_error.clone())),
            failures: b.map_or(0, |b| b.failures),
            retry_at: b.map(|b| b.retry_at).filter(|r| *r > t),
            routers: w.routers.iter().cloned().collect(),
        });
    }
    out
}

/// The account: restored from storage when its key is wharf's (PKCS#8 P-256) and it belongs to
/// this CA, otherwise registered anew (returned for storing).
async fn account(ctx: &Ctx) -> Result<(Account, Option<StoredAccount>), String> {
    let mut slot = ctx.account.lock().await;
    if let Some(a) = &slot.account {
        return Ok((a.clone(), None));
    }
    let url = ctx.acme.ca_server.clone();
    if let Some(s) = &slot.stored {
        let uri = s
            .registration
            .as_ref()
            .map(|r| r.uri.clone())
            .unwrap_or_default();
        let same_ca = origin(&uri).is_some() && origin(&uri) == origin(&url);
        if same_ca && !s.private_key.is_empty() {
            let der = rustls::pki_types::PrivatePkcs8KeyDer::from(s.private_key.clone());
            match Account::builder_with_http(Box::new(ctx.http.clone()))
                .from_parts(uri.clone(), der, url.clone())
                .await
            {
                Ok(a) => {
                    slot.account = Some(a.clone());
                    return Ok((a, None));
                }
                Err(e) => {
                    tracing::warn!(resolver = %ctx.name, "stored ACME account unusable ({e}); registering a new one")
                }
            }
        }
    }
    let contact: Vec<String> = std::iter::once(&ctx.acme.email)
        .chain(ctx.acme.email_addresses.iter())
        .filter(|e| !e.is_empty())
        .map(|e| format!("mailto:{e}"))
        .collect();
    let contact_refs: Vec<&str> = contact.iter().map(String::as_str).collect();
    let eab = match &ctx.acme.eab {
        Some(e) if !e.kid.is_empty() => {
            let key = super::store::decode_b64_lenient(&e.hmac_encoded)
                .ok_or_else(|| "eab.hmacEncoded is not base64".to_string())?;
            Some(ExternalAccountKey::new(e.kid.clone(), &key))
        }
        _ => None,
    };
    let (a, creds) = Account::builder_with_http(Box::new(ctx.http.clone()))
        .create(
            &NewAccount {
                contact: &contact_refs,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            url,
            eab.as_ref(),
        )
        .await
        .map_err(|e| format!("account registration: {e}"))?;
    let stored = StoredAccount {
        email: ctx.acme.email.clone(),
        registration: Some(Registration {
            body: serde_json::json!({ "status": "valid", "contact": contact }),
            uri: a.id().to_string(),
        }),
        private_key: creds.private_key().secret_pkcs8_der().to_vec(),
        key_type: ctx.key_type.lego_name().to_string(),
    };
    slot.account = Some(a.clone());
    slot.stored = Some(stored.clone());
    Ok((a, Some(stored)))
}

fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

/// Runs one order through the CA's queue. Returns (certificate chain PEM, key PEM), and the new
/// account when one was registered.
async fn order(
    ctx: &Ctx,
    names: &[String],
) -> (Result<(String, String), String>, Option<StoredAccount>) {
    let queue = ca_queue(&ctx.acme.ca_server);
    let Ok(_permit) = queue.acquire_owned().await else {
        return (Err("issuance queue closed".into()), None);
    };
    let (acc, new_account) = match account(ctx).await {
        Ok(a) => a,
        Err(e) => return (Err(e), None),
    };
    let r = order_with(ctx, &acc, names).await;
    if let Err(e) = &r {
        // A CA that forgot the account (reset pebble, deactivated) gets a fresh one next time.
        if e.contains("accountDoesNotExist") || e.contains("unauthorized") {
            ctx.account.lock().await.account = None;
            ctx.account.lock().await.stored = None;
        }
    }
    (r, new_account)
}

async fn order_with(
    ctx: &Ctx,
    acc: &Account,
    names: &[String],
) -> Result<(String, String), String> {
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = acc
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| format!("new order: {e}"))?;
    let mut cleanup: Vec<Cleanup> = Vec::new();
    let prepared = prepare(ctx, &mut order, &mut cleanup).await;
    let result = match prepared {
        Ok(()) => finish(ctx, &mut order, names).await,
        Err(e) => Err(e),
    };
    for c in cleanup {
        match c {
            Cleanup::Token(t) => ctx.shared.http01.remove(&t),
            Cleanup::Alpn(d) => ctx.shared.tls_alpn.remove(&d),
            Cleanup::Dns(provider, record) => {
                if let Err(e) = provider.run(false, &record).await {
                    tracing::warn!(resolver = %ctx.name, "{e}");
                }
            }
        }
    }
    result
}

enum Cleanup {
    Token(String),
    Alpn(String),
    Dns(DnsProvider, super::dns::DnsRecord),
}

async fn prepare(
    ctx: &Ctx,
    order: &mut instant_acme::Order,
    cleanup: &mut Vec<Cleanup>,
) -> Result<(), String> {
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = a.map_err(|e| format!("authorization: {e}"))?;
        match a.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            s => return Err(format!("authorization for {} is {s:?}", a.identifier())),
        }
        let kind = match &ctx.challenge {
            Challenge::Http => ChallengeType::Http01,
            Challenge::TlsAlpn => ChallengeType::TlsAlpn01,
            Challenge::Dns { .. } => ChallengeType::Dns01,
        };
        let ident = a.identifier().to_string();
        let mut ch = a
            .challenge(kind.clone())
            .ok_or_else(|| format!("the CA offers no {kind:?} challenge for {ident}"))?;
        let ka = ch.key_authorization();
        let domain = ident.trim_start_matches("*.").to_string();
        match &ctx.challenge {
            Challenge::Http => {
                ctx.shared.http01.insert(&ch.token, ka.as_str());
                cleanup.push(Cleanup::Token(ch.token.clone()));
            }
            Challenge::TlsAlpn => {
                let digest: [u8; 32] = ka
                    .digest()
                    .as_ref()
                    .try_into()
                    .map_err(|_| "key authorization digest is not SHA-256".to_string())?;
                ctx.shared
                    .tls_alpn
                    .insert(&domain, &digest)
                    .map_err(|e| e.to_string())?;
                cleanup.push(Cleanup::Alpn(domain.clone()));
            }
            Challenge::Dns {
                provider,
                propagation,
            } => {
                let fqdn = propagation
                    .effective_fqdn(&super::dns::challenge_fqdn(&domain))
                    .await;
                let record = super::dns::DnsRecord {
                    domain: domain.clone(),
                    fqdn,
                    token: ch.token.clone(),
                    key_auth: ka.as_str().to_string(),
                    value: ka.dns_value(),
                };
                provider
                    .run(true, &record)
                    .await
                    .map_err(|e| format!("DNS-01 present for {ident}: {e}"))?;
                cleanup.push(Cleanup::Dns(provider.clone(), record.clone()));
                // Tell the CA only once the record can be seen (lego's pre-check).
                propagation
                    .wait(&record.fqdn, &record.value)
                    .await
                    .map_err(|e| format!("DNS-01 for {ident}: {e}"))?;
            }
        }
        ch.set_ready()
            .await
            .map_err(|e| format!("challenge for {ident}: {e}"))?;
    }
    Ok(())
}

async fn finish(
    ctx: &Ctx,
    order: &mut instant_acme::Order,
    names: &[String],
) -> Result<(String, String), String> {
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(Duration::from_secs(90));
    let status = order
        .poll_ready(&retry)
        .await
        .map_err(|e| format!("waiting for validation: {e}"))?;
    if status != OrderStatus::Ready {
        let detail = order
            .state()
            .error
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let mut why = Vec::new();
        let mut authzs = order.authorizations();
        while let Some(Ok(a)) = authzs.next().await {
            for c in &a.challenges {
                if let Some(e) = &c.error {
                    why.push(format!("{}: {e}", a.identifier()));
                }
            }
        }
        return Err(format!("order {status:?} {detail} {}", why.join("; "))
            .trim()
            .to_string());
    }
    let key = ctx
        .key_type
        .generate()
        .map_err(|e| format!("key generation: {e}"))?;
    let params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("CSR: {e}"))?;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| format!("CSR: {e}"))?;
    order
        .finalize_csr(csr.der())
        .await
        .map_err(|e| format!("finalize: {e}"))?;
    let chain = order
        .poll_certificate(&retry)
        .await
        .map_err(|e| format!("certificate download: {e}"))?;
    Ok((chain, key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> DynamicConfig {
        serde_norway::from_str(yaml).expect("yaml")
    }

    #[test]
    fn wanted_domains_come_from_tls_domains_or_every_host_of_the_rule() {
        let c = cfg(concat!(
            "http:\n  routers:\n",
            "    a:\n      rule: \"Host(`A.test`) || (Host(`b.test`) && Path(`/x`))\"\n      service: s\n      tls:\n        certResolver: le\n",
            "    b:\n      rule: \"Host(`c.test`)\"\n      service: s\n      tls:\n        certResolver: le\n        domains:\n          - main: \"*.d.test\"\n            sans: [\"d.test\"]\n",
            "    c:\n      rule: \"Host(`other.test`)\"\n      service: s\n      tls:\n        certResolver: other\n",
            "    d:\n      rule: \"Host(`plain.test`)\"\n      service: s\n",
            "    e:\n      rule: \"Host(`b.test`) || Host(`a.test`)\"\n      service: s\n      tls:\n        certResolver: le\n",
            "    f:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n      tls:\n        certResolver: le\n",
        ));
        let w = wanted(&c, "le", RuleSyntax::V3, &BTreeMap::new());
        let keys: Vec<&str> = w.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["*.d.test,d.test", "a.test,b.test"]);
        let ab = &w["a.test,b.test"];
        assert_eq!(ab.names, vec!["a.test".to_string(), "b.test".to_string()]);
        // Two routers wanting the same set are merged into one order.
        assert_eq!(
            ab.routers.iter().cloned().collect::<Vec<_>>(),
            vec!["a".to_string(), "e".to_string()]
        );
        assert_eq!(w["*.d.test,d.test"].names[0], "*.d.test");
    }

    #[test]
    fn entry_point_default_tls_names_the_resolver() {
        let c = cfg("http:\n  routers:\n    a:\n      rule: \"Host(`a.test`)\"\n      service: s\n      entryPoints: [websecure]\n    b:\n      rule: \"Host(`b.test`)\"\n      service: s\n      entryPoints: [web]\n");
        let mut eps = BTreeMap::new();
        eps.insert(
            "websecure".to_string(),
            wharf_providers::RouterTls {
                cert_resolver: "le".into(),
                ..Default::default()
            },
        );
        let w = wanted(&c, "le", RuleSyntax::V3, &eps);
        assert_eq!(w.keys().collect::<Vec<_>>(), vec!["a.test"]);
    }

    #[test]
    fn renewal_starts_when_a_third_of_the_lifetime_remains() {
        let day = 86_400;
        // Let's Encrypt's 90-day certificates with the default certificatesDuration (2160 h).
        assert_eq!(renew_before(90 * day, 2160), (30 * day, 3 * day));
        // Short-lived (6-day) certificates: the certificate's own lifetime wins.
        assert_eq!(renew_before(6 * day, 2160), (2 * day, 6 * day / 30));
        // A CA issuing a year while `certificatesDuration: 24` is declared: renew on the declared
        // day-long schedule (8 hours before expiry).
        assert_eq!(renew_before(365 * day, 24).0, 8 * 3600);
        // Unset (0): the certificate alone decides; a degenerate lifetime never divides by zero.
        assert_eq!(renew_before(15, 0), (5, 0));
        assert_eq!(renew_before(0, 0), (0, 0));
    }

    #[test]
    fn wildcard_names_cover_one_label() {
        assert!(name_covers("*.d.test", "x.d.test"));
        assert!(name_covers("A.test", "a.test"));
        assert!(!name_covers("*.d.test", "d.test"));
        assert!(!name_covers("*.d.test", "x.y.d.test"));
        assert_eq!(
            domain_key(&["b.test".into(), "A.test".into(), "a.test".into()]),
            "a.test,b.test"
        );
    }
}
