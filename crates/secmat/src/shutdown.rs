//! A minimal shutdown signal shared by the server and its background tasks: a `watch` channel
//! that flips once (cheaper to reason about than broadcast + mpsc).

/// Cloneable; `wait` resolves once `trigger` was called on the [`Trigger`].
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);
/// Fires the shutdown.
pub struct Trigger(tokio::sync::watch::Sender<bool>);

/// A new trigger and its signal.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Tells every holder of the signal to stop.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Resolves once shutdown has been triggered (or the trigger was dropped).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown has been triggered.
    pub fn triggered(&self) -> bool {
        *self.0.borrow()
    }
}
