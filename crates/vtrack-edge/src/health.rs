//! Readiness: what keeps this process from accepting events, for `/healthz`.
//!
//! A load balancer or orchestrator takes an instance out while its health check fails, so the check says
//! "not ready" exactly while a beacon could not be kept: the bus cannot take events (a full or read-only
//! disk under the journal) or the store refuses batches (full, read-only, locked). Each part reports its own
//! problem and clears it when it works again, so readiness comes back by itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Problems by the part that has them; shared by the parts and the health check.
#[derive(Clone, Default, Debug)]
pub struct Health(Arc<Mutex<BTreeMap<&'static str, String>>>);

impl Health {
    /// Records (`Some`) or clears (`None`) the problem of `part`.
    pub fn set(&self, part: &'static str, problem: Option<String>) {
        if let Ok(mut map) = self.0.lock() {
            match problem {
                Some(p) => {
                    map.insert(part, p);
                }
                None => {
                    map.remove(part);
                }
            }
        }
    }

    /// Every current problem, as `part: problem`.
    pub fn problems(&self) -> Vec<String> {
        self.0.lock().map(|m| m.iter().map(|(k, v)| format!("{k}: {v}")).collect()).unwrap_or_default()
    }
}
