//! Tests of the command line and static-configuration loading rules.

use std::path::Path;

use super::*;

fn args(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    // A HOME without config files, so the search finds nothing unless a test writes one.
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.push(("HOME".into(), "/nonexistent-wharf-home".into()));
    v
}

fn run(a: &[&str], e: &[(&str, &str)]) -> Loaded {
    match parse_command(&args(a), &env(e)) {
        Ok(Command::Run(l)) => l,
        other => panic!("expected Run, got {other:?}"),
    }
}

fn run_err(a: &[&str], e: &[(&str, &str)]) -> Vec<ConfigProblem> {
    match parse_command(&args(a), &env(e)) {
        Err(e) => e.problems(),
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn the_compose_flag_set() {
    let l = run(
        &[
            "--api.insecure=true",
            "--providers.docker=true",
            "--entrypoints.web.address=:80",
        ],
        &[],
    );
    let c = &l.config;
    assert!(c.api.as_ref().unwrap().insecure);
    assert!(c.api.as_ref().unwrap().dashboard);
    let d = c.providers.docker.as_ref().unwrap();
    assert_eq!(d.endpoint, "unix:///var/run/docker.sock");
    assert!(d.exposed_by_default && d.watch && d.allow_empty_services);
    assert_eq!(d.default_rule, "Host(`{{ normalize .Name }}`)");
    assert_eq!(d.label_prefix, "traefik");
    assert_eq!(c.entry_points["web"].address, ":80");
    // api.insecure creates the API's own entry point, which routers do not join.
    assert_eq!(c.entry_points["traefik"].address, ":8080");
    assert_eq!(c.entry_points.len(), 2);
    assert_eq!(c.default_router_entry_points(), vec!["web".to_string()]);
    assert_eq!(l.sources.flags.len(), 3);
}

#[test]
fn flag_forms() {
    // --k=v, --k v, bare --k, single dash, camelCase or lower case.
    let l = run(
        &[
            "run",
            "--entryPoints.web.address",
            ":81",
            "--api",
            "-ping",
            "--log.level=debug",
            "--API.Insecure",
            "true",
        ],
        &[],
    );
    assert_eq!(l.config.entry_points["web"].address, ":81");
    assert!(l.config.api.as_ref().unwrap().insecure);
    assert!(l.config.ping.is_some());
    assert_eq!(l.config.log.level, "debug");
    // A bare boolean does not swallow a following flag.
    let l = run(&["--api.insecure", "--entrypoints.web.address=:80"], &[]);
    assert!(l.config.api.as_ref().unwrap().insecure);
    assert_eq!(l.config.entry_points["web"].address, ":80");
    // `=false` disables.
    let l = run(
        &["--api.insecure=false", "--entrypoints.web.address=:80"],
        &[],
    );
    assert!(!l.config.api.as_ref().unwrap().insecure);
    assert!(!l.config.entry_points.contains_key("traefik"));
}

#[test]
fn flags_lists_indices_and_durations() {
    let l = run(
        &[
            "--entrypoints.websecure.address=:443",
            "--entrypoints.websecure.http.tls.certresolver=le",
            "--entrypoints.websecure.http.tls.domains[0].main=example.com",
            "--entrypoints.websecure.http.tls.domains[0].sans=a.example.com,b.example.com",
            "--entrypoints.websecure.forwardedheaders.trustedips=10.0.0.0/8,127.0.0.1",
            "--entrypoints.websecure.transport.respondingtimeouts.readtimeout=5s",
            "--entrypoints.websecure.transport.lifecycle.gracetimeout=3",
            "--providers.providersthrottleduration=250ms",
            "--certificatesresolvers.le.acme.email=a@example.com",
            "--certificatesresolvers.le.acme.tlschallenge=true",
        ],
        &[],
    );
    let ep = &l.config.entry_points["websecure"];
    let tls = ep.http.tls.as_ref().unwrap();
    assert_eq!(tls.cert_resolver, "le");
    assert_eq!(
        tls.domains,
        vec![TlsDomain {
            main: "example.com".into(),
            sans: vec!["a.example.com".into(), "b.example.com".into()]
        }]
    );
    assert_eq!(
        ep.forwarded_headers.trusted_ips,
        vec!["10.0.0.0/8", "127.0.0.1"]
    );
    assert_eq!(
        ep.transport.responding_timeouts.read_timeout.get(),
        std::time::Duration::from_secs(5)
    );
    assert_eq!(
        ep.transport.life_cycle.grace_time_out.get(),
        std::time::Duration::from_secs(3)
    );
    assert_eq!(
        l.config.providers.providers_throttle_duration.get(),
        std::time::Duration::from_millis(250)
    );
    let acme = l.config.certificates_resolvers["le"].acme.as_ref().unwrap();
    assert_eq!(acme.email, "a@example.com");
    assert!(acme.tls_challenge.is_some());
    assert_eq!(acme.storage, "acme.json");
}

#[test]
fn defaults_as_traefik() {
    let l = run(&[], &[]);
    let c = &l.config;
    assert_eq!(c.entry_points.len(), 1);
    let ep = &c.entry_points["http"];
    assert_eq!(ep.address, ":80");
    assert_eq!(ep.transport.life_cycle.grace_time_out.get().as_secs(), 10);
    assert_eq!(
        ep.transport
            .responding_timeouts
            .read_timeout
            .get()
            .as_secs(),
        60
    );
    assert_eq!(
        ep.transport
            .responding_timeouts
            .idle_timeout
            .get()
            .as_secs(),
        180
    );
    assert_eq!(
        ep.transport
            .responding_timeouts
            .write_timeout
            .get()
            .as_secs(),
        0
    );
    assert_eq!(ep.http2.max_concurrent_streams, 250);
    assert_eq!(
        c.providers.providers_throttle_duration.get(),
        std::time::Duration::from_millis(100)
    );
    assert!(
        c.api.is_none()
            && c.ping.is_none()
            && c.access_log.is_none()
            && c.providers.docker.is_none()
    );
    assert_eq!(c.log.level, "ERROR");
    assert_eq!(c.log.format, "common");
    assert_eq!(c.core.default_rule_syntax, "v3");
    assert_eq!(c.default_router_entry_points(), vec!["http".to_string()]);
    assert_eq!(c.servers_transport.max_idle_conns_per_host, 200);
}

#[test]
fn ping_defaults_to_the_traefik_entry_point() {
    let l = run(&["--ping", "--entrypoints.web.address=:80"], &[]);
    assert_eq!(l.config.ping.as_ref().unwrap().entry_point, "traefik");
    assert_eq!(l.config.ping.as_ref().unwrap().terminating_status_code, 503);
    assert_eq!(l.config.entry_points["traefik"].address, ":8080");
    // manualRouting: no traefik entry point is created; an explicit one is kept.
    let l = run(
        &[
            "--ping.manualrouting",
            "--ping.entrypoint=web",
            "--entrypoints.web.address=:80",
        ],
        &[],
    );
    assert!(!l.config.entry_points.contains_key("traefik"));
    let l = run(
        &["--api.insecure", "--entrypoints.traefik.address=:9000"],
        &[],
    );
    assert_eq!(l.config.entry_points["traefik"].address, ":9000");
}

#[test]
fn as_default_entry_points() {
    let l = run(
        &[
            "--entrypoints.web.address=:80",
            "--entrypoints.websecure.address=:443",
            "--entrypoints.websecure.asdefault=true",
            "--entrypoints.traefik.address=:8080",
            "--entrypoints.traefik.asdefault=true",
            "--entrypoints.dns.address=:53/udp",
        ],
        &[],
    );
    // Only asDefault ones, never `traefik`, never UDP.
    assert_eq!(
        l.config.default_router_entry_points(),
        vec!["websecure".to_string()]
    );
    let l = run(
        &[
            "--entrypoints.b.address=:81",
            "--entrypoints.a.address=:80",
            "--entrypoints.dns.address=:53/udp",
        ],
        &[],
    );
    assert_eq!(
        l.config.default_router_entry_points(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("entryPoints.dns.address") && w.contains("UDP")),
        "{:?}",
        l.warnings
    );
    let names: Vec<String> = l.config.listeners().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["a", "b"]);
}

#[test]
fn env_vars_and_precedence() {
    let l = run(
        &[],
        &[
            ("TRAEFIK_ENTRYPOINTS_WEB_ADDRESS", ":80"),
            ("TRAEFIK_API_INSECURE", "true"),
            ("TRAEFIK_PROVIDERS_DOCKER", "true"),
            ("TRAEFIK_LOG_LEVEL", "INFO"),
            ("WHARF_LOG_LEVEL", "DEBUG"),
        ],
    );
    assert_eq!(l.config.entry_points["web"].address, ":80");
    assert!(l.config.api.as_ref().unwrap().insecure);
    assert!(l.config.providers.docker.is_some());
    assert_eq!(l.config.log.level, "DEBUG", "WHARF_* wins over TRAEFIK_*");
    // Map keys from env are lower-cased.
    let l = run(&[], &[("TRAEFIK_ENTRYPOINTS_WebSecure_ADDRESS", ":443")]);
    assert!(l.config.entry_points.contains_key("websecure"));
    // CLI > env.
    let l = run(&["--log.level=WARN"], &[("WHARF_LOG_LEVEL", "DEBUG")]);
    assert_eq!(l.config.log.level, "WARN");
}

#[test]
fn unknown_env_var_only_warns() {
    let l = run(
        &["--entrypoints.web.address=:80"],
        &[
            ("WHARF_PORT", "tcp://10.0.0.1:80"),
            ("WHARF_SERVICE_HOST", "10.0.0.1"),
        ],
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.starts_with("env WHARF_PORT:") && w.contains("unknown key")),
        "{:?}",
        l.warnings
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.starts_with("env WHARF_SERVICE_HOST:")),
        "{:?}",
        l.warnings
    );
    assert_eq!(l.sources.env.len(), 0);
}

