//! ACME: certificate resolvers. Each resolver listens to snapshot generations (the wanted
//! domains are the routers whose `tls.certResolver` names it), orders what is missing or due
//! through one bounded queue per CA, stores results in Traefik's `acme.json`, and publishes its
//! certificates back as a provider (`<resolver>.acme`), so the next snapshot serves them. Wanted
//! domains come only from routers, so the loop settles.

pub mod challenge;
pub mod client;
pub mod dns;
pub mod inventory;
mod resolver;
pub mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use wharf_providers::provider::ProviderHandle;

pub use crate::tls::{AlpnChallenges, ACME_TLS_ALPN};
pub use challenge::{DnsExec, Http01Hook, Http01Tokens, HTTP01_PREFIX};
pub use dns::LegoEnv;
pub use inventory::{CertState, CertificateInfo, Inventory};

use crate::config::CertificateResolver;
use crate::rule::RuleSyntax;
use crate::snapshot::SnapshotStore;

/// How many orders may run at once against one CA (all resolvers of the process together).
pub const MAX_CONCURRENT_ORDERS: usize = 2;

/// Tunables (defaults are for production; tests shorten them).
#[derive(Clone, Debug)]
pub struct AcmeOptions {
    /// First backoff after a failure; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// The rule syntax for routers that do not say (`core.defaultRuleSyntax`).
    pub default_rule_syntax: RuleSyntax,
    /// `entryPoints.<name>.http.tls`: the TLS (and resolver) of routers without their own.
    pub entry_point_tls: BTreeMap<String, wharf_providers::RouterTls>,
    /// The DNS-01 `exec` hook; `None` reads lego's `EXEC_PATH`/`EXEC_MODE` from [`lego_env`](Self::lego_env).
    pub dns_exec: Option<DnsExec>,
    /// Where lego's variables are read (`LEGO_CA_CERTIFICATES`, `LEGO_CA_SYSTEM_CERT_POOL`,
    /// `RFC2136_*`, `EXEC_*`): the process environment by default.
    pub lego_env: dns::LegoEnv,
}

impl Default for AcmeOptions {
    fn default() -> Self {
        AcmeOptions {
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(24 * 3600),
            default_rule_syntax: RuleSyntax::V3,
            entry_point_tls: BTreeMap::new(),
            dns_exec: None,
            lego_env: dns::LegoEnv::process(),
        }
    }
}

/// What [`start`] returns to the runtime.
#[derive(Clone, Debug)]
pub struct AcmeRuntime {
    /// One provider per resolver (`<name>.acme`); add them to the aggregate.
    pub providers: Vec<ProviderHandle>,
    /// Pending HTTP-01 tokens; register [`Http01Hook`] on each entry point of
    /// [`http_entry_points`](Self::http_entry_points) under [`HTTP01_PREFIX`].
    pub http01: Arc<Http01Tokens>,
    /// Pending TLS-ALPN-01 certificates: the TLS module's process-wide registry.
    pub tls_alpn: Arc<AlpnChallenges>,
    pub inventory: Inventory,
    /// Entry points named by some resolver's `httpChallenge.entryPoint`.
    pub http_entry_points: BTreeSet<String>,
    /// Forced renewal by inventory id (for an opt-in `POST /api/certificates/{id}/renew`).
    pub renewals: Renewals,
}

/// Why a forced renewal was not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenewError {
    #[error("no ACME certificate `{0}`")]
    Unknown(String),
    #[error("resolver `{0}` is not running")]
    NotRunning(String),
}

/// Sends forced-renewal requests to the resolvers' loops. The renewal still goes through the
/// CA's queue and respects the domain set's backoff (see the inventory's `retryAt`).
#[derive(Clone, Debug, Default)]
pub struct Renewals {
    senders: Arc<Mutex<BTreeMap<String, tokio::sync::mpsc::UnboundedSender<String>>>>,
    inventory: Inventory,
}

impl Renewals {
    /// Marks certificate `id` (an inventory id, `<resolver>:<domains>`) due now.
    pub fn request(&self, id: &str) -> Result<(), RenewError> {
        let info = self
            .inventory
            .get(id)
            .filter(|c| c.not_after.is_some())
            .ok_or_else(|| RenewError::Unknown(id.to_string()))?;
        let m = self
            .senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = m
            .get(&info.resolver)
            .ok_or_else(|| RenewError::NotRunning(info.resolver.clone()))?;
        tx.send(domain_key(&info.domains))
            .map_err(|_| RenewError::NotRunning(info.resolver.clone()))
    }
}

impl AcmeRuntime {
    /// The pre-routing hook answering HTTP-01 challenges.
    pub fn http01_hook(&self) -> Http01Hook {
        Http01Hook(self.http01.clone())
    }
}

/// The issuance queue of one CA (keyed by directory URL).
pub(crate) fn ca_queue(ca_server: &str) -> Arc<Semaphore> {
    static QUEUES: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    let mut m = QUEUES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    m.entry(ca_server.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(MAX_CONCURRENT_ORDERS)))
        .clone()
}

/// Starts one task per ACME resolver (needs a tokio runtime). A resolver that cannot start
/// (storage mode too open, unreadable CA file) publishes an empty view, reports the error on its
/// provider status and in the inventory; the others and all traffic are unaffected.
pub fn start(
    resolvers: &BTreeMap<String, CertificateResolver>,
    store: SnapshotStore,
    options: AcmeOptions,
) -> AcmeRuntime {
    let mut rt = AcmeRuntime {
        providers: Vec::new(),
        http01: Arc::default(),
        tls_alpn: AlpnChallenges::global().clone(),
        inventory: Inventory::default(),
        http_entry_points: BTreeSet::new(),
        renewals: Renewals::default(),
    };
    rt.renewals.inventory = rt.inventory.clone();
    for (name, r) in resolvers {
        let Some(acme) = &r.acme else { continue };
        if let Some(h) = &acme.http_challenge {
            if !h.entry_point.is_empty() {
                rt.http_entry_points.insert(h.entry_point.clone());
            }
        }
        let (renew_tx, renew_rx) = tokio::sync::mpsc::unbounded_channel();
        rt.renewals
            .senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone(), renew_tx);
        let handle = resolver::spawn(
            name.clone(),
            acme.clone(),
            resolver::Shared {
                http01: rt.http01.clone(),
                tls_alpn: rt.tls_alpn.clone(),
                inventory: rt.inventory.clone(),
                snapshots: store.clone(),
                options: options.clone(),
            },
            renew_rx,
        );
        rt.providers.push(handle);
    }
    rt
}

/// The provider name of resolver `name` (Traefik's `<name>.acme`).
pub fn provider_name(resolver: &str) -> String {
    format!("{resolver}.acme")
}

/// Does certificate name `pattern` (maybe `*.example.com`) cover host `name`?
pub fn name_covers(pattern: &str, name: &str) -> bool {
    if pattern.eq_ignore_ascii_case(name) {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => false,
    }
}

/// The stable key of a domain set: sorted, lower-case, joined by `,`.
pub fn domain_key(names: &[String]) -> String {
    let set: BTreeSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}
