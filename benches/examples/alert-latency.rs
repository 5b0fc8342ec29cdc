//! Beacon → hot-account webhook latency, end to end through the real binary: the time from posting a beacon
//! that raises an alert to the webhook receiving it, on the embedded default and on Kafka + ClickHouse.
//!
//!   cargo run --release -p vtrack-benches --example alert-latency -- [--samples 100] [--kafka-clickhouse]
//!
//! Every fixture account visits a hot page (`/demo/<n>`) in turn, each account at most once a second (alert
//! ids are per second); `hot_pages` makes each visit an alert, with no cooldown. The webhook receiver on
//! loopback reads `recent_pages[0]` of each payload to find which beacon it answers. `--kafka-clickhouse`
//! also runs `vtrack ingest` → tansu → `vtrack process` → ClickHouse, started with `deploy/kafka.sh` and
//! `deploy/clickhouse.sh`. Needs `cargo build --release -p vtrack` first.

use anyhow::{bail, Context};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Client addresses of the fixture accounts (`fixtures/`).
const ACCOUNTS: &[&str] = &[
    "198.51.100.10",
    "198.51.100.70",
    "198.51.100.100",
    "203.0.113.200",
    "203.0.113.10",
    "203.0.113.130",
    "192.0.2.10",
];
const UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Receives webhooks; sends the `n` of each `/demo/<n>` it sees, with the arrival time.
fn receiver(tx: mpsc::Sender<(u64, Instant)>) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let at = Instant::now();
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line.trim() != "" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut stream = reader.into_inner();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let page = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| {
                v["recent_pages"][0].as_str().and_then(|p| p.strip_prefix("/demo/")).and_then(|n| n.parse().ok())
            });
            if let Some(n) = page {
                let _ = tx.send((n, at));
            }
        }
    });
    Ok(port)
}

fn post(addr: SocketAddr, ip: &str, body: &str) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nhost: {addr}\r\nuser-agent: {UA}\r\nx-forwarded-for: {ip}\r\n\
         content-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0))
}

fn wait_healthy(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Some(status) = child.try_wait()? {
            bail!("vtrack exited at start: {status}");
        }
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("vtrack did not come up on {addr}")
}

struct Killed(Vec<Child>);
impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends `samples` alerting beacons to `ingest` and returns the latencies in ms, in order.
fn measure(ingest: SocketAddr, samples: u64, rx: &mpsc::Receiver<(u64, Instant)>) -> anyhow::Result<Vec<f64>> {
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let gap = Duration::from_millis(1050 / ACCOUNTS.len() as u64 + 1);
    for n in 0..samples {
        let ip = ACCOUNTS[n as usize % ACCOUNTS.len()];
        let body = serde_json::json!({ "site": "s1", "type": "pageview", "vid": format!("v-{ip}"),
            "eid": format!("lat-{n}-{}", std::process::id()), "url": format!("https://www.example.com/demo/{n}") });
        sent.lock().map_err(|_| anyhow::anyhow!("lock"))?.insert(n, Instant::now());
        let status = post(ingest, ip, &body.to_string())?;
        if status != 202 {
            bail!("beacon {n} answered {status}");
        }
        std::thread::sleep(gap);
    }
    let mut latencies = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (latencies.len() as u64) < samples && Instant::now() < deadline {
        if let Ok((n, at)) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(t) = sent.lock().map_err(|_| anyhow::anyhow!("lock"))?.get(&n) {
                latencies.entry(n).or_insert((at - *t).as_secs_f64() * 1000.0);
            }
        }
    }
    if (latencies.len() as u64) < samples {
        bail!("only {} of {samples} alerts arrived within a minute", latencies.len());
    }
    let mut v: Vec<f64> = latencies.into_values().collect();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn config(dir: &Path, hook_port: u16) -> anyhow::Result<PathBuf> {
    let path = dir.join("vtrack.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\n[process]\nbatch_linger = \"100ms\"\n\
             [alerts]\nhot_pages = [\"/demo*\"]\n[[alerts.webhooks]]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n\
             secret = \"bench\"\ncooldown = \"0s\"\n"
        ),
    )?;
    Ok(path)
}

fn sources(cmd: &mut Command) -> &mut Command {
    let f = root().join("fixtures");
    cmd.arg("--companies").arg(f.join("companies.csv")).arg("--mmdb").arg(f.join("demo.mmdb"));
    cmd.arg("--asn-csv").arg(f.join("asn.csv"))
}

fn run_script(script: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("bash").arg(root().join("deploy").join(script)).args(args).status()?;
    if !status.success() {
        bail!("deploy/{script} {args:?} failed");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let samples: u64 = args
        .iter()
        .position(|a| a == "--samples")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()
        .context("--samples N")?
        .unwrap_or(100);
    let with_kafka = args.iter().any(|a| a == "--kafka-clickhouse");
    let bin = root().join("target/release/vtrack");
    if !bin.exists() {
        bail!("{} is missing: cargo build --release -p vtrack", bin.display());
    }
    let (tx, rx) = mpsc::channel();
    let hook_port = receiver(tx)?;
    let tmp = std::env::temp_dir().join(format!("vtrack-alert-latency-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let cfg = config(&tmp, hook_port)?;
    let mut rows = Vec::new();

    // Embedded: one `vtrack serve`.
    {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("serve").arg("--config").arg(&cfg).args(["--listen", &addr.to_string()]).arg("--data-dir");
        cmd.arg(tmp.join("data"));
        let mut child = sources(&mut cmd).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        wait_healthy(addr, &mut child)?;
        let _guard = Killed(vec![child]);
        rows.push(("embedded (serve: in-process queue, SQLite)", measure(addr, samples, &rx)?));
    }

    if with_kafka {
        run_script("clickhouse.sh", &["start"])?;
        run_script("kafka.sh", &["start"])?;
        let name = format!("latency_{}", std::process::id());
        let ch = format!("http://127.0.0.1:18123/{name}");
        let topic = format!("{name}.events");
        let status = Command::new(&bin)
            .args(["migrate", "--clickhouse", &ch, "--kafka", "127.0.0.1:19092", "--topic", &topic])
            .status()?;
        if !status.success() {
            bail!("vtrack migrate failed");
        }
        let kafka = ["--kafka", "127.0.0.1:19092", "--topic", &topic, "--group", &name];
        let (ingest_port, process_port) = (free_port()?, free_port()?);
        let ingest: SocketAddr = format!("127.0.0.1:{ingest_port}").parse()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("ingest").arg("--config").arg(&cfg).args(kafka).args(["--listen", &ingest.to_string()]);
        let mut ingest_child = sources(&mut cmd).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let process_addr: SocketAddr = format!("127.0.0.1:{process_port}").parse()?;
        let mut process_child = Command::new(&bin)
            .arg("process")
            .arg("--config")
            .arg(&cfg)
            .args(kafka)
            .args(["--clickhouse", &ch, "--listen", &process_addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_healthy(ingest, &mut ingest_child)?;
        wait_healthy(process_addr, &mut process_child)?;
        let _guard = Killed(vec![ingest_child, process_child]);
        // Let the consumer join its group before the clock starts.
        std::thread::sleep(Duration::from_secs(5));
        rows.push(("Kafka (tansu) + ClickHouse 18.16 (ingest → process)", measure(ingest, samples, &rx)?));
    }

    println!("\n| path | samples | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |");
    for (name, v) in &rows {
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.0} |",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.95),
            v.last().copied().unwrap_or(0.0)
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
