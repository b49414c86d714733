//! Fixture tests of compile: route order, host index, report.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use wharf_providers::DynamicConfig;

use super::*;
use crate::aggregate;
use crate::rule::RequestInfo;

fn settings() -> CompileSettings {
    CompileSettings {
        entry_points: vec!["web".into(), "websecure".into()],
        ..Default::default()
    }
}

fn compile_yaml(yaml: &str) -> Snapshot {
    let view: DynamicConfig = match serde_norway::from_str(yaml) {
        Ok(v) => v,
        Err(e) => panic!("fixture does not parse: {e}"),
    };
    let merged = aggregate::merge(
        &[("file".to_string(), Arc::new(view))],
        &["web".to_string()],
    );
    let files = BTreeMap::new();
    let registries = Registries::default();
    let settings = settings();
    compile(CompileInput {
        config: Arc::new(merged),
        settings: &settings,
        files: &files,
        now: SystemTime::UNIX_EPOCH,
        registries: &registries,
    })
}

fn find<'s>(snap: &'s Snapshot, ep: &str, host: &str, path: &str) -> Option<&'s str> {
    let headers = http::HeaderMap::new();
    let req = RequestInfo {
        method: &http::Method::GET,
        host,
        path,
        query: None,
        headers: &headers,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    snap.entry_points.get(ep)?.find(&req).map(|r| &*r.name)
}

const SVC: &str = r#"
  services:
    s:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:1
"#;

fn fixture(routers: &str) -> String {
    format!("http:\n  routers:\n{routers}{SVC}")
}

#[test]
fn default_priority_is_rule_length() {
    let snap = compile_yaml(&fixture(
        r#"
    short:
      rule: "PathPrefix(`/`)"
      service: s
    longer:
      rule: "PathPrefix(`/api`)"
      service: s
"#,
    ));
    assert_eq!(snap.report.routers["short@file"].priority, Some(15));
    assert_eq!(snap.report.routers["longer@file"].priority, Some(18));
    assert_eq!(find(&snap, "web", "x", "/api/v1"), Some("longer@file"));
    assert_eq!(find(&snap, "web", "x", "/other"), Some("short@file"));
}

#[test]
fn hostless_rule_with_higher_priority_wins_over_host_rule() {
    let snap = compile_yaml(&fixture(
        r#"
    host:
      rule: "Host(`a.example.com`)"
      service: s
    catchall:
      rule: "PathPrefix(`/`)"
      priority: 1000
      service: s
    low:
      rule: "PathPrefix(`/low`)"
      priority: 1
      service: s
"#,
    ));
    assert_eq!(
        find(&snap, "web", "a.example.com", "/x"),
        Some("catchall@file")
    );
    let table = &snap.entry_points["web"];
    let names: Vec<&str> = table
        .candidates("a.example.com")
        .iter()
        .map(|r| &*r.name)
        .collect();
    assert_eq!(names, vec!["catchall@file", "host@file", "low@file"]);
    // Another host sees only the host-less routes.
    let names: Vec<&str> = table
        .candidates("b.example.com")
        .iter()
        .map(|r| &*r.name)
        .collect();
    assert_eq!(names, vec!["catchall@file", "low@file"]);
}

#[test]
fn host_rule_beats_lower_hostless() {
    let snap = compile_yaml(&fixture(
        r#"
    host:
      rule: "Host(`a.example.com`)"
      service: s
    catchall:
      rule: "PathPrefix(`/`)"
      service: s
"#,
    ));
    assert_eq!(find(&snap, "web", "a.example.com", "/x"), Some("host@file"));
    assert_eq!(
        find(&snap, "web", "b.example.com", "/x"),
        Some("catchall@file")
    );
}

#[test]
fn ties_break_by_name() {
    let snap = compile_yaml(&fixture(
        r#"
    zeta:
      rule: "PathPrefix(`/`)"
      priority: 5
      service: s
    alpha:
      rule: "PathPrefix(`/`)"
      priority: 5
      service: s
"#,
    ));
    assert_eq!(find(&snap, "web", "x", "/"), Some("alpha@file"));
}

#[test]
fn entry_points_get_their_own_tables() {
    let snap = compile_yaml(&fixture(
        r#"
    secure:
      rule: "PathPrefix(`/`)"
      entryPoints: [websecure]
      service: s
    default:
      rule: "Path(`/d`)"
      service: s
"#,
    ));
    assert_eq!(find(&snap, "websecure", "x", "/"), Some("secure@file"));
    assert_eq!(find(&snap, "web", "x", "/"), None);
    assert_eq!(find(&snap, "web", "x", "/d"), Some("default@file"));
    assert_eq!(
        snap.report.routers["default@file"].using,
        vec!["web".to_string()]
    );
}

