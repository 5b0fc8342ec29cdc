//! The generator against the baseline server, both in this process: the whole path, sockets included.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use vtrack_loadgen::{baseline, run, Args, LoadgenError};

async fn start_baseline() -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(baseline::serve(listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

fn args(addr: SocketAddr) -> Args {
    Args { target: format!("http://{addr}/v1/events").parse().expect("URL"), connections: 4, ..Args::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_against_the_baseline() {
    let (addr, stop, server) = start_baseline().await;
    let report = run(&Args { duration: Duration::from_secs(1), ..args(addr) }).await.expect("run");
    println!("{report}");
    assert!(report.requests > 0, "{report}");
    assert_eq!((report.accepted, report.events), (report.requests, report.requests));
    assert_eq!(report.errors.total(), 0, "{report}");
    assert!(report.latency_ms.p99 > 0.0 && report.latency_ms.p99 <= report.latency_ms.max, "{report}");
    assert!((0.9..3.0).contains(&report.duration_secs), "{report}");
    let _ = stop.send(());
    server.await.expect("server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_keeps_its_schedule_and_batches_work() {
    let (addr, stop, server) = start_baseline().await;
    // 200 requests at 400/s: half a second whatever the machine, as long as it keeps up.
    let report =
        run(&Args { rate: Some(400.0), requests: Some(200), events_per_request: 3, ..args(addr) }).await.expect("run");
    println!("{report}");
    assert_eq!(report.requests, 200, "{report}");
    assert_eq!(report.events, 600, "{report}");
    assert_eq!(report.errors.total() + report.unsent, 0, "{report}");
    assert!((0.45..2.0).contains(&report.duration_secs), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&report.render(vtrack_loadgen::Format::Json)).expect("the JSON report parses");
    assert_eq!(json["mode"], "fixed-rate");
    assert_eq!(json["requests"], 200);
    let _ = stop.send(());
    server.await.expect("server");
}

#[tokio::test]
async fn an_unreachable_target_fails_before_measuring() {
    // Bind then drop, so the port is very likely closed.
    let addr = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let err = run(&Args { duration: Duration::from_secs(1), ..args(addr) }).await.expect_err("nothing listens");
    assert!(matches!(err, LoadgenError::Connect { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_finds_the_address_the_server_listens_on() {
    let (addr, stop, server) = start_baseline().await;
    let target = format!("http://localhost:{}/v1/events", addr.port()).parse().expect("URL");
    let report = run(&Args { target, requests: Some(20), ..args(addr) }).await.expect("run");
    assert_eq!((report.requests, report.errors.total()), (20, 0), "{report}");
    let _ = stop.send(());
    server.await.expect("server");
}