#[test]
fn unknown_flag_is_an_error_with_suggestion() {
    let p = run_err(&["--entrypoints.web.adress=:80"], &[]);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].origin,
        Origin::Flag("--entrypoints.web.adress=:80".into())
    );
    assert!(p[0].message.contains("did you mean `address`"), "{}", p[0]);
    let p = run_err(&["--provider.docker"], &[]);
    assert!(
        p[0].message.contains("did you mean `providers`"),
        "{}",
        p[0]
    );
    let p = run_err(&["--api.insecure=maybe"], &[]);
    assert!(
        p[0].to_string()
            .starts_with("flag --api.insecure=maybe: `api.insecure`: invalid type"),
        "{}",
        p[0]
    );
}

#[test]
fn yaml_file_with_precedence_and_case() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "traefik.yml",
        "entryPoints:\n  web:\n    address: \":80\"\n    http:\n      redirections:\n        entryPoint:\n          to: websecure\n  websecure:\n    address: :443\n    http:\n      tls: {}\napi:\n  dashboard: true\nping:\nlog:\n  level: INFO\nproviders:\n  file:\n    directory: /etc/wharf/dynamic\n  docker:\n    exposedByDefault: false\naccessLog:\n  format: json\n  filters:\n    statusCodes: [\"400-499\"]\n",
    );
    let l = run(
        &["--configfile", &f, "--log.level=DEBUG"],
        &[
            ("TRAEFIK_LOG_FORMAT", "json"),
            ("TRAEFIK_LOG_LEVEL", "WARN"),
        ],
    );
    let c = &l.config;
    assert_eq!(l.sources.file.as_deref(), Some(Path::new(&f)));
    let r = c.entry_points["web"]
        .http
        .redirections
        .as_ref()
        .unwrap()
        .entry_point
        .as_ref()
        .unwrap();
    assert_eq!(
        (r.to.as_str(), r.scheme.as_str(), r.permanent),
        ("websecure", "https", true)
    );
    assert_eq!(r.priority, i64::MAX - 1);
    assert!(c.entry_points["websecure"].http.tls.is_some());
    assert!(c.ping.is_some(), "an empty `ping:` enables ping");
    assert_eq!(c.log.level, "DEBUG", "flag > env > file");
    assert_eq!(c.log.format, "json", "env > file default");
    assert_eq!(
        c.providers.file.as_ref().unwrap().directory,
        "/etc/wharf/dynamic"
    );
    assert!(c.providers.file.as_ref().unwrap().watch);
    assert!(!c.providers.docker.as_ref().unwrap().exposed_by_default);
    let al = c.access_log.as_ref().unwrap();
    assert_eq!(al.format, "json");
    assert_eq!(al.filters.as_ref().unwrap().status_codes, vec!["400-499"]);
    // web, websecure + traefik (ping)
    assert_eq!(
        c.default_router_entry_points(),
        vec!["web".to_string(), "websecure".to_string()]
    );
}

