//! The file behind the embedded PMO store ([`super::memory::MemoryStore::open`]): an
//! append-only journal of JSON lines, one line per committed change.
//!
//! - The first line is [`HEADER`]; every other line is one record. A change is acknowledged
//!   only once its whole line (and its newline) has been flushed to the disk (`fdatasync`), so
//!   what a crash can leave behind is at most one torn last line, which was never acknowledged:
//!   [`replay`] ignores it and says so in a log line. A bad line followed by good ones is
//!   corruption, not a crash: the file is refused.
//! - Concurrent writers share flushes (group commit): a record is written under the store's
//!   lock, then its writer waits until a flush covers it; one `fdatasync` covers every record
//!   written before it started. Records are written in commit order, so a flushed record
//!   implies every earlier one is on disk too.
//! - Opening replays the journal and compacts it: the working set is written as a fresh
//!   journal next to it (`<file>.compact`), flushed, and renamed over it (atomic), so the file
//!   stays proportional to the data, not to its history. A long-running process compacts again
//!   when the journal has grown well past its last snapshot.
//! - One process at a time: `<file>.lock` is locked (advisory, `flock`) while the journal is
//!   open, so `erp-os seed` cannot write under a running `erp-os all`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The first line of every journal: what the file is, and its format version.
pub const HEADER: &str = r#"{"erp_pmo_journal":1}"#;

/// When a running journal is compacted again.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// Never below this many bytes of journal.
    pub min_bytes: u64,
    /// And only once the journal is this many times its last snapshot.
    pub growth_factor: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            min_bytes: 64 * 1024 * 1024,
            growth_factor: 4,
        }
    }
}

/// What [`replay`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records replayed.
    pub records: u64,
    /// The bytes of an unreadable last line (a write torn by a crash), ignored.
    pub torn_bytes: u64,
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {message}", path.display()),
    )
}

/// Reads the journal at `path` and hands each record to `apply`, in order. A missing or empty
/// file has no records. A torn last line is skipped (reported in the answer and a log line);
/// any other unreadable line, or a file that does not start with [`HEADER`], is an error.
pub fn replay<T: DeserializeOwned>(
    path: &Path,
    mut apply: impl FnMut(T),
) -> io::Result<ReplayReport> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(ReplayReport::default()),
        Err(err) => return Err(err),
    };
    let mut reader = BufReader::new(file);
    let mut report = ReplayReport::default();
    let mut line = Vec::new();
    // A line that did not parse: fatal unless it turns out to be the last one.
    let mut unreadable: Option<(u64, usize, String)> = None;
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        number += 1;
        if let Some((bad, _, err)) = &unreadable {
            return Err(invalid(
                path,
                format!(
                    "line {bad} is unreadable ({err}) and is not the last one: the file is corrupt"
                ),
            ));
        }
        let complete = line.last() == Some(&b'\n');
        let text = if complete {
            &line[..line.len() - 1]
        } else {
            &line[..]
        };
        if number == 1 {
            if complete && text == HEADER.as_bytes() {
                continue;
            }
            return Err(invalid(
                path,
                format!("not an erp-os PMO journal (the first line is not {HEADER})"),
            ));
        }
        if !complete {
            // Never acknowledged: acknowledgement waits for the newline to be on disk.
            unreadable = Some((number, read, "no end of line".into()));
            continue;
        }
        match serde_json::from_slice::<T>(text) {
            Ok(record) => {
                apply(record);
                report.records += 1;
            }
            Err(err) => unreadable = Some((number, read, err.to_string())),
        }
    }
    if let Some((number, bytes, err)) = unreadable {
        report.torn_bytes = bytes as u64;
        tracing::warn!(
            journal = %path.display(),
            line = number,
            bytes,
            error = %err,
            "the PMO journal ends with a torn line (a write cut short by a crash, never acknowledged): ignored"
        );
    }
    Ok(report)
}

/// Flushes shared by concurrent writers.
struct Syncer {
    /// Records written to the file so far (the sequence number of the last one).
    written: AtomicU64,
    /// Records known to be on disk.
    synced: AtomicU64,
    /// The file to flush (swapped by a compaction); held during a flush.
    file: Mutex<File>,
    /// Set when a write or flush failed: what is on disk is unknown, so no more writes.
    broken: Mutex<Option<String>>,
}

impl Syncer {
    fn broken(&self) -> Option<String> {
        self.broken.lock().clone()
    }

    fn break_with(&self, reason: String) {
        tracing::error!(reason = %reason, "the PMO journal is unusable until a restart");
        self.broken.lock().get_or_insert(reason);
    }

