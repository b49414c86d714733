//! `/api/events`: the last configuration generations and what changed in each (items added or
//! removed, with their provider; status changes with their errors; a definition that changed,
//! with the servers added and removed for load balancers). A bounded ring buffer, fed by a task
//! that follows the snapshot store's generation watch and diffs each new snapshot against the
//! previous one. Generations swapped faster than the task runs are diffed together (the entry
//! names the generation it reached).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{json, Value};

use super::{query_pairs, rfc3339};
use crate::compile::{ItemReport, Status};
use crate::snapshot::{Snapshot, SnapshotStore};

/// One change to one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `router`, `service` or `middleware`.
    pub kind: &'static str,
    pub name: String,
    pub provider: String,
    /// `added`, `removed`, `status` (enabled/warning/disabled changed), `changed` (definition).
    pub change: &'static str,
    /// Human-readable detail (`enabled → disabled: service "x" does not exist`).
    pub detail: String,
    /// The item's status after the change (`removed` items: their last status).
    pub status: &'static str,
}

/// One configuration generation.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub generation: u64,
    pub time: String,
    pub changes: Vec<Change>,
    /// Changes beyond [`MAX_CHANGES`] that are counted but not listed.
    pub omitted: usize,
}

/// Changes listed per generation. The first generation of 10,000 routers would otherwise keep
/// 10,000 entries (2.2 MiB) in every ring slot it occupies; past this many, what the operator
/// needs is the problems, which are listed first, and a count of the rest.
pub const MAX_CHANGES: usize = 500;

impl Event {
    /// An event listing at most [`MAX_CHANGES`] changes: items that are not `enabled` after the
    /// change first (the errors and warnings), then the others, each group in diff order.
    pub fn new(generation: u64, time: String, mut changes: Vec<Change>) -> Event {
        let mut omitted = 0;
        if changes.len() > MAX_CHANGES {
            changes.sort_by_key(|c| c.status == "enabled");
            omitted = changes.len() - MAX_CHANGES;
            changes.truncate(MAX_CHANGES);
            changes.shrink_to_fit();
        }
        Event {
            generation,
            time,
            changes,
            omitted,
        }
    }
}

/// The ring buffer.
#[derive(Debug)]
pub struct EventLog {
    cap: usize,
    ring: Mutex<VecDeque<Event>>,
}

