//! The embedded durable queue of `vtrack serve`: a journal on disk in front of the in-process queue.
//!
//! **Why.** An event answered 202 must survive a `kill -9`, an OOM kill or (with [`SyncMode::Fsync`]) a
//! power cut. The in-memory queue alone loses what it holds; the SQLite database itself cannot take the
//! events either without putting ingest behind the batch write's transaction (one writer at a time: a
//! 10,000-event batch would hold every request for its whole duration). A journal of its own is an append to
//! one file, and its flush is shared.
//!
//! **Group commit.** Requests encode their events (the request's own task, so on every core) and hand them
//! to one writer thread. The writer takes everything that arrived meanwhile, appends it in one `write`, calls
//! `fdatasync` once, and only then passes the events on to processing and answers every request of the
//! group: one flush serves them all, and the busier it is the more each flush carries.
//!
//! **Records.** `[length u32 LE][crc32 u32 LE][the event as JSON]`. A crash can only tear the tail of the
//! segment being written, whose records were never acknowledged; reading stops at the first record that is
//! short or fails its checksum. A failed append is cut off again (`set_len`) before anything else is
//! written, and if even that fails the segment is abandoned for a new one, so acknowledged records are never
//! followed by garbage.
//!
//! **Truncation.** The journal is a sequence of segment files (`NNNNNNNNNNNNNNNN.log`); the writer starts a new
//! one past [`SEGMENT_BYTES`]. Events reach processing in journal order, so once a batch is stored every
//! segment before that of the batch's last event is fully stored and is deleted ([`crate::Subscriber::ack`]).
//!
//! **Restart.** Segments left by a previous run are replayed first, before anything new: processing
//! de-duplicates by `event_id` (a stored event is skipped, and on SQLite a stored event was fully processed,
//! since the batch write is one transaction), so replaying what was already stored changes nothing and every
//! event answered 202 is stored exactly once.
//!
//! **A full or read-only disk** fails the append: the group's requests get 503 (with `Retry-After`), the
//! journal reports the problem ([`crate::Publisher::problem`], shown by `/healthz`), and while it lasts the
//! writer probes once a second with a real write, so it recovers by itself when space returns even if no
//! request comes (a load balancer stops sending to an instance whose health check fails).

use crate::{Batch, PublishError};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use vtrack_model::EnrichedEvent;

/// A segment past this size is closed and a new one started; a stored closed segment is deleted.
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// The most one group commit writes at once.
const GROUP_BYTES: usize = 8 << 20;
/// How often a failing journal tries a real write again, with no request to try it.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often [`SyncMode::Write`] flushes what it wrote.
const WRITE_FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes a probe writes: enough to need new blocks on a full filesystem.
const PROBE_BYTES: usize = 64 << 10;
/// A record longer than this is not a record (a torn or foreign length).
const MAX_RECORD: u32 = 16 << 20;

/// When the journal acknowledges an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// After `fdatasync`: survives a power cut.
    Fsync,
    /// After `write` (flushed every 50 ms): survives a killed process.
    Write,
}

/// Why the journal could not be opened.
#[derive(Debug, Error)]
pub enum JournalError {
    #[error("journal in {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
    #[error("journal in {0} is in use by another vtrack process")]
    Locked(PathBuf),
}

/// What the publishers, the writer thread and the subscriber share.
#[derive(Debug)]
struct Shared {
    /// Events accepted (or being appended) and not yet handed to processing.
    depth: AtomicUsize,
    capacity: usize,
    /// Why appends fail, while they do.
    problem: Mutex<Option<String>>,
    /// The segment the writer appends to.
    current: AtomicU64,
    /// Group commits (each one `write`, and one `fdatasync` in [`SyncMode::Fsync`]).
    commits: AtomicU64,
    /// Appends that failed (each answered 503 to every request of its group).
    failures: AtomicU64,
}

impl Shared {
    fn release(&self, n: usize) {
        self.depth.fetch_sub(n, Ordering::AcqRel);
    }

    fn set_problem(&self, problem: Option<String>) {
        if let Ok(mut p) = self.problem.lock() {
            *p = problem;
        }
    }
}

