//! A future for the wake-up sources of the long-lived connection loops (client connections in
//! `server`, bound upstream connections in `service::transport`): armed once, then checked.

use std::future::Future;
use std::pin::Pin;

pin_project_lite::pin_project! {
    /// A wake-up source of a connection's loop (shutdown, idle timer), polled once to register
    /// the task's waker and afterwards only checked with `done`: such a task wakes several
    /// times per request, and polling a timer and a cancellation future on every wake cost
    /// about 900 instructions per request (callgrind). The first poll runs outside the task's
    /// coop budget, so it always registers.
    pub(crate) struct Armed<F, C> {
        #[pin]
        fut: F,
        armed: bool,
        done: C,
    }
}

impl<F: Future, C: Fn(&F) -> bool> Armed<F, C> {
    pub(crate) fn new(fut: F, done: C) -> Self {
        Armed {
            fut,
            armed: false,
            done,
        }
    }
}

impl<F: Future, C: Fn(&F) -> bool> Future for Armed<F, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = self.project();
        if !*this.armed {
            *this.armed = true;
            let mut first = tokio::task::unconstrained(this.fut);
            return Pin::new(&mut first).poll(cx).map(|_| ());
        }
        if (this.done)(&*this.fut) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::Armed;

    #[tokio::test]
    async fn an_armed_timer_fires_after_its_deadline() {
        let t0 = tokio::time::Instant::now();
        let tick = Armed::new(
            tokio::time::sleep(Duration::from_millis(30)),
            tokio::time::Sleep::is_elapsed,
        );
        tokio::time::timeout(Duration::from_secs(10), tick)
            .await
            .expect("the armed timer woke its task");
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn an_armed_cancellation_fires_when_cancelled() {
        let token = CancellationToken::new();
        let other = token.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            other.cancel();
        });
        let cancelled = Armed::new(token.cancelled(), |_| token.is_cancelled());
        tokio::time::timeout(Duration::from_secs(10), cancelled)
            .await
            .expect("the armed cancellation woke its task");
    }

    /// Polled again and again by other wake-ups before the deadline, it stays pending.
    #[tokio::test]
    async fn an_armed_timer_is_pending_before_its_deadline() {
        let tick = Armed::new(
            tokio::time::sleep(Duration::from_secs(3600)),
            tokio::time::Sleep::is_elapsed,
        );
        tokio::pin!(tick);
        for _ in 0..3 {
            let polled = futures_util::poll!(tick.as_mut());
            assert!(polled.is_pending());
        }
    }
}
