//! Harness for cluster mode: the ClickHouse cluster of `deploy/clickhouse-cluster.sh` (ZooKeeper and four
//! clickhouse-server 18.16 processes, two shards of two replicas) under the production path of `prod`.
//!
//! Tests share one cluster on the script's default ports (each test gets its own database); tests that stop
//! parts of it start a private one on free ports, in a directory of their own, stopped when dropped.

use super::prod::{unique, Pipeline, Proc};
use super::{bin, free_port, repo_root};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cluster's name in the servers' `<remote_servers>` (the script's default).
pub const CLUSTER: &str = "vtrack";

/// The nodes in the script's order: shard 1's two replicas, then shard 2's.
pub const NODES: [&str; 4] = ["s1r1", "s1r2", "s2r1", "s2r2"];

/// A running cluster: where it listens and how to stop and start its parts.
pub struct ClusterServers {
    /// The nodes' HTTP ports, in [`NODES`] order.
    pub http: [u16; 4],
    dir: Option<tempfile::TempDir>,
    env: Vec<(&'static str, String)>,
}

impl ClusterServers {
    fn script(&self, args: &[&str]) {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("deploy/clickhouse-cluster.sh")).args(args);
        if let Some(d) = &self.dir {
            cmd.arg(d.path());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run deploy/clickhouse-cluster.sh");
        assert!(
            out.status.success(),
            "deploy/clickhouse-cluster.sh {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts whatever is not running (all of it at first; a stopped or killed part later).
    pub fn start(&self) {
        self.script(&["start"]);
    }

    /// `kill -9` of one node (`s2r1` …) or of `zookeeper`.
    pub fn kill(&self, node: &str) {
        self.script(&["kill-node", node]);
    }

    /// Stops one node or `zookeeper` (SIGTERM, waiting for it to go).
    pub fn stop(&self, node: &str) {
        self.script(&["stop-node", node]);
    }

    /// The entry node every vtrack process of a test talks to: shard 1's first replica.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http[0])
    }

    /// Runs `sql` on one node as the writing user, bypassing vtrack (to look at one replica's own tables,
    /// or to set a scene); returns the answer's text, or the server's error.
    pub fn query(&self, node: usize, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "60", "--data-binary", "@-"])
            .arg(format!("http://127.0.0.1:{}/?database={database}", self.http[node]))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(sql.as_bytes())?;
                c.wait_with_output()
            })
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || text.starts_with("Code: ") {
            return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(text)
    }

    /// [`ClusterServers::query`] that must succeed, trimmed.
    pub fn must(&self, node: usize, database: &str, sql: &str) -> String {
        self.query(node, database, sql).unwrap_or_else(|e| panic!("{} refused {sql}: {e}", NODES[node])).trim().into()
    }

    /// Waits until every replica of `database` has no replication work queued and each shard's two
    /// replicas hold the same events (by count and a hash of their ids); returns each node's count.
    pub fn wait_replicas_equal(&self, database: &str, within: Duration) -> [u64; 4] {
        let deadline = Instant::now() + within;
        loop {
            let state: Vec<Option<(u64, String, u64)>> = (0..4)
                .map(|n| {
                    let counts = self
                        .query(
                            n,
                            database,
                            "SELECT count(), toString(groupBitXor(cityHash64(event_id))) FROM events_local FORMAT TSV",
                        )
                        .ok()?;
                    let queued = self
                        .query(
                            n,
                            database,
                            &format!(
                                "SELECT sum(queue_size) FROM system.replicas WHERE database = '{database}' FORMAT TSV"
                            ),
                        )
                        .ok()?;
                    let mut f = counts.trim().split('\t');
                    Some((f.next()?.parse().ok()?, f.next()?.to_string(), queued.trim().parse().ok()?))
                })
                .collect();
            if let [Some(a), Some(b), Some(c), Some(d)] = state.as_slice() {
                if a.0 == b.0 && a.1 == b.1 && c.0 == d.0 && c.1 == d.1 && a.2 + b.2 + c.2 + d.2 == 0 {
                    return [a.0, b.0, c.0, d.0];
                }
            }
            assert!(Instant::now() < deadline, "the replicas did not converge within {within:?}: {state:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for ClusterServers {
    fn drop(&mut self) {
        if self.dir.is_some() {
            self.script(&["stop"]);
        }
    }
}

/// The shared cluster on the script's ports (its defaults, or `CLICKHOUSE_CLUSTER_HTTP_PORTS` and the
/// others as the script reads them); started once per test binary, reused if up.
pub fn shared_cluster() -> &'static ClusterServers {
    static SHARED: OnceLock<ClusterServers> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ports: Vec<u16> = std::env::var("CLICKHOUSE_CLUSTER_HTTP_PORTS")
            .unwrap_or_else(|_| "18131 18132 18133 18134".into())
            .split_whitespace()
            .map(|p| p.parse().expect("CLICKHOUSE_CLUSTER_HTTP_PORTS: four ports"))
            .collect();
        assert_eq!(ports.len(), 4, "CLICKHOUSE_CLUSTER_HTTP_PORTS: four ports");
        let c = ClusterServers { http: [ports[0], ports[1], ports[2], ports[3]], dir: None, env: Vec::new() };
        c.start();
        c
    })
}

