//! How well [`classify`](crate::classify::classify) tells companies from ISPs, clouds and VPNs, measured
//! on hand-labelled sets of real ASes (`vtrack classify --eval`): `fixtures/classify-eval.csv`, the set
//! the rules were written against, and `fixtures/classify-holdout.csv`, real ASes outside it labelled
//! before the rules changed, the measure of how they generalise. [`evaluate_profiled`] scores what the
//! resolver does with the AS data at hand (each AS's [footprint](crate::as_profile)), [`evaluate`] the
//! name rules alone.
//!
//! The set is labelled from public knowledge, never from the classifier, so the report is an honest
//! measure of the rules: overall accuracy, accuracy per class, the confusion matrix (expected × predicted)
//! and every misclassified row with the labeller's reason. Parsing and scoring live here, apart from the
//! command's printing, so tests score the committed set the same way the command does.
//!
//! The CSV has the header `asn,name,country,class,reason`: `name` is the organisation name exactly as the
//! AS data spells it (the classifier sees what the resolver sees), `country` an ISO 3166-1 alpha-2 code,
//! `class` one of `business`, `isp`, `hosting`, `education`, `government` (`unknown` is not a label: every
//! row is a real organisation someone could look up).
//!
//! A **random sample** (`fixtures/classify-random.csv`, drawn by `scripts/classify-sample.py`) adds three
//! columns, `sample,stratum,half`: which draw the AS came from ([`Sample::Size`], the same number from each
//! size stratum, or [`Sample::Addresses`], in proportion to its addresses, so the plain accuracy on it is
//! the address-weighted accuracy), its size stratum, and its [`Half`]: `dev` rows may be read and tuned on,
//! `test` rows are only scored. Such a file keeps the rows a labeller could not place, as class `skip`, so
//! the draw stays checkable against its seed; they are counted, never scored. [`summarize`] scores each
//! half apart.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use vtrack_model::NetworkClass;

/// The header every evaluation file starts with, in this order.
pub const HEADER: [&str; 5] = ["asn", "name", "country", "class", "reason"];

/// The columns a random sample adds after [`HEADER`], in this order.
pub const SAMPLE_HEADER: [&str; 3] = ["sample", "stratum", "half"];

/// The class a labeller writes for a drawn AS that public knowledge cannot place.
pub const SKIP: &str = "skip";

/// Which draw of a random sample a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sample {
    /// The same number of ASes from each size stratum.
    Size,
    /// ASes drawn in proportion to their IPv4 addresses: accuracy here is address-weighted accuracy.
    Addresses,
}

/// Which half of a random sample a row is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Half {
    /// Its misses may be read and the rules changed for them.
    Dev,
    /// Scored and reported only: a rule tuned on its rows would make the figure meaningless.
    Test,
    /// A training sample: what the class model is fitted on, with the dev half.
    Train,
}

/// Where a row of a random sample came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drawn {
    pub sample: Sample,
    /// `small` (256–4,095 IPv4 addresses), `medium` (4,096–65,535), `large`, or `tiny` for an AS the
    /// address-weighted draw took below 256.
    pub stratum: String,
    pub half: Half,
}

/// One hand-labelled AS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvalRow {
    /// The line of the file the row is on (1 is the header), for error messages and reports.
    pub line: u64,
    /// The AS number.
    pub asn: u32,
    /// The organisation name as the AS data spells it.
    pub name: String,
    /// The organisation's ISO 3166-1 alpha-2 country, uppercase.
    pub country: String,
    /// The class a person assigned.
    pub class: NetworkClass,
    /// Why, in one line.
    pub reason: String,
    /// For a row of a random sample, the draw it came from.
    pub drawn: Option<Drawn>,
}

/// An evaluation file as read: the labelled rows, and how many drawn rows could not be labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalSet {
    pub rows: Vec<EvalRow>,
    /// Rows labelled `skip` (random samples only).
    pub skipped: usize,
}

