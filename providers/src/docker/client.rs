//! The Docker provider's client loop: connect → version → list → inspect each → publish, then
//! follow the events stream. Only containers an event names are inspected again; the view is
//! rebuilt from the per-container cache by the pure `build()`. Uses read calls only, so it works
//! behind a read-only socket proxy. On failure it keeps the last good view, reports the error,
//! and reconnects with backoff (re-listing everything on reconnect).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, InspectContainerOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::build::{build, BuildSettings};
use super::model::ContainerInfo;
use super::DockerSettings;
use crate::provider::{channel, ProviderHandle, ProviderSender};

/// Container event actions that can change routing (`health_status` arrives as
/// `health_status: healthy`; `exec_*` events of health checks are ignored).
const CONTAINER_ACTIONS: &[&str] = &[
    "start",
    "die",
    "stop",
    "kill",
    "destroy",
    "pause",
    "unpause",
    "health_status",
    "rename",
    "restart",
    "create",
];

/// Why a session with the engine ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("docker engine at {endpoint}: {source}")]
    Engine {
        endpoint: String,
        source: BollardError,
    },
    #[error("docker engine at {0}: the events stream ended")]
    StreamEnded(String),
}

/// Starts the Docker provider on the current tokio runtime and returns its handle at once:
/// an engine that is down never blocks the caller (the loop retries in the background).
pub fn spawn(settings: DockerSettings) -> ProviderHandle {
    let (tx, handle) = channel("docker");
    tokio::spawn(run(settings, tx));
    handle
}

async fn run(settings: DockerSettings, tx: ProviderSender) {
    let prepared = match settings.prepare() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(provider = "docker", error = %e, "cannot start the docker provider");
            tx.fail(e.to_string());
            return;
        }
    };
    let endpoint = settings.resolved_endpoint();
    let mut cache: HashMap<String, ContainerInfo> = HashMap::new();
    let min_backoff = Duration::from_millis(200);
    let max_backoff = Duration::from_secs(30);
    let mut backoff = min_backoff;
    loop {
        let mut listed = false;
        let result = session(
            &settings,
            &prepared,
            &endpoint,
            &tx,
            &mut cache,
            &mut listed,
        )
        .await;
        match result {
            Ok(()) => return, // watch = false: one list, done.
            Err(e) => {
                if listed {
                    backoff = min_backoff;
                }
                tracing::warn!(provider = "docker", error = %e, retry_in = ?backoff, "docker provider: engine unreachable; keeping the last good routes");
                tx.fail(e.to_string());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
            }
        }
        if tx.config.is_closed() {
            return; // nobody listens any more
        }
    }
}

fn connect(endpoint: &str, timeout: Duration) -> Result<Docker, BollardError> {
    let secs = timeout.as_secs().max(1);
    if let Some(path) = endpoint.strip_prefix("unix://") {
        Docker::connect_with_unix(path, secs, bollard::API_DEFAULT_VERSION)
    } else {
        Docker::connect_with_http(endpoint, secs, bollard::API_DEFAULT_VERSION)
    }
}

