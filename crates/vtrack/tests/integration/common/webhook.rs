//! A webhook receiver on loopback, for the alert tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub answered: u16,
}

/// A webhook receiver that answers 503 to the first `failures` requests and 200 afterwards.
pub fn receiver(failures: usize) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line); // request line
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len =
                headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let answered = if seen.lock().unwrap().len() < failures { 503 } else { 200 };
            seen.lock().unwrap().push(Received { headers, body, answered });
            let mut stream = reader.into_inner();
            let reason = if answered == 200 { "OK" } else { "Service Unavailable" };
            let _ = write!(stream, "HTTP/1.1 {answered} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, log)
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `(kind, account domain)` of each alert a receiver got, sorted.
pub fn kinds(log: &Arc<Mutex<Vec<Received>>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            (v["kind"].as_str().unwrap().to_string(), v["account"]["domain"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}
