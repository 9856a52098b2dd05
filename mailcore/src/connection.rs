//! Connection admission shared by every listener: how many connections one client IP, and all
//! clients together, may hold open at once. A permit is released when dropped.
//!
//! ```
//! use mailcore::connection::ConnectionLimiter;
//! let limiter = ConnectionLimiter::new(2, 100);
//! let ip = "192.0.2.1".parse().unwrap();
//! let a = limiter.admit(ip).unwrap();
//! let _b = limiter.admit(ip).unwrap();
//! assert!(limiter.admit(ip).is_none(), "third connection from one IP");
//! drop(a);
//! assert!(limiter.admit(ip).is_some());
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Counts {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Counts open connections against two limits.
#[derive(Clone, Debug)]
pub struct ConnectionLimiter {
    max_per_ip: usize,
    max_total: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionPermit {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter allowing `max_per_ip` connections per client IP and `max_total` in all.
    pub fn new(max_per_ip: usize, max_total: usize) -> ConnectionLimiter {
        ConnectionLimiter {
            max_per_ip,
            max_total,
            counts: Arc::default(),
        }
    }

    /// Admits a connection from `ip`, or refuses it when a limit is reached.
    pub fn admit(&self, ip: IpAddr) -> Option<ConnectionPermit> {
        let mut counts = self.counts.lock().ok()?;
        if counts.total >= self.max_total {
            return None;
        }
        let n = counts.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        counts.total += 1;
        Some(ConnectionPermit {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.total)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_limit() {
        let l = ConnectionLimiter::new(10, 2);
        let a = l.admit("192.0.2.1".parse().unwrap());
        let b = l.admit("192.0.2.2".parse().unwrap());
        assert!(a.is_some() && b.is_some());
        assert!(l.admit("192.0.2.3".parse().unwrap()).is_none());
        drop(b);
        assert_eq!(l.open(), 1);
        assert!(l.admit("192.0.2.3".parse().unwrap()).is_some());
    }
}