async fn session(
    settings: &DockerSettings,
    prepared: &BuildSettings,
    endpoint: &str,
    tx: &ProviderSender,
    cache: &mut HashMap<String, ContainerInfo>,
    listed: &mut bool,
) -> Result<(), SessionError> {
    let eng = |source| SessionError::Engine {
        endpoint: endpoint.to_string(),
        source,
    };
    let docker = connect(endpoint, settings.request_timeout).map_err(eng)?;
    // GET /version: speak the engine's API version when it is older than bollard's.
    let docker = docker.negotiate_version().await.map_err(eng)?;

    // Events since slightly before the list, so nothing between list and subscribe is missed;
    // replayed events only cause a harmless re-inspect.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(2))
        .unwrap_or(0);
    let mut events = settings.watch.then(|| {
        let filters = HashMap::from([(
            "type".to_string(),
            vec!["container".to_string(), "network".to_string()],
        )]);
        docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }))
    });

    // Events older than the list are already reflected in the inspections that follow it.
    let list_started_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(eng)?;
    let ids: Vec<String> = list.into_iter().filter_map(|c| c.id).collect();
    let inspected = futures_util::stream::iter(ids.into_iter().map(|id| {
        let docker = &docker;
        async move { (id.clone(), inspect(docker, &id).await) }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    let mut fresh = HashMap::new();
    for (id, r) in inspected {
        if let Some(info) = r.map_err(eng)? {
            fresh.insert(id, info);
        }
    }
    *cache = fresh;
    *listed = true;
    let own = own_networks(cache);
    publish(tx, cache, prepared, &own);

    let Some(events) = events.as_mut() else {
        return Ok(());
    };
    let mut dirty: HashSet<String> = HashSet::new();
    let mut removed: HashSet<String> = HashSet::new();
    let mut last_publish = Instant::now();
    let mut deadline: Option<Instant> = None;
    loop {
        let flush_at = deadline;
        tokio::select! {
            ev = events.next() => {
                let msg = match ev {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(eng(e)),
                    None => return Err(SessionError::StreamEnded(endpoint.to_string())),
                };
                if msg.time_nano.is_some_and(|t| t < list_started_ns) {
                    continue;
                }
                let Some((id, gone)) = relevant(&msg) else { continue };
                tracing::debug!(provider = "docker", container = %id, action = ?msg.action, "docker event");
                if gone {
                    dirty.remove(&id);
                    removed.insert(id);
                } else {
                    removed.remove(&id);
                    dirty.insert(id);
                }
                if deadline.is_none() {
                    // Throttle: the first change at once, then at most one publish per window.
                    deadline = Some((last_publish + settings.throttle).max(Instant::now()));
                }
            }
            _ = async { if let Some(at) = flush_at { tokio::time::sleep_until(at).await } }, if flush_at.is_some() => {
                for id in removed.drain() {
                    cache.remove(&id);
                }
                let ids: Vec<String> = dirty.drain().collect();
                for id in ids {
                    match inspect(&docker, &id).await.map_err(eng)? {
                        Some(info) => { cache.insert(id, info); }
                        None => { cache.remove(&id); }
                    }
                }
                let own = own_networks(cache);
                if publish(tx, cache, prepared, &own) {
                    last_publish = Instant::now();
                }
                deadline = None;
            }
        }
    }
}

/// `Ok(None)` when the container is gone (404): it simply leaves the cache.
async fn inspect(docker: &Docker, id: &str) -> Result<Option<ContainerInfo>, BollardError> {
    match docker
        .inspect_container(id, Some(InspectContainerOptions { size: false }))
        .await
    {
        Ok(c) => Ok(Some(ContainerInfo::from_inspect(&c))),
        Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The container an event concerns, and whether it is gone for good (`destroy`).
fn relevant(msg: &EventMessage) -> Option<(String, bool)> {
    let action = msg.action.as_deref()?;
    let actor = msg.actor.as_ref()?;
    match msg.typ {
        Some(EventMessageTypeEnum::CONTAINER) => {
            let base = action.split(':').next().unwrap_or(action).trim();
            if !CONTAINER_ACTIONS.contains(&base) {
                return None;
            }
            Some((actor.id.clone()?, base == "destroy"))
        }
        Some(EventMessageTypeEnum::NETWORK) if action == "connect" || action == "disconnect" => {
            let id = actor.attributes.as_ref()?.get("container")?.clone();
            Some((id, false))
        }
        _ => None,
    }
}

/// Builds and publishes the full view; returns whether it differs from the last one published
/// (a no-op event, like `kill` before `die`, must not use up the throttle window).
fn publish(
    tx: &ProviderSender,
    cache: &HashMap<String, ContainerInfo>,
    prepared: &BuildSettings,
    own: &BTreeSet<String>,
) -> bool {
    let containers: Vec<ContainerInfo> = cache.values().cloned().collect();
    let cfg = build(&containers, prepared, own);
    let changed = tx
        .config
        .borrow()
        .as_deref()
        .is_none_or(|last| *last != cfg || last.problems != cfg.problems);
    if changed {
        for p in &cfg.problems {
            tracing::debug!(provider = "docker", kind = ?p.kind, name = %p.name, problem = %p, "docker provider problem");
        }
    }
    tx.publish(cfg);
    changed
}

/// Networks of wharf's own container (when wharf runs in one), for the "shared network" choice.
fn own_networks(cache: &HashMap<String, ContainerInfo>) -> BTreeSet<String> {
    let Some(own_id) = own_container_id(cache) else {
        return BTreeSet::new();
    };
    cache
        .get(&own_id)
        .map(|c| {
            c.networks
                .iter()
                .flat_map(|(name, ep)| [name.clone(), ep.network_id.clone()])
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn own_container_id(cache: &HashMap<String, ContainerInfo>) -> Option<String> {
    // Docker mounts /etc/hostname from .../containers/<id>/hostname; the default hostname is the
    // short id. Either identifies wharf's own container.
    if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
        for line in mi.lines() {
            if let Some(pos) = line.find("/containers/") {
                let rest = &line[pos + "/containers/".len()..];
                let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                if id.len() == 64 && cache.contains_key(&id) {
                    return Some(id);
                }
            }
        }
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()?
        .trim()
        .to_string();
    if host.len() >= 12 && host.chars().all(|c| c.is_ascii_hexdigit()) {
        return cache.keys().find(|id| id.starts_with(&host)).cloned();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn ev(
        typ: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attrs: &[(&str, &str)],
    ) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_that_matter() {
        use EventMessageTypeEnum::*;
        assert_eq!(
            relevant(&ev(CONTAINER, "start", "c1", &[])),
            Some(("c1".into(), false))
        );
        assert_eq!(
            relevant(&ev(CONTAINER, "health_status: unhealthy", "c1", &[])),
            Some(("c1".into(), false))
        );
        assert_eq!(
            relevant(&ev(CONTAINER, "destroy", "c1", &[])),
            Some(("c1".into(), true))
        );
        assert_eq!(
            relevant(&ev(
                CONTAINER,
                "exec_start: /whoami --healthcheck",
                "c1",
                &[]
            )),
            None
        );
        assert_eq!(
            relevant(&ev(NETWORK, "connect", "net1", &[("container", "c2")])),
            Some(("c2".into(), false))
        );
        assert_eq!(relevant(&ev(NETWORK, "create", "net1", &[])), None);
        assert_eq!(relevant(&ev(IMAGE, "pull", "i", &[])), None);
    }
}
