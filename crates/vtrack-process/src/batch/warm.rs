//! What a processor follows in memory between batches: session rows, account states, and each site's
//! identities and learned keys, so a batch usually reads none of them.
//!
//! Anything not held (after a start, a rebalance, a failed write, an eviction, or [`WARM_TTL`] after it was
//! read) is read from the store first. Memory is bounded: sessions that can no longer grow are swept, and
//! past [`WARM_WEIGHT_MAX`] the accounts least recently touched are dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use vtrack_model::{NetworkClass, NetworkEvidence};

use crate::account::AccountState;
use crate::identity::Identity;
use crate::SessionRow;

/// How long a session row or account state read from the store is continued in memory before it is read
/// again. Events of one session or account normally reach one processor (the Kafka key), but a visitor who
/// changes networks mid-session sends some to another; this bounds how long memory can miss what another
/// processor wrote to the session.
pub const WARM_TTL: Duration = Duration::from_secs(30);

/// Account state held in memory at most, in [`AccountState::weight`] entries over all accounts; past it
/// the accounts least recently touched are dropped (and read again when they next get events).
const WARM_WEIGHT_MAX: usize = 1_000_000;

/// Batches between two sweeps of sessions that can no longer grow.
const SWEEP_EVERY: u64 = 32;

/// The sessions and accounts a processor follows, per site.
#[derive(Default)]
pub(super) struct Warm {
    pub sites: HashMap<String, SiteWarm>,
    /// Batches written: the clock of [`WarmAccount::last_batch`].
    pub batches: u64,
    /// The latest event time seen: sessions idle for long before it are swept.
    pub newest_secs: i64,
    /// What is known about networks beyond their names, for every site.
    pub networks: Option<Networks>,
}

/// Every network's evidence and decided class (`network_evidence`), by AS number, with when it was read.
pub(super) struct Networks {
    pub by_asn: HashMap<u32, NetworkEvidence>,
    pub read: Instant,
}

/// The label a network's events were relabelled to on a site: key, class and class confidence.
pub(super) type Applied = (String, NetworkClass, u8);

#[derive(Default)]
pub(super) struct SiteWarm {
    /// Each row with when it was read from the store.
    pub sessions: HashMap<String, (SessionRow, Instant)>,
    pub accounts: HashMap<String, WarmAccount>,
    /// The site's identities and learned keys.
    pub known: Option<Known>,
    /// Each network whose stored events this processor relabelled on the site, with the label: a network's
    /// evidence relabels them once per processor, not per batch.
    pub applied: HashMap<u32, Applied>,
    /// (AS number, day) → the visitor, /24 and city sets written for it: a batch writes only what grows.
    pub traffic: HashMap<(u32, i64), [u64; 3]>,
}

/// Everything a site's visitors told it: each identified visitor's identity and the keys learned from them.
pub(super) struct Known {
    pub identities: HashMap<String, Identity>,
    pub learned: HashMap<String, String>,
    pub read: Instant,
}

impl Known {
    pub fn new(identities: HashMap<String, Identity>, learned: HashMap<String, String>) -> Known {
        Known { identities, learned, read: Instant::now() }
    }
}

pub(super) struct WarmAccount {
    pub state: AccountState,
    /// When it was read from the store.
    pub read: Instant,
    pub last_batch: u64,
}

impl WarmAccount {
    pub fn new(state: AccountState) -> WarmAccount {
        WarmAccount { state, read: Instant::now(), last_batch: 0 }
    }

    /// Whether the state was read less than [`WARM_TTL`] ago.
    pub fn is_fresh(&self) -> bool {
        self.read.elapsed() < WARM_TTL
    }
}

impl SiteWarm {
    /// Whether the session row of `sid` is held and younger than [`WARM_TTL`].
    pub fn fresh_session(&self, sid: &str) -> bool {
        self.sessions.get(sid).is_some_and(|(_, read)| read.elapsed() < WARM_TTL)
    }

    pub fn hold_session(&mut self, row: SessionRow) {
        self.sessions.insert(row.session_id.clone(), (row, Instant::now()));
    }
}

impl Warm {
    /// Sweeps sessions idle for over twice the session timeout (no new event can join them) and, past
    /// [`WARM_WEIGHT_MAX`], the accounts least recently touched.
    pub fn sweep(&mut self, timeout_secs: i64) {
        self.batches += 1;
        if self.batches.is_multiple_of(SWEEP_EVERY) {
            let horizon = self.newest_secs.saturating_sub(timeout_secs.saturating_mul(2));
            let yesterday = self.newest_secs.div_euclid(86_400) - 1;
            for site in self.sites.values_mut() {
                site.sessions.retain(|_, (row, _)| row.ended_at >= horizon);
                site.traffic.retain(|(_, day), _| *day >= yesterday);
            }
        }
        let weight: usize = self.sites.values().flat_map(|s| s.accounts.values()).map(|a| a.state.weight()).sum();
        if weight <= WARM_WEIGHT_MAX {
            return;
        }
        let mut by_age: Vec<(u64, String, String, usize)> = self
            .sites
            .iter()
            .flat_map(|(site, s)| {
                s.accounts.iter().map(move |(d, a)| (a.last_batch, site.clone(), d.clone(), a.state.weight()))
            })
            .collect();
        by_age.sort();
        let mut held = weight;
        for (_, site, domain, w) in by_age {
            if held <= WARM_WEIGHT_MAX * 3 / 4 {
                break;
            }
            if let Some(s) = self.sites.get_mut(&site) {
                s.accounts.remove(&domain);
            }
            held -= w;
        }
    }
}