#[test]
fn report_disables_broken_items_alone() {
    let snap = compile_yaml(
        r#"
http:
  routers:
    good:
      rule: "Host(`good.example.com`)"
      service: s
    nosvc:
      rule: "Path(`/a`)"
      service: missing
    nomw:
      rule: "Path(`/b`)"
      service: s
      middlewares: [nope]
    badrule:
      rule: "Host(`a.example.com`) && Path(`/x`"
      service: s
    badsvc:
      rule: "Path(`/c`)"
      service: broken
    unknownep:
      rule: "Path(`/d`)"
      entryPoints: [web, nowhere]
      service: s
    onlyunknownep:
      rule: "Path(`/e`)"
      entryPoints: [nowhere]
      service: s
  services:
    s:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:1
    broken:
      loadBalancer:
        servers:
          - url: "ftp://x"
    w:
      weighted:
        services:
          - name: s
          - name: ghost
"#,
    );
    let r = &snap.report.routers;
    assert_eq!(r["good@file"].status, Status::Enabled);
    assert_eq!(r["nosvc@file"].status, Status::Disabled);
    assert_eq!(
        r["nosvc@file"].errors,
        vec!["service `missing@file` does not exist".to_string()]
    );
    assert_eq!(
        r["nomw@file"].errors,
        vec!["middleware `nope@file` does not exist".to_string()]
    );
    assert_eq!(r["badrule@file"].status, Status::Disabled);
    assert!(
        r["badrule@file"].errors[0].contains("column"),
        "{:?}",
        r["badrule@file"].errors
    );
    assert_eq!(
        r["badsvc@file"].errors,
        vec!["service `broken@file` is disabled".to_string()]
    );
    assert_eq!(r["unknownep@file"].status, Status::Warning);
    assert_eq!(
        r["unknownep@file"].errors,
        vec!["entry point `nowhere` does not exist".to_string()]
    );
    assert_eq!(r["onlyunknownep@file"].status, Status::Disabled);
    let s = &snap.report.services;
    assert_eq!(s["s@file"].status, Status::Enabled);
    assert!(s["s@file"].used_by.contains(&"good@file".to_string()));
    assert_eq!(s["broken@file"].status, Status::Disabled);
    assert!(
        s["broken@file"].errors[0].contains("unsupported scheme"),
        "{:?}",
        s["broken@file"].errors
    );
    assert_eq!(
        s["w@file"].errors,
        vec!["service `ghost@file` does not exist".to_string()]
    );
    // The good router still serves.
    assert_eq!(
        find(&snap, "web", "good.example.com", "/"),
        Some("good@file")
    );
    assert_eq!(find(&snap, "web", "x", "/d"), Some("unknownep@file"));
    assert!(snap.report.has_errors());
}

#[test]
fn service_cycles_are_reported() {
    let snap = compile_yaml(
        r#"
http:
  services:
    a:
      failover:
        service: b
        fallback: b
    b:
      weighted:
        services:
          - name: a
"#,
    );
    let s = &snap.report.services;
    assert_eq!(s["a@file"].status, Status::Disabled);
    assert_eq!(s["b@file"].status, Status::Disabled);
}

#[test]
fn provider_problems_attach_to_items() {
    let mut view = DynamicConfig::default();
    view.problems.push(wharf_providers::Problem::error(
        wharf_providers::ItemKind::Router,
        "ghost",
        "bad label",
    ));
    let merged = aggregate::merge(&[("docker".to_string(), Arc::new(view))], &[]);
    let files = BTreeMap::new();
    let registries = Registries::default();
    let settings = settings();
    let snap = compile(CompileInput {
        config: Arc::new(merged),
        settings: &settings,
        files: &files,
        now: SystemTime::UNIX_EPOCH,
        registries: &registries,
    });
    let g = &snap.report.routers["ghost@docker"];
    assert_eq!(g.status, Status::Disabled);
    assert_eq!(g.provider, "docker");
    assert_eq!(g.errors[0], "bad label");
}

#[test]
fn many_hosts_index() {
    let mut routers = String::new();
    for i in 0..200 {
        routers.push_str(&format!(
            "    r{i}:\n      rule: \"Host(`h{i}.example.com`)\"\n      service: s\n"
        ));
    }
    let snap = compile_yaml(&fixture(&routers));
    let t = &snap.entry_points["web"];
    assert_eq!(t.exact.len(), 200);
    assert_eq!(t.candidates("h17.example.com").len(), 1);
    assert_eq!(find(&snap, "web", "h17.example.com", "/"), Some("r17@file"));
    assert_eq!(find(&snap, "web", "nope.example.com", "/"), None);
}