#[test]
fn toml_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "wharf.toml",
        "[entryPoints.web]\naddress = \":8000\"\n[entryPoints.web.transport.respondingTimeouts]\nreadTimeout = \"2s\"\nidleTimeout = 30\n[entryPoints.web.proxyProtocol]\ntrustedIPs = [\"127.0.0.1/32\"]\n[providers]\nprovidersThrottleDuration = \"1s\"\n[providers.file]\nfilename = \"dyn.toml\"\nwatch = false\n[api]\ninsecure = true\n",
    );
    let l = run(&[&format!("--configFile={f}")], &[]);
    let c = &l.config;
    let ep = &c.entry_points["web"];
    assert_eq!(ep.address, ":8000");
    assert_eq!(
        ep.transport
            .responding_timeouts
            .read_timeout
            .get()
            .as_secs(),
        2
    );
    assert_eq!(
        ep.transport
            .responding_timeouts
            .idle_timeout
            .get()
            .as_secs(),
        30
    );
    assert_eq!(
        ep.proxy_protocol.as_ref().unwrap().trusted_ips,
        vec!["127.0.0.1/32"]
    );
    assert_eq!(c.providers.providers_throttle_duration.get().as_secs(), 1);
    assert!(!c.providers.file.as_ref().unwrap().watch);
    assert_eq!(c.entry_points["traefik"].address, ":8080");
}

