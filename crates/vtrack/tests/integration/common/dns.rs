//! A real DNS server on loopback for the reverse-DNS tests: Debian's `dnsmasq` (package `dnsmasq-base`,
//! installed by `scripts/install-deps.sh`) on a free port, answering only the records a test gives it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dnsmasq {
    child: Child,
    pub port: u16,
}

impl Dnsmasq {
    /// Starts dnsmasq with `args` (`--host-record=…`, `--ptr-record=…`, `--local=/zone/`, `--server=…`).
    pub fn start(args: &[String]) -> Dnsmasq {
        let port = super::free_port();
        let child = Command::new("/usr/sbin/dnsmasq")
            .args(["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts"])
            .args(["--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=", "--local-ttl=300"])
            .arg(format!("--port={port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq (scripts/install-deps.sh installs dnsmasq-base)");
        // Ready once it answers on TCP too.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "dnsmasq did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Dnsmasq { child, port }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's `unbound` on loopback, resolving `zone` through a dnsmasq that refuses every query: it answers
/// SERVFAIL for every name in the zone, at once.
pub struct ServFail {
    unbound: Child,
    _refusing: Dnsmasq,
    _config: tempfile::NamedTempFile,
    pub port: u16,
}

impl ServFail {
    pub fn start(zone: &str) -> ServFail {
        let refusing = Dnsmasq::start(&[]);
        let port = super::free_port();
        let config = tempfile::NamedTempFile::new().expect("temp unbound config");
        let text = format!(
            "server:\n  interface: 127.0.0.1@{port}\n  port: {port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  \
             pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  do-not-query-localhost: no\n  \
             module-config: \"iterator\"\n  local-zone: \"{zone}\" nodefault\n\
             stub-zone:\n  name: \"{zone}\"\n  stub-addr: 127.0.0.1@{}\n",
            refusing.port
        );
        std::fs::write(config.path(), text).expect("write unbound config");
        let unbound = Command::new("/usr/sbin/unbound")
            .arg("-d")
            .arg("-c")
            .arg(config.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start unbound (scripts/install-deps.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "unbound did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        ServFail { unbound, _refusing: refusing, _config: config, port }
    }
}

impl Drop for ServFail {
    fn drop(&mut self) {
        let _ = self.unbound.kill();
        let _ = self.unbound.wait();
    }
}