    /// Returns once record `seq` is on disk.
    fn sync_to(&self, seq: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let file = self.file.lock();
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        if let Some(reason) = self.broken() {
            return Err(io::Error::other(reason));
        }
        // Every record counted here was completely written before it was counted.
        let target = self.written.load(Ordering::Acquire);
        match file.sync_data() {
            Ok(()) => {
                self.synced.fetch_max(target, Ordering::AcqRel);
                Ok(())
            }
            Err(err) => {
                self.break_with(format!("flushing the PMO journal failed: {err}"));
                Err(err)
            }
        }
    }
}

/// What a writer waits on after [`Journal::append`]: its record reaching the disk.
#[derive(Clone)]
pub struct Ticket {
    syncer: Arc<Syncer>,
    seq: u64,
}

impl Ticket {
    /// Waits (on a blocking thread) until the record is on disk.
    pub async fn durable(self) -> io::Result<()> {
        let Ticket { syncer, seq } = self;
        tokio::task::spawn_blocking(move || syncer.sync_to(seq))
            .await
            .map_err(io::Error::other)?
    }
}

/// A locked, replayed journal, not yet open for writing.
pub struct Replayed {
    path: PathBuf,
    lock: File,
    policy: CompactionPolicy,
}

impl Replayed {
    /// Replaces the journal with `records` (the state the replay built) and opens it for
    /// appending.
    pub fn compact<T: Serialize>(self, records: impl Iterator<Item = T>) -> io::Result<Journal> {
        let (temp, bytes) = write_snapshot(&self.path, records)?;
        let file = install(&temp, &self.path)?;
        let syncer = Arc::new(Syncer {
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            file: Mutex::new(file.try_clone()?),
            broken: Mutex::new(None),
        });
        Ok(Journal {
            path: self.path,
            _lock: self.lock,
            file,
            syncer,
            bytes,
            snapshot_bytes: bytes,
            policy: self.policy,
        })
    }
}

/// An open journal: the lock, the file appended to, and its flusher.
pub struct Journal {
    path: PathBuf,
    _lock: File,
    file: File,
    syncer: Arc<Syncer>,
    /// The file's length.
    bytes: u64,
    /// Its length right after the last compaction.
    snapshot_bytes: u64,
    policy: CompactionPolicy,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Locks the journal at `path` for this process (its `<path>.lock` file).
fn lock(path: &Path) -> io::Result<File> {
    let lock_path = sibling(path, ".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{} is in use by another process (is `erp-os all` running on this state directory?)",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(err)) => Err(err),
    }
}

/// Writes a complete journal of `records` next to `path` (`<path>.compact`) and flushes it;
/// returns the file and its length. [`install`] then puts it in place.
fn write_snapshot<T: Serialize>(
    path: &Path,
    records: impl Iterator<Item = T>,
) -> io::Result<(PathBuf, u64)> {
    let temp = sibling(path, ".compact");
    let written = (|| {
        let mut out = BufWriter::new(File::create(&temp)?);
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        let mut bytes = HEADER.len() as u64 + 1;
        for record in records {
            let line = line_of(&record)?;
            out.write_all(&line)?;
            bytes += line.len() as u64;
        }
        let file = out.into_inner().map_err(|err| err.into_error())?;
        file.sync_all()?;
        Ok(bytes)
    })();
    match written {
        Ok(bytes) => Ok((temp, bytes)),
        Err(err) => {
            let _ = std::fs::remove_file(&temp);
            Err(err)
        }
    }
}