#[test]
fn file_unknown_key_has_file_line_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "traefik.yml", "entryPoints:\n  web:\n    address: \":80\"\n    transport:\n      respondingTimeout:\n        readTimeout: 5s\napi:\n  insecur: true\n");
    let p = run_err(&["--configFile", &f], &[]);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].origin, Origin::File(f.clone().into()));
    assert_eq!(p[0].key, "entryPoints.web.transport.respondingTimeout");
    assert_eq!(p[0].line, Some(5));
    assert!(
        p[0].message.contains("did you mean `respondingTimeouts`"),
        "{}",
        p[0]
    );
    assert_eq!(p[1].key, "api.insecur");
    assert_eq!(p[1].line, Some(8));
    assert_eq!(
        p[1].to_string(),
        format!("{f}:8: unknown key `api.insecur`; did you mean `insecure`?")
    );

    let f = write(
        dir.path(),
        "bad.toml",
        "[api]\ninsecure = true\n[providers.docker]\nexposedbydefault = false\nnetwrk = \"x\"\n",
    );
    let p = run_err(&["--configFile", &f], &[]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(5));
    assert!(p[0].message.contains("did you mean `network`"), "{}", p[0]);
}

#[test]
fn file_keys_any_case_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "t.yml", "ENTRYPOINTS:\n  Web:\n    Address: :80\n    forwardedheaders:\n      trustedIps: [10.0.0.0/8]\n      insecur: true\n");
    let p = run_err(&["--configFile", &f], &[]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(6), "{}", p[0]);
    let f = write(dir.path(), "ok.yml", "ENTRYPOINTS:\n  Web:\n    Address: :80\n    forwardedheaders:\n      trustedIps: [10.0.0.0/8]\n");
    let l = run(&["--configFile", &f], &[]);
    assert_eq!(
        l.config.entry_points["Web"].forwarded_headers.trusted_ips,
        vec!["10.0.0.0/8"]
    );
    // A bad value in the file is located at its line too.
    let f = write(dir.path(), "bad.yml", "api:\n  insecure: true\nentryPoints:\n  web:\n    address: :80\n    transport:\n      respondingTimeouts:\n        readTimeout: forever\n");
    let p = run_err(&["--configFile", &f], &[]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(8), "{}", p[0]);
    assert!(p[0].message.contains("invalid duration"), "{}", p[0]);
    // An unknown key and a bad value in one file: both reported, in file order.
    let f = write(
        dir.path(),
        "both.yml",
        "api:\n  insecure: sure\nlogg:\n  level: INFO\n",
    );
    let p = run_err(&["--configFile", &f], &[]);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[0].line, p[1].line), (Some(2), Some(3)), "{p:?}");
}

