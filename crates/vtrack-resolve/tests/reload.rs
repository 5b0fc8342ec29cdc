//! Reloads swap the whole table while lookups go on; a failed reload keeps the old table.

mod common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vtrack_model::config::ResolveConfig;
use vtrack_resolve::{ResolveError, Resolver};

const OLD: &str = "10.0.0.0/8,Old Name,old.example\n2001:db8::/32,Old Name,old.example\n";
const NEW: &str = "10.0.0.0/8,Brand New Name,new.example\n2001:db8::/32,Brand New Name,new.example\n";

fn write_slowly(path: &std::path::Path, text: &str) {
    // Sleep past coarse file-system timestamps so the change is visible in the mtime as well as the size.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(path, text).unwrap();
}

#[test]
fn reload_under_concurrent_lookups_never_shows_a_mix_or_a_miss() {
    let dir = common::temp_dir("reload");
    let path = common::write(&dir, "companies.csv", OLD);
    let resolver =
        Arc::new(Resolver::new(ResolveConfig { companies: vec![path.clone()], ..Default::default() }).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let seen_new = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (resolver, stop, seen_new) = (resolver.clone(), stop.clone(), seen_new.clone());
            std::thread::spawn(move || {
                let ips: [IpAddr; 3] =
                    ["10.1.2.3".parse().unwrap(), "2001:db8::9".parse().unwrap(), "::ffff:10.9.9.9".parse().unwrap()];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let table = resolver.load();
                    let hit = table.lookup(ips[(n as usize + t) % 3]).expect("a reload must never leave a gap");
                    match (hit.info.company_name.as_str(), hit.info.company_domain.as_str()) {
                        ("Old Name", "old.example") => {}
                        ("Brand New Name", "new.example") => {
                            seen_new.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("a torn answer: {other:?}"),
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();

    assert!(!resolver.sources_changed());
    for round in 0..20 {
        write_slowly(&path, if round % 2 == 0 { NEW } else { OLD });
        assert!(resolver.sources_changed(), "round {round}");
        resolver.reload().expect("valid file reloads");
        assert!(!resolver.sources_changed());
        let expect = if round % 2 == 0 { "Brand New Name" } else { "Old Name" };
        assert_eq!(resolver.load().lookup("10.0.0.1".parse().unwrap()).unwrap().info.company_name, expect);
    }
    stop.store(true, Ordering::Relaxed);
    let lookups: u64 = readers.into_iter().map(|r| r.join().expect("reader thread")).sum();
    assert!(lookups > 1000, "readers ran: {lookups}");
    assert!(seen_new.load(Ordering::Relaxed) > 0, "readers saw the new table");
}

#[test]
fn a_failed_reload_keeps_the_old_table_and_says_why() {
    let dir = common::temp_dir("reload");
    let path = common::write(&dir, "companies.csv", OLD);
    let resolver = Resolver::new(ResolveConfig { companies: vec![path.clone()], ..Default::default() }).unwrap();
    write_slowly(&path, "10.0.0.0/8,Fine,fine.example\n10.0.0.0/40,Broken,broken.example\n");
    assert!(resolver.sources_changed());
    let err = resolver.reload().expect_err("a broken file is refused");
    assert!(matches!(err, ResolveError::MalformedCidr { line: 2, .. }), "{err:?}");
    assert_eq!(resolver.load().lookup("10.0.0.1".parse().unwrap()).unwrap().info.company_name, "Old Name");
    // The broken version is not retried on every poll, only after the next edit.
    assert!(!resolver.sources_changed());
    write_slowly(&path, NEW);
    assert!(resolver.sources_changed());
    resolver.reload().unwrap();
    assert_eq!(resolver.load().lookup("10.0.0.1".parse().unwrap()).unwrap().info.company_name, "Brand New Name");
    // A file that disappears is a change, and a reload without it fails and keeps the table.
    std::fs::remove_file(&path).unwrap();
    assert!(resolver.sources_changed());
    assert!(matches!(resolver.reload(), Err(ResolveError::Io { .. })));
    assert_eq!(resolver.load().lookup("10.0.0.1".parse().unwrap()).unwrap().info.company_name, "Brand New Name");
}

#[test]
fn a_resolver_around_a_given_table() {
    let r = Resolver::from_table(vtrack_resolve::Table::empty());
    assert!(r.load().lookup("10.0.0.1".parse().unwrap()).is_none());
    assert!(!r.sources_changed());
}