/// A cluster of one test's own, on free ports.
pub fn private_cluster() -> ClusterServers {
    let ports = |n: usize| (0..n).map(|_| free_port().to_string()).collect::<Vec<_>>();
    let (http, tcp, interserver) = (ports(4), ports(4), ports(4));
    let env = vec![
        ("ZOOKEEPER_PORT", free_port().to_string()),
        ("CLICKHOUSE_CLUSTER_HTTP_PORTS", http.join(" ")),
        ("CLICKHOUSE_CLUSTER_TCP_PORTS", tcp.join(" ")),
        ("CLICKHOUSE_CLUSTER_INTERSERVER_PORTS", interserver.join(" ")),
    ];
    let http: Vec<u16> = http.iter().map(|p| p.parse().expect("port")).collect();
    let c = ClusterServers {
        http: [http[0], http[1], http[2], http[3]],
        dir: Some(tempfile::tempdir().expect("temp dir")),
        env,
    };
    c.start();
    c
}

/// `vtrack migrate` of a new database on `cluster` (and a topic of 4 partitions); the pipeline passes
/// `--clickhouse-cluster` to every process it starts and to `vtrack sql`.
pub fn cluster_pipeline(brokers: &str, cluster: &ClusterServers) -> Pipeline {
    let name = unique("c");
    let p = Pipeline {
        brokers: brokers.to_string(),
        topic: format!("{name}.events"),
        group: format!("{name}-process"),
        clickhouse: format!("{}/{name}", cluster.url()),
        cluster: Some(CLUSTER.to_string()),
        clock: None,
    };
    let out = migrate(&p.clickhouse, Some(CLUSTER), &["--kafka", &p.brokers, "--topic", &p.topic, "--partitions", "4"]);
    assert!(out.status.success(), "vtrack migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    p
}

/// Runs `vtrack migrate --clickhouse URL [--clickhouse-cluster NAME] EXTRA…`.
pub fn migrate(url: &str, cluster: Option<&str>, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.args(["migrate", "--clickhouse", url]);
    if let Some(c) = cluster {
        cmd.args(["--clickhouse-cluster", c]);
    }
    cmd.args(extra).env("RUST_LOG", "warn").output().expect("run vtrack migrate")
}

/// The database part of a pipeline's ClickHouse URL.
pub fn database(p: &Pipeline) -> &str {
    p.clickhouse.rsplit('/').next().unwrap_or_default()
}

/// The consumer group's committed offsets summed over the topic's partitions, and the topic's lag behind
/// them (messages not yet committed), read from the broker without joining the group.
pub fn committed_and_lag(p: &Pipeline) -> (i64, i64) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &p.brokers)
        .set("group.id", &p.group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka client");
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(&p.topic), timeout).expect("topic metadata");
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for part in t.partitions() {
            tpl.add_partition(&p.topic, part.id());
        }
    }
    let committed = consumer.committed_offsets(tpl, timeout).expect("committed offsets");
    let (mut sum, mut lag) = (0, 0);
    for e in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(&p.topic, e.partition(), timeout).expect("watermarks");
        let at = match e.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        sum += at;
        lag += (high - at).max(0);
    }
    (sum, lag)
}

/// Sends page views of people on a cloud network (no account; keyed by visitor, so spread over every
/// partition) until each of `members` has written a batch: the group has then shared the partitions, and
/// traffic sent after it is not split by a rebalance of members still joining. Returns the requests sent,
/// as (client address, body), for a comparison store to get them too.
pub fn warm_up(ingest: &Proc, members: &[&Proc]) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    for round in 0.. {
        if members.iter().all(|m| m.metric("vtrack_process_batches_total") > 0.0) {
            return sent;
        }
        assert!(Instant::now() < deadline, "the processors did not all get partitions");
        for v in 0..8 {
            let ip = format!("198.19.5.{}", 100 + v);
            let body = serde_json::json!([{ "site": "s1", "type": "pageview", "url": "https://www.example.com/",
                                            "vid": format!("warm-{round}-{v}"), "eid": format!("warm-{round}-{v}") }])
            .to_string();
            let r = ingest.post(&ip, &body).expect("post");
            assert_eq!(r.status, 202, "{}", r.body);
            sent.push((ip, body));
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    sent
}
