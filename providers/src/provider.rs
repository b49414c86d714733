//! The contract between a provider's client loop and the runtime: a watch channel holding the
//! provider's latest full view, and a status for readiness and the API overview.

use std::sync::Arc;

use tokio::sync::watch;

use crate::DynamicConfig;

/// `None` = not reported yet; `Some(empty)` = the provider sees nothing. Always a full view.
pub type ConfigWatch = watch::Receiver<Option<Arc<DynamicConfig>>>;

/// What a provider says about itself (readiness, overview errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Has not delivered a first view or error yet.
    Starting,
    /// Delivered a complete view; the last one is serving.
    Ready,
    /// The source failed; the last good view (if any) keeps serving; the provider retries.
    Error(String),
}

/// Handle the runtime keeps for each running provider.
#[derive(Clone, Debug)]
pub struct ProviderHandle {
    /// Traefik's provider name: `file`, `docker`, `kubernetes`, `kubernetescrd`, ...
    pub name: String,
    pub config: ConfigWatch,
    pub status: watch::Receiver<ProviderStatus>,
}

/// The sending half a provider's loop holds.
#[derive(Debug)]
pub struct ProviderSender {
    pub config: watch::Sender<Option<Arc<DynamicConfig>>>,
    pub status: watch::Sender<ProviderStatus>,
}

/// Creates a connected sender/handle pair for a provider named `name`.
pub fn channel(name: impl Into<String>) -> (ProviderSender, ProviderHandle) {
    let (ctx, crx) = watch::channel(None);
    let (stx, srx) = watch::channel(ProviderStatus::Starting);
    (
        ProviderSender {
            config: ctx,
            status: stx,
        },
        ProviderHandle {
            name: name.into(),
            config: crx,
            status: srx,
        },
    )
}

impl ProviderSender {
    /// Publishes a complete view, skipping it if equal to the last one (no needless recompiles).
    pub fn publish(&self, mut cfg: DynamicConfig) {
        self.config.send_if_modified(|cur| {
            let same = cur
                .as_deref()
                .is_some_and(|c| *c == cfg && c.problems == cfg.problems);
            if !same {
                cfg.compact();
                *cur = Some(Arc::new(cfg));
            }
            !same
        });
        self.status.send_if_modified(|s| {
            let changed = *s != ProviderStatus::Ready;
            *s = ProviderStatus::Ready;
            changed
        });
    }
    /// Reports an error; the last good view stays published.
    pub fn fail(&self, message: impl Into<String>) {
        let m = message.into();
        self.status.send_if_modified(|s| {
            let new = ProviderStatus::Error(m.clone());
            let changed = *s != new;
            *s = new;
            changed
        });
    }
}
