#!/usr/bin/env python3
"""Runs vtrack's ClickHouse schema and the example queries of docs/operations.md on two ClickHouse versions:
Debian's clickhouse-server 18.16 (over HTTP, as started by deploy/clickhouse.sh) and current ClickHouse
in-process through chdb-core (26.x). Fails on the first statement either one refuses.

With --cluster-server, also the cluster schema (docs/cluster-schema.sql, what `vtrack migrate
--clickhouse-cluster` runs): executed on an 18.16 cluster named `vtrack` (deploy/clickhouse-cluster.sh), with
the sample rows inserted through its Distributed tables and the example queries run over them; and parsed by
current ClickHouse (`formatQuery`), since chdb runs no cluster or ZooKeeper to execute it on.

    python3 scripts/check-clickhouse-dialect.py [--server http://127.0.0.1:18123]
                                                [--cluster-server http://127.0.0.1:18131]
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
CLUSTER_SCHEMA = ROOT / "docs/cluster-schema.sql"
# The database the cluster schema file is written for, and the scratch database it runs in here.
CLUSTER_SCHEMA_DB = "analytics"
CLUSTER_DB = "dialect_cluster"

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


def cluster_statements():
    text = "\n".join(l for l in CLUSTER_SCHEMA.read_text().splitlines() if not l.startswith("--"))
    out = [s.strip() for s in text.split(";\n") if s.strip()]
    if not out:
        sys.exit(f"{CLUSTER_SCHEMA.relative_to(ROOT)} holds no statements")
    return out


def http_post(url, sql, params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    req = urllib.request.Request(f"{url}/?{query}", data=sql.encode())
    try:
        return urllib.request.urlopen(req, timeout=240).read().decode()
    except urllib.error.HTTPError as e:
        raise RuntimeError(e.read().decode().strip()) from None


def run_cluster_server(url, statements, queries):
    """The cluster schema executed on an 18.16 cluster, then rows through its Distributed tables and the
    example queries over them, as vtrack's client sends them (synchronous distributed inserts, GLOBAL
    subqueries)."""
    db = CLUSTER_DB
    settings = {"database": db, "insert_distributed_sync": "1", "distributed_product_mode": "global",
                "prefer_localhost_replica": "0"}

    def post(sql, database=db):
        # The schema names its database; it does not exist before the first statement creates it.
        if sql.startswith("CREATE DATABASE"):
            database = "default"
        return http_post(url, sql, dict(settings, database=database))

    post(f"DROP DATABASE IF EXISTS {db} ON CLUSTER vtrack", "default")
    version = post("SELECT version()", "default").strip()
    statements = [s.replace(CLUSTER_SCHEMA_DB, db) for s in statements]
    check(f"cluster of servers {version}", post, statements, queries)
    post(f"DROP DATABASE IF EXISTS {db} ON CLUSTER vtrack", "default")


def parse_chdb(statements):
    """Current ClickHouse's parser on every cluster statement: chdb has no cluster to run them on."""
    import chdb

    for sql in statements:
        literal = sql.replace("\\", "\\\\").replace("'", "\\'")
        try:
            chdb.query(f"SELECT formatQuery('{literal}')", "TSV")
        except Exception as e:  # noqa: BLE001 - report any refusal with the statement
            sys.exit(f"chdb: cluster schema statement refused by the parser:\n{sql}\n--> {e}")
    version = str(chdb.query("SELECT version()", "TSV")).strip()
    print(f"chdb {version}: {len(statements)} cluster schema statements parse")


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
    ap.add_argument("--cluster-server", help="a node of an 18.16 cluster named `vtrack` (HTTP endpoint)")
    args = ap.parse_args()
    statements, queries = schema_statements(), doc_queries()
    run_server(args.server, statements, queries)
    run_chdb(statements, queries)
    if args.cluster_server:
        cluster = cluster_statements()
        run_cluster_server(args.cluster_server, cluster, queries)
        parse_chdb(cluster)


if __name__ == "__main__":
    main()
