//! `vtrack accounts` and `vtrack alerts`: the lists sales looks at, from the same store as `vtrack sql`.

use crate::cmd::sql::{clickhouse_query, print, Format};
use crate::cmd::store_args::StoreArgs;
use vtrack_model::Config;
use vtrack_store::{ClickHouseUrl, QueryResult, SqliteStore};

#[derive(clap::Args, Debug)]
pub struct AccountsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
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
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print each receiver's URL in full. By default it is redacted to its scheme, host and the last
    /// characters of its path, as the dashboard shows an admin: a receiver's URL is a credential, and a
    /// terminal's output ends up in tickets and screen shares.
    #[arg(long)]
    pub show_webhook_urls: bool,
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
    let sqlite = format!(
        "SELECT company_name, company_domain, network_class AS class, stage, score, score_at, visitors, sessions,
           return_visits, pageviews, last_seen, json_extract(top_pages, '$[0].path') AS top_page,
           json_extract(topics, '$[0].topic') AS top_topic, json_extract(campaigns, '$[0].campaign') AS first_campaign
         FROM accounts WHERE excluded = 0 {filter}
         ORDER BY score DESC, last_seen DESC LIMIT {}",
        args.limit
    );
    // ClickHouse keeps row versions (FINAL takes the latest); visitParamExtract* reads the first field of
    // that name, on 18.16 and on current releases alike.
    let clickhouse = format!(
        "SELECT company_name, company_domain, network_class AS class, stage, score, score_at, visitors, sessions,
           return_visits, pageviews, last_seen, visitParamExtractString(top_pages, 'path') AS top_page,
           visitParamExtractString(topics, 'topic') AS top_topic,
           visitParamExtractString(campaigns, 'campaign') AS first_campaign
         FROM accounts FINAL WHERE excluded = 0 {filter}
         ORDER BY score DESC, last_seen DESC LIMIT {}",
        args.limit
    );
    print(&run(&args.store.to_config()?, &sqlite, &clickhouse)?, args.format)
}

/// Runs the query for whichever store is configured, read-only.
fn run(config: &Config, sqlite: &str, ch: &str) -> anyhow::Result<QueryResult> {
    match &config.clickhouse {
        Some(c) => {
            let url: ClickHouseUrl = c.url.parse()?;
            crate::cmd::runtime()?.block_on(clickhouse_query(&url, !c.cluster.is_empty(), ch))
        }
        None => Ok(SqliteStore::open_read_only(&config.server.data_dir)?.query(sqlite)?),
    }
}

pub fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let sqlite = format!(
        "SELECT a.raised_at, a.company_domain, a.kind, a.stage, a.score, d.webhook, d.status, d.attempts,
           d.http_status, d.delivered_at, d.last_error
         FROM alerts a LEFT JOIN alert_deliveries d ON d.alert_id = a.alert_id
         ORDER BY a.raised_at DESC, d.webhook_index LIMIT {}",
        args.limit
    );
    // Deliveries are row versions in ClickHouse: the latest per delivery is its state.
    let clickhouse = format!(
        "SELECT raised_at, company_domain, kind, stage, score, d_webhook AS webhook, d_status AS status,
           d_attempts AS attempts, d_http_status AS http_status, d_delivered_at AS delivered_at,
           d_last_error AS last_error
         FROM (SELECT alert_id, any(raised_at) AS raised_at, any(company_domain) AS company_domain, any(kind) AS kind,
                 any(stage) AS stage, any(score) AS score
               FROM alerts GROUP BY alert_id)
         ALL LEFT JOIN
              (SELECT alert_id, argMax(webhook, version) AS d_webhook, argMax(webhook_index, version) AS d_index,
                 argMax(status, version) AS d_status, argMax(attempts, version) AS d_attempts,
                 argMax(http_status, version) AS d_http_status, argMax(delivered_at, version) AS d_delivered_at,
                 argMax(last_error, version) AS d_last_error
               FROM alert_deliveries GROUP BY delivery_id, alert_id) USING alert_id
         ORDER BY raised_at DESC, d_index LIMIT {}",
        args.limit
    );
    let config = args.store.to_config()?;
    let result = run(&config, &sqlite, &clickhouse)?;
    print(&name_receivers(result, &config, args.show_webhook_urls), args.format)
}

/// Puts each delivery's receiver name (from the config) before its `webhook` column, and redacts the URL
/// there unless `full` ([`vtrack_model::owners::redact_url`]).
fn name_receivers(mut result: QueryResult, config: &Config, full: bool) -> QueryResult {
    use vtrack_store::query::Value;
    let Some(at) = result.columns.iter().position(|c| c == "webhook") else { return result };
    let receivers = config.receivers();
    result.columns.insert(at, "receiver".into());
    for row in &mut result.rows {
        let (name, shown) = match row.get(at) {
            Some(Value::Text(url)) => {
                let name = receivers.iter().find(|r| r.hook.url == *url).map_or("(not configured)", |r| &r.name);
                let shown = if full { url.clone() } else { vtrack_model::owners::redact_url(url) };
                (Value::Text(name.to_string()), Value::Text(shown))
            }
            other => (Value::Null, other.cloned().unwrap_or(Value::Null)),
        };
        if let Some(cell) = row.get_mut(at) {
            *cell = shown;
        }
        row.insert(at, name);
    }
    result
}
