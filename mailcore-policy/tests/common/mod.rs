//! A real DNS server for tests: `python3 -m dnslib.zoneresolver` (Debian package
//! python3-dnslib) serving one zone file on a loopback UDP port. Shared by the tests of this
//! crate (and of the reference server, which includes this file by path).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The interpreter the DNS server runs on.
pub const PYTHON: &str = "/usr/bin/python3";
/// How long the DNS server may take to answer its first query.
pub const DNS_STARTUP: Duration = Duration::from_secs(20);

/// Whether the DNS peer can run here; when it cannot and peers are not required
/// (`MAILCORE_REQUIRE_PEERS` unset), the caller skips its test (with a message).
pub fn dns_peer_available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import dnslib.zoneresolver"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("MAILCORE_REQUIRE_PEERS").is_none() {
        eprintln!(
            "SKIPPED: python3-dnslib is not installed (set MAILCORE_REQUIRE_PEERS to make this a failure)"
        );
        return false;
    }
    true
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// A `dnslib.zoneresolver` child process; killed on drop.
pub struct DnsServer {
    child: Child,
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    log: PathBuf,
}

impl DnsServer {
    /// Serves `zone`; ready once it answers an MX query for `probe` (a name in the zone).
    /// `log_dir` receives its stderr, named after `name`.
    pub fn start(zone: &Path, probe: &str, log_dir: &Path, name: &str) -> DnsServer {
        DnsServer::start_on(free_udp_port(), zone, probe, log_dir, name)
    }

    /// [`DnsServer::start`] on a chosen port (for a server configured before the zone exists).
    pub fn start_on(port: u16, zone: &Path, probe: &str, log_dir: &Path, name: &str) -> DnsServer {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = log_dir.join(format!("dnslib-{name}-{}.log", std::process::id()));
        let child = Command::new(PYTHON)
            .args(["-m", "dnslib.zoneresolver", "--zone"])
            .arg(zone)
            .args(["--address", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--udplen", "4096"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the test DNS server `{PYTHON} -m dnslib.zoneresolver`: {e} \
                     (install the Debian package python3-dnslib)"
                )
            });
        let mut server = DnsServer { child, addr, log };
        server.wait_ready(probe);
        server
    }

    /// Sends `<probe> IN MX` until the server answers.
    fn wait_ready(&mut self, probe: &str) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut query = vec![0x4d, 0x43, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in probe.trim_end_matches('.').split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 15, 0, 1]);
        let started = Instant::now();
        let mut answer = [0u8; 512];
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!(
                    "the test DNS server (`{PYTHON} -m dnslib.zoneresolver`) exited with \
                     {status}; is python3-dnslib installed? stderr:\n{log}"
                );
            }
            socket.send_to(&query, self.addr).unwrap();
            if let Ok((n, _)) = socket.recv_from(&mut answer)
                && n >= 12
                && answer[..2] == query[..2]
            {
                return;
            }
            assert!(
                started.elapsed() < DNS_STARTUP,
                "the test DNS server on {} did not answer within {DNS_STARTUP:?}",
                self.addr
            );
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