#[test]
fn file_syntax_error_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "traefik.yml",
        "entryPoints:\n  web:\n    address: [\n",
    );
    let p = run_err(&["--configFile", &f], &[]);
    assert!(p[0].message.contains("YAML syntax error"), "{}", p[0]);
    assert!(p[0].line.is_some());
    let p = run_err(&["--configFile", "/nonexistent/wharf.yml"], &[]);
    assert!(p[0].message.contains("cannot read"), "{}", p[0]);
}

#[test]
fn file_search_and_env_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    write(
        &cfg,
        "wharf.yaml",
        "entryPoints:\n  found:\n    address: :9999\n",
    );
    let xdg = cfg.display().to_string();
    let l = run(&[], &[("XDG_CONFIG_HOME", &xdg)]);
    assert!(l.config.entry_points.contains_key("found"));
    // traefik.* wins over wharf.* in one directory.
    write(&cfg, "traefik.toml", "[entryPoints.t]\naddress = \":1\"\n");
    let l = run(&[], &[("XDG_CONFIG_HOME", &xdg)]);
    assert!(l.config.entry_points.contains_key("t"));
    let other = write(
        dir.path(),
        "x.yml",
        "entryPoints:\n  byenv:\n    address: :2\n",
    );
    let l = run(
        &[],
        &[("WHARF_CONFIGFILE", &other), ("XDG_CONFIG_HOME", &xdg)],
    );
    assert!(l.config.entry_points.contains_key("byenv"));
}

#[test]
fn validation_problems_are_located() {
    let p = run_err(&["--entrypoints.web.address=80"], &[]);
    assert_eq!(
        p[0].origin,
        Origin::Flag("--entrypoints.web.address=80".into())
    );
    assert_eq!(p[0].key, "entryPoints.web.address");
    let p = run_err(
        &[],
        &[
            ("TRAEFIK_ENTRYPOINTS_WEB_ADDRESS", ":80"),
            (
                "TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_TO",
                "nowhere",
            ),
        ],
    );
    assert_eq!(
        p[0].origin,
        Origin::Env("TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_TO".into())
    );
    assert!(
        p[0].message.contains("unknown entry point \"nowhere\""),
        "{}",
        p[0]
    );
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.yml",
        "log:\n  level: LOUD\ncore:\n  defaultRuleSyntax: v4\n",
    );
    let p = run_err(&["--configFile", &f], &[]);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].key.as_str(), p[0].line),
        ("core.defaultRuleSyntax", Some(4))
    );
    assert_eq!((p[1].key.as_str(), p[1].line), ("log.level", Some(2)));
    let p = run_err(&["--providers.file"], &[]);
    assert!(
        p[0].message
            .contains("`filename` or `directory` is required"),
        "{}",
        p[0]
    );
    let p = run_err(
        &[
            "--entrypoints.web.address=:80",
            "--entrypoints.web.forwardedheaders.trustedips=10.0.0.0/8,nope",
        ],
        &[],
    );
    assert_eq!(p[0].key, "entryPoints.web.forwardedHeaders.trustedIPs.1");
}