/// One request's events, encoded, waiting for the writer.
struct Append {
    frames: Vec<u8>,
    events: Vec<EnrichedEvent>,
    done: oneshot::Sender<Result<(), PublishError>>,
}

/// Counters of the journal, for `/metrics`.
#[derive(Debug, Clone)]
pub struct JournalStats(Arc<Shared>);

impl JournalStats {
    /// Group commits so far.
    pub fn commits(&self) -> u64 {
        self.0.commits.load(Ordering::Relaxed)
    }
    /// Appends that failed so far.
    pub fn failures(&self) -> u64 {
        self.0.failures.load(Ordering::Relaxed)
    }
}

/// Opens (creating) the journal in `dir`, holding at most `capacity` events not yet handed to processing.
/// Segments a previous run left are replayed by the subscriber before anything new. Fails when another
/// process holds the journal.
pub fn open(
    dir: &Path,
    capacity: usize,
    sync: SyncMode,
) -> Result<(crate::Publisher, crate::Subscriber), JournalError> {
    let io = |source| JournalError::Io { dir: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock")).map_err(io)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(JournalError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    let old = segments(dir).map_err(io)?;
    let last_old = old.last().copied().unwrap_or(0);
    let shared = Arc::new(Shared {
        depth: AtomicUsize::new(0),
        capacity: capacity.max(1),
        problem: Mutex::new(None),
        current: AtomicU64::new(last_old),
        commits: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    let (to_writer, appends) = std_mpsc::channel();
    let (to_processing, from_writer) = mpsc::unbounded_channel();
    let writer = Writer {
        dir: dir.to_path_buf(),
        sync,
        segment: last_old,
        file: None,
        len: 0,
        unflushed: false,
        shared: shared.clone(),
        to_processing,
        _lock: lock,
    };
    std::thread::Builder::new().name("vtrack-journal".into()).spawn(move || writer.run(appends)).map_err(io)?;
    Ok((
        crate::Publisher::Journal(JournalPublisher { to_writer, shared: shared.clone() }),
        crate::Subscriber::Journal(JournalSubscriber {
            rx: from_writer,
            pending: Vec::new(),
            shared,
            dir: dir.to_path_buf(),
            replay_unfinished: !old.is_empty(),
            replay: old.into_iter().collect(),
            reading: None,
            first_live: last_old + 1,
            deleted_below: 0,
        }),
    ))
}

/// The segment ids in `dir`, oldest first.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".log").and_then(|n| n.parse::<u64>().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.log"))
}

/// Appends one record (`[len][crc][payload]`) to `out`.
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The publishing half: cheap to clone into every connection.
#[derive(Clone, Debug)]
pub struct JournalPublisher {
    to_writer: std_mpsc::Sender<Append>,
    shared: Arc<Shared>,
}

impl JournalPublisher {
    /// Takes all of `events` or none: returns once they are in the journal (flushed, in
    /// [`SyncMode::Fsync`]) and queued for processing. A dropped future still appends them.
    pub(crate) async fn publish_all(&self, events: Vec<EnrichedEvent>) -> Result<(), PublishError> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        let cap = self.shared.capacity;
        if self
            .shared
            .depth
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| (d + n <= cap).then_some(d + n))
            .is_err()
        {
            return Err(PublishError::Full);
        }
        let mut frames = Vec::with_capacity(n * 512);
        for e in &events {
            match serde_json::to_vec(e) {
                Ok(payload) => frame(&mut frames, &payload),
                Err(err) => {
                    // Cannot happen for these plain structs; refuse rather than panic.
                    tracing::error!(error = %err, "journal: could not encode an event");
                    self.shared.release(n);
                    return Err(PublishError::Unavailable);
                }
            }
        }
        let (done, answer) = oneshot::channel();
        if self.to_writer.send(Append { frames, events, done }).is_err() {
            self.shared.release(n);
            return Err(PublishError::Closed);
        }
        answer.await.unwrap_or(Err(PublishError::Closed))
    }

    pub(crate) fn depth(&self) -> usize {
        self.shared.depth.load(Ordering::Acquire)
    }

    pub(crate) fn problem(&self) -> Option<String> {
        self.shared.problem.lock().ok().and_then(|p| p.clone())
    }

    /// The journal's counters.
    pub fn stats(&self) -> JournalStats {
        JournalStats(self.shared.clone())
    }
}