/// Renames a snapshot over the journal (atomic) and flushes the directory, then opens it for
/// appending.
fn install(temp: &Path, path: &Path) -> io::Result<File> {
    std::fs::rename(temp, path)?;
    sync_dir(path)?;
    open_append(path)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

fn line_of<T: Serialize>(record: &T) -> io::Result<Vec<u8>> {
    // JSON escapes newlines inside strings: one record is exactly one line.
    let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

impl Journal {
    /// Opens the journal at `path` (creating it and its directory if needed): locks it and
    /// replays it into `apply`. [`Replayed::compact`] then rewrites it from the state the
    /// replay built and opens it for writing.
    pub fn replay<T: DeserializeOwned>(
        path: &Path,
        policy: CompactionPolicy,
        apply: impl FnMut(T),
    ) -> io::Result<(Replayed, ReplayReport)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let lock = lock(path)?;
        let report = replay(path, apply)?;
        Ok((
            Replayed {
                path: path.to_owned(),
                lock,
                policy,
            },
            report,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the journal takes no more writes, if it does not.
    pub fn broken(&self) -> Option<String> {
        self.syncer.broken()
    }

    /// Appends one record (the caller holds the store's lock, so records are in commit
    /// order). The record is written but not yet on disk: wait on the ticket before
    /// acknowledging it. On an error nothing of it stays in the file.
    pub fn append<T: Serialize>(&mut self, record: &T) -> io::Result<Ticket> {
        if let Some(reason) = self.syncer.broken() {
            return Err(io::Error::other(reason));
        }
        let line = line_of(record)?;
        if let Err(err) = self.file.write_all(&line) {
            // Cut the partial line off, or the next record would be glued to it.
            if let Err(cut) = self.file.set_len(self.bytes) {
                self.syncer.break_with(format!(
                    "writing the PMO journal failed ({err}) and the partial record could not be removed ({cut})"
                ));
            }
            return Err(err);
        }
        self.bytes += line.len() as u64;
        let seq = self.syncer.written.fetch_add(1, Ordering::AcqRel) + 1;
        Ok(Ticket {
            syncer: self.syncer.clone(),
            seq,
        })
    }

    /// Whether the journal has grown enough since its last snapshot to be compacted.
    pub fn compaction_due(&self) -> bool {
        self.bytes >= self.policy.min_bytes
            && self.bytes
                >= self
                    .snapshot_bytes
                    .saturating_mul(self.policy.growth_factor)
    }

    /// Replaces the journal with `records` (the caller holds the store's lock, and `records`
    /// is its whole state, so every record written so far is in the snapshot and on disk once
    /// this returns).
    pub fn compact<T: Serialize>(&mut self, records: impl Iterator<Item = T>) -> io::Result<()> {
        // Until the rename the old journal stays whole: a failure there changes nothing.
        let (temp, bytes) = write_snapshot(&self.path, records)?;
        let installed = install(&temp, &self.path).and_then(|file| {
            let flush_handle = file.try_clone()?;
            Ok((file, flush_handle))
        });
        let (file, flush_handle) = match installed {
            Ok(files) => files,
            Err(err) => {
                // The old journal may be replaced already: appending to it would lose records.
                self.syncer.break_with(format!(
                    "installing the compacted PMO journal failed: {err}"
                ));
                return Err(err);
            }
        };
        let mut flushed = self.syncer.file.lock();
        *flushed = flush_handle;
        self.file = file;
        self.bytes = bytes;
        self.snapshot_bytes = bytes;
        self.syncer.synced.fetch_max(
            self.syncer.written.load(Ordering::Acquire),
            Ordering::AcqRel,
        );
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A journal path in its own temporary directory, removed when dropped.
    pub(crate) struct TempJournal(PathBuf);

    impl std::ops::Deref for TempJournal {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl AsRef<Path> for TempJournal {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempJournal {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    pub(crate) fn temp_journal() -> TempJournal {
        let dir = std::env::temp_dir().join(format!("erp-pmo-journal-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        TempJournal(dir.join("pmo.journal"))
    }

    type Record = (u32, String);

    fn record(n: u32) -> Record {
        (n, format!("record {n}\nwith a newline inside"))
    }

    /// Opens `path`, replaying into a list that the compaction then writes back whole.
    fn open(path: &Path, policy: CompactionPolicy) -> (Journal, Vec<Record>, ReplayReport) {
        let mut records = Vec::new();
        let (replayed, report) =
            Journal::replay(path, policy, |r: Record| records.push(r)).unwrap();
        let journal = replayed.compact(records.iter().cloned()).unwrap();
        (journal, records, report)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn append_raw(path: &Path, bytes: &[u8]) {
        let mut file = OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(bytes).unwrap();
    }

    #[tokio::test]
    async fn records_come_back_in_order_after_a_reopen() {
        let path = temp_journal();
        let (mut journal, records, report) = open(&path, CompactionPolicy::default());
        assert!(records.is_empty());
        assert_eq!(report, ReplayReport::default());
        assert_eq!(lines(&path), [HEADER]);
        for n in 1..=3 {
            journal.append(&record(n)).unwrap().durable().await.unwrap();
        }
        drop(journal);

        let (_journal, records, report) = open(&path, CompactionPolicy::default());
        assert_eq!(records, [record(1), record(2), record(3)]);
        assert_eq!(
            report,
            ReplayReport {
                records: 3,
                torn_bytes: 0
            }
        );
        // One record is one line, whatever its strings hold.
        assert_eq!(lines(&path).len(), 4);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_and_compacted_away() {
        let path = temp_journal();
        let (mut journal, _, _) = open(&path, CompactionPolicy::default());
        journal.append(&record(1)).unwrap().durable().await.unwrap();
        drop(journal);
        // A crash in the middle of the second record's write.
        let torn = &serde_json::to_vec(&record(2)).unwrap()[..9];
        append_raw(&path, torn);

        let (journal, records, report) = open(&path, CompactionPolicy::default());
        assert_eq!(records, [record(1)]);
        assert_eq!(
            report,
            ReplayReport {
                records: 1,
                torn_bytes: 9
            }
        );
        drop(journal);
        // The compaction dropped the torn bytes: the file is whole again.
        let (_journal, records, report) = open(&path, CompactionPolicy::default());
        assert_eq!(records, [record(1)]);
        assert_eq!(report.torn_bytes, 0);
        assert_eq!(
            lines(&path),
            [
                HEADER.to_owned(),
                serde_json::to_string(&record(1)).unwrap()
            ]
        );
    }

    #[test]
    fn an_unreadable_complete_last_line_is_torn_too() {
        let path = temp_journal();
        std::fs::write(&path, format!("{HEADER}\n[1,\"a\"]\n\0\0\0\0\n")).unwrap();
        let mut records = Vec::new();
        let report = replay(&path, |r: Record| records.push(r)).unwrap();
        assert_eq!(records, [(1, "a".to_owned())]);
        assert_eq!(report.torn_bytes, 5);
    }

    #[test]
    fn a_bad_line_before_good_ones_is_corruption_and_the_file_is_kept() {
        let path = temp_journal();
        let text = format!("{HEADER}\n[1,\"a\"]\n{{not json\n[3,\"c\"]\n");
        std::fs::write(&path, &text).unwrap();
        let err = match Journal::replay(&path, CompactionPolicy::default(), |_: Record| {}) {
            Err(err) => err,
            Ok(_) => panic!("a corrupt journal was accepted"),
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 3"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_and_kept() {
        let path = temp_journal();
        std::fs::write(&path, "[1,\"a\"]\n").unwrap();
        let err = match Journal::replay(&path, CompactionPolicy::default(), |_: Record| {}) {
            Err(err) => err,
            Ok(_) => panic!("a foreign file was accepted"),
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("not an erp-os PMO journal"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1,\"a\"]\n");
    }

    #[test]
    fn one_process_at_a_time() {
        let path = temp_journal();
        let (journal, _, _) = open(&path, CompactionPolicy::default());
        let err = match Journal::replay(&path, CompactionPolicy::default(), |_: Record| {}) {
            Err(err) => err,
            Ok(_) => panic!("a second process opened a locked journal"),
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        drop(journal);
        open(&path, CompactionPolicy::default());
    }

    #[tokio::test]
    async fn compaction_replaces_the_history_with_the_state() {
        let path = temp_journal();
        let policy = CompactionPolicy {
            min_bytes: 200,
            growth_factor: 2,
        };
        let (mut journal, _, _) = open(&path, policy);
        // The "state" is the last record: every append supersedes the previous one.
        let mut n = 0;
        while !journal.compaction_due() {
            n += 1;
            journal.append(&record(n)).unwrap();
        }
        assert!(n > 3, "{n}");
        let ticket = journal.append(&record(n + 1)).unwrap();
        journal.compact([record(n + 1)].into_iter()).unwrap();
        assert!(!journal.compaction_due());
        // Everything written before the compaction is on disk with it.
        ticket.durable().await.unwrap();
        assert_eq!(
            lines(&path),
            [
                HEADER.to_owned(),
                serde_json::to_string(&record(n + 1)).unwrap()
            ]
        );
        assert!(!sibling(&path, ".compact").exists());
        // Appends go on into the compacted file.
        journal
            .append(&record(n + 2))
            .unwrap()
            .durable()
            .await
            .unwrap();
        drop(journal);
        let (_journal, records, _) = open(&path, policy);
        assert_eq!(records, [record(n + 1), record(n + 2)]);
    }

    #[tokio::test]
    async fn concurrent_writers_share_flushes_and_all_become_durable() {
        let path = temp_journal();
        let (mut journal, _, _) = open(&path, CompactionPolicy::default());
        let tickets: Vec<Ticket> = (1..=20)
            .map(|n| journal.append(&record(n)).unwrap())
            .collect();
        let flushed = futures::future::join_all(tickets.into_iter().map(Ticket::durable)).await;
        assert!(flushed.iter().all(Result::is_ok));
        assert_eq!(journal.syncer.synced.load(Ordering::Acquire), 20);
        drop(journal);
        let (_journal, records, _) = open(&path, CompactionPolicy::default());
        assert_eq!(records, (1..=20).map(record).collect::<Vec<_>>());
    }
}