#[test]
fn wildcard_suffixes_merge_in_priority_order() {
    let snap = compile_yaml(&fixture(
        r#"
    wild:
      rule: "HostRegexp(`^[a-z0-9-]+\\.example\\.com$`)"
      service: s
    deep:
      rule: "HostRegexp(`^[a-z]+\\.api\\.example\\.com$`)"
      service: s
    exact:
      rule: "Host(`a.example.com`) && Path(`/only`)"
      service: s
    any:
      rule: "PathPrefix(`/`)"
      service: s
"#,
    ));
    let t = &snap.entry_points["web"];
    assert!(
        !t.suffixes.is_empty(),
        "HostRegexp with a literal suffix is indexed"
    );
    // An exact host also sees the wildcard routes that cover it, in priority order.
    let names: Vec<&str> = t
        .candidates("a.example.com")
        .iter()
        .map(|r| &*r.name)
        .collect();
    assert_eq!(names, vec!["wild@file", "exact@file", "any@file"]);
    assert_eq!(find(&snap, "web", "a.example.com", "/x"), Some("wild@file"));
    assert_eq!(find(&snap, "web", "b.example.com", "/x"), Some("wild@file"));
    // The deeper suffix's list holds the shorter one too (here `wild` cannot match two labels).
    assert_eq!(
        find(&snap, "web", "www.api.example.com", "/x"),
        Some("deep@file")
    );
    assert_eq!(find(&snap, "web", "other.org", "/x"), Some("any@file"));
}

#[test]
fn middlewares_are_checked() {
    let snap = compile_yaml(&fixture(
        r#"
    ok:
      rule: "Path(`/ok`)"
      service: s
      middlewares: [strip, good-chain]
    bad:
      rule: "Path(`/bad`)"
      service: s
      middlewares: [broken-chain]
  middlewares:
    strip:
      stripPrefix:
        prefixes: ["/api"]
    notype: {}
    good-chain:
      chain:
        middlewares: [strip]
    broken-chain:
      chain:
        middlewares: [strip, notype]
    loop-a:
      chain:
        middlewares: [loop-b]
    loop-b:
      chain:
        middlewares: [loop-a]
"#,
    ));
    let m = &snap.report.middlewares;
    assert_eq!(m["strip@file"].status, Status::Enabled);
    assert_eq!(m["strip@file"].used_by, vec!["ok@file".to_string()]);
    assert_eq!(m["notype@file"].status, Status::Disabled);
    assert_eq!(m["good-chain@file"].status, Status::Enabled);
    assert_eq!(
        m["broken-chain@file"].errors,
        vec!["middleware `notype@file` is disabled".to_string()]
    );
    assert_eq!(m["loop-a@file"].status, Status::Disabled);
    assert_eq!(m["loop-b@file"].status, Status::Disabled);
    assert_eq!(snap.report.routers["ok@file"].status, Status::Enabled);
    assert_eq!(
        snap.report.routers["bad@file"].errors,
        vec!["middleware `broken-chain@file` is disabled".to_string()]
    );
    assert_eq!(find(&snap, "web", "x", "/ok"), Some("ok@file"));
    assert_eq!(find(&snap, "web", "x", "/bad"), None);
    // The chain is flattened into the route's filters: strip, then good-chain's strip.
    let t = &snap.entry_points["web"];
    let ok = t
        .hostless
        .iter()
        .find(|r| &*r.name == "ok@file")
        .map(|r| r.filters.len());
    assert_eq!(ok, Some(2));
}

#[test]
fn middleware_option_errors_disable_the_router() {
    let snap = compile_yaml(&fixture(
        r#"
    r:
      rule: "Path(`/r`)"
      service: s
      middlewares: [bad-regex]
  middlewares:
    bad-regex:
      replacePathRegex:
        regex: "(["
        replacement: "/x"
"#,
    ));
    let m = &snap.report.middlewares["bad-regex@file"];
    assert_eq!(m.status, Status::Disabled);
    assert_eq!(snap.report.routers["r@file"].status, Status::Disabled);
}