/// The writer thread: group commits, segment rotation, probing while the disk fails.
struct Writer {
    dir: PathBuf,
    sync: SyncMode,
    /// The id of the segment being written (or of the last one a previous run left, before the first append).
    segment: u64,
    /// `None` before the first append, and after a segment was abandoned.
    file: Option<File>,
    /// Bytes of whole records in `file`.
    len: u64,
    /// [`SyncMode::Write`]: whether something was written since the last flush.
    unflushed: bool,
    shared: Arc<Shared>,
    to_processing: mpsc::UnboundedSender<(u64, EnrichedEvent)>,
    /// Held for the process's life: one process per journal.
    _lock: File,
}

impl Writer {
    fn run(mut self, appends: std_mpsc::Receiver<Append>) {
        let mut last_flush = Instant::now();
        loop {
            let failing = self.shared.problem.lock().map(|p| p.is_some()).unwrap_or(false);
            let wait = if failing {
                Some(PROBE_EVERY)
            } else if self.unflushed {
                Some(WRITE_FLUSH_EVERY.saturating_sub(last_flush.elapsed()))
            } else {
                None
            };
            let first = match wait {
                None => appends.recv().map_err(|_| std_mpsc::RecvTimeoutError::Disconnected),
                Some(w) => appends.recv_timeout(w),
            };
            let first = match first {
                Ok(a) => a,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    if failing {
                        self.probe();
                    } else {
                        self.flush_written();
                        last_flush = Instant::now();
                    }
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut bytes = first.frames.len();
            let mut group = vec![first];
            while bytes < GROUP_BYTES {
                match appends.try_recv() {
                    Ok(a) => {
                        bytes += a.frames.len();
                        group.push(a);
                    }
                    Err(_) => break,
                }
            }
            match self.append(&group) {
                Ok(()) => {
                    self.shared.commits.fetch_add(1, Ordering::Relaxed);
                    if failing {
                        tracing::info!("journal: appends succeed again");
                        self.shared.set_problem(None);
                    }
                    if self.sync == SyncMode::Write && last_flush.elapsed() >= WRITE_FLUSH_EVERY {
                        self.flush_written();
                        last_flush = Instant::now();
                    }
                    self.hand_on(group);
                }
                Err(e) => {
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    let problem = format!("cannot write the journal in {}: {e}", self.dir.display());
                    if !failing {
                        tracing::error!(error = %e, dir = %self.dir.display(), "journal: append failed; answering 503 until it succeeds");
                    }
                    self.shared.set_problem(Some(problem));
                    for a in group {
                        self.shared.release(a.events.len());
                        let _ = a.done.send(Err(PublishError::Unavailable));
                    }
                }
            }
        }
        self.flush_written();
    }

    /// Passes a committed group on to processing, in journal order, and answers its requests.
    fn hand_on(&mut self, group: Vec<Append>) {
        for a in group {
            let n = a.events.len();
            let mut sent = 0;
            for e in a.events {
                if self.to_processing.send((self.segment, e)).is_err() {
                    break;
                }
                sent += 1;
            }
            if sent < n {
                // Processing has closed the queue (shutdown): the request is refused, and a replay of the
                // journal stores what it holds; the client's retry is de-duplicated by event id.
                self.shared.release(n - sent);
                let _ = a.done.send(Err(PublishError::Closed));
            } else {
                let _ = a.done.send(Ok(()));
            }
        }
    }

    /// Writes the group as one `write` (and flushes it in [`SyncMode::Fsync`]); on failure nothing of it
    /// stays in the journal.
    fn append(&mut self, group: &[Append]) -> std::io::Result<()> {
        if self.file.is_none() || self.len >= SEGMENT_BYTES {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(group.iter().map(|a| a.frames.len()).sum());
        for a in group {
            buf.extend_from_slice(&a.frames);
        }
        let sync = self.sync;
        let Some(file) = self.file.as_mut() else { return Err(std::io::Error::other("no journal segment")) };
        let written = file.write_all(&buf).and_then(|()| match sync {
            SyncMode::Fsync => file.sync_data(),
            SyncMode::Write => Ok(()),
        });
        match written {
            Ok(()) => {
                self.len += buf.len() as u64;
                self.unflushed = sync == SyncMode::Write;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(e)
            }
        }
    }

    /// Removes whatever a failed write left after the last whole record; abandons the segment if it cannot.
    fn cut_back(&mut self) {
        let len = self.len;
        let ok = self.file.as_mut().is_some_and(|f| f.set_len(len).and_then(|()| f.seek(SeekFrom::Start(len))).is_ok());
        if !ok {
            tracing::warn!(segment = self.segment, "journal: cannot cut a failed append off; starting a new segment");
            self.file = None;
        }
    }

    /// Starts a new segment, its name made durable before anything is acknowledged from it.
    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            // Its records were flushed as they were acknowledged; in Write mode flush them now.
            if self.unflushed {
                f.sync_data()?;
                self.unflushed = false;
            }
        }
        self.segment += 1;
        let file = OpenOptions::new().write(true).create_new(true).open(segment_path(&self.dir, self.segment))?;
        if self.sync == SyncMode::Fsync {
            File::open(&self.dir)?.sync_all()?;
        }
        self.file = Some(file);
        self.len = 0;
        self.shared.current.store(self.segment, Ordering::Release);
        Ok(())
    }