#[test]
fn docker_host_and_endpoint() {
    let l = run(
        &["--providers.docker"],
        &[("DOCKER_HOST", "tcp://127.0.0.1:2375")],
    );
    assert_eq!(
        l.config.providers.docker.as_ref().unwrap().endpoint,
        "tcp://127.0.0.1:2375"
    );
    let l = run(
        &["--providers.docker.endpoint=unix:///run/d.sock"],
        &[("DOCKER_HOST", "tcp://127.0.0.1:2375")],
    );
    assert_eq!(
        l.config.providers.docker.as_ref().unwrap().endpoint,
        "unix:///run/d.sock"
    );
    let l = run(
        &[
            "--providers.docker.labelprefix=wharf",
            "--providers.docker.allowemptyservices=false",
        ],
        &[],
    );
    let d = l.config.providers.docker.as_ref().unwrap();
    assert_eq!(d.label_prefix, "wharf");
    assert!(!d.allow_empty_services);
}

#[test]
fn not_yet_used_keys_parse_and_warn() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.yml",
        "metrics:\n  prometheus:\n    buckets: [0.1, 0.5]\ntracing:\n  otlp:\n    http:\n      endpoint: http://x\nexperimental:\n  plugins:\n    demo:\n      moduleName: github.com/x/y\n      version: v0.1.0\nproviders:\n  kubernetesCRD:\n    namespaces: [a]\n  kubernetesIngress: {}\nglobal:\n  checkNewVersion: false\n",
    );
    let l = run(&["--configFile", &f], &[]);
    assert_eq!(
        l.config
            .metrics
            .as_ref()
            .unwrap()
            .prometheus
            .as_ref()
            .unwrap()
            .buckets,
        vec![0.1, 0.5]
    );
    assert_eq!(
        l.config
            .providers
            .kubernetes_crd
            .as_ref()
            .unwrap()
            .namespaces,
        vec!["a"]
    );
    // metrics.prometheus and tracing.otlp.http are acted on (observe); they do not warn.
    for key in [
        "experimental",
        "providers.kubernetesCRD",
        "providers.kubernetesIngress",
    ] {
        assert!(
            l.warnings
                .iter()
                .any(|w| w.starts_with(&format!("{key}: "))),
            "{key} not warned: {:?}",
            l.warnings
        );
    }
    assert!(
        !l.warnings.iter().any(|w| w.starts_with("global")),
        "{:?}",
        l.warnings
    );
    // prometheus on `traefik` creates that entry point, as Traefik does.
    assert!(l.config.entry_points.contains_key("traefik"));
}

