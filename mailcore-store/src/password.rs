//! Password hashing: argon2id in PHC string format.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::{Result, StoreError};

/// Longest password accepted, in bytes (hashing cost stays bounded).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(StoreError::Invalid(
            "password must be 1 to 1024 bytes".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Backend(format!("password hashing: {e}")))
}

/// Checks a password against a stored PHC hash. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Most password verifications running at once. Each argon2id run holds a 19 MiB work area;
/// running them on a few dedicated threads bounds both the CPU a login burst takes and the
/// memory the allocator keeps afterwards (per-thread arenas would otherwise each retain one).
pub const VERIFY_THREADS: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

fn pool() -> Option<&'static std::sync::Mutex<std::sync::mpsc::Sender<Job>>> {
    static POOL: std::sync::OnceLock<Option<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..VERIFY_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("mailcore-argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else {
                            return;
                        };
                        job();
                    }
                });
            if spawned.is_err() {
                return None;
            }
        }
        Some(std::sync::Mutex::new(tx))
    })
    .as_ref()
}

/// Runs `work` on the bounded argon2 pool ([`VERIFY_THREADS`] threads) without blocking the
/// async runtime; falls back to the blocking thread pool if the pool cannot run. `None` if
/// the work panicked.
async fn on_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let work = std::sync::Arc::new(std::sync::Mutex::new(Some(work)));
    let queued = work.clone();
    let job: Job = Box::new(move || {
        if let Some(w) = queued.lock().ok().and_then(|mut w| w.take()) {
            let _ = tx.send(w());
        }
    });
    let sent = pool()
        .and_then(|pool| pool.lock().ok())
        .is_some_and(|pool| pool.send(job).is_ok());
    if sent {
        return rx.await.ok();
    }
    let work = work.lock().ok().and_then(|mut w| w.take())?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Verifies a password on the bounded argon2 pool without blocking the async runtime.
pub async fn verify_password_async(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    on_pool(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Hashes a password on the bounded argon2 pool without blocking the async runtime.
pub async fn hash_password_async(password: &str) -> Result<String> {
    let password = password.to_owned();
    on_pool(move || hash_password(&password))
        .await
        .unwrap_or_else(|| Err(StoreError::Backend("password hashing failed".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
        assert!(hash_password("").is_err());
    }

    #[tokio::test]
    async fn verification_pool_answers_many_at_once() {
        let h = hash_password("pw").unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move {
                    verify_password_async(if i % 2 == 0 { "pw" } else { "no" }, &h).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        assert_eq!(results, [true, false, true, false, true, false]);
        let h = hash_password_async("async pw").await.unwrap();
        assert!(verify_password_async("async pw", &h).await);
        assert!(hash_password_async("").await.is_err());
    }
}