impl EventLog {
    pub fn new(cap: usize) -> EventLog {
        EventLog {
            cap: cap.max(1),
            ring: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Event>> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn push(&self, e: Event) {
        let mut r = self.lock();
        if r.len() == self.cap {
            r.pop_front();
        }
        r.push_back(e);
    }

    /// Newest first.
    pub fn snapshot(&self) -> Vec<Event> {
        self.lock().iter().rev().cloned().collect()
    }

    /// `{"events": [...]}`, newest first; `limit` (default all) and `since` (generation,
    /// exclusive) narrow it.
    pub fn to_json(&self, query: &str) -> Value {
        let params = query_pairs(query);
        let num = |k: &str| {
            params
                .iter()
                .find(|(p, _)| p == k)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        let since = num("since").unwrap_or(0);
        let limit = num("limit").unwrap_or(u64::MAX) as usize;
        let events: Vec<Event> = self
            .snapshot()
            .into_iter()
            .filter(|e| e.generation > since)
            .take(limit)
            .collect();
        json!({ "capacity": self.cap, "events": events })
    }
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Enabled => "enabled",
        Status::Warning => "warning",
        Status::Disabled => "disabled",
    }
}

/// The changes from `old` to `new`.
pub fn diff_snapshots(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    let (oc, nc) = (&old.config.http, &new.config.http);
    diff_kind(
        "router",
        &old.report.routers,
        &new.report.routers,
        |n| definitions(oc.routers.get(n), nc.routers.get(n)),
        &mut out,
    );
    diff_kind(
        "service",
        &old.report.services,
        &new.report.services,
        |n| definitions(oc.services.get(n), nc.services.get(n)),
        &mut out,
    );
    diff_kind(
        "middleware",
        &old.report.middlewares,
        &new.report.middlewares,
        |n| definitions(oc.middlewares.get(n), nc.middlewares.get(n)),
        &mut out,
    );
    out
}

/// Both definitions as JSON, or `None` when they are equal. The typed comparison comes first:
/// serializing every unchanged item of a 10,000-router configuration twice per generation cost
/// far more than the diff itself.
type Defs = Option<(Option<Option<Value>>, Option<Option<Value>>)>;

fn definitions<T: PartialEq + Serialize>(old: Option<&T>, new: Option<&T>) -> Defs {
    if old == new {
        return None;
    }
    let json = |d: Option<&T>| d.map(|d| serde_json::to_value(d).ok());
    Some((json(old), json(new)))
}

fn diff_kind(
    kind: &'static str,
    old: &BTreeMap<String, ItemReport>,
    new: &BTreeMap<String, ItemReport>,
    defs: impl Fn(&str) -> Defs,
    out: &mut Vec<Change>,
) {
    let errs = |r: &ItemReport| {
        if r.errors.is_empty() {
            String::new()
        } else {
            format!(": {}", r.errors.join("; "))
        }
    };
    for (name, n) in new {
        match old.get(name) {
            None => out.push(Change {
                kind,
                name: name.clone(),
                provider: n.provider.clone(),
                change: "added",
                detail: format!(
                    "added by {} ({}){}",
                    n.provider,
                    status_str(n.status),
                    errs(n)
                ),
                status: status_str(n.status),
            }),
            Some(o) => {
                let differs = defs(name).map(|(od, nd)| (od.flatten(), nd.flatten()));
                if let Some((od, nd)) = differs.filter(|(od, nd)| od != nd) {
                    out.push(Change {
                        kind,
                        name: name.clone(),
                        provider: n.provider.clone(),
                        change: "changed",
                        detail: describe_change(kind, od.as_ref(), nd.as_ref()),
                        status: status_str(n.status),
                    });
                }
                if o.status != n.status || o.errors != n.errors {
                    out.push(Change {
                        kind,
                        name: name.clone(),
                        provider: n.provider.clone(),
                        change: "status",
                        detail: format!(
                            "{} → {}{}",
                            status_str(o.status),
                            status_str(n.status),
                            errs(n)
                        ),
                        status: status_str(n.status),
                    });
                }
            }
        }
    }
    for (name, o) in old {
        if !new.contains_key(name) {
            out.push(Change {
                kind,
                name: name.clone(),
                provider: o.provider.clone(),
                change: "removed",
                detail: format!("removed from {}", o.provider),
                status: status_str(o.status),
            });
        }
    }
}

/// What changed in a definition: servers for load balancers, else the top-level keys.
fn describe_change(kind: &str, old: Option<&Value>, new: Option<&Value>) -> String {
    let servers = |v: Option<&Value>| -> Vec<String> {
        v.and_then(|v| v.pointer("/loadBalancer/servers"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.get("url").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if kind == "service" {
        let (o, n) = (servers(old), servers(new));
        if o != n {
            let added: Vec<&String> = n.iter().filter(|s| !o.contains(s)).collect();
            let removed: Vec<&String> = o.iter().filter(|s| !n.contains(s)).collect();
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!(
                    "+{}",
                    added
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", +")
                ));
            }
            if !removed.is_empty() {
                parts.push(format!(
                    "-{}",
                    removed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", -")
                ));
            }
            if parts.is_empty() {
                parts.push("order or weights".into());
            }
            return format!("servers changed: {}", parts.join(" "));
        }
    }
    let keys = |v: Option<&Value>| -> BTreeMap<String, Value> {
        v.and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let (o, n) = (keys(old), keys(new));
    let mut changed: Vec<String> = n
        .iter()
        .filter(|(k, v)| o.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(o.keys().filter(|k| !n.contains_key(*k)).cloned());
    changed.sort();
    changed.dedup();
    // Secrets never leave through the change log: only key names are named.
    format!("definition changed: {}", changed.join(", "))
}

/// Follows the store's generations and records one event per observed swap. Ends when the
/// store is dropped.
pub async fn record(store: SnapshotStore, log: Arc<EventLog>) {
    let mut rx = store.subscribe();
    let mut prev = store.load();
    if prev.generation > 0 {
        log.push(Event::new(
            prev.generation,
            rfc3339(SystemTime::now()),
            diff_snapshots(&Snapshot::default(), &prev),
        ));
    }
    while rx.changed().await.is_ok() {
        rx.borrow_and_update();
        let next = store.load();
        if next.generation == prev.generation {
            continue;
        }
        let changes = diff_snapshots(&prev, &next);
        log.push(Event::new(
            next.generation,
            rfc3339(SystemTime::now()),
            changes,
        ));
        prev = next;
    }
}
