//! `/api/explain?url=...&method=...&header=Name:Value&entryPoint=...&clientIp=...`: which router
//! would take a request on an entry point, and why. Evaluates the same route table the proxy
//! uses: the candidates for the host in priority order, each with its rule's leaf matchers and
//! whether they matched, stopping at the first match; then that router's middlewares, service
//! and servers with their health. Bounded input: a hostile or malformed query is a 400.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use serde_json::{json, Value};

use super::{error, json_ok, query_pairs};
use crate::body::Body;
use crate::rule::RequestInfo;
use crate::snapshot::Snapshot;

const MAX_QUERY: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;
/// Candidates shown as "did not match" before the answer (the rest are counted).
const MAX_SKIPPED: usize = 50;

pub(crate) fn answer(snap: &Snapshot, query: &str, entry_points: &[String]) -> Response<Body> {
    if query.len() > MAX_QUERY {
        return error(StatusCode::BAD_REQUEST, "query too long");
    }
    match explain(snap, query, entry_points) {
        Ok(v) => json_ok(&v),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

fn explain(snap: &Snapshot, query: &str, entry_points: &[String]) -> Result<Value, String> {
    let params = query_pairs(query);
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
    let url = get("url")
        .filter(|u| !u.is_empty())
        .ok_or("`url` is required")?;
    let uri: Uri = url.parse().map_err(|e| format!("invalid url: {e}"))?;
    let method = match get("method").filter(|m| !m.is_empty()) {
        None => Method::GET,
        Some(m) if m.len() <= 32 => {
            Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method `{m}`"))?
        }
        Some(_) => return Err("invalid method".into()),
    };
    let mut headers = HeaderMap::new();
    for (k, v) in params.iter().filter(|(k, _)| k == "header") {
        if headers.len() >= MAX_HEADERS {
            return Err(format!("at most {MAX_HEADERS} headers"));
        }
        let (name, value) = v
            .split_once(':')
            .ok_or_else(|| format!("header `{v}` is not Name:Value"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name `{}`", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        let _ = k;
        headers.append(name, value);
    }
    let client_ip: IpAddr = match get("clientIp").filter(|c| !c.is_empty()) {
        None => IpAddr::from([127, 0, 0, 1]),
        Some(c) => c.parse().map_err(|_| format!("invalid clientIp `{c}`"))?,
    };
    // The host: the URL's authority, else a Host header.
    let raw_host = match uri.authority() {
        Some(a) => a.as_str().to_string(),
        None => headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string(),
    };
    let raw_host = raw_host
        .rsplit_once('@')
        .map_or(raw_host.as_str(), |(_, h)| h);
    let host = crate::proxy::normalize_host(raw_host).into_owned();
    let routing =
        crate::rule::routing_path(uri.path()).ok_or("malformed percent-escape in the path")?;
    let path = routing.into_owned();

    let ep = match get("entryPoint").filter(|e| !e.is_empty()) {
        Some(e) => e.to_string(),
        None => default_entry_point(snap, entry_points).ok_or("`entryPoint` is required")?,
    };
    let table = snap
        .entry_points
        .get(ep.as_str())
        .ok_or_else(|| format!("unknown entry point `{ep}`"))?;

    let info = RequestInfo {
        method: &method,
        host: &host,
        path: &path,
        query: uri.query(),
        headers: &headers,
        client_ip,
    };
    let mut skipped = Vec::new();
    let mut skipped_more = 0usize;
    let mut matched = None;
    for r in table.candidates(&host) {
        let clauses: Vec<Value> = r
            .rule
            .leaf_results(&info)
            .into_iter()
            .map(|(c, m)| json!({"clause": c, "matched": m}))
            .collect();
        if r.rule.matches(&info) {
            matched = Some((r.clone(), clauses));
            break;
        }
        if skipped.len() < MAX_SKIPPED {
            skipped.push(json!({
                "router": &*r.name,
                "priority": r.priority,
                "rule": rule_text(snap, &r.name),
                "clauses": clauses,
            }));
        } else {
            skipped_more += 1;
        }
    }
    let request = json!({
        "method": method.as_str(),
        "host": host,
        "path": path,
        "query": uri.query(),
        "headers": headers.iter().map(|(k, v)| json!({"name": k.as_str(), "value": v.to_str().unwrap_or("")})).collect::<Vec<_>>(),
        "clientIp": client_ip.to_string(),
    });
    // Disabled routers on this entry point never take a request; name them so "why not mine"
    // has an answer.
    let disabled: Vec<Value> = snap
        .report
        .routers
        .iter()
        .filter(|(_, r)| r.is_disabled() && r.using.contains(&ep))
        .take(MAX_SKIPPED)
        .map(|(n, r)| json!({"router": n, "rule": rule_text(snap, n), "error": r.errors}))
        .collect();
    let result = match matched {
        None => json!(null),
        Some((route, clauses)) => {
            let middlewares: Vec<Value> = route
                .middlewares
                .iter()
                .map(|m| {
                    let rep = snap.report.middlewares.get(&**m);
                    let ty = snap
                        .config
                        .http
                        .middlewares
                        .get(&**m)
                        .and_then(|s| s.kind().ok())
                        .map(|k| k.as_str());
                    json!({
                        "name": &**m,
                        "type": ty,
                        "status": rep.map(|r| format!("{:?}", r.status).to_lowercase()),
                    })
                })
                .collect();
            let servers: Vec<Value> = route
                .service
                .server_status()
                .unwrap_or_default()
                .into_iter()
                .map(|s| json!({"url": &*s.url, "up": s.up}))
                .collect();
            // The balancer's next pick depends on its rotation; any healthy server may be it.
            let pick = servers
                .iter()
                .find(|s| s.get("up") == Some(&json!(true)))
                .and_then(|s| s.get("url"))
                .cloned();
            json!({
                "router": &*route.name,
                "priority": route.priority,
                "rule": rule_text(snap, &route.name),
                "clauses": clauses,
                "middlewares": middlewares,
                "service": &*route.service.name,
                "serviceType": route.service.kind_name(),
                "serviceUp": route.service.is_up(),
                "servers": servers,
                "server": pick,
            })
        }
    };
    let outcome = if result.is_null() {
        "404 page not found: no router matches".to_string()
    } else {
        format!("routed by {}", result["router"].as_str().unwrap_or(""))
    };
    Ok(json!({
        "entryPoint": ep,
        "generation": snap.generation,
        "request": request,
        "outcome": outcome,
        "matched": result,
        "notMatched": skipped,
        "notMatchedMore": skipped_more,
        "disabledRouters": disabled,
    }))
}

fn rule_text(snap: &Snapshot, router: &str) -> String {
    snap.config
        .http
        .routers
        .get(router)
        .map(|r| r.rule.clone())
        .unwrap_or_default()
}

/// Without `entryPoint`: `web` if it exists, else the only entry point that is not the API's.
fn default_entry_point(snap: &Snapshot, configured: &[String]) -> Option<String> {
    let mut names: Vec<&str> = snap.entry_points.keys().map(|k| &**k).collect();
    names.extend(configured.iter().map(String::as_str));
    if names.contains(&"web") {
        return Some("web".into());
    }
    let mut others: Vec<&str> = names
        .into_iter()
        .filter(|n| *n != crate::config::INTERNAL_ENTRY_POINT)
        .collect();
    others.sort();
    others.dedup();
    match others.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}
