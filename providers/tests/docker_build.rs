//! The Docker provider's fixture table: container inspect JSON (as the engine sends it) in,
//! `DynamicConfig` (and its problems) out, for every label and default `build()` knows.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use wharf_providers::docker::{build, ContainerInfo, DockerSettings};
use wharf_providers::{ItemKind, Severity};

/// Inspect JSON for a running container on the default bridge network, port 80 exposed.
fn inspect(name: &str, ip: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    json!({
        "Id": format!("{:0<64}", format!("{}", name.len()) + &name.bytes().map(|b| format!("{:02x}", b)).collect::<String>()),
        "Name": format!("/{name}"),
        "State": {"Status": "running", "Running": true, "Paused": false},
        "Config": {"Labels": labels, "ExposedPorts": {"80/tcp": {}}},
        "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {
            "Ports": {"80/tcp": null},
            "Networks": {"bridge": {"NetworkID": "net-bridge", "IPAddress": ip}}
        }
    })
}

fn with(mut v: Value, path: &[&str], new: Value) -> Value {
    let mut slot = &mut v;
    for p in path {
        if slot.get(*p).is_none() {
            slot[*p] = json!({});
        }
        slot = &mut slot[*p];
    }
    *slot = new;
    v
}

fn ports(v: Value, ports: &[&str]) -> Value {
    let exposed: serde_json::Map<String, Value> =
        ports.iter().map(|p| (p.to_string(), json!({}))).collect();
    let bound: serde_json::Map<String, Value> =
        ports.iter().map(|p| (p.to_string(), Value::Null)).collect();
    let v = with(v, &["Config", "ExposedPorts"], Value::Object(exposed));
    with(v, &["NetworkSettings", "Ports"], Value::Object(bound))
}

fn health(v: Value, status: &str) -> Value {
    with(
        v,
        &["State", "Health"],
        json!({"Status": status, "FailingStreak": 0}),
    )
}

fn networks(v: Value, nets: &[(&str, &str)]) -> Value {
    let m: serde_json::Map<String, Value> = nets
        .iter()
        .map(|(n, ip)| {
            (
                n.to_string(),
                json!({"NetworkID": format!("id-{n}"), "IPAddress": ip}),
            )
        })
        .collect();
    with(v, &["NetworkSettings", "Networks"], Value::Object(m))
}

fn compose(service: &str, project: &str) -> [(&'static str, String); 2] {
    [
        ("com.docker.compose.service", service.to_string()),
        ("com.docker.compose.project", project.to_string()),
    ]
}

struct Case {
    name: &'static str,
    containers: Vec<Value>,
    settings: DockerSettings,
    own: &'static [&'static str],
    /// The `http` section (and `tcp`/`udp` when set) as JSON.
    want: Value,
    /// `(kind, item name, severity, text the message or location contains)`.
    problems: Vec<(ItemKind, &'static str, Severity, &'static str)>,
}

fn case(name: &'static str, containers: Vec<Value>, want: Value) -> Case {
    Case {
        name,
        containers,
        settings: DockerSettings::default(),
        own: &[],
        want,
        problems: Vec::new(),
    }
}

impl Case {
    fn settings(mut self, f: impl FnOnce(&mut DockerSettings)) -> Self {
        f(&mut self.settings);
        self
    }
    fn own(mut self, own: &'static [&'static str]) -> Self {
        self.own = own;
        self
    }
    fn problem(
        mut self,
        kind: ItemKind,
        name: &'static str,
        sev: Severity,
        text: &'static str,
    ) -> Self {
        self.problems.push((kind, name, sev, text));
        self
    }
}

fn lb(urls: &[&str]) -> Value {
    let servers: Vec<Value> = urls.iter().map(|u| json!({"url": u})).collect();
    if servers.is_empty() {
        json!({"loadBalancer": {"passHostHeader": true}})
    } else {
        json!({"loadBalancer": {"servers": servers, "passHostHeader": true}})
    }
}

fn router(rule: &str, service: &str) -> Value {
    json!({"rule": rule, "service": service})
}

