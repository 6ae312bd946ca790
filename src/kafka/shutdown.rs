//! How a stop is asked for, shared by the pipeline and its emitter thread.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// SIGINT / SIGTERM, counted: the first asks for a graceful stop (drain, flush, commit);
/// the second for an immediate one (nothing committed that is not acknowledged, so still
/// nothing lost).
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<AtomicU8>);

impl Shutdown {
    pub fn request(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= 1
    }
    pub fn forced(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= 2
    }
}
