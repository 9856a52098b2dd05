//! Runs the storage conformance suite ([`mailcore_store::conformance`]) against every backend:
//! the embedded store always (a fresh directory under the system temp dir per case), and
//! PostgreSQL when `MAILCORE_TEST_PG` holds a connection URL (a fresh schema per case).
//! When `MAILCORE_TEST_PG` is set, PostgreSQL must be reachable: the test fails otherwise.
//!
//! `MAILCORE_CONFORMANCE_FILTER=substring` runs only the cases whose name contains it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mailcore_store::Backend;
use mailcore_store::conformance::{Factory, Report, run_matching};
use mailcore_store::embedded::Embedded;
use mailcore_store::postgres::Postgres;

/// The address of a store's data, which identifies it across the `dyn Backend` coercion.
fn key(store: &Arc<dyn Backend>) -> usize {
    Arc::as_ptr(store) as *const () as usize
}

fn random() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

async fn run(factory: &dyn Factory, backend: &str) -> Report {
    let filter = std::env::var("MAILCORE_CONFORMANCE_FILTER").unwrap_or_default();
    let report = run_matching(factory, &|name| name.contains(filter.as_str())).await;
    println!("== conformance: {backend} ==\n{report}");
    report
}

// ---------------------------------------------------------------------------------------------
// Embedded

struct EmbeddedFactory {
    next: AtomicU64,
    run: u64,
    dirs: Mutex<HashMap<usize, PathBuf>>,
}

#[async_trait]
impl Factory for EmbeddedFactory {
    async fn create(&self) -> Result<Arc<dyn Backend>, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mailcore-conformance-{}-{:x}-{n}",
            std::process::id(),
            self.run
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Embedded::open(&dir)
            .await
            .map_err(|e| format!("opening {}: {e}", dir.display()))?;
        let store: Arc<dyn Backend> = Arc::new(store);
        self.dirs.lock().unwrap().insert(key(&store), dir);
        Ok(store)
    }

    async fn destroy(&self, store: Arc<dyn Backend>) -> Result<(), String> {
        let dir = self.dirs.lock().unwrap().remove(&key(&store));
        drop(store);
        if let Some(dir) = dir {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("removing {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded() {
    let factory = EmbeddedFactory {
        next: AtomicU64::new(0),
        run: random(),
        dirs: Mutex::new(HashMap::new()),
    };
    let report = run(&factory, "embedded").await;
    assert!(!report.outcomes.is_empty(), "no case selected");
    assert!(
        report.is_success(),
        "embedded backend fails the conformance suite:\n{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

struct PostgresFactory {
    url: String,
    next: AtomicU64,
    run: u64,
    stores: Mutex<HashMap<usize, Arc<Postgres>>>,
}

#[async_trait]
impl Factory for PostgresFactory {
    async fn create(&self) -> Result<Arc<dyn Backend>, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let schema = format!("conformance_{:x}_{n}", self.run & 0xffff_ffff_ffff);
        let pg = Arc::new(
            Postgres::connect_schema(&self.url, &schema)
                .await
                .map_err(|e| format!("connecting to {} (schema {schema}): {e}", self.url))?,
        );
        let store: Arc<dyn Backend> = pg.clone();
        self.stores.lock().unwrap().insert(key(&store), pg);
        Ok(store)
    }

    async fn destroy(&self, store: Arc<dyn Backend>) -> Result<(), String> {
        let pg = self.stores.lock().unwrap().remove(&key(&store));
        drop(store);
        if let Some(pg) = pg {
            pg.drop_schema()
                .await
                .map_err(|e| format!("dropping schema {}: {e}", pg.schema()))?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Ok(url) = std::env::var("MAILCORE_TEST_PG") else {
        println!(
            "PostgreSQL skipped: set MAILCORE_TEST_PG=postgres://user@host:port/db to run the suite on it"
        );
        return;
    };
    let factory = PostgresFactory {
        url,
        next: AtomicU64::new(0),
        run: random(),
        stores: Mutex::new(HashMap::new()),
    };
    // Unreachable is a failure, not a skip: find out once, before running every case.
    match factory.create().await {
        Ok(store) => factory.destroy(store).await.unwrap(),
        Err(e) => panic!("MAILCORE_TEST_PG is set but PostgreSQL is not usable: {e}"),
    }
    let report = run(&factory, "postgres").await;
    assert!(!report.outcomes.is_empty(), "no case selected");
    assert!(
        report.is_success(),
        "PostgreSQL backend fails the conformance suite:\n{report}"
    );
}

#[test]
fn suite_has_enough_distinct_cases() {
    let names = mailcore_store::conformance::case_names();
    let distinct: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "duplicate case names");
    assert!(names.len() >= 40, "only {} cases", names.len());
}