    /// [`SyncMode::Write`]: flushes what was written since the last flush.
    fn flush_written(&mut self) {
        if !self.unflushed {
            return;
        }
        if let Some(f) = &self.file {
            if let Err(e) = f.sync_data() {
                tracing::warn!(error = %e, "journal: flush failed");
                return;
            }
        }
        self.unflushed = false;
    }

    /// While appends fail: tries a real write of [`PROBE_BYTES`] (then cuts it off again), so the journal
    /// notices by itself that space came back.
    fn probe(&mut self) {
        let result = (|| {
            if self.file.is_none() {
                self.rotate()?;
            }
            let Some(file) = self.file.as_mut() else { return Err(std::io::Error::other("no journal segment")) };
            let written = file.write_all(&[0u8; PROBE_BYTES]).and_then(|()| file.sync_data());
            self.cut_back();
            written
        })();
        if result.is_ok() {
            tracing::info!("journal: the disk takes writes again");
            self.shared.set_problem(None);
        }
    }
}

/// The consuming half: first what a previous run left in the journal, then what this run accepts.
pub struct JournalSubscriber {
    rx: mpsc::UnboundedReceiver<(u64, EnrichedEvent)>,
    /// The batch being collected, kept here so that an abandoned `next_batch` loses nothing.
    pending: Vec<(u64, EnrichedEvent)>,
    shared: Arc<Shared>,
    dir: PathBuf,
    /// Segments of a previous run not yet read, oldest first.
    replay: VecDeque<u64>,
    /// The previous run's segment being read.
    reading: Option<(u64, BufReader<File>)>,
    /// The first segment this run writes; every one before it is the previous run's.
    first_live: u64,
    /// Whether the previous run left segments and the batch that completes their replay is still to come.
    replay_unfinished: bool,
    /// Every segment below this id is deleted.
    deleted_below: u64,
}

impl JournalSubscriber {
    pub(crate) fn close(&mut self) {
        self.rx.close();
    }

    /// Cancel-safe: events taken from the queue stay in `pending` until a call returns them.
    pub(crate) async fn next_batch(&mut self, max: usize, linger: Duration) -> Option<Batch> {
        if let Some(batch) = self.replay_batch(max) {
            return Some(batch);
        }
        if !crate::batching::fill(&mut self.rx, &mut self.pending, max, linger).await {
            // Closed and drained: every batch handed out was stored (the caller acks before asking again),
            // so the journal holds nothing that is not in the store.
            self.delete_below(self.shared.current.load(Ordering::Acquire) + 1);
            return None;
        }
        let through = self.pending.last().map(|(segment, _)| *segment);
        let events: Vec<EnrichedEvent> = self.pending.drain(..).map(|(_, e)| e).collect();
        self.shared.release(events.len());
        Some(Batch { events, journal_through: through, ..Default::default() })
    }

