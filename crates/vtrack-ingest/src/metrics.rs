//! Ingest's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// Request latency buckets: 100 µs to about 3 s, doubling — the 5 ms p99 goal falls between two of them.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Counters that say whether beacons are arriving and why any are turned away.
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    pub requests: Family<StatusLabels, Counter>,
    /// Time from the request's head to its answer, by route: what operators alert on (a 202 waits for the
    /// journal's flush or the broker's acknowledgement).
    pub request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub accepted: Counter,
    pub dropped: Family<ReasonLabels, Counter>,
    /// Events waiting in the bus after the latest publish: near capacity means processing is behind.
    pub queue_depth: Gauge,
    /// Requests answered 429, by the limit that refused them (`address`, `site`).
    pub rate_limited: Family<ScopeLabels, Counter>,
    /// The port's connections.
    pub conn: vtrack_edge::ConnMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    pub scope: &'static str,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        IngestMetrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            accepted: Counter::default(),
            dropped: Family::default(),
            queue_depth: Gauge::default(),
            rate_limited: Family::default(),
            conn: Default::default(),
        }
    }
}

impl IngestMetrics {
    /// Creates the counters and registers them under `vtrack_ingest_*`.
    pub fn register(registry: &mut Registry) -> IngestMetrics {
        let m = IngestMetrics { conn: vtrack_edge::ConnMetrics::register(registry), ..Default::default() };
        registry.register("vtrack_ingest_requests", "HTTP requests by route and status", m.requests.clone());
        registry.register(
            "vtrack_ingest_request_duration_seconds",
            "Time to answer a request, by route",
            m.request_duration.clone(),
        );
        registry.register("vtrack_ingest_events_accepted", "Events handed to the bus", m.accepted.clone());
        registry.register(
            "vtrack_ingest_events_dropped",
            "Events not handed on, by reason (bot, automation, invalid, forbidden, unauthorized, rate_limited, full)",
            m.dropped.clone(),
        );
        registry.register("vtrack_queue_depth", "Events waiting for processing", m.queue_depth.clone());
        // Every reason from zero, so alert rules see a rate from the start instead of a missing series.
        for reason in [
            "bot",
            "automation",
            "invalid",
            "forbidden",
            "unauthorized",
            "too_large",
            "full",
            "closed",
            "unavailable",
            "rate_limited",
        ] {
            let _ = m.dropped.get_or_create(&ReasonLabels { reason });
        }
        registry.register(
            "vtrack_ingest_rate_limited",
            "Requests answered 429, by limit (address: limits.per_address, site: limits.per_site)",
            m.rate_limited.clone(),
        );
        m
    }

    pub(crate) fn drop_events(&self, reason: &'static str, n: usize) {
        self.dropped.get_or_create(&ReasonLabels { reason }).inc_by(n as u64);
    }
}
