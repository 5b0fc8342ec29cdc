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