fn cases() -> Vec<Case> {
    use ItemKind::*;
    use Severity::*;
    let c = compose("whoami", "demo");
    let cl: Vec<(&str, &str)> = c.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cl_with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, String)> {
        let mut v: Vec<(&str, String)> = c.iter().map(|(k, v)| (*k, v.clone())).collect();
        v.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        v
    };
    let owned = |v: &[(&'static str, String)]| -> Vec<(&'static str, &'static str)> {
        v.iter()
            .map(|(k, s)| (*k, &*Box::leak(s.clone().into_boxed_str())))
            .collect()
    };
    vec![
        case(
            "no labels: default router and service from the container name",
            vec![inspect("web", "172.17.0.2", &[])],
            json!({"routers": {"web": router("Host(`web`)", "web")}, "services": {"web": lb(&["http://172.17.0.2:80"])}}),
        ),
        case(
            "compose service and project name the service; the default rule normalizes it",
            vec![inspect("demo_whoami_1", "172.17.0.2", &cl)],
            json!({"routers": {"whoami-demo": router("Host(`whoami-demo`)", "whoami-demo")},
                   "services": {"whoami-demo": lb(&["http://172.17.0.2:80"])}}),
        ),
        case("exposedByDefault=false skips unlabelled containers", vec![inspect("web", "172.17.0.2", &[])], json!({}))
            .settings(|s| s.exposed_by_default = false),
        case(
            "exposedByDefault=false keeps traefik.enable=true",
            vec![inspect("web", "172.17.0.2", &[("traefik.enable", "true")])],
            json!({"routers": {"web": router("Host(`web`)", "web")}, "services": {"web": lb(&["http://172.17.0.2:80"])}}),
        )
        .settings(|s| s.exposed_by_default = false),
        case("traefik.enable=false skips", vec![inspect("web", "172.17.0.2", &[("traefik.enable", "false")])], json!({})),
        case(
            "router options: rule, entrypoints, middlewares, priority, tls, certresolver, domains, options",
            vec![inspect(
                "api",
                "172.17.0.3",
                &[
                    ("traefik.http.routers.api.rule", "Host(`api.example.com`) && PathPrefix(`/v1`)"),
                    ("traefik.http.routers.api.entrypoints", "web,websecure"),
                    ("traefik.http.routers.api.middlewares", "auth@file, strip"),
                    ("traefik.http.routers.api.priority", "10"),
                    ("traefik.http.routers.api.tls", "true"),
                    ("traefik.http.routers.api.tls.certresolver", "le"),
                    ("traefik.http.routers.api.tls.options", "modern@file"),
                    ("traefik.http.routers.api.tls.domains[0].main", "example.com"),
                    ("traefik.http.routers.api.tls.domains[0].sans", "*.example.com,api.example.org"),
                ],
            )],
            json!({
                "routers": {"api": {
                    "rule": "Host(`api.example.com`) && PathPrefix(`/v1`)",
                    "entryPoints": ["web", "websecure"],
                    "middlewares": ["auth@file", "strip"],
                    "priority": 10,
                    "service": "api",
                    "tls": {"certResolver": "le", "options": "modern@file",
                            "domains": [{"main": "example.com", "sans": ["*.example.com", "api.example.org"]}]}
                }},
                "services": {"api": lb(&["http://172.17.0.3:80"])}
            }),
        ),
        case(
            "keys are case-insensitive",
            vec![inspect(
                "api",
                "172.17.0.3",
                &[("traefik.http.routers.api.Rule", "Host(`a`)"), ("Traefik.HTTP.Routers.api.EntryPoints", "web")],
            )],
            json!({"routers": {"api": {"rule": "Host(`a`)", "entryPoints": ["web"], "service": "api"}},
                   "services": {"api": lb(&["http://172.17.0.3:80"])}}),
        ),
        case(
            "server port and scheme labels",
            vec![inspect(
                "app",
                "172.17.0.4",
                &[
                    ("traefik.http.services.app.loadbalancer.server.port", "8443"),
                    ("traefik.http.services.app.loadbalancer.server.scheme", "https"),
                ],
            )],
            json!({"routers": {"app": router("Host(`app`)", "app")}, "services": {"app": lb(&["https://172.17.0.4:8443"])}}),
        ),
        case(
            "server url label is used as is",
            vec![inspect("ext", "172.17.0.4", &[("traefik.http.services.ext.loadbalancer.server.url", "http://10.0.0.9:81")])],
            json!({"routers": {"ext": router("Host(`ext`)", "ext")}, "services": {"ext": lb(&["http://10.0.0.9:81"])}}),
        ),
        case(
            "several exposed ports: the lowest, with a warning on router and service",
            vec![ports(inspect("multi", "172.17.0.5", &[]), &["8080/tcp", "443/tcp", "53/udp"])],
            json!({"routers": {"multi": router("Host(`multi`)", "multi")}, "services": {"multi": lb(&["http://172.17.0.5:443"])}}),
        )
        .problem(Router, "multi", Warning, "port guessed: using 443"),
        case(
            "no exposed port: an error on the service",
            vec![ports(inspect("noport", "172.17.0.5", &[]), &[])],
            json!({"routers": {"noport": router("Host(`noport`)", "noport")}, "services": {"noport": lb(&[])}}),
        )
        .problem(Service, "noport", Error, "no port"),
        case(
            "non-numeric port: an error naming the label",
            vec![inspect("badport", "172.17.0.5", &[("traefik.http.services.s.loadbalancer.server.port", "http")])],
            json!({"routers": {"badport": router("Host(`badport`)", "s")}, "services": {"s": lb(&[])}}),
        )
        .problem(Service, "s", Error, "traefik.http.services.s.loadbalancer.server.port"),
        case(
            "a router without a service binds the container's only service",
            vec![inspect(
                "one",
                "172.17.0.6",
                &[("traefik.http.routers.r.rule", "Path(`/`)"), ("traefik.http.services.s.loadbalancer.server.port", "3000")],
            )],
            json!({"routers": {"r": router("Path(`/`)", "s")}, "services": {"s": lb(&["http://172.17.0.6:3000"])}}),
        ),
        case(
            "two services: a router without a service is an error; one with a service is fine",
            vec![inspect(
                "two",
                "172.17.0.6",
                &[
                    ("traefik.http.routers.a.rule", "Path(`/a`)"),
                    ("traefik.http.routers.b.rule", "Path(`/b`)"),
                    ("traefik.http.routers.b.service", "s2"),
                    ("traefik.http.services.s1.loadbalancer.server.port", "1"),
                    ("traefik.http.services.s2.loadbalancer.server.port", "2"),
                ],
            )],
            json!({"routers": {"a": {"rule": "Path(`/a`)", "service": ""}, "b": router("Path(`/b`)", "s2")},
                   "services": {"s1": lb(&["http://172.17.0.6:1"]), "s2": lb(&["http://172.17.0.6:2"])}}),
        )
        .problem(Router, "a", Error, "which service?"),
        case(
            "two services and no router: no default router, a warning on the container",
            vec![inspect(
                "two",
                "172.17.0.6",
                &[
                    ("traefik.http.services.s1.loadbalancer.server.port", "1"),
                    ("traefik.http.services.s2.loadbalancer.server.port", "2"),
                ],
            )],
            json!({"services": {"s1": lb(&["http://172.17.0.6:1"]), "s2": lb(&["http://172.17.0.6:2"])}}),
        )
        .problem(Source, "container two", Warning, "several services"),
        case(
            "replicas of one compose service merge into one load balancer",
            vec![inspect("demo_whoami_1", "172.18.0.2", &cl), inspect("demo_whoami_2", "172.18.0.3", &cl)],
            json!({"routers": {"whoami-demo": router("Host(`whoami-demo`)", "whoami-demo")},
                   "services": {"whoami-demo": lb(&["http://172.18.0.2:80", "http://172.18.0.3:80"])}}),
        ),
        case(
            "identical labelled routers from replicas merge",
            vec![
                inspect("demo_whoami_1", "172.18.0.2", &owned(&cl_with(&[("traefik.http.routers.w.rule", "Host(`w`)")]))),
                inspect("demo_whoami_2", "172.18.0.3", &owned(&cl_with(&[("traefik.http.routers.w.rule", "Host(`w`)")]))),
            ],
            json!({"routers": {"w": router("Host(`w`)", "whoami-demo")},
                   "services": {"whoami-demo": lb(&["http://172.18.0.2:80", "http://172.18.0.3:80"])}}),
        ),
        case(
            "conflicting router definitions across containers: an error naming both",
            vec![
                inspect("a", "172.18.0.2", &[("traefik.http.routers.dup.rule", "Host(`a`)")]),
                inspect("b", "172.18.0.3", &[("traefik.http.routers.dup.rule", "Host(`b`)")]),
            ],
            json!({"routers": {"dup": router("Host(`a`)", "a")},
                   "services": {"a": lb(&["http://172.18.0.2:80"]), "b": lb(&["http://172.18.0.3:80"])}}),
        )
        .problem(Router, "dup", Error, "defined differently by several containers (a, b)"),
        case(
            "conflicting service definitions: an error",
            vec![
                inspect("a", "172.18.0.2", &[("traefik.http.services.s.loadbalancer.passhostheader", "false")]),
                inspect("b", "172.18.0.3", &[("traefik.http.services.s.loadbalancer.passhostheader", "true")]),
            ],
            json!({"routers": {"a": router("Host(`a`)", "s"), "b": router("Host(`b`)", "s")},
                   "services": {"s": {"loadBalancer": {"servers": [{"url": "http://172.18.0.2:80"}], "passHostHeader": false}}}}),
        )
        .problem(Service, "s", Error, "defined differently"),
        case(
            "network from the label",
            vec![networks(
                inspect("n", "", &[("traefik.docker.network", "front")]),
                &[("back", "10.1.0.2"), ("front", "10.2.0.2")],
            )],
            json!({"routers": {"n": router("Host(`n`)", "n")}, "services": {"n": lb(&["http://10.2.0.2:80"])}}),
        ),
        case(
            "network label without the compose project prefix still finds the network",
            vec![networks(
                inspect("demo_whoami_1", "", &owned(&cl_with(&[("traefik.docker.network", "front")]))),
                &[("demo_back", "10.1.0.2"), ("demo_front", "10.2.0.2")],
            )],
            json!({"routers": {"whoami-demo": router("Host(`whoami-demo`)", "whoami-demo")},
                   "services": {"whoami-demo": lb(&["http://10.2.0.2:80"])}}),
        ),
        case(
            "network from providers.docker.network",
            vec![networks(inspect("n", "", &[]), &[("back", "10.1.0.2"), ("front", "10.2.0.2")])],
            json!({"routers": {"n": router("Host(`n`)", "n")}, "services": {"n": lb(&["http://10.2.0.2:80"])}}),
        )
        .settings(|s| s.network = "front".into()),
        case(
            "network shared with wharf's own container",
            vec![networks(inspect("n", "", &[]), &[("a-net", "10.1.0.2"), ("wharf-net", "10.2.0.2")])],
            json!({"routers": {"n": router("Host(`n`)", "n")}, "services": {"n": lb(&["http://10.2.0.2:80"])}}),
        )
        .own(&["wharf-net"]),
        case(
            "several networks and no choice: the first by name, with a warning",
            vec![networks(inspect("n", "", &[]), &[("zeta", "10.9.0.2"), ("alpha", "10.1.0.2")])],
            json!({"routers": {"n": router("Host(`n`)", "n")}, "services": {"n": lb(&["http://10.1.0.2:80"])}}),
        )
        .problem(Router, "n", Warning, "network guessed: using \"alpha\""),
        case(
            "a label naming a missing network: a warning, then the fallback",
            vec![networks(
                inspect("n", "", &[("traefik.docker.network", "nope")]),
                &[("alpha", "10.1.0.2"), ("beta", "10.2.0.2")],
            )],
            json!({"routers": {"n": router("Host(`n`)", "n")}, "services": {"n": lb(&["http://10.1.0.2:80"])}}),
        )
        .problem(Router, "n", Warning, "network \"nope\" (label traefik.docker.network) is not one of"),
        case(
            "host network mode: 127.0.0.1",
            vec![with(networks(inspect("h", "", &[]), &[("host", "")]), &["HostConfig", "NetworkMode"], json!("host"))],
            json!({"routers": {"h": router("Host(`h`)", "h")}, "services": {"h": lb(&["http://127.0.0.1:80"])}}),
        ),
        case(
            "container network mode: the other container's address",
            vec![
                inspect("main", "172.17.0.8", &[("traefik.enable", "false")]),
                with(
                    networks(inspect("side", "", &[]), &[]),
                    &["HostConfig", "NetworkMode"],
                    json!(format!("container:{}", inspect("main", "", &[])["Id"].as_str().unwrap_or_default())),
                ),
            ],
            json!({"routers": {"side": router("Host(`side`)", "side")}, "services": {"side": lb(&["http://172.17.0.8:80"])}}),
        ),
        case(
            "useBindPortIP: the published host address",
            vec![with(
                inspect("b", "172.17.0.9", &[]),
                &["NetworkSettings", "Ports"],
                json!({"80/tcp": [{"HostIp": "192.168.1.5", "HostPort": "8081"}]}),
            )],
            json!({"routers": {"b": router("Host(`b`)", "b")}, "services": {"b": lb(&["http://192.168.1.5:8081"])}}),
        )
        .settings(|s| s.use_bind_port_ip = true),
        case(
            "useBindPortIP with a 0.0.0.0 binding falls back on the container address",
            vec![with(
                inspect("b", "172.17.0.9", &[]),
                &["NetworkSettings", "Ports"],
                json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}]}),
            )],
            json!({"routers": {"b": router("Host(`b`)", "b")}, "services": {"b": lb(&["http://172.17.0.9:80"])}}),
        )
        .settings(|s| s.use_bind_port_ip = true),
        case(
            "healthy container serves",
            vec![health(inspect("hc", "172.17.0.10", &[]), "healthy")],
            json!({"routers": {"hc": router("Host(`hc`)", "hc")}, "services": {"hc": lb(&["http://172.17.0.10:80"])}}),
        ),
        case(
            "unhealthy container keeps its router with an empty service (allowEmptyServices default true)",
            vec![health(inspect("hc", "172.17.0.10", &[]), "unhealthy")],
            json!({"routers": {"hc": router("Host(`hc`)", "hc")}, "services": {"hc": lb(&[])}}),
        )
        .problem(Service, "hc", Warning, "health: unhealthy"),
        case(
            "starting container keeps its router with an empty service",
            vec![health(inspect("hc", "172.17.0.10", &[]), "starting")],
            json!({"routers": {"hc": router("Host(`hc`)", "hc")}, "services": {"hc": lb(&[])}}),
        )
        .problem(Service, "hc", Warning, "health: starting"),
        case(
            "allowEmptyServices=false: an unhealthy container vanishes (Traefik's behaviour)",
            vec![health(inspect("hc", "172.17.0.10", &[]), "unhealthy")],
            json!({}),
        )
        .settings(|s| s.allow_empty_services = false),
        case(
            "stopped container is skipped",
            vec![with(inspect("st", "", &[]), &["State"], json!({"Status": "exited", "Running": false}))],
            json!({}),
        ),
        case(
            "traefik.docker.allownonrunning keeps a stopped container's router with an empty service",
            vec![with(
                inspect("st", "", &[("traefik.docker.allownonrunning", "true")]),
                &["State"],
                json!({"Status": "exited", "Running": false}),
            )],
            json!({"routers": {"st": router("Host(`st`)", "st")}, "services": {"st": lb(&[])}}),
        )
        .problem(Service, "st", Warning, "not running"),
        case(
            "paused container: empty service",
            vec![with(inspect("p", "172.17.0.11", &[]), &["State"], json!({"Status": "paused", "Running": true, "Paused": true}))],
            json!({"routers": {"p": router("Host(`p`)", "p")}, "services": {"p": lb(&[])}}),
        )
        .problem(Service, "p", Warning, "paused"),
        case(
            "constraints: Label and LabelRegex select containers",
            vec![
                inspect("a", "172.17.0.2", &[("env", "prod"), ("team", "pay")]),
                inspect("b", "172.17.0.3", &[("env", "dev")]),
                inspect("c", "172.17.0.4", &[("env", "prod"), ("team", "search")]),
            ],
            json!({"routers": {"a": router("Host(`a`)", "a")}, "services": {"a": lb(&["http://172.17.0.2:80"])}}),
        )
        .settings(|s| s.constraints = "Label(`env`,`prod`) && !LabelRegex(`team`, `^se`)".into()),
        case(
            "labelPrefix: labels under another prefix",
            vec![inspect(
                "px",
                "172.17.0.2",
                &[("wharf.http.routers.px.rule", "Host(`px.example`)"), ("traefik.http.routers.px.rule", "Host(`ignored`)")],
            )],
            json!({"routers": {"px": router("Host(`px.example`)", "px")}, "services": {"px": lb(&["http://172.17.0.2:80"])}}),
        )
        .settings(|s| s.label_prefix = "wharf".into()),
        case(
            "defaultRule template with .Labels and index",
            vec![inspect("svc", "172.17.0.2", &[("domain", "example.org")])],
            json!({"routers": {"svc": router("Host(`svc.example.org`)", "svc")}, "services": {"svc": lb(&["http://172.17.0.2:80"])}}),
        )
        .settings(|s| s.default_rule = r#"Host(`{{ .Name }}.{{ index .Labels "domain" }}`)"#.into()),
        case(
            "a label typo disables only that router, naming the label and the nearest key",
            vec![inspect(
                "t",
                "172.17.0.2",
                &[
                    ("traefik.http.routers.a.rulee", "Host(`a`)"),
                    ("traefik.http.routers.b.rule", "Host(`b`)"),
                ],
            )],
            json!({"routers": {"b": router("Host(`b`)", "t")},
                   "services": {"t": lb(&["http://172.17.0.2:80"])}}),
        )
        .problem(Router, "a", Error, "did you mean `traefik.http.routers.a.rule`"),
        case(
            "a bad value (non-numeric priority) is an error on the router, naming the label",
            vec![inspect("t", "172.17.0.2", &[("traefik.http.routers.a.priority", "high")])],
            json!({"services": {"t": lb(&["http://172.17.0.2:80"])}}),
        )
        .problem(Router, "a", Error, "traefik.http.routers.a.priority"),
        case(
            "service options from labels",
            vec![inspect(
                "opt",
                "172.17.0.2",
                &[
                    ("traefik.http.services.opt.loadbalancer.passhostheader", "false"),
                    ("traefik.http.services.opt.loadbalancer.healthcheck.path", "/health"),
                    ("traefik.http.services.opt.loadbalancer.healthcheck.interval", "5s"),
                    ("traefik.http.services.opt.loadbalancer.healthcheck.timeout", "2s"),
                    ("traefik.http.services.opt.loadbalancer.sticky.cookie.name", "sid"),
                    ("traefik.http.services.opt.loadbalancer.sticky.cookie.httponly", "true"),
                    ("traefik.http.services.opt.loadbalancer.serverstransport", "tr@file"),
                    ("traefik.http.services.opt.loadbalancer.responseforwarding.flushinterval", "100ms"),
                ],
            )],
            json!({"routers": {"opt": router("Host(`opt`)", "opt")},
                   "services": {"opt": {"loadBalancer": {
                       "servers": [{"url": "http://172.17.0.2:80"}],
                       "passHostHeader": false,
                       "healthCheck": {"path": "/health", "interval": "5s", "timeout": "2s"},
                       "sticky": {"cookie": {"name": "sid", "httpOnly": true, "secure": false}},
                       "serversTransport": "tr@file",
                       "responseForwarding": {"flushInterval": "100ms"}
                   }}}}),
        ),
        case(
            "middleware from labels (rate limit), referenced by name@docker",
            vec![inspect(
                "users",
                "172.17.0.2",
                &[
                    ("traefik.http.routers.users.rule", "Host(`api.example.com`) && PathPrefix(`/users`)"),
                    ("traefik.http.routers.users.middlewares", "ratelimit@docker"),
                    ("traefik.http.middlewares.ratelimit.ratelimit.average", "100"),
                    ("traefik.http.middlewares.ratelimit.ratelimit.burst", "50"),
                    ("traefik.http.services.users.loadbalancer.server.port", "3000"),
                ],
            )],
            json!({"routers": {"users": {"rule": "Host(`api.example.com`) && PathPrefix(`/users`)",
                                          "middlewares": ["ratelimit@docker"], "service": "users"}},
                   "services": {"users": lb(&["http://172.17.0.2:3000"])},
                   "middlewares": {"ratelimit": {"rateLimit": {"average": 100, "burst": 50}}}}),
        ),
        case(
            "unknown middleware type: an error suggesting the nearest type",
            vec![inspect("m", "172.17.0.2", &[("traefik.http.middlewares.s.stripprefixx.prefixes", "/a")])],
            json!({"routers": {"m": router("Host(`m`)", "m")}, "services": {"m": lb(&["http://172.17.0.2:80"])}}),
        )
        .problem(Middleware, "s", Error, "did you mean `traefik.http.middlewares.s.stripprefix.prefixes`"),
        case(
            "plugin middlewares: kept in the config (compile reports them as not supported yet)",
            vec![inspect("m", "172.17.0.2", &[("traefik.http.middlewares.p.plugin.demo.headers.x", "1")])],
            json!({"routers": {"m": router("Host(`m`)", "m")}, "services": {"m": lb(&["http://172.17.0.2:80"])},
                   "middlewares": {"p": {"plugin": {"demo": {"headers": {"x": "1"}}}}}}),
        ),
        case(
            "tcp labels only: unsupported yet, kept in the tcp section, no http default router",
            vec![inspect("db", "172.17.0.2", &[("traefik.tcp.routers.pg.rule", "HostSNI(`*`)")])],
            json!({"tcp": {"routers": {"pg": {}}}}),
        )
        .problem(Router, "pg", Error, "TCP routers are not supported yet"),
        case(
            "udp labels next to http ones: the http part still works",
            vec![inspect(
                "dns",
                "172.17.0.2",
                &[("traefik.udp.services.dns.loadbalancer.server.port", "53"), ("traefik.http.routers.dns.rule", "Host(`dns`)")],
            )],
            json!({"routers": {"dns": router("Host(`dns`)", "dns")}, "services": {"dns": lb(&["http://172.17.0.2:80"])},
                   "udp": {"services": {"dns": {}}}}),
        )
        .problem(Service, "dns", Error, "UDP services are not supported yet"),
        case(
            "a stray label under the prefix: a warning with the nearest key",
            vec![inspect("s", "172.17.0.2", &[("traefik.http.routerz.a.rule", "Host(`a`)")])],
            json!({"routers": {"s": router("Host(`s`)", "s")}, "services": {"s": lb(&["http://172.17.0.2:80"])}}),
        )
        .problem(Source, "container s", Error, "did you mean `traefik.http.routers`"),
        case(
            "serversTransport from labels",
            vec![inspect("st", "172.17.0.2", &[("traefik.http.serverstransports.tr.insecureskipverify", "true")])],
            json!({"routers": {"st": router("Host(`st`)", "st")}, "services": {"st": lb(&["http://172.17.0.2:80"])},
                   "serversTransports": {"tr": {"insecureSkipVerify": true, "disableHTTP2": false}}}),
        ),
        case(
            "server weight label",
            vec![inspect("w", "172.17.0.2", &[("traefik.http.services.w.loadbalancer.server.weight", "3")])],
            json!({"routers": {"w": router("Host(`w`)", "w")},
                   "services": {"w": {"loadBalancer": {"servers": [{"url": "http://172.17.0.2:80", "weight": 3}], "passHostHeader": true}}}}),
        ),
    ]
}

