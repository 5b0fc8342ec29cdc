//! The embedded durable queue of `vtrack serve`: a journal on disk in front of the in-process queue.
//!
//! **Why.** An event answered 202 must survive a `kill -9`, an OOM kill or (with [`SyncMode::Fsync`]) a
//! power cut. The in-memory queue alone loses what it holds; the SQLite database itself cannot take the
//! events either without putting ingest behind the batch write's transaction (one writer at a time: a
//! 10,000-event batch would hold every request for its whole duration). A journal of its own is an append to
//! one file, and its flush is shared.
//!
//! **Group commit, pipelined.** Requests encode their events (the request's own task, so on every core) and
//! hand them to the writer thread, which takes everything that arrived meanwhile and appends it in one
//! `write`. A second thread, the flusher, calls `fdatasync` for what was written and only then passes the
//! events on to processing and answers every request of the group. The two overlap: while one group is being
//! flushed the writer collects and writes the next, so a flush never waits for a write and the writer never
//! waits for a flush to start collecting. The pipeline holds at most two groups (one flushing, one written
//! and waiting), so the next group takes everything that arrives while the disk is busy: the busier, the
//! more each flush carries.
//!
//! **A cadence that follows the load.** One `fdatasync` costs tens of microseconds of CPU however little it
//! flushes (measured on the benchmark VM: 65–80 µs), so a flush per request would cost more than the rest of
//! the request. When requests are arriving often enough that more are expected within [`LINGER`], the
//! writer holds a group open for them, up to [`GROUP_EVENTS`] events and never longer than [`LINGER`] after
//! its first request arrived; when they are rare, it writes at once. Idle, a request waits for one write
//! and one flush; busy, the flush rate stays near one per [`LINGER`].
//!
//! **Segments written in place.** `fdatasync` of an append that grows a file also commits the file's new
//! size and blocks (on ext4 a journal commit of its own: milliseconds, and tens of them under load). So
//! segments are prepared ahead by a third thread, off the request path: a segment left over from an earlier
//! stretch of the journal is reused (renamed), else a new one is written full of zeros to [`SEGMENT_BYTES`]
//! and flushed, and the directory is flushed so its name is durable. Appends then overwrite blocks that
//! exist, and a flush writes only data. On a disk with less than [`SPARE_ROOM`] free besides a segment,
//! segments are not pre-filled but grow as written (as before), so a nearly full disk shows as a failing
//! append, not as space the journal holds and the store lacks.
//!
//! **Records.** A segment starts with [`HEADER`]; then records `[length u32 LE][crc32 u32 LE][the event as
//! JSON]`, whose checksum covers the segment's id (from its file name) and the payload. Reading stops at
//! the first record that is short, empty (the zeros of a pre-filled segment) or fails its checksum: the
//! tail of a write that was never acknowledged, zeros, or the records of the segment the file held before
//! it was reused, which were summed with another id. Ids only grow, past those of spares too, so a file
//! never again gets an id its old records were summed with; and a spare gets the header before its new
//! name, so one written before the header existed is never read as records under that name. Segments
//! written before the header existed (no header, checksums of the payload alone) are still read.
//!
//! **Failures.** A failed write is cut off again (`set_len`) before anything else is written, and if even
//! that fails the segment is abandoned for a new one. A failed flush fails its group and the one written
//! behind it; the writer then cuts the segment back to what was flushed and abandons it (after a failed
//! `fdatasync` the kernel may have dropped the pages it could not write, so nothing more is trusted to that
//! file). Either way acknowledged records are never followed by garbage.
//!
//! **Truncation.** The journal is a sequence of segment files (`NNNNNNNNNNNNNNNN.log`); the writer moves to
//! the next one once a group would not fit in [`SEGMENT_BYTES`]. Events reach processing in journal order, so
//! once a batch is stored every segment before that of the batch's last event is fully stored
//! ([`crate::Subscriber::ack`]); it is kept as a spare (`.spare`, at most [`SPARES`]) for a later segment, or
//! deleted.
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
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use vtrack_model::EnrichedEvent;