/// Why an evaluation file cannot be read. Every variant names the file, and the line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file cannot be opened or read. The I/O error is in the message rather than a `source`, so a
    /// report of the whole chain (`{:#}`) does not print it twice.
    #[error("cannot read evaluation set {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// The first line is not `asn,name,country,class,reason`, optionally followed by `sample,stratum,half`.
    #[error("{path}:1: the header must be `asn,name,country,class,reason` (then `sample,stratum,half` for a random sample), found `{found}`")]
    Header { path: String, found: String },
    /// A line is not valid CSV (bad quoting, a wrong number of fields, invalid UTF-8).
    #[error("{path}:{line}: {message}")]
    Csv { path: String, line: u64, message: String },
    /// A field of a row has a value it cannot have.
    #[error("{path}:{line}: {message}")]
    Field { path: String, line: u64, message: String },
    /// The file has a header but no rows: nothing to score.
    #[error("{path}: no rows after the header")]
    Empty { path: String },
}

/// Reads the evaluation set at `path`: its labelled rows.
pub fn read(path: &Path) -> Result<Vec<EvalRow>, EvalError> {
    read_set(path).map(|set| set.rows)
}

/// Reads the evaluation set at `path`, with the count of drawn rows that were not labelled.
pub fn read_set(path: &Path) -> Result<EvalSet, EvalError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| EvalError::Io { path: shown.clone(), error })?;
    parse_set(file, &shown)
}

/// Parses an evaluation set from `input`: its labelled rows (see [`parse_set`]).
pub fn parse(input: impl Read, origin: &str) -> Result<Vec<EvalRow>, EvalError> {
    parse_set(input, origin).map(|set| set.rows)
}

/// Parses an evaluation set from `input`; `origin` names it in errors (a path, or `<memory>`).
///
/// Strict on purpose: a mislabelled or mistyped row would silently skew the measure, so any bad row
/// fails the whole set with its line number.
pub fn parse_set(input: impl Read, origin: &str) -> Result<EvalSet, EvalError> {
    let path = origin.to_string();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(input);
    let csv_error = |e: csv::Error, path: &str| {
        let line = e.position().map_or(0, |p| p.line());
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(error) => EvalError::Io { path: path.to_string(), error },
            _ => EvalError::Csv { path: path.to_string(), line, message },
        }
    };
    let header = reader.headers().map_err(|e| csv_error(e, &path))?.clone();
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let sampled = names.len() == HEADER.len() + SAMPLE_HEADER.len() && names[HEADER.len()..] == SAMPLE_HEADER;
    if names[..names.len().min(HEADER.len())] != HEADER || (names.len() != HEADER.len() && !sampled) {
        return Err(EvalError::Header { path, found: header.iter().collect::<Vec<_>>().join(",") });
    }
    let mut rows = Vec::new();
    let mut skipped = 0;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(e, &path))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |message: String| EvalError::Field { path: path.clone(), line, message };
        let asn = record[0]
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| field(format!("bad AS number {:?}: expected a positive integer", &record[0])))?;
        let name = record[1].trim().to_string();
        if name.is_empty() {
            return Err(field("empty organisation name".to_string()));
        }
        let country = record[2].trim().to_string();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(field(format!("bad country {country:?}: expected an ISO 3166-1 alpha-2 code like DE")));
        }
        let drawn = if sampled { Some(drawn(&record, &field)?) } else { None };
        if sampled && record[3].trim() == SKIP {
            skipped += 1;
            continue;
        }
        let class =
            record[3].parse::<NetworkClass>().ok().filter(|&c| c != NetworkClass::Unknown).ok_or_else(|| {
                field(format!(
                    "unknown class {:?}: expected business, isp, hosting, education or government{}",
                    &record[3],
                    if sampled { " (or skip)" } else { "" }
                ))
            })?;
        let reason = record[4].trim().to_string();
        rows.push(EvalRow { line, asn, name, country, class, reason, drawn });
    }
    if rows.is_empty() {
        return Err(EvalError::Empty { path });
    }
    Ok(EvalSet { rows, skipped })
}