fn stringify_scalars(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(stringify_scalars).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, stringify_scalars(v)))
                .collect(),
        ),
        other => other,
    }
}

fn stringify_middlewares(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("middlewares") {
        *m = stringify_scalars(m.take());
    }
    v
}

#[test]
fn build_fixture_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let containers: Vec<ContainerInfo> = case
            .containers
            .iter()
            .map(|v| {
                let c: bollard::models::ContainerInspectResponse =
                    serde_json::from_value(v.clone())
                        .unwrap_or_else(|e| panic!("{}: bad fixture JSON: {e}", case.name));
                ContainerInfo::from_inspect(&c)
            })
            .collect();
        let prepared = case
            .settings
            .prepare()
            .unwrap_or_else(|e| panic!("{}: settings: {e}", case.name));
        let own: BTreeSet<String> = case.own.iter().map(|s| s.to_string()).collect();
        let dc = build(&containers, &prepared, &own);
        let mut got = serde_json::to_value(&dc.http).unwrap_or_default();
        if let (Some(obj), Some(tcp)) = (got.as_object_mut(), &dc.tcp) {
            obj.insert("tcp".into(), tcp.clone());
        }
        if let (Some(obj), Some(udp)) = (got.as_object_mut(), &dc.udp) {
            obj.insert("udp".into(), udp.clone());
        }
        // Middleware options are compared as strings: their spec types (numbers or strings
        // until typed) belong to the middlewares crate, not to this provider.
        let got = stringify_middlewares(got);
        let want = stringify_middlewares(case.want.clone());
        if got != want {
            failures.push(format!(
                "{}:\n  want {}\n  got  {}\n  problems {:?}",
                case.name,
                case.want,
                got,
                dc.problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
            ));
        }
        for (kind, name, sev, text) in &case.problems {
            let found = dc.problems.iter().any(|p| {
                p.kind == *kind
                    && p.name == *name
                    && p.severity == *sev
                    && (p.message.contains(text)
                        || p.location.as_deref().is_some_and(|l| l.contains(text)))
            });
            if !found {
                failures.push(format!(
                    "{}: missing problem {kind:?} {name} {sev:?} ~ {text:?}; got {:#?}",
                    case.name, dc.problems
                ));
            }
        }
        // No error-level problem that the case did not expect.
        for p in dc.problems.iter().filter(|p| p.severity == Severity::Error) {
            let expected = case
                .problems
                .iter()
                .any(|(k, n, s, _)| *k == p.kind && *n == p.name && *s == p.severity);
            if !expected {
                failures.push(format!("{}: unexpected error problem {p:?}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn container_info_from_engine_json() {
    let v = health(
        ports(
            inspect("demo_web_1", "172.20.0.3", &[("a", "b")]),
            &["443/tcp", "80/tcp", "53/udp"],
        ),
        "starting",
    );
    let c: bollard::models::ContainerInspectResponse =
        serde_json::from_value(v).expect("inspect JSON");
    let info = ContainerInfo::from_inspect(&c);
    assert_eq!(info.name, "demo_web_1");
    assert_eq!(info.ports, vec![80, 443]);
    assert_eq!(
        info.health,
        wharf_providers::docker::model::Health::Starting
    );
    assert_eq!(info.networks["bridge"].ip, "172.20.0.3");
    assert_eq!(info.labels["a"], "b");
}

#[test]
fn bad_settings_are_reported() {
    let bad_rule = DockerSettings {
        default_rule: "Host(`{{ normalize .Name `)".into(),
        ..DockerSettings::default()
    };
    assert!(bad_rule.prepare().is_err());
    let bad_constraints = DockerSettings {
        constraints: "Label(`a`".into(),
        ..DockerSettings::default()
    };
    assert!(bad_constraints.prepare().is_err());
    let bad_endpoint = DockerSettings {
        endpoint: Some("ftp://x".into()),
        ..DockerSettings::default()
    };
    assert!(bad_endpoint.prepare().is_err());
    let tcp = DockerSettings {
        endpoint: Some("tcp://127.0.0.1:2375".into()),
        ..DockerSettings::default()
    };
    assert!(tcp.prepare().is_ok());
    assert_eq!(tcp.resolved_endpoint(), "tcp://127.0.0.1:2375");
}
