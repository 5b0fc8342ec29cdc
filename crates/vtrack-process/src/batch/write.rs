//! The batch write: [`Processor::write`], the steps of [`super`] in order, for every store.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use vtrack_model::EnrichedEvent;

use super::store::{transaction, BatchStore};
use super::warm::Warm;
use super::{accounts, alerts, attribute, events, networks, owners, sessions};
use crate::outbox::DeliveryTarget;
use crate::owners::OwnerRules;
use crate::{Scorer, Sessionizer};

/// The state of one processing loop: the sessionizer and what it follows in memory.
pub struct Processor {
    sessions: Sessionizer,
    warm: Warm,
    timeout_secs: i64,
    /// Count each network's traffic sets (`[process] network_traffic`).
    count_traffic: bool,
}

impl Processor {
    pub fn new(session_timeout: Duration) -> Processor {
        Processor {
            sessions: Sessionizer::new(session_timeout),
            warm: Warm::default(),
            timeout_secs: session_timeout.as_secs() as i64,
            count_traffic: true,
        }
    }

    /// Whether to count each AS network's traffic (`[process] network_traffic`; on by default).
    pub fn counting_traffic(mut self, on: bool) -> Processor {
        self.count_traffic = on;
        self
    }

    /// Drops everything held: after a rebalance or a failed write, memory may be behind the store.
    pub fn forget(&mut self) {
        self.sessions = Sessionizer::new(Duration::from_secs(self.timeout_secs as u64));
        self.warm = Warm::default();
    }

    /// Forgets visitors whose session has closed; returns how many are still held.
    pub fn evict_idle(&mut self) -> usize {
        self.sessions.evict_idle();
        self.sessions.len()
    }

    /// Visitors held in memory.
    pub fn visitors(&self) -> usize {
        self.sessions.len()
    }

    /// Writes one batch (`partitions[i]` is the Kafka partition of `events[i]`, or absent). On failure,
    /// an atomic store is rolled back ([`transaction`]) and everything held in memory is dropped: the batch
    /// can be written again as it is.
    pub async fn write<S: BatchStore>(
        &mut self,
        store: &mut S,
        rules: &BatchRules,
        events: &[EnrichedEvent],
        partitions: &[i32],
    ) -> Result<Written, S::Error> {
        let result = transaction(store, async |store| {
            let mut total = Written::default();
            for (site, events) in by_site(events, partitions, &mut self.warm.newest_secs) {
                total += self.write_site(store, rules, site, &events).await?;
            }
            Ok(total)
        })
        .await;
        match result {
            Ok(mut total) => {
                // Enrichment's findings ride the bus as events but are never stored: not duplicates.
                let learned = events.iter().filter(|e| e.kind == vtrack_model::event::LEARNED_KIND).count();
                total.duplicates = events.len() - learned - total.stored;
                self.warm.sweep(self.timeout_secs);
                Ok(total)
            }
            Err(e) => {
                self.forget();
                Err(e)
            }
        }
    }

    /// One site's events, step by step.
    async fn write_site<S: BatchStore>(
        &mut self,
        store: &mut S,
        rules: &BatchRules,
        site: &str,
        events: &[Batched<&EnrichedEvent>],
    ) -> Result<Written, S::Error> {
        let batch_no = self.warm.batches;
        let networks = networks::refresh(store, &mut self.warm.networks).await?;
        let warm = self.warm.sites.entry(site.to_string()).or_default();
        let min_confidence = rules.scorer.min_class_confidence();
        let attributed = attribute::attribute(store, warm, site, events, networks, min_confidence).await?;
        let events: Vec<Batched<&EnrichedEvent>> = attributed.events.iter().map(Batched::as_ref).collect();
        let placement = events::place(store, &mut self.sessions, site, &events).await?;
        let mut w = Written { relabelled: attributed.relabelled, ..Written::default() };
        if !placement.placed.is_empty() || !attributed.recompute.is_empty() {
            let touched = sessions::read(store, warm, site, &placement.visitors, &placement.placed).await?;
            w.stored = events::insert(store, &placement.placed).await?;
            if self.count_traffic {
                networks::count_traffic(store, warm, site, &placement.placed).await?;
            }
            let before = sessions::write(store, warm, site, &placement.placed, &touched).await?;
            w.sessions = touched.ids.len();
            let input = accounts::Input {
                site,
                placed: &placement.placed,
                sessions: &touched,
                before: &before,
                relabelled: &attributed.recompute,
                held_partition: events.first().map_or(-1, |s| s.partition),
            };
            let mut scored = accounts::score(store, warm, &rules.scorer, batch_no, input).await?;
            (w.accounts, w.recomputed) = (scored.verdicts.len(), scored.recomputed);
            let owners = owners::assign(store, warm, site, &rules.owners, &scored).await?;
            let raised = alerts::raise(store, site, &rules.webhooks, &mut scored, owners).await?;
            (w.alerts, w.deliveries) = (raised.alerts, raised.deliveries);
            accounts::save(store, warm, &scored).await?;
        }
        // Last, so that a replay after a failure finds them missing and relabels again.
        w.identified = attribute::save(store, warm, site, attributed.learned).await?;
        Ok(w)
    }
}