/// The `sample,stratum,half` columns of a random sample's row.
fn drawn(record: &csv::StringRecord, field: &dyn Fn(String) -> EvalError) -> Result<Drawn, EvalError> {
    let sample = match record[5].trim() {
        "size" => Sample::Size,
        "addresses" => Sample::Addresses,
        other => return Err(field(format!("bad sample {other:?}: expected size or addresses"))),
    };
    let stratum = record[6].trim();
    if !["tiny", "small", "medium", "large"].contains(&stratum) {
        return Err(field(format!("bad stratum {stratum:?}: expected tiny, small, medium or large")));
    }
    let half = match record[7].trim() {
        "dev" => Half::Dev,
        "test" => Half::Test,
        "train" => Half::Train,
        other => return Err(field(format!("bad half {other:?}: expected dev, test or train"))),
    };
    Ok(Drawn { sample, stratum: stratum.to_string(), half })
}

/// The score of one expected class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassScore {
    /// The expected class.
    pub class: NetworkClass,
    /// Rows labelled with it.
    pub count: usize,
    /// Of those, the ones the classifier got right.
    pub correct: usize,
}

impl ClassScore {
    /// `correct / count` in percent (0 for an empty class).
    pub fn percent(&self) -> f64 {
        percent(self.correct, self.count)
    }
}

/// A row the classifier got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Miss {
    pub line: u64,
    pub asn: u32,
    pub name: String,
    pub country: String,
    pub expected: NetworkClass,
    pub got: NetworkClass,
    pub reason: String,
}

/// The outcome of scoring a set: what `vtrack classify --eval` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Rows scored.
    pub total: usize,
    /// Rows classified as labelled.
    pub correct: usize,
    /// `correct / total` in percent.
    pub accuracy: f64,
    /// One entry per class of [`NetworkClass::ALL`] that has at least one row, in that order.
    pub per_class: Vec<ClassScore>,
    /// The classes indexing [`Report::confusion`] (all six, so `unknown` predictions show too).
    pub classes: [NetworkClass; 6],
    /// `confusion[expected][predicted]`: row counts, indexed like [`Report::classes`].
    pub confusion: [[usize; 6]; 6],
    /// The misclassified rows, in file order.
    pub misses: Vec<Miss>,
    /// Networks that are never accounts (labelled `isp` or `hosting`) and how many of them the rules
    /// called `business`: the costly miss, since each becomes an account that can turn hot.
    pub leak: Leak,
    /// Accuracy per size stratum, for the rows of a random sample (empty otherwise).
    pub per_stratum: Vec<StratumScore>,
}

/// How many non-account networks were called `business`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// Rows labelled `isp` or `hosting`.
    pub non_business: usize,
    /// Of those, predicted `business`.
    pub called_business: usize,
}

impl Leak {
    /// `called_business / non_business` in percent.
    pub fn percent(&self) -> f64 {
        percent(self.called_business, self.non_business)
    }
}

/// The score of one size stratum of a random sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StratumScore {
    pub stratum: String,
    pub count: usize,
    pub correct: usize,
}

impl StratumScore {
    pub fn percent(&self) -> f64 {
        percent(self.correct, self.count)
    }
}

/// A random sample scored half by half, each half by draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Drawn rows that could not be labelled.
    pub skipped: usize,
    /// `train`, `dev` then `test`, each present when the file has rows of it.
    pub halves: Vec<HalfReport>,
}

/// One half of a random sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HalfReport {
    pub half: Half,
    /// The rows drawn by size stratum.
    pub by_size: Report,
    /// The rows drawn in proportion to their addresses: `by_addresses.accuracy` is the address-weighted
    /// accuracy.
    pub by_addresses: Report,
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn index(class: NetworkClass) -> usize {
    NetworkClass::ALL.iter().position(|&c| c == class).expect("ALL holds every class")
}

/// Scores `rows` with the resolver's own [`classify`](crate::classify::classify).
pub fn evaluate(rows: &[EvalRow]) -> Report {
    evaluate_with(rows, crate::classify::classify)
}

