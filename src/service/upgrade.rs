//! Upgraded connections (WebSocket and other `101 Switching Protocols` answers): after the
//! server agreed and the client got its 101, the two raw connections are spliced byte for byte
//! until either side closes. Runs in its own task, so it outlives the snapshot swap that may
//! happen meanwhile.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Waits for both upgrades, then copies both ways until one side closes.
pub(crate) async fn splice(client: OnUpgrade, server: OnUpgrade) {
    let (client, server) = match tokio::try_join!(client, server) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut server = TokioIo::new(server);
    match tokio::io::copy_bidirectional(&mut client, &mut server).await {
        Ok((up, down)) => tracing::trace!(up, down, "upgraded connection closed"),
        Err(e) => tracing::debug!(error = %e, "upgraded connection ended with an error"),
    }
}
