//! `vtrack sql`: read-only SQL over the store, printed as a table, CSV or JSON.

use anyhow::Context;
use std::io::{Read, Write};
use std::path::PathBuf;
use vtrack_store::{QueryResult, SqliteStore};

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The store `vtrack serve` writes to.
    #[arg(long, value_name = "DIR", default_value = "./vtrack-data")]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The query; `-` reads it from standard input. The store is opened read-only: writes and DDL fail.
    pub query: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let query = if args.query == "-" {
        let mut q = String::new();
        std::io::stdin().read_to_string(&mut q).context("cannot read the query from stdin")?;
        q
    } else {
        args.query
    };
    let store = SqliteStore::open_read_only(&args.data_dir)?;
    print(&store.query(&query)?, args.format)
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
    let text = v.to_text().replace(['\n', '\r', '\t'], " ");
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
    line(out, &r.columns)?;
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
        w.write_record(row.iter().map(|v| v.to_text()))?;
    }
    w.flush()?;
    Ok(())
}