/// Scores `rows` with the resolver's [`classify_profiled`](crate::classify::classify_profiled), each AS
/// with its footprint from `profiles` when they have it: what the table build does with the AS data.
pub fn evaluate_profiled(rows: &[EvalRow], profiles: &crate::as_profile::AsProfiles) -> Report {
    evaluate_with(rows, |name, asn| crate::classify::classify_profiled(name, asn, profiles.get(asn)))
}

/// Scores `rows` with any classifier of a name and AS number: a pure function, deterministic for a
/// deterministic classifier (rows are kept in input order).
pub fn evaluate_with(rows: &[EvalRow], classifier: impl Fn(&str, u32) -> NetworkClass) -> Report {
    let mut confusion = [[0usize; 6]; 6];
    let mut misses = Vec::new();
    let mut leak = Leak { non_business: 0, called_business: 0 };
    let mut strata: std::collections::BTreeMap<&str, (usize, usize)> = std::collections::BTreeMap::new();
    for row in rows {
        let got = classifier(&row.name, row.asn);
        confusion[index(row.class)][index(got)] += 1;
        if !row.class.is_account() {
            leak.non_business += 1;
            leak.called_business += usize::from(got == NetworkClass::Business);
        }
        if let Some(d) = &row.drawn {
            let s = strata.entry(d.stratum.as_str()).or_default();
            s.0 += 1;
            s.1 += usize::from(got == row.class);
        }
        if got != row.class {
            misses.push(Miss {
                line: row.line,
                asn: row.asn,
                name: row.name.clone(),
                country: row.country.clone(),
                expected: row.class,
                got,
                reason: row.reason.clone(),
            });
        }
    }
    let per_class: Vec<ClassScore> = NetworkClass::ALL
        .into_iter()
        .map(|class| {
            let i = index(class);
            ClassScore { class, count: confusion[i].iter().sum(), correct: confusion[i][i] }
        })
        .filter(|s| s.count > 0)
        .collect();
    let total = rows.len();
    let correct = total - misses.len();
    Report {
        total,
        correct,
        accuracy: percent(correct, total),
        per_class,
        classes: NetworkClass::ALL,
        confusion,
        misses,
        leak,
        per_stratum: ["tiny", "small", "medium", "large"]
            .into_iter()
            .filter_map(|k| strata.get(k).map(|&(count, correct)| StratumScore { stratum: k.into(), count, correct }))
            .collect(),
    }
}

