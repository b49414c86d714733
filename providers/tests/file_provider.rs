//! The file provider end to end: real files in temp directories, the real watcher, polled with
//! deadlines (never slept on for correctness).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wharf_providers::file::{self, FileProviderSettings};
use wharf_providers::provider::{ProviderHandle, ProviderStatus};
use wharf_providers::{DynamicConfig, ItemKind, Severity};

const DEADLINE: Duration = Duration::from_secs(10);

async fn wait_config(
    h: &mut ProviderHandle,
    what: &str,
    pred: impl Fn(&DynamicConfig) -> bool,
) -> Arc<DynamicConfig> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(cfg) = h.config.borrow_and_update().clone() {
            if pred(&cfg) {
                return cfg;
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, h.config.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "timed out waiting for config: {what}; last = {:#?}",
                h.config.borrow()
            ),
        }
    }
}

async fn wait_status(
    h: &mut ProviderHandle,
    what: &str,
    pred: impl Fn(&ProviderStatus) -> bool,
) -> ProviderStatus {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = h.status.borrow_and_update().clone();
        if pred(&s) {
            return s;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, h.status.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "timed out waiting for status: {what}; last = {:?}",
                h.status.borrow()
            ),
        }
    }
}

fn router_yaml(name: &str, rule: &str) -> String {
    format!("http:\n  routers:\n    {name}:\n      rule: \"{rule}\"\n      service: svc\n")
}

fn rule_of(cfg: &DynamicConfig, name: &str) -> Option<String> {
    cfg.http.routers.get(name).map(|r| r.rule.clone())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// Writes via a temp file and rename, as editors and config tools do.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write tmp");
    std::fs::rename(&tmp, path).expect("rename");
}

fn dir_settings(dir: &Path) -> FileProviderSettings {
    FileProviderSettings {
        filename: None,
        directory: Some(dir.to_path_buf()),
        watch: true,
    }
}

#[tokio::test]
async fn change_in_watched_file_applies() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dynamic.yml");
    write(&f, &router_yaml("api", "Host(`a`)"));
    let mut h = file::spawn(FileProviderSettings {
        filename: Some(f.clone()),
        directory: None,
        watch: true,
    });
    wait_config(&mut h, "first view", |c| {
        rule_of(c, "api").as_deref() == Some("Host(`a`)")
    })
    .await;
    // Status follows the config on its own channel.
    wait_status(&mut h, "ready", |s| *s == ProviderStatus::Ready).await;
    write(&f, &router_yaml("api", "Host(`b`)"));
    wait_config(&mut h, "changed rule", |c| {
        rule_of(c, "api").as_deref() == Some("Host(`b`)")
    })
    .await;
}

#[tokio::test]
async fn atomic_rename_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dynamic.yml");
    write(&f, &router_yaml("api", "Host(`a`)"));
    let mut h = file::spawn(FileProviderSettings {
        filename: Some(f.clone()),
        directory: None,
        watch: true,
    });
    wait_config(&mut h, "first view", |c| rule_of(c, "api").is_some()).await;
    write_atomic(&f, &router_yaml("api", "Host(`renamed`)"));
    wait_config(&mut h, "renamed content", |c| {
        rule_of(c, "api").as_deref() == Some("Host(`renamed`)")
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn configmap_symlink_swap_is_noticed() {
    configmap_swap(false).await;
}

#[cfg(unix)]
#[tokio::test]
async fn configmap_symlink_swap_is_noticed_in_filename_mode() {
    configmap_swap(true).await;
}

#[cfg(unix)]
async fn configmap_swap(filename_mode: bool) {
    use std::os::unix::fs::symlink;
    // Kubernetes ConfigMap volume layout: dynamic.yml -> ..data/dynamic.yml, ..data -> ..v1.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("..v1")).unwrap();
    write(
        &root.join("..v1/dynamic.yml"),
        &router_yaml("api", "Host(`v1`)"),
    );
    symlink("..v1", root.join("..data")).unwrap();
    symlink("..data/dynamic.yml", root.join("dynamic.yml")).unwrap();

    let settings = if filename_mode {
        FileProviderSettings {
            filename: Some(root.join("dynamic.yml")),
            directory: None,
            watch: true,
        }
    } else {
        dir_settings(root)
    };
    let mut h = file::spawn(settings);
    let cfg = wait_config(&mut h, "v1", |c| {
        rule_of(c, "api").as_deref() == Some("Host(`v1`)")
    })
    .await;
    // Read once, through the top-level symlink: no duplicate-definition warnings.
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);

    std::fs::create_dir(root.join("..v2")).unwrap();
    write(
        &root.join("..v2/dynamic.yml"),
        &router_yaml("api", "Host(`v2`)"),
    );
    symlink("..v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    std::fs::remove_dir_all(root.join("..v1")).unwrap();
    wait_config(&mut h, "v2 after swap", |c| {
        rule_of(c, "api").as_deref() == Some("Host(`v2`)")
    })
    .await;
}

#[tokio::test]
async fn broken_file_keeps_last_good_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yml");
    let b = dir.path().join("b.yml");
    write(&a, &router_yaml("a", "Host(`a`)"));
    write(&b, &router_yaml("b", "Host(`b`)"));
    let mut h = file::spawn(dir_settings(dir.path()));
    wait_config(&mut h, "both files", |c| {
        rule_of(c, "a").is_some() && rule_of(c, "b").is_some()
    })
    .await;

    // b.yml breaks (unclosed flow sequence on line 4): its last good content stays.
    write(&b, "http:\n  routers:\n    b:\n      entryPoints: [web\n");
    // a.yml changes at the same time and still applies.
    write(&a, &router_yaml("a", "Host(`a2`)"));
    let cfg = wait_config(&mut h, "a changed and b's error reported", |c| {
        rule_of(c, "a").as_deref() == Some("Host(`a2`)")
            && c.problems.iter().any(|p| p.kind == ItemKind::Source)
    })
    .await;
    assert_eq!(rule_of(&cfg, "b").as_deref(), Some("Host(`b`)"));
    let p = cfg
        .problems
        .iter()
        .find(|p| p.kind == ItemKind::Source)
        .unwrap();
    assert_eq!(p.severity, Severity::Error);
    assert!(p.name.ends_with("b.yml"), "{p:?}");
    let loc = p.location.as_deref().unwrap();
    assert!(loc.contains("b.yml:"), "location with a line: {loc}");
    assert!(p.message.contains("YAML syntax error"), "{}", p.message);
    let status = wait_status(&mut h, "error", |s| matches!(s, ProviderStatus::Error(_))).await;
    let ProviderStatus::Error(msg) = status else {
        unreachable!()
    };
    assert!(msg.contains("b.yml"), "{msg}");

    // Fixed: the new content applies, the problem goes away, status is Ready again.
    write(&b, &router_yaml("b", "Host(`b2`)"));
    let cfg = wait_config(&mut h, "b fixed", |c| {
        rule_of(c, "b").as_deref() == Some("Host(`b2`)")
    })
    .await;
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
    wait_status(&mut h, "ready", |s| *s == ProviderStatus::Ready).await;
}

#[tokio::test]
async fn unknown_key_is_reported_with_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dyn.yml");
    write(
        &f,
        "http:\n  routers:\n    good:\n      rule: Host(`g`)\n    bad:\n      rule: Host(`b`)\n      entrypoint: [web]\n",
    );
    let mut h = file::spawn(FileProviderSettings {
        filename: Some(f.clone()),
        directory: None,
        watch: false,
    });
    let cfg = wait_config(&mut h, "view", |c| rule_of(c, "good").is_some()).await;
    assert!(rule_of(&cfg, "bad").is_none(), "the bad router is left out");
    assert_eq!(cfg.problems.len(), 1, "{:?}", cfg.problems);
    let p = &cfg.problems[0];
    assert_eq!(p.kind, ItemKind::Router);
    assert_eq!(p.name, "bad");
    assert_eq!(
        p.location.as_deref(),
        Some(format!("{}:7", f.display()).as_str())
    );
    assert_eq!(
        p.message,
        "unknown key `http.routers.bad.entrypoint`; did you mean `entryPoints`?"
    );

    let (_, problems) = file::load_once(&FileProviderSettings {
        filename: Some(f.clone()),
        directory: None,
        watch: false,
    });
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(7));
    assert!(
        problems[0]
            .message
            .starts_with(&format!("{}:7: unknown key", f.display())),
        "{}",
        problems[0].message
    );
}

