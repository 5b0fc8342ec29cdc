#!/usr/bin/env python3
"""Runs vtrack's ClickHouse schema and the example queries of docs/operations.md on two ClickHouse versions:
Debian's clickhouse-server 18.16 (over HTTP, as started by deploy/clickhouse.sh) and current ClickHouse
in-process through chdb-core (26.x). Fails on the first statement either one refuses.

    python3 scripts/check-clickhouse-dialect.py [--server http://127.0.0.1:18123]
"""
import argparse
import re
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "crates/vtrack-store/src/clickhouse/schema.rs"
QUERIES_DOC = ROOT / "docs/operations.md"

# A few rows so the queries exercise real values, not just the parser.
SAMPLE = [
    "INSERT INTO events (event_id, site, ts, received_at, type, visitor_id, session_id, is_return, url, path,"
    " utm_source, utm_medium, utm_campaign, eng_ms, company_name, company_domain, asn, network_class, country)"
    " VALUES ('e1', 's1', '2026-11-20 10:00:00', '2026-11-20 10:00:01', 'pageview', 'v1', 'e1', 0,"
    " 'https://w.example/pricing', '/pricing', 'newsletter', 'email', 'launch', 30000, 'Acme Robotics',"
    " 'acme-robotics.example', 64501, 'business', 'DE'),"
    " ('e2', 's1', '2026-11-20 10:01:00', '2026-11-20 10:01:01', 'pageview', 'v1', 'e1', 0,"
    " 'https://w.example/demo', '/demo', '', '', '', 60000, 'Acme Robotics', 'acme-robotics.example', 64501,"
    " 'business', 'DE')",
    "INSERT INTO sessions (session_id, site, visitor_id, company_domain, company_name, network_class, country,"
    " started_at, ended_at, pageviews, events, engaged_ms, is_return, entry_path, referrer, utm_source,"
    " utm_medium, utm_campaign) VALUES ('e1', 's1', 'v1', 'acme-robotics.example', 'Acme Robotics',"
    " 'business', 'DE', '2026-11-20 10:00:00', '2026-11-20 10:01:00', 2, 2, 90000, 0, '/pricing', '',"
    " 'newsletter', 'email', 'launch')",
    "INSERT INTO accounts (site, company_domain, company_name, network_class, country, first_seen, last_seen,"
    " visitors, sessions, pageviews, engaged_ms, score, score_at, stage, return_visits, topics, top_pages,"
    " campaigns, contacts, is_target, excluded, version) VALUES ('s1', 'acme-robotics.example',"
    " 'Acme Robotics', 'business', 'DE', '2026-11-20 10:00:00', '2026-11-20 10:01:00', 1, 1, 2, 90000, 28.5,"
    " '2026-11-20 10:01:00', 'warm', 0, '[]', '[]', '[]', '[]', 0, 0, 2)",
]


def schema_statements():
    text = SCHEMA.read_text()
    blocks = re.findall(r'r#"(.*?)"#', text, re.S)
    if not blocks:
        sys.exit(f"no migrations found in {SCHEMA}")
    m = re.search(r'VERSION_TABLE: &str =\s*"(.*?)";', text, re.S)
    out = [m.group(1)] if m else []
    for block in blocks:
        out += [s.strip() for s in block.split(";\n") if s.strip()]
    return out


def doc_queries():
    text = QUERIES_DOC.read_text()
    m = re.search(r"<!-- clickhouse-queries -->(.*?)<!-- /clickhouse-queries -->", text, re.S)
    if not m:
        sys.exit(f"{QUERIES_DOC.relative_to(ROOT)} has no <!-- clickhouse-queries --> block")
    sql = "\n".join(re.findall(r"```sql\n(.*?)```", m.group(1), re.S))
    queries = [q.strip() for q in sql.split(";") if q.strip()]
    if not queries:
        sys.exit(f"the clickhouse-queries block of {QUERIES_DOC.relative_to(ROOT)} holds no queries")
    return queries


def run_server(url, statements, queries):
    db = "dialect_check"

    def post(sql, database=db):
        req = urllib.request.Request(f"{url}/?database={database}", data=sql.encode())
        try:
            return urllib.request.urlopen(req, timeout=30).read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode().strip()) from None

    post(f"DROP DATABASE IF EXISTS {db}", "default")
    post(f"CREATE DATABASE {db}", "default")
    version = post("SELECT version()").strip()
    check(f"server {version}", post, statements, queries)
    post(f"DROP DATABASE IF EXISTS {db}", "default")


def run_chdb(statements, queries):
    try:
        from chdb import session
    except ImportError:
        sys.exit("chdb-core is not installed: pip install chdb-core (scripts/install-deps.sh does)")
    with tempfile.TemporaryDirectory() as tmp:
        s = session.Session(tmp)
        s.query("CREATE DATABASE IF NOT EXISTS dialect_check")

        # chdb runs one statement per call; USE keeps the database for it.
        def run(sql):
            s.query("USE dialect_check")
            return str(s.query(sql, "TSV"))

        version = run("SELECT version()").strip()
        check(f"chdb {version}", run, statements, queries)
        s.close()


def check(name, run, statements, queries):
    for kind, items in (("schema", statements), ("sample rows", SAMPLE), ("example query", queries)):
        for sql in items:
            try:
                run(sql)
            except Exception as e:  # noqa: BLE001 - report any refusal with the statement
                sys.exit(f"{name}: {kind} refused:\n{sql}\n--> {e}")
    print(f"{name}: {len(statements)} schema statements, {len(SAMPLE)} inserts, {len(queries)} example queries ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="http://127.0.0.1:18123", help="ClickHouse 18.16 HTTP endpoint")
    args = ap.parse_args()
    statements, queries = schema_statements(), doc_queries()
    run_server(args.server, statements, queries)
    run_chdb(statements, queries)


if __name__ == "__main__":
    main()
