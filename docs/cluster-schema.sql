-- What `vtrack migrate --clickhouse-cluster vtrack` runs on an empty cluster for the database
-- `analytics`, in order (generated from crates/vtrack-store/src/clickhouse/cluster.rs by its tests;
-- see docs/cluster.md). Each statement ends with `;` at the end of a line.

CREATE DATABASE IF NOT EXISTS `analytics` ON CLUSTER `vtrack`;

CREATE TABLE IF NOT EXISTS `analytics`.vtrack_schema ON CLUSTER `vtrack` (version UInt32, applied_at DateTime('UTC')) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/analytics/vtrack_schema', '{shard}-{replica}') ORDER BY version;

-- migration 1
CREATE TABLE IF NOT EXISTS `analytics`.events_local ON CLUSTER `vtrack` (
    event_id       String,
    site           String,
    ts             DateTime('UTC'),
    received_at    DateTime('UTC'),
    type           String,
    visitor_id     String,
    session_id     String,
    is_return      UInt8,
    url            String,
    path           String,
    referrer       String,
    title          String,
    utm_source     String,
    utm_medium     String,
    utm_campaign   String,
    utm_term       String,
    utm_content    String,
    eng_ms         UInt64,
    email          String,
    props          String,
    company_name   String,
    company_domain String,
    asn            UInt32,
    network_class  String,
    country        String,
    city           String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/events', '{replica}') PARTITION BY toYYYYMMDD(ts)
ORDER BY (site, visitor_id, ts, event_id);
CREATE TABLE IF NOT EXISTS `analytics`.events ON CLUSTER `vtrack` AS `analytics`.events_local ENGINE = Distributed('vtrack', 'analytics', 'events_local', cityHash64(site, visitor_id));
CREATE TABLE IF NOT EXISTS `analytics`.sessions_local ON CLUSTER `vtrack` (
    session_id     String,
    site           String,
    visitor_id     String,
    company_domain String,
    company_name   String,
    network_class  String,
    country        String,
    started_at     DateTime('UTC'),
    ended_at       DateTime('UTC'),
    pageviews      UInt32,
    events         UInt32,
    engaged_ms     UInt64,
    is_return      UInt8,
    entry_path     String,
    referrer       String,
    utm_source     String,
    utm_medium     String,
    utm_campaign   String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/sessions', '{replica}', events) PARTITION BY toYYYYMMDD(started_at)
ORDER BY (site, company_domain, session_id);
CREATE TABLE IF NOT EXISTS `analytics`.sessions ON CLUSTER `vtrack` AS `analytics`.sessions_local ENGINE = Distributed('vtrack', 'analytics', 'sessions_local', cityHash64(site, if(company_domain = '', visitor_id, company_domain)));
CREATE TABLE IF NOT EXISTS `analytics`.accounts_local ON CLUSTER `vtrack` (
    site           String,
    company_domain String,
    company_name   String,
    network_class  String,
    country        String,
    first_seen     DateTime('UTC'),
    last_seen      DateTime('UTC'),
    visitors       UInt32,
    sessions       UInt32,
    pageviews      UInt32,
    engaged_ms     UInt64,
    score          Float64,
    score_at       DateTime('UTC'),
    stage          String,
    return_visits  UInt32,
    topics         String,
    top_pages      String,
    campaigns      String,
    contacts       String,
    is_target      UInt8,
    excluded       UInt8,
    version        UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/accounts', '{replica}', version) ORDER BY (site, company_domain);
CREATE TABLE IF NOT EXISTS `analytics`.accounts ON CLUSTER `vtrack` AS `analytics`.accounts_local ENGINE = Distributed('vtrack', 'analytics', 'accounts_local', cityHash64(site, company_domain));
CREATE TABLE IF NOT EXISTS `analytics`.alerts_local ON CLUSTER `vtrack` (
    alert_id       String,
    site           String,
    company_domain String,
    kind           String,
    stage          String,
    score          Float64,
    raised_at      DateTime('UTC'),
    payload        String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/alerts', '{replica}') ORDER BY (site, company_domain, alert_id);
CREATE TABLE IF NOT EXISTS `analytics`.alerts ON CLUSTER `vtrack` AS `analytics`.alerts_local ENGINE = Distributed('vtrack', 'analytics', 'alerts_local', cityHash64(site, company_domain));
CREATE TABLE IF NOT EXISTS `analytics`.alert_deliveries_local ON CLUSTER `vtrack` (
    delivery_id     String,
    alert_id        String,
    site            String,
    company_domain  String,
    webhook         String,
    webhook_index   UInt32,
    status          String,
    attempts        UInt32,
    next_attempt_ms UInt64,
    http_status     UInt16,
    last_error      String,
    created_at      DateTime('UTC'),
    delivered_at    DateTime('UTC'),
    kafka_partition Int32,
    version         UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/alert_deliveries', '{replica}', version) ORDER BY delivery_id;
CREATE TABLE IF NOT EXISTS `analytics`.alert_deliveries ON CLUSTER `vtrack` AS `analytics`.alert_deliveries_local ENGINE = Distributed('vtrack', 'analytics', 'alert_deliveries_local', cityHash64(site, company_domain));
INSERT INTO `analytics`.vtrack_schema VALUES (1, now());

-- migration 2
CREATE TABLE IF NOT EXISTS `analytics`.account_status_local ON CLUSTER `vtrack` (
    site           String,
    company_domain String,
    status         String,
    note           String,
    set_by         String,
    set_at         DateTime('UTC'),
    score          Float64,
    seq            UInt64
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/account_status', '{replica}') ORDER BY (site, company_domain, seq);
CREATE TABLE IF NOT EXISTS `analytics`.account_status ON CLUSTER `vtrack` AS `analytics`.account_status_local ENGINE = Distributed('vtrack', 'analytics', 'account_status_local', cityHash64(site, company_domain));
INSERT INTO `analytics`.vtrack_schema VALUES (2, now());

-- migration 3
ALTER TABLE `analytics`.accounts_local ON CLUSTER `vtrack` ADD COLUMN state String DEFAULT '';
ALTER TABLE `analytics`.accounts_local ON CLUSTER `vtrack` ADD COLUMN scoring String DEFAULT '';
DROP TABLE IF EXISTS `analytics`.accounts ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.accounts ON CLUSTER `vtrack` AS `analytics`.accounts_local ENGINE = Distributed('vtrack', 'analytics', 'accounts_local', cityHash64(site, company_domain));
INSERT INTO `analytics`.vtrack_schema VALUES (3, now());

-- migration 4
ALTER TABLE `analytics`.events_local ON CLUSTER `vtrack` ADD COLUMN id_source String DEFAULT '';
ALTER TABLE `analytics`.events_local ON CLUSTER `vtrack` ADD COLUMN id_confidence UInt8 DEFAULT 0;
ALTER TABLE `analytics`.sessions_local ON CLUSTER `vtrack` ADD COLUMN id_source String DEFAULT '';
ALTER TABLE `analytics`.sessions_local ON CLUSTER `vtrack` ADD COLUMN id_confidence UInt8 DEFAULT 0;
ALTER TABLE `analytics`.accounts_local ON CLUSTER `vtrack` ADD COLUMN id_source String DEFAULT '';
ALTER TABLE `analytics`.accounts_local ON CLUSTER `vtrack` ADD COLUMN id_confidence UInt8 DEFAULT 0;
CREATE TABLE IF NOT EXISTS `analytics`.identities_local ON CLUSTER `vtrack` (
    site           String,
    visitor_id     String,
    company_domain String,
    identified_ms  Int64,
    network_key    String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/identities', '{replica}', identified_ms) ORDER BY (site, visitor_id);
CREATE TABLE IF NOT EXISTS `analytics`.identities ON CLUSTER `vtrack` AS `analytics`.identities_local ENGINE = Distributed('vtrack', 'analytics', 'identities_local', cityHash64(site, visitor_id));
CREATE TABLE IF NOT EXISTS `analytics`.learned_keys_local ON CLUSTER `vtrack` (
    site           String,
    from_key       String,
    company_domain String,
    learned_at     DateTime('UTC')
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/learned_keys', '{replica}') ORDER BY (site, from_key);
CREATE TABLE IF NOT EXISTS `analytics`.learned_keys ON CLUSTER `vtrack` AS `analytics`.learned_keys_local ENGINE = Distributed('vtrack', 'analytics', 'learned_keys_local', cityHash64(site, from_key));
DROP TABLE IF EXISTS `analytics`.accounts ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.accounts ON CLUSTER `vtrack` AS `analytics`.accounts_local ENGINE = Distributed('vtrack', 'analytics', 'accounts_local', cityHash64(site, company_domain));
DROP TABLE IF EXISTS `analytics`.events ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.events ON CLUSTER `vtrack` AS `analytics`.events_local ENGINE = Distributed('vtrack', 'analytics', 'events_local', cityHash64(site, visitor_id));
DROP TABLE IF EXISTS `analytics`.sessions ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.sessions ON CLUSTER `vtrack` AS `analytics`.sessions_local ENGINE = Distributed('vtrack', 'analytics', 'sessions_local', cityHash64(site, if(company_domain = '', visitor_id, company_domain)));
INSERT INTO `analytics`.vtrack_schema VALUES (4, now());

-- migration 5
CREATE TABLE IF NOT EXISTS `analytics`.learned_ranges_local ON CLUSTER `vtrack` (
    network        String,
    company_name   String,
    company_domain String,
    network_class  String,
    source         String,
    confidence     UInt8,
    evidence       String,
    found_at       DateTime('UTC'),
    expires_at     DateTime('UTC')
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/learned_ranges', '{replica}', found_at) ORDER BY network;
CREATE TABLE IF NOT EXISTS `analytics`.learned_ranges ON CLUSTER `vtrack` AS `analytics`.learned_ranges_local ENGINE = Distributed('vtrack', 'analytics', 'learned_ranges_local', cityHash64(network));
INSERT INTO `analytics`.vtrack_schema VALUES (5, now());

-- migration 6
CREATE TABLE IF NOT EXISTS `analytics`.account_owners_local ON CLUSTER `vtrack` (
    site           String,
    company_domain String,
    owner          String,
    changed_by     String,
    changed_at     DateTime('UTC'),
    seq            UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/account_owners', '{replica}', seq) ORDER BY (site, company_domain);
CREATE TABLE IF NOT EXISTS `analytics`.account_owners ON CLUSTER `vtrack` AS `analytics`.account_owners_local ENGINE = Distributed('vtrack', 'analytics', 'account_owners_local', cityHash64(site, company_domain));
CREATE TABLE IF NOT EXISTS `analytics`.account_owner_history_local ON CLUSTER `vtrack` (
    site           String,
    company_domain String,
    owner          String,
    previous_owner String,
    changed_by     String,
    reason         String,
    changed_at     DateTime('UTC'),
    seq            UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/account_owner_history', '{replica}') ORDER BY (site, company_domain, seq, reason);
CREATE TABLE IF NOT EXISTS `analytics`.account_owner_history ON CLUSTER `vtrack` AS `analytics`.account_owner_history_local ENGINE = Distributed('vtrack', 'analytics', 'account_owner_history_local', cityHash64(site, company_domain));
INSERT INTO `analytics`.vtrack_schema VALUES (6, now());

-- migration 7
ALTER TABLE `analytics`.events_local ON CLUSTER `vtrack` ADD COLUMN class_confidence UInt8 DEFAULT 0;
ALTER TABLE `analytics`.sessions_local ON CLUSTER `vtrack` ADD COLUMN class_confidence UInt8 DEFAULT 0;
ALTER TABLE `analytics`.accounts_local ON CLUSTER `vtrack` ADD COLUMN class_confidence UInt8 DEFAULT 0;
CREATE TABLE IF NOT EXISTS `analytics`.network_evidence_local ON CLUSTER `vtrack` (
    asn              UInt32,
    name             String,
    ptr_looked_up    UInt8,
    ptr_generated    UInt8,
    ptr_servers      UInt8,
    ptr_organisation UInt8,
    ptr_domain       String,
    traffic_visitors UInt32,
    traffic_networks UInt32,
    traffic_cities   UInt32,
    base_class       String,
    base_confidence  UInt8,
    network_class    String,
    class_confidence UInt8,
    account_key      String,
    signals          String,
    decided_at       DateTime('UTC'),
    expires_at       DateTime('UTC'),
    version          UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/network_evidence', '{replica}', version) ORDER BY asn;
CREATE TABLE IF NOT EXISTS `analytics`.network_evidence ON CLUSTER `vtrack` AS `analytics`.network_evidence_local ENGINE = Distributed('vtrack', 'analytics', 'network_evidence_local', cityHash64(asn));
CREATE TABLE IF NOT EXISTS `analytics`.network_traffic_local ON CLUSTER `vtrack` (
    site           String,
    asn            UInt32,
    day            Date,
    visitors       UInt64,
    prefixes       UInt64,
    cities         UInt64
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/network_traffic', '{replica}') PARTITION BY toYYYYMM(day)
ORDER BY (asn, site, day);
CREATE TABLE IF NOT EXISTS `analytics`.network_traffic ON CLUSTER `vtrack` AS `analytics`.network_traffic_local ENGINE = Distributed('vtrack', 'analytics', 'network_traffic_local', cityHash64(asn));
CREATE TABLE IF NOT EXISTS `analytics`.rekeyed_local ON CLUSTER `vtrack` (
    rule           String,
    with_as_data   UInt8,
    done_at        DateTime('UTC')
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/rekeyed', '{replica}') ORDER BY rule;
CREATE TABLE IF NOT EXISTS `analytics`.rekeyed ON CLUSTER `vtrack` AS `analytics`.rekeyed_local ENGINE = Distributed('vtrack', 'analytics', 'rekeyed_local', cityHash64(rule));
DROP TABLE IF EXISTS `analytics`.accounts ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.accounts ON CLUSTER `vtrack` AS `analytics`.accounts_local ENGINE = Distributed('vtrack', 'analytics', 'accounts_local', cityHash64(site, company_domain));
DROP TABLE IF EXISTS `analytics`.events ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.events ON CLUSTER `vtrack` AS `analytics`.events_local ENGINE = Distributed('vtrack', 'analytics', 'events_local', cityHash64(site, visitor_id));
DROP TABLE IF EXISTS `analytics`.sessions ON CLUSTER `vtrack`;
CREATE TABLE IF NOT EXISTS `analytics`.sessions ON CLUSTER `vtrack` AS `analytics`.sessions_local ENGINE = Distributed('vtrack', 'analytics', 'sessions_local', cityHash64(site, if(company_domain = '', visitor_id, company_domain)));
INSERT INTO `analytics`.vtrack_schema VALUES (7, now());