/// Scores a random sample (rows with [`Drawn`]) half by half and, within each half, the size draw and
/// the address draw apart. Rows without a draw are left out.
pub fn summarize(set: &EvalSet, classifier: impl Fn(&str, u32) -> NetworkClass) -> Summary {
    let part = |half: Half, sample: Sample| -> Vec<EvalRow> {
        set.rows
            .iter()
            .filter(|r| r.drawn.as_ref().is_some_and(|d| d.half == half && d.sample == sample))
            .cloned()
            .collect()
    };
    let halves = [Half::Train, Half::Dev, Half::Test]
        .into_iter()
        .filter(|&h| set.rows.iter().any(|r| r.drawn.as_ref().is_some_and(|d| d.half == h)))
        .map(|half| HalfReport {
            half,
            by_size: evaluate_with(&part(half, Sample::Size), &classifier),
            by_addresses: evaluate_with(&part(half, Sample::Addresses), &classifier),
        })
        .collect();
    Summary { skipped: set.skipped, halves }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NetworkClass::{Business, Education, Government, Hosting, Isp, Unknown};

    const SMALL: &str = "asn,name,country,class,reason
13335,\"Cloudflare, Inc.\",US,hosting,CDN
64500,Example Broadband,DE,isp,access
64501,Acme Cloud Robotics,US,business,robot maker whose name says cloud
64502,Northwind University,GB,education,a university
64503,Stadtverwaltung Beispiel,DE,government,a town hall
";

    #[test]
    fn parses_rows_with_their_lines() {
        let rows = parse(SMALL.as_bytes(), "<memory>").unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].name, "Cloudflare, Inc.");
        assert_eq!((rows[4].line, rows[4].class, rows[4].country.as_str()), (6, Government, "DE"));
    }

    #[test]
    fn report_counts_are_exact() {
        let rows = parse(SMALL.as_bytes(), "<memory>").unwrap();
        let report = evaluate(&rows);
        // Right: Cloudflare (well-known ASN), Example Broadband, Northwind University.
        // Right too: "Stadtverwaltung Beispiel" (a town hall: `stadtverwaltung`).
        // Wrong: "Acme Cloud Robotics" -> hosting (cloud*).
        assert_eq!((report.total, report.correct), (5, 4));
        assert!((report.accuracy - 80.0).abs() < 1e-9);
        let scores: Vec<_> = report.per_class.iter().map(|s| (s.class, s.count, s.correct)).collect();
        assert_eq!(scores, [(Business, 1, 0), (Isp, 1, 1), (Hosting, 1, 1), (Education, 1, 1), (Government, 1, 1)]);
        let c = |e, p| report.confusion[index(e)][index(p)];
        assert_eq!((c(Business, Hosting), c(Government, Government), c(Hosting, Hosting)), (1, 1, 1));
        assert_eq!(report.confusion.iter().flatten().sum::<usize>(), 5);
        assert_eq!(report.confusion[index(Unknown)], [0; 6]);
        let misses: Vec<_> = report.misses.iter().map(|m| (m.line, m.asn, m.expected, m.got)).collect();
        assert_eq!(misses, [(4, 64501, Business, Hosting)]);
    }

    #[test]
    fn a_stub_classifier_scores_deterministically() {
        let rows = parse(SMALL.as_bytes(), "<memory>").unwrap();
        let report = evaluate_with(&rows, |_, _| Isp);
        assert_eq!((report.correct, report.misses.len()), (1, 4));
        assert!((report.per_class[1].percent() - 100.0).abs() < 1e-9);
        assert_eq!(report.per_class[0].percent(), 0.0);
        assert_eq!(report.confusion.iter().map(|r| r[index(Isp)]).sum::<usize>(), 5);
        assert_eq!(report, evaluate_with(&rows, |_, _| Isp));
    }

    fn err(input: &str) -> String {
        parse(input.as_bytes(), "set.csv").unwrap_err().to_string()
    }

    #[test]
    fn bad_input_names_the_line() {
        assert!(err("asn,org,country,class,reason\n1,a,US,isp,x\n").starts_with("set.csv:1: the header"));
        let head = "asn,name,country,class,reason\n";
        let e = err(&format!("{head}1,a,US,isp,x\n2,b,US,vpn,y\n"));
        assert!(e.starts_with("set.csv:3: unknown class \"vpn\""), "{e}");
        assert!(err(&format!("{head}AS1,a,US,isp,x\n")).starts_with("set.csv:2: bad AS number \"AS1\""));
        assert!(err(&format!("{head}0,a,US,isp,x\n")).starts_with("set.csv:2: bad AS number"));
        assert!(err(&format!("{head}1,a,usa,isp,x\n")).starts_with("set.csv:2: bad country"));
        assert!(err(&format!("{head}1,a,US,unknown,x\n")).starts_with("set.csv:2: unknown class"));
        assert!(err(&format!("{head}1,,US,isp,x\n")).starts_with("set.csv:2: empty organisation name"));
        assert!(
            err(&format!("{head}1,a,US,isp\n")).starts_with("set.csv:2:"),
            "{}",
            err(&format!("{head}1,a,US,isp\n"))
        );
        assert_eq!(err(head), "set.csv: no rows after the header");
        let missing = read(Path::new("/nonexistent/eval.csv")).unwrap_err().to_string();
        assert!(missing.starts_with("cannot read evaluation set /nonexistent/eval.csv:"), "{missing}");
    }
}
