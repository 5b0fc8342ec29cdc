//! `vtrack accounts` and `vtrack alerts`: the lists sales looks at, from the same store as `vtrack sql`.

use crate::cmd::sql::{print, Format};
use std::path::PathBuf;
use vtrack_store::SqliteStore;

#[derive(clap::Args, Debug)]
pub struct AccountsArgs {
    #[arg(long, value_name = "DIR", default_value = "./vtrack-data")]
    pub data_dir: PathBuf,
    /// Only accounts in this stage (e.g. `hot`).
    #[arg(long)]
    pub stage: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(clap::Args, Debug)]
pub struct AlertsArgs {
    #[arg(long, value_name = "DIR", default_value = "./vtrack-data")]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

fn is_plain_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn accounts(args: AccountsArgs) -> anyhow::Result<()> {
    let filter = match &args.stage {
        Some(stage) if is_plain_word(stage) => format!("AND stage = '{stage}'"),
        Some(stage) => anyhow::bail!("--stage {stage:?}: a stage name is letters, digits, '-' and '_'"),
        None => String::new(),
    };
    let store = SqliteStore::open_read_only(&args.data_dir)?;
    let result = store.query(&format!(
        "SELECT company_name, company_domain, network_class AS class, stage, score, score_at, visitors, sessions,
           return_visits, pageviews, last_seen, json_extract(top_pages, '$[0].path') AS top_page,
           json_extract(topics, '$[0].topic') AS top_topic, json_extract(campaigns, '$[0].campaign') AS first_campaign
         FROM accounts WHERE excluded = 0 {filter}
         ORDER BY score DESC, last_seen DESC LIMIT {}",
        args.limit
    ))?;
    print(&result, args.format)
}

pub fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let store = SqliteStore::open_read_only(&args.data_dir)?;
    let result = store.query(&format!(
        "SELECT a.raised_at, a.company_domain, a.kind, a.stage, a.score, d.webhook, d.status, d.attempts,
           d.http_status, d.delivered_at, d.last_error
         FROM alerts a LEFT JOIN alert_deliveries d ON d.alert_id = a.alert_id
         ORDER BY a.raised_at DESC, d.webhook_index LIMIT {}",
        args.limit
    ))?;
    print(&result, args.format)
}