/// One copy of each event, in event-time order (sessions depend on order, and time makes it the same on
/// every replay), by site; `newest_secs` is raised to the latest event time.
fn by_site<'e>(
    events: &'e [EnrichedEvent],
    partitions: &[i32],
    newest_secs: &mut i64,
) -> BTreeMap<&'e str, Vec<Batched<&'e EnrichedEvent>>> {
    let mut seen = HashSet::new();
    let mut ordered: Vec<Batched<&EnrichedEvent>> = events
        .iter()
        .enumerate()
        // An event id is unique per site: another site's event with the same id is another event.
        .filter(|(_, e)| seen.insert((e.site.as_str(), e.event_id.as_str())))
        .map(|(i, e)| Batched { event: e, partition: partitions.get(i).copied().unwrap_or(-1) })
        .collect();
    ordered.sort_by_key(|s| s.event.ts_ms);
    let mut by_site: BTreeMap<&str, Vec<Batched<&EnrichedEvent>>> = BTreeMap::new();
    for s in ordered {
        *newest_secs = (*newest_secs).max(s.event.ts_ms.div_euclid(1000));
        by_site.entry(s.event.site.as_str()).or_default().push(s);
    }
    by_site
}

/// What decides where a batch's events go and who hears of the alerts.
#[derive(Debug, Clone)]
pub struct BatchRules {
    pub scorer: Scorer,
    /// Every receiver, in the order of `Config::receivers` (the outbox stores the index).
    pub webhooks: Vec<DeliveryTarget>,
    /// Who follows up a new account.
    pub owners: OwnerRules,
}

/// What one batch write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// New events stored.
    pub stored: usize,
    /// Events skipped as already stored or repeated within the batch.
    pub duplicates: usize,
    /// Sessions whose rows were written.
    pub sessions: usize,
    /// Accounts scored; of those, `recomputed` from their history.
    pub accounts: usize,
    pub recomputed: usize,
    pub alerts: usize,
    /// Webhook deliveries queued.
    pub deliveries: usize,
    /// Visitors newly identified by a business email.
    pub identified: usize,
    /// Stored events that now count for another organisation (an identity or a learned key).
    pub relabelled: usize,
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, o: Written) {
        self.stored += o.stored;
        self.duplicates += o.duplicates;
        self.sessions += o.sessions;
        self.accounts += o.accounts;
        self.recomputed += o.recomputed;
        self.alerts += o.alerts;
        self.deliveries += o.deliveries;
        self.identified += o.identified;
        self.relabelled += o.relabelled;
    }
}

/// An event of the batch with the Kafka partition it came from (-1 without Kafka).
#[derive(Debug, Clone, Copy)]
pub(super) struct Batched<E> {
    pub event: E,
    pub partition: i32,
}

impl Batched<Cow<'_, EnrichedEvent>> {
    pub fn as_ref(&self) -> Batched<&EnrichedEvent> {
        Batched { event: self.event.as_ref(), partition: self.partition }
    }
}

pub(super) fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}