/// A segment is pre-filled to this size; the writer moves to the next one when a group would not fit.
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// The first bytes of a segment. As a little-endian length it is past [`MAX_RECORD`], so a reader tells it
/// from the first record of a segment written before it existed.
pub const HEADER: [u8; 8] = *b"VTJRNL02";
/// Free space a pre-filled segment must leave on the disk; below it segments grow as written.
pub const SPARE_ROOM: u64 = 4 * SEGMENT_BYTES;
/// Stored segments kept for reuse instead of deleted.
pub const SPARES: usize = 2;
/// The most one group commit writes at once.
const GROUP_BYTES: usize = 8 << 20;
/// A group held open for more requests is written once it has this many events…
pub const GROUP_EVENTS: usize = 64;
/// …or once its first request has waited this long.
pub const LINGER: Duration = Duration::from_millis(1);
/// How often a failing journal tries a real write again, with no request to try it.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often [`SyncMode::Write`] flushes what it wrote.
const WRITE_FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes a probe writes: enough to need new blocks on a full filesystem.
const PROBE_BYTES: usize = 64 << 10;
/// A record longer than this is not a record (a torn or foreign length).
const MAX_RECORD: u32 = 16 << 20;
/// Zeros written per call while pre-filling a segment.
const FILL_CHUNK: usize = 1 << 20;

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

/// What the publishers, the writer, the flusher and the subscriber share.
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
    /// Segments kept for reuse now.
    spares: AtomicUsize,
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

    fn failing(&self) -> bool {
        self.problem.lock().map(|p| p.is_some()).unwrap_or(false)
    }
}

/// One request's events, encoded, waiting for the writer.
struct Append {
    frames: Vec<u8>,
    events: Vec<EnrichedEvent>,
    done: oneshot::Sender<Result<(), PublishError>>,
    /// When the request handed it over: a group is held open for at most [`LINGER`] after its first.
    at: Instant,
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
    let spare_ids = spares(dir).map_err(io)?;
    // New ids start past every file's, spares included: a reused file may still hold records sealed with
    // its earlier ids, and none of them may ever be the id it is given.
    let last_old = old.last().copied().unwrap_or(0).max(spare_ids.last().copied().unwrap_or(0));
    let lock = Arc::new(lock);
    let shared = Arc::new(Shared {
        depth: AtomicUsize::new(0),
        capacity: capacity.max(1),
        problem: Mutex::new(None),
        current: AtomicU64::new(last_old),
        commits: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        spares: AtomicUsize::new(spare_ids.len()),
    });
    let (to_writer, appends) = std_mpsc::channel();
    let (to_processing, from_writer) = mpsc::unbounded_channel();
    let (ask, asked) = std_mpsc::channel();
    let (ready_tx, ready) = std_mpsc::sync_channel(1);
    let preparer = Preparer { dir: dir.to_path_buf(), next: last_old + 1, shared: shared.clone(), _lock: lock.clone() };
    std::thread::Builder::new()
        .name("vtrack-journal-prep".into())
        .spawn(move || preparer.run(&asked, &ready_tx))
        .map_err(io)?;
    let pipe = Arc::new(Pipe::default());
    let writer = Writer {
        dir: dir.to_path_buf(),
        sync,
        segment: None,
        ask,
        ready,
        unflushed: false,
        shared: shared.clone(),
        to_processing: to_processing.clone(),
        pipe: pipe.clone(),
        flushed: Arc::new(Mutex::new((0, 0))),
        poisoned: Arc::new(AtomicU64::new(0)),
        rate: 0.0,
        last_group: Instant::now(),
        _lock: lock,
    };
    if sync == SyncMode::Fsync {
        let flusher = Flusher {
            pipe,
            shared: shared.clone(),
            to_processing,
            flushed: writer.flushed.clone(),
            poisoned: writer.poisoned.clone(),
            dir: dir.to_path_buf(),
        };
        std::thread::Builder::new().name("vtrack-journal-sync".into()).spawn(move || flusher.run()).map_err(io)?;
    }
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
    ids_with(dir, ".log")
}

/// The ids of the spare segments in `dir`.
fn spares(dir: &Path) -> std::io::Result<Vec<u64>> {
    ids_with(dir, ".spare")
}

fn ids_with(dir: &Path, suffix: &str) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(suffix).and_then(|n| n.parse::<u64>().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.log"))
}

fn spare_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.spare"))
}

/// Bytes free to an unprivileged writer on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The checksum of a record of segment `segment`: its id, then the payload.
fn checksum(segment: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&segment.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one record to `out` with its checksum left at zero: the writer fills it in for the segment the
/// record goes to ([`seal`]).
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
}

