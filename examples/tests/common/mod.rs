//! What the reference server's process tests share: running programs with a deadline, the
//! CLI, free loopback ports, and `mailcore-server serve` in a fresh directory (killed, and the
//! directory removed, on drop; its log printed when the test panics).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mailcore-server");
/// How long the server may take to start listening.
pub const STARTUP: Duration = Duration::from_secs(10);
/// Longest run of one client program or CLI call.
pub const CLIENT: Duration = Duration::from_secs(20);

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// Runs a program with a deadline; kills it and panics when the deadline passes.
pub fn bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs the CLI on a data dir and returns its standard output; panics on failure.
pub fn cli(data: &Path, args: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(data).args(args);
    let out = bounded(cmd, CLIENT);
    assert!(
        out.status.success(),
        "mailcore-server {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `N` distinct ports free on 127.0.0.1 right now.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// A fresh, empty directory for one server (`<tmp>/mailcore-<tag>-<pid>-<n>`).
pub fn fresh_dir(tag: &str) -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mailcore-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `mailcore-server serve` over `dir/data` with the config `dir/mailcore.toml`.
pub struct Serve {
    child: Child,
    /// Its directory (config, log, data); removed on drop.
    pub dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            eprintln!("--- server log ({}):\n{log}---", self.dir.display());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Serve {
    /// Starts the server in `dir` with the configuration `config(ports)` on `N` fresh ports
    /// and waits until it says it is ready (no probe connections, which would count against
    /// connection limits). Another process may take a port between the probe and the bind:
    /// then it retries with new ports, three times at most.
    pub fn start<const N: usize>(
        dir: PathBuf,
        config: impl Fn([u16; N]) -> String,
    ) -> (Serve, [u16; N]) {
        for _attempt in 0..3 {
            let ports = free_ports::<N>();
            let config_path = dir.join("mailcore.toml");
            std::fs::write(&config_path, config(ports)).unwrap();
            let log_path = dir.join("server.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let child = Command::new(BIN)
                .arg("--config")
                .arg(&config_path)
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut server = Serve {
                child,
                dir: dir.clone(),
            };
            let deadline = Instant::now() + STARTUP;
            loop {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                if text.contains("mailcore-server ready") {
                    return (server, ports);
                }
                if let Some(status) = server.child.try_wait().unwrap() {
                    let ours = ports.map(|p| format!("cannot listen on 127.0.0.1:{p}"));
                    if ours.iter().any(|o| text.contains(o.as_str())) {
                        break;
                    }
                    panic!("server exited with {status}:\n{text}");
                }
                assert!(
                    Instant::now() < deadline,
                    "server not ready after {STARTUP:?}:\n{text}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            // Port taken: forget this attempt without removing the directory.
            let _ = server.child.kill();
            let _ = server.child.wait();
            std::mem::forget(server);
        }
        panic!("could not find free ports in 3 attempts");
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
}
