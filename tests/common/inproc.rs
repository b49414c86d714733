//! The in-process control plane of the TLS tests (`tls_e2e`, `mw_tls_e2e`): one dynamic
//! configuration published as the `file` provider's view into the real compile loop, whose
//! snapshot store the test then serves with `proxy::serve`; and the raw HTTP/1.1 exchange
//! their clients make over plain or TLS streams. Included with `#[path]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use wharf::compile::{CompileSettings, Registries};
use wharf::proxy::CancellationToken;
use wharf::run::CompileLoop;
use wharf::snapshot::SnapshotStore;
use wharf_providers::DynamicConfig;

/// A running compile loop; dropping it stops the loop.
pub struct Control {
    pub store: SnapshotStore,
    /// The providers' views: `send_modify` makes the loop compile again (not every includer
    /// reloads).
    #[allow(dead_code)]
    pub views: watch::Sender<wharf::aggregate::Views>,
    _stop: watch::Sender<bool>,
}

/// wharf in the test process: `web` and `websecure` served from the compile loop's store;
/// dropping it stops the entry points and the loop.
pub struct Wharf {
    pub web: SocketAddr,
    pub websecure: SocketAddr,
    pub ctl: Control,
    pub stop: CancellationToken,
}

impl Drop for Wharf {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts the compile loop on `view` as provider `file` (default entry points: those of
/// `settings`) and waits up to `deadline` for its first snapshot.
pub async fn compile_loop(
    view: DynamicConfig,
    settings: CompileSettings,
    deadline: Duration,
) -> Control {
    let store = SnapshotStore::new();
    let cl = Arc::new(CompileLoop {
        default_entry_points: settings.entry_points.clone(),
        settings,
        models: Default::default(),
        registries: Arc::new(Registries::default()),
        store: store.clone(),
    });
    let views: wharf::aggregate::Views = Arc::new(vec![("file".to_string(), Arc::new(view))]);
    let (vtx, vrx) = watch::channel(views);
    let (stx, srx) = watch::channel(false);
    let mut gen = store.subscribe();
    tokio::spawn(cl.run(vrx, srx));
    // The loop compiles on a change of the views, not on start: mark them changed.
    vtx.send_modify(|_| {});
    tokio::time::timeout(deadline, gen.changed())
        .await
        .unwrap()
        .unwrap();
    Control {
        store,
        views: vtx,
        _stop: stx,
    }
}

/// Writes `req` on `s` (plain or TLS), reads to EOF within `deadline`; returns (status, head,
/// body), status 0 when there is no parsable status line.
pub async fn exchange(
    mut s: impl AsyncRead + AsyncWrite + Unpin,
    req: &str,
    deadline: Duration,
) -> (u16, String, String) {
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(deadline, s.read_to_end(&mut buf))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}
