//! Sessionizing: 30 minutes (configurable) of inactivity closes a session.

use std::collections::HashMap;
use vtrack_model::EnrichedEvent;

/// A visitor is known per site: the same id on two sites is two visitors.
pub type VisitorKey = (String, String);

/// What the sessionizer remembers of a visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorState {
    /// Time of their latest event, Unix seconds.
    pub last_ts: i64,
    /// Their current (or last) session.
    pub session_id: String,
    /// Whether that session is a return visit.
    pub is_return: bool,
}

/// The session an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The `event_id` of the session's first event, so a replay assigns the same id.
    pub session_id: String,
    /// The visitor had an earlier session.
    pub is_return: bool,
    /// This event opened the session.
    pub new_session: bool,
}

/// Assigns events to sessions, remembering recently active visitors.
///
/// Memory is bounded by activity, not history: visitors idle for longer than the timeout are forgotten
/// by [`Sessionizer::evict_idle`] and primed again from the store if they come back.
#[derive(Debug)]
pub struct Sessionizer {
    timeout_secs: i64,
    visitors: HashMap<VisitorKey, Option<VisitorState>>,
    latest_ts: i64,
}

impl Sessionizer {
    pub fn new(timeout: std::time::Duration) -> Sessionizer {
        Sessionizer { timeout_secs: timeout.as_secs() as i64, visitors: HashMap::new(), latest_ts: 0 }
    }

    /// The visitors among `events` whose state is not in memory; fetch them from the store and [`prime`](Self::prime).
    pub fn unknown_visitors<'a>(&self, events: impl IntoIterator<Item = &'a EnrichedEvent>) -> Vec<VisitorKey> {
        let mut asked = std::collections::HashSet::new();
        let mut out: Vec<VisitorKey> = Vec::new();
        for e in events {
            let key = (e.site.clone(), e.visitor_id.clone());
            if !self.visitors.contains_key(&key) && asked.insert(key.clone()) {
                out.push(key);
            }
        }
        out
    }

    /// Gives the sessionizer a visitor's stored state (`None`: never seen before).
    pub fn prime(&mut self, key: VisitorKey, state: Option<VisitorState>) {
        self.visitors.insert(key, state);
    }

    /// Assigns `event` to a session and updates the visitor's state.
    pub fn assign(&mut self, event: &EnrichedEvent) -> Assignment {
        let ts = event.ts_ms.div_euclid(1000);
        self.latest_ts = self.latest_ts.max(ts);
        let key = (event.site.clone(), event.visitor_id.clone());
        let slot = self.visitors.entry(key).or_insert(None);
        match slot {
            // Late or out-of-order events within the window stay in the session.
            Some(state) if ts - state.last_ts <= self.timeout_secs => {
                state.last_ts = state.last_ts.max(ts);
                Assignment { session_id: state.session_id.clone(), is_return: state.is_return, new_session: false }
            }
            previous => {
                let is_return = previous.is_some();
                *previous = Some(VisitorState { last_ts: ts, session_id: event.event_id.clone(), is_return });
                Assignment { session_id: event.event_id.clone(), is_return, new_session: true }
            }
        }
    }

    /// Forgets visitors whose session has closed (relative to the newest event seen) and returns how many.
    pub fn evict_idle(&mut self) -> usize {
        let before = self.visitors.len();
        let horizon = self.latest_ts - self.timeout_secs;
        self.visitors.retain(|_, s| s.as_ref().is_some_and(|s| s.last_ts >= horizon));
        before - self.visitors.len()
    }

    /// Visitors held in memory.
    pub fn len(&self) -> usize {
        self.visitors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.visitors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ev(id: &str, vid: &str, secs: i64) -> EnrichedEvent {
        EnrichedEvent {
            event_id: id.into(),
            site: "s".into(),
            visitor_id: vid.into(),
            ts_ms: secs * 1000,
            ..Default::default()
        }
    }

    #[test]
    fn thirty_minutes_of_silence_closes_a_session_and_the_next_is_a_return() {
        let mut s = Sessionizer::new(Duration::from_secs(1800));
        let a = s.assign(&ev("a", "v", 0));
        assert_eq!(a, Assignment { session_id: "a".into(), is_return: false, new_session: true });
        assert_eq!(s.assign(&ev("b", "v", 1800)).session_id, "a", "exactly the timeout still continues");
        assert_eq!(s.assign(&ev("c", "v", 1700)).session_id, "a", "late event joins");
        let d = s.assign(&ev("d", "v", 1800 + 1801));
        assert_eq!(d, Assignment { session_id: "d".into(), is_return: true, new_session: true });
        assert!(s.assign(&ev("e", "v", 3700)).is_return);
        assert!(!s.assign(&ev("f", "w", 3700)).is_return, "another visitor is new");
    }

    #[test]
    fn primed_state_from_the_store_continues_or_closes_the_session() {
        let mut s = Sessionizer::new(Duration::from_secs(1800));
        let events = [ev("x", "v", 5000), ev("y", "v", 5001), ev("z", "w", 5000)];
        let unknown = s.unknown_visitors(&events);
        assert_eq!(unknown, [("s".to_string(), "v".to_string()), ("s".to_string(), "w".to_string())]);
        s.prime(unknown[0].clone(), Some(VisitorState { last_ts: 4000, session_id: "old".into(), is_return: false }));
        s.prime(unknown[1].clone(), Some(VisitorState { last_ts: 100, session_id: "older".into(), is_return: false }));
        assert!(s.unknown_visitors(&events).is_empty());
        assert_eq!(s.assign(&events[0]).session_id, "old");
        let w = s.assign(&events[2]);
        assert_eq!((w.session_id.as_str(), w.is_return), ("z", true));
    }

    #[test]
    fn idle_visitors_are_forgotten() {
        let mut s = Sessionizer::new(Duration::from_secs(1800));
        s.assign(&ev("a", "old", 0));
        s.assign(&ev("b", "new", 5000));
        assert_eq!(s.evict_idle(), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.unknown_visitors(&[ev("c", "old", 5001)]).len(), 1);
    }
}
