//! What a run measured, for people (the table) and for scripts (JSON).

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The outcome of a run. `requests_per_sec` counts every answer whatever its status; `accepted_per_sec`
/// and `events_per_sec` only `2xx` ones.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    /// `max-rate` (closed loop) or `fixed-rate` (open loop at `target_rate`).
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub connections: u32,
    pub events_per_request: u32,
    /// Requests that got an answer, any status.
    pub requests: u64,
    /// Requests answered `2xx`: a server that sheds load (vtrack's `503` when its queue is full) answers
    /// fast, so this, not `requests`, is the throughput it sustains.
    pub accepted: u64,
    /// Events in requests answered `2xx`.
    pub events: u64,
    pub duration_secs: f64,
    pub requests_per_sec: f64,
    pub accepted_per_sec: f64,
    pub events_per_sec: f64,
    pub latency_ms: Latency,
    pub errors: Errors,
    /// Fixed rate only: sends that were due before the end but never made, because the connections were
    /// still waiting on earlier answers. Non-zero means the server (or the generator) could not keep up.
    pub unsent: u64,
    /// CPU the generator itself used, in cores (1.0 = one core busy all the time), where the OS tells
    /// (Linux). Near the number of cores it was given, the generator, not the server, set the pace.
    pub client_cpu_cores: Option<f64>,
}

/// Latency percentiles in milliseconds. At a fixed rate they count from when each request was due, so time
/// spent queued behind a slow answer is included.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Failed requests, kept apart by kind: a `503` is the server shedding load, a transport error is a
/// connection that broke.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors {
    /// Answers that were not `2xx`, by status code.
    pub status: BTreeMap<u16, u64>,
    /// Connections refused or reset, requests that timed out or broke off.
    pub transport: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.status.values().sum::<u64>() + self.transport
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.target_rate {
            Some(r) => format!("fixed rate {r:.0} req/s"),
            None => "max rate".to_string(),
        };
        writeln!(f, "target      {}", self.target)?;
        writeln!(
            f,
            "load        {mode}, {} connections, {} event(s) per request",
            self.connections, self.events_per_request
        )?;
        writeln!(
            f,
            "requests    {} in {:.2} s = {:.1} req/s; accepted {:.1} req/s, {:.1} events/s",
            self.requests, self.duration_secs, self.requests_per_sec, self.accepted_per_sec, self.events_per_sec
        )?;
        let l = &self.latency_ms;
        writeln!(
            f,
            "latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.p999, l.max
        )?;
        let mut errors: Vec<String> = self.errors.status.iter().map(|(s, n)| format!("{n} × {s}")).collect();
        if self.errors.transport > 0 {
            errors.push(format!("{} transport", self.errors.transport));
        }
        if self.unsent > 0 {
            errors.push(format!("{} unsent (behind schedule)", self.unsent));
        }
        let errors = if errors.is_empty() { "none".to_string() } else { errors.join(", ") };
        writeln!(f, "errors      {errors}")?;
        if let Some(cores) = self.client_cpu_cores {
            writeln!(f, "client cpu  {:.0}% of a core", cores * 100.0)?;
        }
        Ok(())
    }
}

impl Report {
    /// The report in `format`, newline-terminated, as `vtrack loadgen` prints it: the table for people, JSON
    /// for scripts such as `benches/ingest.sh`.
    pub fn render(&self, format: crate::Format) -> String {
        match format {
            crate::Format::Table => self.to_string(),
            crate::Format::Json => match serde_json::to_string_pretty(self) {
                Ok(json) => json + "\n",
                Err(e) => format!("{{\"error\": \"{e}\"}}\n"),
            },
        }
    }
}

/// CPU time this process has used so far, from `/proc/self/stat` (user + system, all threads); `None`
/// where there is no procfs.
pub(crate) fn process_cpu_time() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name in parentheses may contain spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // state is field 3 of the file, utime field 14
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // Clock ticks are USER_HZ, 100 on every Linux configuration in use.
    Some(std::time::Duration::from_millis((utime + stime) * 10))
}