    /// Up to `max` events of the previous run's segments, or `None` once they are all read.
    fn replay_batch(&mut self, max: usize) -> Option<Batch> {
        let mut events = Vec::new();
        while events.len() < max {
            if self.reading.is_none() {
                // Nothing left to open: hand on what this batch holds (the end of the replay is below).
                let Some(id) = self.replay.pop_front() else { break };
                match File::open(segment_path(&self.dir, id)) {
                    Ok(f) => {
                        tracing::info!(segment = id, "journal: replaying what a previous run accepted");
                        self.reading = Some((id, BufReader::new(f)));
                    }
                    Err(e) => {
                        tracing::warn!(segment = id, error = %e, "journal: cannot read a segment; skipping it");
                        continue;
                    }
                }
            }
            let Some((id, reader)) = self.reading.as_mut() else { continue };
            match read_record(reader) {
                Record::Event(e) => events.push(*e),
                Record::Undecodable(e) => {
                    tracing::warn!(segment = *id, error = %e, "journal: skipping a record that is not an event")
                }
                Record::End => self.reading = None,
                Record::Torn(e) => {
                    // The tail of a write that was never acknowledged (a crash mid-append).
                    tracing::info!(segment = *id, detail = %e, "journal: segment ends in an unacknowledged record");
                    self.reading = None;
                }
            }
            if self.reading.is_none() && self.replay.is_empty() {
                break;
            }
        }
        if events.is_empty() && self.reading.is_none() && self.replay.is_empty() && !self.replay_unfinished {
            return None;
        }
        // Segments before the one being read are read whole; all of them once nothing is left to read.
        let through = match (&self.reading, self.replay.front()) {
            (Some((id, _)), _) => *id,
            (None, Some(next)) => *next,
            (None, None) => {
                // The last replay batch (empty when the previous one ended exactly at the end): once it is
                // stored, the previous run's segments are deleted.
                self.replay_unfinished = false;
                self.first_live
            }
        };
        Some(Batch { events, journal_through: Some(through), ..Default::default() })
    }

    /// After a batch is stored: deletes the segments it completed.
    pub(crate) fn stored_through(&mut self, through: u64) {
        self.delete_below(through);
    }

    fn delete_below(&mut self, through: u64) {
        if through <= self.deleted_below {
            return;
        }
        let ids = match segments(&self.dir) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "journal: cannot list segments to delete");
                return;
            }
        };
        for id in ids.into_iter().filter(|&id| id >= self.deleted_below && id < through) {
            if let Err(e) = std::fs::remove_file(segment_path(&self.dir, id)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(segment = id, error = %e, "journal: cannot delete a stored segment");
                    return;
                }
            }
        }
        self.deleted_below = through;
    }
}

enum Record {
    Event(Box<EnrichedEvent>),
    Undecodable(serde_json::Error),
    End,
    Torn(String),
}