#[tokio::test]
async fn directory_with_two_files_and_subdirectory_merges() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("routers.yml"),
        &router_yaml("api", "Host(`a`)"),
    );
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        &dir.path().join("sub/services.toml"),
        "[http.services.svc.loadBalancer]\n[[http.services.svc.loadBalancer.servers]]\nurl = \"http://127.0.0.1:8080\"\n",
    );
    write(&dir.path().join("notes.txt"), "not config");
    write(&dir.path().join(".hidden.yml"), "this: is: not: read");
    let mut h = file::spawn(dir_settings(dir.path()));
    let cfg = wait_config(&mut h, "merged", |c| {
        rule_of(c, "api").is_some() && c.http.services.contains_key("svc")
    })
    .await;
    assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
    let lb = cfg.http.services["svc"].load_balancer.as_ref().unwrap();
    assert_eq!(lb.servers[0].url, "http://127.0.0.1:8080");

    // A new file in the directory is picked up; removing it removes its items.
    let extra = dir.path().join("extra.yaml");
    write(&extra, &router_yaml("extra", "Host(`e`)"));
    wait_config(&mut h, "extra added", |c| rule_of(c, "extra").is_some()).await;
    std::fs::remove_file(&extra).unwrap();
    wait_config(&mut h, "extra removed", |c| {
        rule_of(c, "extra").is_none() && rule_of(c, "api").is_some()
    })
    .await;
}

#[tokio::test]
async fn same_item_defined_differently_in_two_files_is_a_warning_on_it() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.yml"), &router_yaml("api", "Host(`a`)"));
    write(&dir.path().join("b.yml"), &router_yaml("api", "Host(`b`)"));
    let (cfg, problems) = file::load_once(&dir_settings(dir.path()));
    assert_eq!(rule_of(&cfg, "api").as_deref(), Some("Host(`a`)"));
    assert_eq!(cfg.problems.len(), 1);
    assert_eq!(cfg.problems[0].kind, ItemKind::Router);
    assert_eq!(cfg.problems[0].name, "api");
    assert_eq!(cfg.problems[0].severity, Severity::Warning);
    assert_eq!(problems.len(), 1);
}

#[tokio::test]
async fn broken_only_file_at_start_publishes_nothing_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dyn.toml");
    write(&f, "[http\n");
    let mut h = file::spawn(FileProviderSettings {
        filename: Some(f.clone()),
        directory: None,
        watch: true,
    });
    let status = wait_status(&mut h, "error", |s| matches!(s, ProviderStatus::Error(_))).await;
    let ProviderStatus::Error(msg) = status else {
        unreachable!()
    };
    assert!(msg.contains("dyn.toml:1"), "{msg}");
    assert!(h.config.borrow().is_none());
    write(&f, "[http.routers.r]\nrule = \"Host(`r`)\"\n");
    wait_config(&mut h, "fixed", |c| rule_of(c, "r").is_some()).await;
    wait_status(&mut h, "ready", |s| *s == ProviderStatus::Ready).await;
}
