//! The single writer thread and its group commit.
//!
//! Jobs queue on a channel. The thread takes every job waiting (up to [`MAX_BATCH`]), opens
//! one `BEGIN IMMEDIATE` transaction, runs each job inside its own savepoint — a job that fails
//! rolls back to its savepoint and keeps its error while the others go on — commits once and
//! only then answers every job. A failed commit fails every job of the batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{Result, StoreError};

/// Most jobs committed in one transaction.
pub(super) const MAX_BATCH: usize = 256;

/// A write job, type-erased for the channel.
trait Job: Send {
    /// Runs the work inside the batch transaction; whether it succeeded.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers the caller, given how the batch ended.
    fn finish(self: Box<Self>, batch: std::result::Result<(), String>);
}

struct Typed<T, F> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Transaction<'_>) -> Result<T> + Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, batch: std::result::Result<(), String>) {
        let this = *self;
        let answer = match (batch, this.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Backend("write job panicked".into())),
            // The job refused on its own; that answer stays true.
            (Err(_), Some(Err(e))) if !matches!(e, StoreError::Backend(_)) => Err(e),
            (Err(why), _) => Err(StoreError::Backend(why)),
        };
        // The caller may have gone away; the work is done either way.
        let _ = this.reply.send(answer);
    }
}

/// Handle on the writer thread; dropping it lets the thread finish queued work and waits.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(super) fn start(conn: Connection) -> Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let thread = std::thread::Builder::new()
            .name("mailcore-store-writer".into())
            .spawn(move || writer_loop(conn, &queue, &counter))
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
            commits,
        })
    }

    /// Transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `work` and waits until its batch is durable.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed {
            work: Some(work),
            result: None,
            reply,
        });
        let gone = || StoreError::Backend("the store's writer thread has stopped".into());
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the loop once the queued jobs are done.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer_loop(mut conn: Connection, queue: &mpsc::Receiver<Box<dyn Job>>, commits: &AtomicU64) {
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&mut conn, &mut batch);
        if outcome.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for job in batch {
            job.finish(outcome.clone());
        }
    }
    // Last connection to close: SQLite checkpoints the WAL into the database file.
    let _ = conn.close();
}

/// Runs the jobs in one transaction and commits it.
fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> std::result::Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| format!("sqlite: starting a transaction: {e}"))?;
    for job in batch.iter_mut() {
        tx.execute_batch("SAVEPOINT job")
            .map_err(|e| format!("sqlite: savepoint: {e}"))?;
        let ok = catch_unwind(AssertUnwindSafe(|| job.run(&tx))).unwrap_or(false);
        if tx.is_autocommit() {
            // SQLite rolled the whole transaction back (e.g. disk full): nothing of the
            // batch survives.
            return Err("sqlite: the transaction was rolled back".into());
        }
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        tx.execute_batch(end)
            .map_err(|e| format!("sqlite: {end}: {e}"))?;
    }
    tx.commit().map_err(|e| format!("sqlite: commit: {e}"))
}
