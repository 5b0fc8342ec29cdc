//! `vtrack sql`: read-only SQL over the store, printed as a table, CSV or JSON.
//!
//! Read-only is the store's own guarantee, not a string check: SQLite is opened read-only, and ClickHouse
//! queries carry `readonly=1`, under which the server refuses writes, DDL and setting changes. SQLite also
//! refuses any statement that is not read-only before it runs (`VACUUM INTO` would otherwise create its
//! file before failing), and `--timeout` interrupts a query that runs too long (a runaway recursive CTE).
//!
//! What is printed is defused for where it goes: CSV text cells cannot run as spreadsheet formulas, table
//! cells carry no control characters (`vtrack_model::text`), and JSON escapes them.

use anyhow::Context;
use std::io::{Read, Write};
use vtrack_store::{ClickHouseUrl, QueryResult, SqliteStore, Value};

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub store: super::store_args::StoreArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The query; `-` reads it from standard input. The store is opened read-only: writes and DDL fail.
    pub query: String,
    /// Stop the query after this long (`30s`, `5m`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: std::time::Duration,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let query = if args.query == "-" {
        let mut q = String::new();
        std::io::stdin().read_to_string(&mut q).context("cannot read the query from stdin")?;
        q
    } else {
        args.query
    };
    let config = args.store.to_config()?;
    if let Some(c) = &config.clickhouse {
        let url: ClickHouseUrl = c.url.parse()?;
        let timeout = args.timeout;
        let cluster = !c.cluster.is_empty();
        let result = super::runtime()?
            .block_on(async { tokio::time::timeout(timeout, clickhouse_query(&url, cluster, &query)).await })
            .map_err(|_| {
                anyhow::anyhow!("the query took longer than {} (--timeout)", humantime::format_duration(timeout))
            })??;
        return print(&result, args.format);
    }
    let store = SqliteStore::open_read_only(&config.server.data_dir)?;
    print(&store.query_within(&query, args.timeout)?, args.format)
}

/// Runs `query` on ClickHouse with `readonly=1` and reads the `JSONCompact` answer. On a `cluster`, with the
/// settings its reads need too (`vtrack_store::clickhouse::cluster::READ_SETTINGS`); a user whose profile is
/// read-only may not send any, so for them it is sent again without, and their profile must carry them.
pub async fn clickhouse_query(url: &ClickHouseUrl, cluster: bool, query: &str) -> anyhow::Result<QueryResult> {
    if cluster {
        let settings: String =
            vtrack_store::clickhouse::cluster::READ_SETTINGS.iter().map(|(k, v)| format!("&{k}={v}")).collect();
        match clickhouse_query_with(url, &settings, query).await {
            Err(e) if e.to_string().contains("Code: 164") => {
                tracing::debug!("the user may not change settings: the query goes without the cluster's");
            }
            answer => return answer,
        }
    }
    clickhouse_query_with(url, "", query).await
}

async fn clickhouse_query_with(url: &ClickHouseUrl, settings: &str, query: &str) -> anyhow::Result<QueryResult> {
    let query = query.trim().trim_end_matches(';').trim_end();
    let endpoint = format!("{}/?readonly=1&database={}{settings}", url.endpoint.trim_end_matches('/'), url.database);
    let mut headers = Vec::new();
    if let Some(u) = &url.user {
        headers.push(("X-ClickHouse-User", u.as_str()));
    }
    if let Some(p) = &url.password {
        headers.push(("X-ClickHouse-Key", p.as_str()));
    }
    let body = format!("{query}\nFORMAT JSONCompact");
    let (status, answer) = crate::client::HttpClient::default()
        .post(&endpoint, &headers, body)
        .await
        .with_context(|| format!("cannot reach ClickHouse at {}", url.endpoint))?;
    if status != 200 {
        anyhow::bail!("clickhouse refused the query ({status}): {}", String::from_utf8_lossy(&answer).trim());
    }
    parse_json_compact(&answer)
}

/// Turns ClickHouse's `JSONCompact` into rows: 64-bit integers arrive quoted and are read back as numbers.
fn parse_json_compact(answer: &[u8]) -> anyhow::Result<QueryResult> {
    use serde_json::Value as J;
    let doc: J = serde_json::from_slice(answer).context("clickhouse sent an answer that is not JSONCompact")?;
    let meta = doc["meta"].as_array().cloned().unwrap_or_default();
    let columns: Vec<String> = meta.iter().map(|m| m["name"].as_str().unwrap_or("").to_string()).collect();
    let types: Vec<String> = meta.iter().map(|m| m["type"].as_str().unwrap_or("").to_string()).collect();
    let mut rows = Vec::new();
    for row in doc["data"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let cells = row.as_array().map(Vec::as_slice).unwrap_or(&[]);
        rows.push(
            cells
                .iter()
                .zip(&types)
                .map(|(c, t)| match c {
                    J::Null => Value::Null,
                    J::Number(n) => {
                        n.as_i64().map(Value::Int).unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)))
                    }
                    J::String(s) if t.contains("Int") => {
                        s.parse().map(Value::Int).unwrap_or_else(|_| Value::Text(s.clone()))
                    }
                    J::String(s) => Value::Text(s.clone()),
                    J::Bool(b) => Value::Int(i64::from(*b)),
                    other => Value::Text(other.to_string()),
                })
                .collect(),
        );
    }
    Ok(QueryResult { columns, rows })
}

/// Prints a result in the chosen format to stdout.
pub fn print(result: &QueryResult, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => write_table(&mut out, result),
        Format::Csv => write_csv(&mut out, result),
        Format::Json => writeln!(out, "{}", result.to_json()).map_err(Into::into),
    }
}

/// Longest cell shown in table output; CSV and JSON are never cut.
const MAX_CELL: usize = 60;

fn cell(v: &vtrack_store::Value) -> String {
    let text = vtrack_model::text::terminal_cell(&v.to_text()).into_owned();
    if text.chars().count() > MAX_CELL {
        let mut cut: String = text.chars().take(MAX_CELL - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

pub fn write_table(out: &mut impl Write, r: &QueryResult) -> anyhow::Result<()> {
    let cells: Vec<Vec<String>> = r.rows.iter().map(|row| row.iter().map(cell).collect()).collect();
    let mut widths: Vec<usize> = r.columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, items: &[String]| -> std::io::Result<()> {
        let padded: Vec<String> = items.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    let columns: Vec<String> = r.columns.iter().map(|c| vtrack_model::text::terminal_cell(c).into_owned()).collect();
    line(out, &columns)?;
    line(out, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>())?;
    for row in &cells {
        line(out, row)?;
    }
    writeln!(out, "({} row{})", r.rows.len(), if r.rows.len() == 1 { "" } else { "s" })?;
    Ok(())
}

fn write_csv(out: &mut impl Write, r: &QueryResult) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&r.columns)?;
    for row in &r.rows {
        w.write_record(row.iter().map(|v| match v {
            Value::Text(t) => vtrack_model::text::spreadsheet_cell(t).into_owned(),
            other => other.to_text(),
        }))?;
    }
    w.flush()?;
    Ok(())
}