#[test]
fn commands() {
    assert!(matches!(
        parse_command(&args(&["version"]), &env(&[])),
        Ok(Command::Version)
    ));
    assert!(
        matches!(parse_command(&args(&["--help"]), &env(&[])), Ok(Command::Help(t)) if t.contains("healthcheck"))
    );
    assert!(matches!(
        parse_command(&args(&["help"]), &env(&[])),
        Ok(Command::Help(_))
    ));
    assert!(matches!(
        parse_command(&args(&["frobnicate"]), &env(&[])),
        Err(ConfigError::Usage(_))
    ));
    assert!(matches!(
        parse_command(&args(&["--api", "stray"]), &env(&[])),
        Err(ConfigError::Usage(_))
    ));
    match parse_command(&args(&["check", "--entrypoints.web.adress=:80"]), &env(&[])) {
        Ok(Command::Check {
            loaded: None,
            problems,
        }) => assert_eq!(problems.len(), 1),
        other => panic!("{other:?}"),
    }
    match parse_command(
        &args(&["check", "--entrypoints.web.address=:80"]),
        &env(&[]),
    ) {
        Ok(Command::Check {
            loaded: Some(_),
            problems,
        }) => assert!(problems.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn healthcheck_target() {
    match parse_command(
        &args(&[
            "healthcheck",
            "--ping",
            "--entrypoints.traefik.address=127.0.0.1:9100",
        ]),
        &env(&[]),
    ) {
        Ok(Command::Healthcheck { target, .. }) => {
            assert_eq!(target.url(), "http://127.0.0.1:9100/ping");
            assert_eq!(target.entry_point, "traefik");
        }
        other => panic!("{other:?}"),
    }
    match parse_command(
        &args(&[
            "healthcheck",
            "--ping.entrypoint=web",
            "--entrypoints.web.address=:8082",
        ]),
        &env(&[]),
    ) {
        Ok(Command::Healthcheck { target, .. }) => {
            assert_eq!(target.url(), "http://127.0.0.1:8082/ping")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(parse_command(&args(&["healthcheck"]), &env(&[])), Err(ConfigError::Usage(m)) if m.contains("ping"))
    );
}

/// Every key the static reference names (Traefik v3 spelling) parses; a drift guard for names.
#[test]
fn kitchen_sink_file_parses() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "traefik.yml",
        r#"
global:
  checkNewVersion: false
  sendAnonymousUsage: false
serversTransport:
  insecureSkipVerify: true
  rootCAs: [/ca.pem]
  maxIdleConnsPerHost: 42
  forwardingTimeouts: {dialTimeout: 5s, responseHeaderTimeout: 1s, idleConnTimeout: 9s}
  spiffe: {ids: [a], trustDomain: b}
tcpServersTransport: {dialTimeout: 3s}
entryPoints:
  web:
    address: ":80"
    asDefault: true
    reusePort: true
    allowACMEByPass: true
    http:
      redirections:
        entryPoint: {to: websecure, scheme: https, permanent: false, priority: 10}
      middlewares: [auth@file]
      encodeQuerySemicolons: true
      sanitizePath: false
      maxHeaderBytes: 4096
    http2: {maxConcurrentStreams: 100}
    http3: {advertisedPort: 443}
    forwardedHeaders: {trustedIPs: [10.0.0.0/8], insecure: false, connection: [foo]}
    proxyProtocol: {trustedIPs: ["::1"], insecure: false}
    transport:
      respondingTimeouts: {readTimeout: 1s, writeTimeout: 2s, idleTimeout: 3s}
      lifeCycle: {graceTimeOut: 4s, requestAcceptGraceTimeout: 5s}
      keepAliveMaxRequests: 100
      keepAliveMaxTime: 1m
    observability: {accessLogs: false, metrics: false, tracing: false, traceVerbosity: detailed}
  websecure:
    address: "[::]:443"
    http:
      tls:
        certResolver: le
        options: modern@file
        domains: [{main: example.com, sans: [www.example.com]}]
  traefik:
    address: 127.0.0.1:8080
providers:
  providersThrottleDuration: 2s
  file: {directory: /dyn, watch: false, debugLogGeneratedTemplate: true}
  docker:
    endpoint: tcp://127.0.0.1:2375
    exposedByDefault: false
    defaultRule: "Host(`{{ .Name }}.local`)"
    network: web
    constraints: "Label(`a`,`b`)"
    allowEmptyServices: false
    useBindPortIP: true
    watch: false
    labelPrefix: wharf
    tls: {ca: /ca, caOptional: true, cert: /c, key: /k, insecureSkipVerify: true}
    httpClientTimeout: 30s
    username: u
    password: p
  kubernetesIngress:
    endpoint: https://k
    namespaces: [a]
    ingressClass: wharf
    ingressEndpoint: {publishedService: ns/svc}
    throttleDuration: 1s
  kubernetesCRD:
    allowCrossNamespace: true
    labelSelector: app=x
  consulCatalog: {prefix: traefik}
api: {dashboard: false, insecure: true, debug: true, basePath: /traefik, disableDashboardAd: true}
ping: {entryPoint: traefik, manualRouting: false, terminatingStatusCode: 204}
log: {level: DEBUG, format: json, filePath: /log, noColor: true, maxSize: 1, maxAge: 2, maxBackups: 3, compress: true}
accessLog:
  filePath: /access.log
  format: json
  bufferingSize: 100
  addInternals: true
  filters: {statusCodes: ["200", "300-302"], retryAttempts: true, minDuration: 10ms}
  fields:
    defaultMode: keep
    names: {ClientUsername: drop}
    headers: {defaultMode: keep, names: {User-Agent: redact, Authorization: drop}}
core: {defaultRuleSyntax: v2}
certificatesResolvers:
  le:
    acme:
      email: a@example.com
      storage: /acme.json
      caServer: https://pebble:14000/dir
      keyType: EC256
      eab: {kid: k, hmacEncoded: aGk=}
      certificatesDuration: 24
      caCertificates: [/pebble.pem]
      caSystemCertPool: true
      caServerName: pebble
      httpChallenge: {entryPoint: web, delay: 1s}
      tlsChallenge: {}
      dnsChallenge:
        provider: rfc2136
        resolvers: ["127.0.0.1:53"]
        delayBeforeCheck: 1s
        disablePropagationCheck: true
        propagation: {delayBeforeChecks: 2s, disableANSChecks: true, disableChecks: true, requireAllRNS: true}
metrics:
  addInternals: true
  prometheus:
    buckets: [0.1, 1]
    addEntryPointsLabels: false
    addRoutersLabels: true
    addServicesLabels: false
    entryPoint: traefik
    manualRouting: true
    headerLabels: {tenant: X-Tenant}
tracing:
  serviceName: wharf
  sampleRate: 0.5
  otlp: {http: {endpoint: "http://collector:4318"}}
experimental:
  fastProxy: {}
  plugins: {demo: {moduleName: github.com/a/b, version: v1.0.0}}
hostResolver: {cnameFlattening: true}
"#,
    );
    let l = run(&["--configFile", &f], &[]);
    let c = &l.config;
    let web = &c.entry_points["web"];
    assert!(web.as_default);
    assert_eq!(
        web.http
            .redirections
            .as_ref()
            .unwrap()
            .entry_point
            .as_ref()
            .unwrap()
            .priority,
        10
    );
    assert_eq!(web.transport.life_cycle.grace_time_out.get().as_secs(), 4);
    assert_eq!(web.transport.keep_alive_max_time.get().as_secs(), 60);
    assert_eq!(web.http2.max_concurrent_streams, 100);
    assert_eq!(
        c.entry_points["websecure"]
            .http
            .tls
            .as_ref()
            .unwrap()
            .domains[0]
            .sans,
        vec!["www.example.com"]
    );
    let d = c.providers.docker.as_ref().unwrap();
    assert!(d.use_bind_port_ip && !d.allow_empty_services && !d.watch);
    assert_eq!(d.tls.as_ref().unwrap().cert, "/c");
    assert_eq!(c.api.as_ref().unwrap().base_path, "/traefik");
    assert_eq!(c.ping.as_ref().unwrap().terminating_status_code, 204);
    assert_eq!(
        c.access_log
            .as_ref()
            .unwrap()
            .fields
            .as_ref()
            .unwrap()
            .headers
            .as_ref()
            .unwrap()
            .names["User-Agent"],
        "redact"
    );
    let acme = c.certificates_resolvers["le"].acme.as_ref().unwrap();
    assert_eq!(acme.key_type, "EC256");
    assert_eq!(acme.eab.as_ref().unwrap().kid, "k");
    assert!(
        acme.dns_challenge
            .as_ref()
            .unwrap()
            .propagation
            .as_ref()
            .unwrap()
            .require_all_rns
    );
    assert_eq!(c.core.default_rule_syntax, "v2");
    assert_eq!(c.default_router_entry_points(), vec!["web".to_string()]);
    assert!(
        l.warnings
            .iter()
            .any(|w| w.starts_with("providers.consulCatalog:")),
        "{:?}",
        l.warnings
    );
}
