//! `vtrack build-db`: compiles the IP → company sources into one snapshot file.
//!
//! Reading half a million CSV rows and resolving their overlaps takes seconds; loading the snapshot takes
//! milliseconds. `serve` and `ingest` take either the sources or `--db table.bin`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use vtrack_resolve::{Sources, Table};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub sources: crate::cmd::sources::SourceArgs,
    /// Where to write the snapshot.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

fn bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    // Drawn on stderr only when it is a terminal.
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.sources.to_config(None);
    if !cfg.has_source() {
        bail!("nothing to compile: give at least one of --companies, --mmdb, --asn-csv, --country-csv");
    }
    let started = Instant::now();
    let progress = bar(args.quiet);
    let sources = Sources::load(&cfg, |path| progress.set_message(format!("reading {}", path.display())))?;
    progress.finish_and_clear();
    let read = started.elapsed();

    let progress = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(Table::BUILD_STEPS) };
    if let Ok(style) = ProgressStyle::with_template("compiling {bar:40} {percent:>3}% {elapsed}") {
        progress.set_style(style);
    }
    let table = Table::from_sources_with_progress(&sources, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let compiled = started.elapsed() - read;

    table.write_snapshot(&args.output).with_context(|| format!("cannot write {}", args.output.display()))?;
    let size = std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    let load = Instant::now();
    Table::read_snapshot(&args.output).context("the snapshot just written does not read back")?;
    let load = load.elapsed();
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "wrote {}: {} source ranges, {} records, {:.1} MiB in memory ({:.1} MiB trie), {:.1} MiB on disk\n\
         read {:.2?}, compiled {:.2?}; the snapshot loads in {:.2?}",
        args.output.display(),
        sources.len(),
        table.records(),
        mib(table.memory_bytes()),
        mib(table.index_bytes()),
        size as f64 / (1024.0 * 1024.0),
        read,
        compiled,
        load,
    );
    Ok(())
}