#[test]
fn tls_routers_get_their_own_table() {
    let snap = compile_yaml(&fixture(
        r#"
    secure:
      rule: "Host(`a.test`)"
      entryPoints: [websecure]
      tls: {}
      service: s
    plain:
      rule: "Host(`a.test`)"
      entryPoints: [websecure]
      service: s
"#,
    ));
    // A plain connection never reaches a TLS router, and the other way round (as Traefik).
    assert_eq!(find(&snap, "websecure", "a.test", "/"), Some("plain@file"));
    let tls = &snap.tls_entry_points["websecure"];
    let names: Vec<&str> = tls.candidates("a.test").iter().map(|r| &*r.name).collect();
    assert_eq!(names, vec!["secure@file"]);
    assert!(!snap.tls_entry_points.contains_key("web"));
}

/// Routes of the path-index tests: rule texts over a small alphabet of paths so prefixes nest
/// and collide, some with explicit priorities (ties broken by name).
fn path_rules() -> impl proptest::strategy::Strategy<Value = Vec<(String, Option<i64>)>> {
    use proptest::prelude::*;
    const PATHS: &[&str] = &[
        "/", "/a", "/ab", "/a/", "/a/b", "/b", "/b/c", "/bc", "/c/", "/é",
    ];
    let leaf = prop_oneof![
        (0..PATHS.len()).prop_map(|i| format!("PathPrefix(`{}`)", PATHS[i])),
        (0..PATHS.len()).prop_map(|i| format!("Path(`{}`)", PATHS[i])),
        Just("PathRegexp(`^/a`)".to_string()),
        Just("Method(`GET`)".to_string()),
        Just("Host(`one.test`)".to_string()),
    ];
    let rule = prop_oneof![
        4 => leaf.clone(),
        1 => (leaf.clone(), leaf.clone()).prop_map(|(a, b)| format!("{a} || {b}")),
        1 => (leaf.clone(), leaf.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
        1 => leaf.clone().prop_map(|a| format!("!{a}")),
        1 => (leaf.clone(), leaf).prop_map(|(a, b)| format!("Host(`one.test`) && ({a} || !{b})")),
    ];
    proptest::collection::vec((rule, proptest::option::of(0i64..4)), 16..48)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// The path index picks exactly the route the linear walk over the same candidate list
    /// picks, for every path, host-less or on a host.
    #[test]
    fn path_index_matches_linear_walk(rules in path_rules()) {
        let mut routers = String::new();
        for (i, (rule, prio)) in rules.iter().enumerate() {
            routers.push_str(&format!("    r{i}:\n      rule: \"{rule}\"\n      service: s\n"));
            if let Some(p) = prio {
                routers.push_str(&format!("      priority: {p}\n"));
            }
        }
        let snap = compile_yaml(&fixture(&routers));
        let t = &snap.entry_points["web"];
        let headers = http::HeaderMap::new();
        for host in ["one.test", "other.test"] {
            for path in ["/", "/a", "/ab", "/abc", "/a/", "/a/b", "/a/bc", "/b", "/b/c", "/bc",
                         "/c", "/c/", "/c/d", "/é", "/éé", "/x", ""] {
                let req = RequestInfo {
                    method: &http::Method::GET,
                    host,
                    path,
                    query: None,
                    headers: &headers,
                    client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                };
                let linear = t.candidates(host).iter().find(|r| r.rule.matches(&req));
                proptest::prop_assert_eq!(
                    t.find(&req).map(|r| &*r.name),
                    linear.map(|r| &*r.name),
                    "host {} path {}", host, path
                );
            }
        }
    }
}

#[test]
fn many_path_routes_on_one_host_are_indexed() {
    let mut routers = String::new();
    for i in 0..500 {
        routers.push_str(&format!(
            "    r{i}:\n      rule: \"Host(`one.test`) && PathPrefix(`/p{i}`)\"\n      service: s\n"
        ));
    }
    routers.push_str(
        "    any:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n      priority: 1\n",
    );
    routers.push_str(
        "    top:\n      rule: \"Method(`POST`)\"\n      service: s\n      priority: 100000\n",
    );
    let snap = compile_yaml(&fixture(&routers));
    let t = &snap.entry_points["web"];
    assert!(t.candidates("one.test").has_path_index());
    // Longer rules first: `/p100` (r100) is tried before `/p10` (r10) and `/p1` (r1).
    assert_eq!(find(&snap, "web", "one.test", "/p100/x"), Some("r100@file"));
    assert_eq!(find(&snap, "web", "one.test", "/p10/x"), Some("r10@file"));
    assert_eq!(find(&snap, "web", "one.test", "/p1"), Some("r1@file"));
    assert_eq!(find(&snap, "web", "one.test", "/p1x"), Some("r1@file"));
    assert_eq!(find(&snap, "web", "one.test", "/q"), Some("any@file"));
    assert_eq!(find(&snap, "web", "two.test", "/p7"), Some("any@file"));
}