/// Fills in the checksum of each record of `frames` (as [`frame`] made them) for segment `segment`.
fn seal(frames: &mut [u8], segment: u64) {
    let mut at = 0;
    while at + 8 <= frames.len() {
        let len = u32::from_le_bytes([frames[at], frames[at + 1], frames[at + 2], frames[at + 3]]) as usize;
        let end = (at + 8 + len).min(frames.len());
        let crc = checksum(segment, &frames[at + 8..end]);
        frames[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
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
        if self.to_writer.send(Append { frames, events, done, at: Instant::now() }).is_err() {
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

/// A segment ready for appends.
struct Segment {
    id: u64,
    file: Arc<File>,
    /// Bytes of the header and of whole records.
    len: u64,
    /// Bytes that exist on disk (pre-filled or reused): appends below this overwrite in place. 0 for a
    /// segment that grows as written.
    filled: u64,
}

/// The thread that prepares the next segment while the writer fills the current one.
struct Preparer {
    dir: PathBuf,
    /// The id of the next segment to prepare.
    next: u64,
    shared: Arc<Shared>,
    /// The journal's lock, held until this thread ends too: a new process must not find it half-way
    /// through preparing a segment.
    _lock: Arc<File>,
}

impl Preparer {
    /// Prepares a segment, hands it over (one waits in `ready`), and prepares the next once asked.
    fn run(mut self, asked: &std_mpsc::Receiver<()>, ready: &std_mpsc::SyncSender<std::io::Result<Segment>>) {
        loop {
            let prepared = self.prepare();
            if prepared.is_ok() {
                self.next += 1;
            }
            if ready.send(prepared).is_err() || asked.recv().is_err() {
                return;
            }
        }
    }

    /// The next segment: a spare renamed, else a new file pre-filled with zeros (or left to grow, on a
    /// nearly full disk); its header written, its name made durable.
    fn prepare(&mut self) -> std::io::Result<Segment> {
        let id = self.next;
        let path = segment_path(&self.dir, id);
        let reused = match spares(&self.dir)?.first() {
            Some(&spare) => {
                // The header goes in (and is flushed) before the file takes its new name: a spare written
                // before the header existed would otherwise, under the new name, be read as records of a
                // segment (its checksums are of the payload alone) until the header is there.
                let from = spare_path(&self.dir, spare);
                let file = OpenOptions::new().write(true).open(&from)?;
                file.write_all_at(&HEADER, 0)?;
                file.sync_data()?;
                std::fs::rename(&from, &path)?;
                self.shared.spares.fetch_sub(1, Ordering::AcqRel);
                Some(file)
            }
            None => None,
        };
        let is_reused = reused.is_some();
        let file = match reused {
            Some(file) => file,
            None => OpenOptions::new().write(true).create_new(true).open(&path)?,
        };
        let mut filled = if is_reused { file.metadata()?.len() } else { 0 };
        let result = (|| {
            file.write_all_at(&HEADER, 0)?;
            if !is_reused && free_bytes(&self.dir)? >= SEGMENT_BYTES + SPARE_ROOM {
                filled = fill(&file)?;
            }
            file.sync_all()?;
            File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Segment { id, file: Arc::new(file), len: HEADER.len() as u64, filled })
    }
}

/// Writes zeros after the header up to [`SEGMENT_BYTES`]; returns the bytes that then exist. A disk that
/// fills meanwhile leaves a segment that grows as written.
fn fill(file: &File) -> std::io::Result<u64> {
    let zeros = vec![0u8; FILL_CHUNK];
    let mut at = HEADER.len() as u64;
    while at < SEGMENT_BYTES {
        let n = (SEGMENT_BYTES - at).min(FILL_CHUNK as u64) as usize;
        if let Err(e) = file.write_all_at(&zeros[..n], at) {
            tracing::info!(error = %e, "journal: cannot pre-fill a segment; it grows as written");
            file.set_len(HEADER.len() as u64)?;
            return Ok(0);
        }
        at += n as u64;
    }
    Ok(SEGMENT_BYTES)
}

/// The appends of one group commit, as the writer gathers them.
#[derive(Default)]
struct Group {
    appends: Vec<Append>,
    bytes: usize,
    events: usize,
}

impl Group {
    fn add(&mut self, a: Append) {
        self.bytes += a.frames.len();
        self.events += a.events.len();
        self.appends.push(a);
    }
}

/// A group written to its segment, on its way to be flushed and answered.
struct Written {
    segment: u64,
    file: Arc<File>,
    /// Where the group ends in the segment.
    end: u64,
    groups: Vec<Append>,
}

/// Between the writer and the flusher: at most one written group waits while another is flushed.
#[derive(Default)]
struct Pipe {
    slot: Mutex<PipeSlot>,
    moved: Condvar,
}

#[derive(Default)]
struct PipeSlot {
    next: Option<Written>,
    closed: bool,
}

impl Pipe {
    /// Waits until the flusher has taken the last group handed to it.
    fn wait_for_room(&self) {
        let Ok(mut slot) = self.slot.lock() else { return };
        while slot.next.is_some() {
            slot = match self.moved.wait(slot) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
    }

    fn put(&self, w: Written) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.next = Some(w);
            self.moved.notify_all();
        }
    }

    /// The next written group; `None` once the writer is gone and nothing is left.
    fn take(&self) -> Option<Written> {
        let mut slot = self.slot.lock().ok()?;
        loop {
            if let Some(w) = slot.next.take() {
                self.moved.notify_all();
                return Some(w);
            }
            if slot.closed {
                return None;
            }
            slot = self.moved.wait(slot).ok()?;
        }
    }

    fn close(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.closed = true;
            self.moved.notify_all();
        }
    }
}

/// Passes a committed group on to processing, in journal order, and answers its requests.
fn hand_on(
    shared: &Shared,
    to_processing: &mpsc::UnboundedSender<(u64, EnrichedEvent)>,
    segment: u64,
    group: Vec<Append>,
) {
    for a in group {
        let n = a.events.len();
        let mut sent = 0;
        for e in a.events {
            if to_processing.send((segment, e)).is_err() {
                break;
            }
            sent += 1;
        }
        if sent < n {
            // Processing has closed the queue (shutdown): the request is refused, and a replay of the
            // journal stores what it holds; the client's retry is de-duplicated by event id.
            shared.release(n - sent);
            let _ = a.done.send(Err(PublishError::Closed));
        } else {
            let _ = a.done.send(Ok(()));
        }
    }
}

/// Answers every request of `group` with 503: nothing of it was taken.
fn refuse(shared: &Shared, group: Vec<Append>) {
    for a in group {
        shared.release(a.events.len());
        let _ = a.done.send(Err(PublishError::Unavailable));
    }
}

/// The flusher thread ([`SyncMode::Fsync`]): `fdatasync` for each written group, then the hand-on.
struct Flusher {
    pipe: Arc<Pipe>,
    shared: Arc<Shared>,
    to_processing: mpsc::UnboundedSender<(u64, EnrichedEvent)>,
    /// The segment and the end of its last flushed group.
    flushed: Arc<Mutex<(u64, u64)>>,
    /// A segment whose flush failed (0: none): its later groups fail too, and the writer leaves it.
    poisoned: Arc<AtomicU64>,
    dir: PathBuf,
}

impl Flusher {
    fn run(self) {
        while let Some(w) = self.pipe.take() {
            if self.poisoned.load(Ordering::Acquire) == w.segment {
                self.shared.failures.fetch_add(1, Ordering::Relaxed);
                refuse(&self.shared, w.groups);
                continue;
            }
            match w.file.sync_data() {
                Ok(()) => {
                    if let Ok(mut f) = self.flushed.lock() {
                        *f = (w.segment, w.end);
                    }
                    self.shared.commits.fetch_add(1, Ordering::Relaxed);
                    if self.shared.failing() {
                        tracing::info!("journal: appends succeed again");
                        self.shared.set_problem(None);
                    }
                    hand_on(&self.shared, &self.to_processing, w.segment, w.groups);
                }
                Err(e) => {
                    // Set before the slot frees, so the writer sees it before it writes again.
                    self.poisoned.store(w.segment, Ordering::Release);
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, segment = w.segment, "journal: flush failed; answering 503 until one succeeds");
                    self.shared.set_problem(Some(format!("cannot flush the journal in {}: {e}", self.dir.display())));
                    refuse(&self.shared, w.groups);
                }
            }
        }
    }
}

/// The writer thread: group commits, segment rotation, probing while the disk fails.
struct Writer {
    dir: PathBuf,
    sync: SyncMode,
    /// `None` before the first append, and after a segment was abandoned.
    segment: Option<Segment>,
    /// Asks the preparer for the segment after the one taken from `ready`.
    ask: std_mpsc::Sender<()>,
    ready: std_mpsc::Receiver<std::io::Result<Segment>>,
    /// [`SyncMode::Write`]: whether something was written since the last flush.
    unflushed: bool,
    shared: Arc<Shared>,
    /// [`SyncMode::Write`] hands on here; [`SyncMode::Fsync`] leaves it to the flusher.
    to_processing: mpsc::UnboundedSender<(u64, EnrichedEvent)>,
    pipe: Arc<Pipe>,
    flushed: Arc<Mutex<(u64, u64)>>,
    poisoned: Arc<AtomicU64>,
    /// Events per second handed in, smoothed: whether holding a group open is worth it.
    rate: f64,
    last_group: Instant,
    /// Held for the process's life: one process per journal.
    _lock: Arc<File>,
}

impl Writer {
    fn run(mut self, appends: std_mpsc::Receiver<Append>) {
        let mut last_flush = Instant::now();
        loop {
            let failing = self.shared.failing();
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
            if self.sync == SyncMode::Fsync {
                // At most one written group waits for the flusher; what arrives meanwhile joins the next.
                self.pipe.wait_for_room();
                self.leave_poisoned();
            }
            let group = self.gather(first, &appends);
            match self.append(&group) {
                Ok(end) => {
                    let Some(seg) = self.segment.as_ref() else { continue };
                    let (id, file) = (seg.id, seg.file.clone());
                    match self.sync {
                        SyncMode::Fsync => self.pipe.put(Written { segment: id, file, end, groups: group }),
                        SyncMode::Write => {
                            self.shared.commits.fetch_add(1, Ordering::Relaxed);
                            if failing {
                                tracing::info!("journal: appends succeed again");
                                self.shared.set_problem(None);
                            }
                            if last_flush.elapsed() >= WRITE_FLUSH_EVERY {
                                self.flush_written();
                                last_flush = Instant::now();
                            }
                            hand_on(&self.shared, &self.to_processing, id, group);
                        }
                    }
                }
                Err(e) => {
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    let problem = format!("cannot write the journal in {}: {e}", self.dir.display());
                    if !failing {
                        tracing::error!(error = %e, dir = %self.dir.display(), "journal: append failed; answering 503 until it succeeds");
                    }
                    self.shared.set_problem(Some(problem));
                    refuse(&self.shared, group);
                }
            }
        }
        self.flush_written();
        self.pipe.close();
    }

    /// The group to write: `first` and whatever else has arrived, held open a little for more when requests
    /// come often enough (see the module doc).
    fn gather(&mut self, first: Append, appends: &std_mpsc::Receiver<Append>) -> Vec<Append> {
        let deadline = first.at + LINGER;
        let mut group = Group::default();
        group.add(first);
        loop {
            while group.bytes < GROUP_BYTES {
                match appends.try_recv() {
                    Ok(a) => group.add(a),
                    Err(_) => break,
                }
            }
            if self.sync != SyncMode::Fsync || group.bytes >= GROUP_BYTES || group.events >= GROUP_EVENTS {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Hold the group open only while another request is expected before the deadline.
            if left.is_zero() || self.rate * left.as_secs_f64() < 1.0 {
                break;
            }
            match appends.recv_timeout(left) {
                Ok(a) => group.add(a),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let secs = now.duration_since(self.last_group).as_secs_f64().max(1e-6);
        self.last_group = now;
        self.rate = 0.8 * self.rate + 0.2 * (group.events as f64 / secs);
        group.appends
    }

    /// After a failed flush: cuts the segment back to what was flushed (best effort) and leaves it.
    fn leave_poisoned(&mut self) {
        let poisoned = self.poisoned.load(Ordering::Acquire);
        let Some(seg) = self.segment.as_ref().filter(|s| s.id == poisoned) else { return };
        let flushed = match self.flushed.lock() {
            Ok(f) if f.0 == seg.id => f.1,
            _ => HEADER.len() as u64,
        };
        if let Err(e) = seg.file.set_len(flushed) {
            tracing::warn!(segment = seg.id, error = %e, "journal: cannot cut off what a failed flush left");
        }
        tracing::warn!(segment = seg.id, "journal: leaving a segment whose flush failed");
        self.segment = None;
    }

    /// Writes the group as one `write`; returns where it ends in the segment. On failure nothing of it stays
    /// in the journal.
    fn append(&mut self, group: &[Append]) -> std::io::Result<u64> {
        let size: usize = group.iter().map(|a| a.frames.len()).sum();
        let full =
            self.segment.as_ref().is_none_or(|s| s.len > HEADER.len() as u64 && s.len + size as u64 > SEGMENT_BYTES);
        if full {
            self.rotate()?;
        }
        let Some(seg) = self.segment.as_mut() else { return Err(std::io::Error::other("no journal segment")) };
        let mut buf = Vec::with_capacity(size);
        for a in group {
            buf.extend_from_slice(&a.frames);
        }
        seal(&mut buf, seg.id);
        match seg.file.write_all_at(&buf, seg.len) {
            Ok(()) => {
                seg.len += buf.len() as u64;
                self.unflushed = self.sync == SyncMode::Write;
                Ok(seg.len)
            }
            Err(e) => {
                self.cut_back();
                Err(e)
            }
        }
    }

    /// Removes whatever a failed write left after the last whole record; abandons the segment if it cannot.
    fn cut_back(&mut self) {
        let ok = self.segment.as_mut().is_some_and(|s| {
            let ok = s.file.set_len(s.len).is_ok();
            // Cut back, the pre-filled part is gone: the segment grows from here on.
            s.filled = 0;
            ok
        });
        if !ok {
            if let Some(s) = &self.segment {
                tracing::warn!(segment = s.id, "journal: cannot cut a failed append off; starting a new segment");
            }
            self.segment = None;
        }
    }

    /// Moves to the next segment, which the preparer made (and whose name it made durable) ahead of time.
    /// A failure it reports may be old (prepared long ago): it is asked once more before the append fails.
    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(s) = self.segment.take() {
            // Its records were flushed as they were acknowledged; in Write mode flush them now.
            if self.unflushed {
                s.file.sync_data()?;
                self.unflushed = false;
            }
        }
        let mut next = self.next_prepared();
        if next.is_err() {
            next = self.next_prepared();
        }
        let seg = next?;
        self.shared.current.store(seg.id, Ordering::Release);
        self.segment = Some(seg);
        Ok(())
    }

    fn next_prepared(&mut self) -> std::io::Result<Segment> {
        let seg = self.ready.recv().map_err(|_| std::io::Error::other("the journal's preparer stopped"))?;
        let _ = self.ask.send(());
        seg
    }

    /// [`SyncMode::Write`]: flushes what was written since the last flush.
    fn flush_written(&mut self) {
        if !self.unflushed {
            return;
        }
        if let Some(s) = &self.segment {
            if let Err(e) = s.file.sync_data() {
                tracing::warn!(error = %e, "journal: flush failed");
                return;
            }
        }
        self.unflushed = false;
    }

    /// While appends fail: tries a real write of [`PROBE_BYTES`] (then cuts it off again), so the journal
    /// notices by itself that space came back.
    fn probe(&mut self) {
        self.leave_poisoned();
        let result = (|| {
            if self.segment.is_none() {
                self.rotate()?;
            }
            let Some(seg) = self.segment.as_ref() else { return Err(std::io::Error::other("no journal segment")) };
            // Zeros where the next record goes: what a pre-filled segment holds there anyway.
            let written = seg.file.write_all_at(&[0u8; PROBE_BYTES], seg.len).and_then(|()| seg.file.sync_data());
            if seg.filled == 0 {
                self.cut_back();
            }
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
    /// The previous run's segment being read, and how its records are summed.
    reading: Option<(u64, BufReader<File>, Format)>,
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
                match File::open(segment_path(&self.dir, id)).and_then(|f| open_segment(f, id)) {
                    Ok((reader, format)) => {
                        tracing::info!(segment = id, "journal: replaying what a previous run accepted");
                        self.reading = Some((id, reader, format));
                    }
                    Err(e) => {
                        tracing::warn!(segment = id, error = %e, "journal: cannot read a segment; skipping it");
                        continue;
                    }
                }
            }
            let Some((id, reader, format)) = self.reading.as_mut() else { continue };
            match read_record(reader, *format) {
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
            (Some((id, _, _)), _) => *id,
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

    /// Deletes (or keeps as spares, see the module doc) every segment below `through`.
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
        // A nearly full disk gets its space back; else a few stored segments are reused, so a new segment
        // costs a rename instead of a pre-fill.
        let mut keep = match free_bytes(&self.dir) {
            Ok(free) if free >= SPARE_ROOM => SPARES.saturating_sub(self.shared.spares.load(Ordering::Acquire)),
            _ => 0,
        };
        for id in ids.into_iter().filter(|&id| id >= self.deleted_below && id < through) {
            let path = segment_path(&self.dir, id);
            if keep > 0 && std::fs::rename(&path, spare_path(&self.dir, id)).is_ok() {
                keep -= 1;
                self.shared.spares.fetch_add(1, Ordering::AcqRel);
                continue;
            }
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(segment = id, error = %e, "journal: cannot delete a stored segment");
                    return;
                }
            }
        }
        self.deleted_below = through;
    }
}

/// How a segment's records are summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Before [`HEADER`]: the checksum of the payload alone; a zero length is a torn record.
    Unsealed,
    /// After [`HEADER`]: the checksum of the segment's id and the payload; a zero length is the end.
    Sealed(u64),
}

/// A segment to read from its first record: after the header, or from the start of one written before it.
fn open_segment(mut f: File, id: u64) -> std::io::Result<(BufReader<File>, Format)> {
    let mut head = [0u8; HEADER.len()];
    let n = read_full(&mut f, &mut head)?;
    if n == HEADER.len() && head == HEADER {
        return Ok((BufReader::new(f), Format::Sealed(id)));
    }
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
    Ok((BufReader::new(f), Format::Unsealed))
}

enum Record {
    Event(Box<EnrichedEvent>),
    Undecodable(serde_json::Error),
    End,
    Torn(String),
}

fn read_record(r: &mut impl Read, format: Format) -> Record {
    let mut head = [0u8; 8];
    match read_full(r, &mut head) {
        Ok(0) => return Record::End,
        Ok(8) => {}
        Ok(n) => return Record::Torn(format!("{n} bytes of a record header")),
        Err(e) => return Record::Torn(e.to_string()),
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 && matches!(format, Format::Sealed(_)) {
        // The zeros of a pre-filled segment past its last record.
        return Record::End;
    }
    if len == 0 || len > MAX_RECORD {
        return Record::Torn(format!("a record length of {len}"));
    }
    let mut payload = vec![0u8; len as usize];
    match read_full(r, &mut payload) {
        Ok(n) if n == payload.len() => {}
        Ok(n) => return Record::Torn(format!("{n} of {len} bytes of a record")),
        Err(e) => return Record::Torn(e.to_string()),
    }
    let expected = match format {
        Format::Unsealed => crc32fast::hash(&payload),
        Format::Sealed(id) => checksum(id, &payload),
    };
    if expected != crc {
        // Torn, or (in a reused segment) a record of the segment the file held before.
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

    /// A record as segments were written before [`HEADER`]: the checksum of the payload alone.
    fn legacy_frame(out: &mut Vec<u8>, payload: &[u8]) {
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
    }

    /// A record of segment `id` as the writer writes it.
    fn sealed_frame(out: &mut Vec<u8>, id: u64, payload: &[u8]) {
        let at = out.len();
        frame(out, payload);
        seal(&mut out[at..], id);
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
        // A previous run's segment, written before segments had a header: two whole records and a torn one.
        let mut buf = Vec::new();
        for id in ["x", "y"] {
            legacy_frame(&mut buf, &serde_json::to_vec(&ev(id)).unwrap());
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
        let mut buf = HEADER.to_vec();
        for id in ["x", "y"] {
            sealed_frame(&mut buf, 3, &serde_json::to_vec(&ev(id)).unwrap());
        }
        buf.resize(64 << 10, 0); // pre-filled: zeros after the last record
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

    #[test]
    fn a_reused_segment_ends_where_its_new_records_end() {
        let dir = tempfile::tempdir().unwrap();
        // Segment 5 reuses the file of segment 2: its own two records, then what segment 2 held.
        let mut buf = HEADER.to_vec();
        sealed_frame(&mut buf, 5, &serde_json::to_vec(&ev("new-1")).unwrap());
        sealed_frame(&mut buf, 5, &serde_json::to_vec(&ev("new-2")).unwrap());
        let mut old = HEADER.to_vec();
        for i in 0..20 {
            sealed_frame(&mut old, 2, &serde_json::to_vec(&ev(&format!("old-{i}"))).unwrap());
        }
        buf.extend_from_slice(&old[buf.len()..]);
        std::fs::write(segment_path(dir.path(), 5), &buf).unwrap();
        let (mut reader, format) = open_segment(File::open(segment_path(dir.path(), 5)).unwrap(), 5).unwrap();
        assert_eq!(format, Format::Sealed(5));
        let mut read = Vec::new();
        while let Record::Event(e) = read_record(&mut reader, format) {
            read.push(e.event_id);
        }
        assert_eq!(read, ["new-1", "new-2"], "the previous segment's records are not this one's");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn segments_are_prepared_reused_and_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(100_000);
        let event = |i: usize| EnrichedEvent { event_id: format!("e{i}"), title: big.clone(), ..Default::default() };
        let (p, mut s) = open(dir.path(), 100_000, SyncMode::Fsync).unwrap();
        // About 40 MB: three segments at least.
        for i in 0..400 {
            p.publish_all(vec![event(i)]).await.unwrap();
        }
        let first = segment_path(dir.path(), 1);
        let len = std::fs::metadata(&first).unwrap().len();
        let free = free_bytes(dir.path()).unwrap();
        if free >= SEGMENT_BYTES + SPARE_ROOM {
            assert_eq!(len, SEGMENT_BYTES, "a segment is pre-filled to its size");
        }
        let mut n = 0;
        while n < 400 {
            let b = s.next_batch(100, Duration::from_millis(10)).await.unwrap();
            n += b.events.len();
            s.ack(b).await.unwrap();
        }
        assert!(!first.exists(), "a stored segment is no longer a segment");
        if free >= SEGMENT_BYTES + SPARE_ROOM {
            assert!(spare_path(dir.path(), 1).exists(), "it is kept for reuse");
            // The next segments reuse spares: their old records must not come back.
            for i in 400..800 {
                p.publish_all(vec![event(i)]).await.unwrap();
            }
            assert!(spares(dir.path()).unwrap().len() <= SPARES);
        }
        // A crash: nothing is drained; a new process replays what is left, each event once, in order.
        drop((p, s));
        // The writer thread lets go of the journal's lock as it ends, just after the publisher is dropped.
        let deadline = Instant::now() + Duration::from_secs(10);
        let (_p, mut s) = loop {
            match open(dir.path(), 100_000, SyncMode::Fsync) {
                Err(JournalError::Locked(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                other => break other.unwrap(),
            }
        };
        let mut replayed = Vec::new();
        let replaying = |s: &crate::Subscriber| matches!(s, crate::Subscriber::Journal(j) if j.replay_unfinished);
        while replaying(&s) {
            let b = s.next_batch(1000, Duration::from_millis(10)).await.unwrap();
            replayed.extend(b.events.iter().map(|e| e.event_id.clone()));
            s.ack(b).await.unwrap();
        }
        let unique: std::collections::HashSet<&String> = replayed.iter().collect();
        assert_eq!(unique.len(), replayed.len(), "an event replayed twice");
        let expect_last = if free >= SEGMENT_BYTES + SPARE_ROOM { "e799" } else { "e399" };
        assert_eq!(replayed.last().map(String::as_str), Some(expect_last), "the last acknowledged event is replayed");
    }

    /// Opens the journal in `dir` again once the threads of a dropped one have let go of its lock.
    fn reopen(dir: &Path) -> (crate::Publisher, crate::Subscriber) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match open(dir, 100_000, SyncMode::Fsync) {
                Err(JournalError::Locked(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                other => break other.unwrap(),
            }
        }
    }

    /// Every event a restart replays, in order.
    async fn replay_all(s: &mut crate::Subscriber) -> Vec<String> {
        let mut replayed = Vec::new();
        let replaying = |s: &crate::Subscriber| matches!(s, crate::Subscriber::Journal(j) if j.replay_unfinished);
        while replaying(s) {
            let b = s.next_batch(1000, Duration::from_millis(10)).await.unwrap();
            replayed.extend(b.events.iter().map(|e| e.event_id.clone()));
            s.ack(b).await.unwrap();
        }
        replayed
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_spare_s_old_records_are_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        // A spare whose file once held segment 1 (its records sealed with id 1), and one written before the
        // header existed; no segment is left. Were ids to start again at 1, the first would come back whole.
        let mut sealed = HEADER.to_vec();
        let mut legacy = Vec::new();
        for i in 0..50 {
            sealed_frame(&mut sealed, 1, &serde_json::to_vec(&ev(&format!("old-{i}"))).unwrap());
            legacy_frame(&mut legacy, &serde_json::to_vec(&ev(&format!("older-{i}"))).unwrap());
        }
        std::fs::write(spare_path(dir.path(), 5), &sealed).unwrap();
        std::fs::write(spare_path(dir.path(), 7), &legacy).unwrap();
        {
            let (p, _s) = open(dir.path(), 100_000, SyncMode::Fsync).unwrap();
            // Two segments are prepared (the one taken and the one after): both spares are reused. The new
            // record is as long as each old one, so the old ones after it line up as records would.
            p.publish_all(vec![ev("new-0")]).await.unwrap();
        }
        let (_p, mut s) = reopen(dir.path());
        assert!(spares(dir.path()).unwrap().is_empty(), "both spares were reused");
        assert_eq!(replay_all(&mut s).await, ["new-0"], "only what this run wrote is replayed");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_segment_written_before_the_header_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut legacy = Vec::new();
        for id in ["a", "b", "c"] {
            legacy_frame(&mut legacy, &serde_json::to_vec(&ev(id)).unwrap());
        }
        std::fs::write(segment_path(dir.path(), 2), &legacy).unwrap();
        let (p, mut s) = open(dir.path(), 100_000, SyncMode::Fsync).unwrap();
        p.publish_all(vec![ev("d")]).await.unwrap();
        let mut got = replay_all(&mut s).await;
        let live = s.next_batch(10, Duration::from_millis(10)).await.unwrap();
        got.extend(live.events.iter().map(|e| e.event_id.clone()));
        assert_eq!(got, ["a", "b", "c", "d"]);
        s.ack(live).await.unwrap();
        assert!(!segment_path(dir.path(), 2).exists(), "the old segment is gone once stored");
    }

    use crate::Publisher;
}
