//! Readiness, shared between the pipeline that knows it and the HTTP server that answers
//! `/readyz` with it: its own module so that neither has to import the other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Readiness, as the pipeline sees it: partitions assigned, restored and caught up.
#[derive(Clone, Debug, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