fn read_record(r: &mut impl Read) -> Record {
    let mut head = [0u8; 8];
    match read_full(r, &mut head) {
        Ok(0) => return Record::End,
        Ok(8) => {}
        Ok(n) => return Record::Torn(format!("{n} bytes of a record header")),
        Err(e) => return Record::Torn(e.to_string()),
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_RECORD {
        return Record::Torn(format!("a record length of {len}"));
    }
    let mut payload = vec![0u8; len as usize];
    match read_full(r, &mut payload) {
        Ok(n) if n == payload.len() => {}
        Ok(n) => return Record::Torn(format!("{n} of {len} bytes of a record")),
        Err(e) => return Record::Torn(e.to_string()),
    }
    if crc32fast::hash(&payload) != crc {
        return Record::Torn("a record that fails its checksum".into());
    }
    match serde_json::from_slice(&payload) {
        Ok(e) => Record::Event(Box::new(e)),
        Err(e) => Record::Undecodable(e),
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> EnrichedEvent {
        EnrichedEvent { event_id: id.into(), ..Default::default() }
    }

    fn ids(b: &Batch) -> Vec<&str> {
        b.events.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_second_process_is_refused_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (p, s) = open(dir.path(), 100, SyncMode::Fsync).unwrap();
        p.publish_all(vec![ev("a")]).await.unwrap();
        assert!(matches!(open(dir.path(), 100, SyncMode::Fsync), Err(JournalError::Locked(_))));
        drop((p, s));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_restart_replays_first_then_deletes_what_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        // A previous run's segment: two whole records and a torn one.
        let mut buf = Vec::new();
        for id in ["x", "y"] {
            frame(&mut buf, &serde_json::to_vec(&ev(id)).unwrap());
        }
        buf.extend_from_slice(&[50, 0, 0, 0, 9, 9, 9, 9, 1]);
        std::fs::write(segment_path(dir.path(), 7), &buf).unwrap();
        let (p, mut s) = open(dir.path(), 100, SyncMode::Write).unwrap();
        p.publish_all(vec![ev("new")]).await.unwrap();
        let replayed = s.next_batch(10, Duration::from_millis(10)).await.unwrap();
        assert_eq!(ids(&replayed), ["x", "y"], "the previous run's events come first, the torn record is dropped");
        s.ack(replayed).await.unwrap();
        assert!(!segment_path(dir.path(), 7).exists(), "a replayed segment is deleted once stored");
        let live = s.next_batch(10, Duration::from_millis(10)).await.unwrap();
        assert_eq!(ids(&live), ["new"]);
        assert!(segment_path(dir.path(), 8).exists(), "this run writes the next segment");
        s.ack(live).await.unwrap();
        s.close();
        assert!(s.next_batch(10, Duration::from_millis(10)).await.is_none());
        assert!(!segment_path(dir.path(), 8).exists(), "drained: nothing is left in the journal");
        assert_eq!(p.publish_all(vec![ev("late")]).await, Err(PublishError::Closed));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_replay_that_fills_its_last_batch_exactly_still_deletes_the_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        for id in ["x", "y"] {
            frame(&mut buf, &serde_json::to_vec(&ev(id)).unwrap());
        }
        std::fs::write(segment_path(dir.path(), 3), &buf).unwrap();
        let (_p, mut s) = open(dir.path(), 100, SyncMode::Fsync).unwrap();
        let full = s.next_batch(2, Duration::from_millis(10)).await.unwrap();
        assert_eq!(ids(&full), ["x", "y"]);
        s.ack(full).await.unwrap();
        assert!(segment_path(dir.path(), 3).exists(), "not known to be read whole yet");
        let last = s.next_batch(2, Duration::from_millis(10)).await.unwrap();
        assert!(last.events.is_empty());
        s.ack(last).await.unwrap();
        assert!(!segment_path(dir.path(), 3).exists(), "deleted once the replay is stored");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_request_is_taken_whole_or_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (p, mut s) = open(dir.path(), 3, SyncMode::Fsync).unwrap();
        p.publish_all(vec![ev("a"), ev("b")]).await.unwrap();
        assert_eq!(p.publish_all(vec![ev("c"), ev("d")]).await, Err(PublishError::Full));
        assert_eq!(p.depth(), 2);
        p.publish_all(vec![ev("c")]).await.unwrap();
        let b = s.next_batch(10, Duration::from_millis(10)).await.unwrap();
        assert_eq!(ids(&b), ["a", "b", "c"]);
        assert_eq!(p.depth(), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn many_requests_share_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (p, mut s) = open(dir.path(), 100_000, SyncMode::Fsync).unwrap();
        let tasks: Vec<_> = (0..2000)
            .map(|i| {
                let p = p.clone();
                tokio::spawn(async move { p.publish_all(vec![ev(&i.to_string())]).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let mut n = 0;
        while n < 2000 {
            n += s.next_batch(10_000, Duration::from_millis(10)).await.unwrap().events.len();
        }
        let Publisher::Journal(j) = &p else { unreachable!() };
        let commits = j.stats().commits();
        assert!(commits < 2000, "{commits} flushes for 2000 requests: each request flushed alone");
    }

    use crate::Publisher;
}
