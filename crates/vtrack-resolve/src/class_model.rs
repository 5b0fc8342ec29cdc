//! The network class of an AS as one decision over several signals, with a confidence.
//!
//! A name alone misleads on networks nobody picked: national carriers named by a bare brand, hosters named
//! by a domain, agencies and registries in their own language. So the class of an organisation of the AS
//! layer is decided by a multinomial logistic model over signals that carry over from one network to the
//! next ([`features`]):
//!
//! - the **name rules** of [`crate::classify`] (which group of words matched, if any);
//! - the name's **words**, word starts and word ends, each kept only when at least a few labelled ASes share
//!   it (so a brand seen once teaches nothing);
//! - the **footprint** ([`AsProfile`]): addresses, ranges and their mean size, the widest IPv6 prefix (a
//!   registry's /32 against an enterprise's /48), the countries its addresses are placed in, its main
//!   country, and how many ASes the same organisation runs;
//! - at run time, **evidence** the enrichment and processing stages find ([`Evidence`]): the network's own
//!   reverse DNS names and what its traffic shows.
//!
//! The weights (`data/class-model.tsv`) are learned by [`crate::class_train`] from ASes drawn at random
//! from the whole AS table and labelled by hand (`fixtures/classify-train.csv` and the dev half of
//! `fixtures/classify-random.csv`); the test half of the random sample is never trained on, and
//! `vtrack classify --eval` reports it. The weights are plain numbers per signal and class, so
//! `vtrack classify --explain` can print what each signal added.
//!
//! The decision is the most likely class, except that `business` (which makes an account that can turn hot)
//! must also be at least [`Model::business_min`] likely; the confidence is the chosen class's probability
//! in percent. AS numbers in [`WELL_KNOWN_ASNS`](crate::classify::WELL_KNOWN_ASNS) keep their class.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::Serialize;
use vtrack_model::NetworkClass;

use crate::as_profile::AsProfile;
use crate::classify;

/// The classes the model decides between, in the order of its weight columns.
pub const CLASSES: [NetworkClass; 5] = [
    NetworkClass::Business,
    NetworkClass::Isp,
    NetworkClass::Hosting,
    NetworkClass::Education,
    NetworkClass::Government,
];

/// The committed model.
const MODEL: &str = include_str!("../data/class-model.tsv");

/// The name of the bias row in the model file.
const BIAS: &str = "bias";

/// Weights per signal and class, and the decision's threshold for `business`.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub(crate) bias: [f32; 5],
    pub(crate) weights: HashMap<String, [f32; 5]>,
    /// The least probability `business` needs to be decided.
    pub business_min: f32,
}

/// Why a model file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("class model, line {line}: {message}")]
pub struct ModelError {
    pub line: usize,
    pub message: String,
}

impl Model {
    /// Parses a model file: `#` comments, a `business_min` line, then `signal<TAB>w1<TAB>…<TAB>w5` rows in the
    /// order of [`CLASSES`], the first named `bias`.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let mut model = Model { bias: [0.0; 5], weights: HashMap::new(), business_min: 0.0 };
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
            let err = |message: String| ModelError { line: i + 1, message };
            let mut cols = line.split('\t');
            let name = cols.next().unwrap_or_default();
            let numbers: Vec<f32> =
                cols.map(|c| c.parse().map_err(|_| err(format!("bad number {c:?}")))).collect::<Result<_, _>>()?;
            if name == "business_min" {
                model.business_min = *numbers.first().ok_or_else(|| err("business_min needs a value".into()))?;
                continue;
            }
            let w: [f32; 5] = numbers.try_into().map_err(|_| err(format!("{name}: expected 5 weights")))?;
            if name == BIAS {
                model.bias = w;
            } else {
                model.weights.insert(name.to_string(), w);
            }
        }
        Ok(model)
    }

    /// The model file: what [`Model::parse`] reads, signals sorted, weights rounded to 4 decimals.
    pub fn to_text(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            let _ = writeln!(out, "# {line}");
        }
        let _ = writeln!(out, "business_min\t{}", self.business_min);
        let row = |out: &mut String, name: &str, w: &[f32; 5]| {
            let cols: Vec<String> = w.iter().map(|x| format!("{:.4}", x)).collect();
            let _ = writeln!(out, "{name}\t{}", cols.join("\t"));
        };
        row(&mut out, BIAS, &self.bias);
        let mut names: Vec<&String> = self.weights.keys().collect();
        names.sort();
        for name in names {
            row(&mut out, name, &self.weights[name]);
        }
        out
    }

    /// The logit of each class for `signals`, and what each signal added.
    fn logits(&self, signals: &[(String, [f32; 5])]) -> [f32; 5] {
        let mut z = self.bias;
        for (_, w) in signals {
            for (z, w) in z.iter_mut().zip(w) {
                *z += w;
            }
        }
        z
    }

    /// The decision over `signals`: the most likely class, `business` only when [`Model::business_min`]
    /// likely.
    pub fn decide(&self, signals: Vec<(String, [f32; 5])>) -> Decision {
        let p = softmax(self.logits(&signals));
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let best = if order[0] == 0 && p[0] < self.business_min { order[1] } else { order[0] };
        let confidence = (p[best] * 100.0).round().clamp(0.0, 100.0) as u8;
        let mut explained: Vec<Signal> = signals
            .into_iter()
            .map(|(name, w)| {
                let others = (w.iter().sum::<f32>() - w[best]) / 4.0;
                Signal { name, toward: w[best] - others }
            })
            .collect();
        explained.sort_by(|a, b| b.toward.abs().total_cmp(&a.toward.abs()));
        Decision { class: CLASSES[best], confidence, signals: explained }
    }

    /// Weights of the signals `names` that the model knows; unknown ones weigh nothing and are left out.
    pub fn weigh(&self, names: Vec<String>) -> Vec<(String, [f32; 5])> {
        names.into_iter().filter_map(|n| self.weights.get(&n).map(|w| (n, *w))).collect()
    }
}

fn softmax(z: [f32; 5]) -> [f32; 5] {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e = z.map(|x| (x - max).exp());
    let sum: f32 = e.iter().sum();
    e.map(|x| x / sum)
}

/// The committed model, parsed once. A model that does not parse (a test checks it does) weighs nothing,
/// so every decision falls back to the bias.
pub fn model() -> &'static Model {
    static MODEL_ONCE: OnceLock<Model> = OnceLock::new();
    MODEL_ONCE.get_or_init(|| {
        Model::parse(MODEL).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the committed class model does not parse; classes fall back to its bias");
            Model { bias: [0.0; 5], weights: HashMap::new(), business_min: 0.0 }
        })
    })
}

/// A signal and how much it pushed toward the decided class (its weight for that class less the mean of its
/// weights for the others): what `vtrack classify --explain` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub name: String,
    pub toward: f32,
}

/// A class decision with its confidence (0–100) and the signals it rests on, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub class: NetworkClass,
    pub confidence: u8,
    pub signals: Vec<Signal>,
}

/// Evidence found at run time about one network, beside its name and footprint. Each kind adds fixed
/// log-odds (documented with [`Evidence::weights`]): no labelled sample of it exists to learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Evidence {
    /// Reverse DNS of a few of the network's addresses: of `looked_up` names, how many were generated from
    /// the address (an access network's pools), looked like servers (a hoster), or named one registrable
    /// domain that is not the operator's (an organisation's own hosts).
    Ptr { looked_up: u8, generated: u8, servers: u8, organisation: u8 },
    /// What the network's traffic showed on a site: an organisation's visitors come from a few /24s and
    /// one or two cities, an access network's from many of each.
    Traffic { visitors: u32, networks: u32, cities: u32 },
}

impl Evidence {
    /// The signal's name and its log-odds per class (in the order of [`CLASSES`]), `None` when the evidence
    /// is too thin to say anything.
    ///
    /// - PTR: a majority of names generated from the address is strong access-network evidence (+3 `isp`,
    ///   −3 `business`); a majority of server names is hosting evidence (+3 `hosting`, −2 `business`); a
    ///   majority naming one organisation's domain is evidence of an organisation (+2 `business`, −2 `isp`
    ///   and `hosting`). Fewer than 2 answered names say nothing.
    /// - Traffic: visitors from at least 8 distinct /24s and at least 4 cities in a day is an access
    ///   network's spread (+3 `isp`, −3 `business`); at least 5 visitors from at most 2 /24s and one city is
    ///   an organisation's (+1 `business`, `education` and `government` alike, −0.5 `isp` and `hosting`: it
    ///   says the network is an organisation's, not which kind, so a university's class does not drift
    ///   toward `business`).
    pub fn weights(&self) -> Option<(&'static str, [f32; 5])> {
        match *self {
            Evidence::Ptr { looked_up, generated, servers, organisation } => {
                let answered = generated + servers + organisation;
                if answered < 2 || looked_up == 0 {
                    return None;
                }
                let majority = |n: u8| u16::from(n) * 2 > u16::from(answered);
                if majority(generated) {
                    Some(("ptr:generated", [-3.0, 3.0, 0.5, 0.0, 0.0]))
                } else if majority(servers) {
                    Some(("ptr:servers", [-2.0, 0.0, 3.0, 0.0, 0.0]))
                } else if majority(organisation) {
                    Some(("ptr:organisation", [2.0, -2.0, -2.0, 0.5, 0.5]))
                } else {
                    None
                }
            }
            Evidence::Traffic { visitors, networks, cities } => {
                if networks >= 8 && cities >= 4 {
                    Some(("traffic:spread", [-3.0, 3.0, 0.5, 0.0, 0.0]))
                } else if visitors >= 5 && networks <= 2 && cities <= 1 {
                    Some(("traffic:concentrated", [1.0, -0.5, -0.5, 1.0, 1.0]))
                } else {
                    None
                }
            }
        }
    }
}

/// The class of the organisation that runs AS `asn` (0 when unknown), known by `name`, with its footprint
/// when the AS data is at hand and any run-time `evidence`.
pub fn decide(name: &str, asn: u32, profile: Option<&AsProfile>, evidence: &[Evidence]) -> Decision {
    if let Some(class) = classify::well_known(asn) {
        return Decision {
            class,
            confidence: 95,
            signals: vec![Signal { name: format!("well-known:as{asn}"), toward: f32::INFINITY }],
        };
    }
    if classify::words(name).is_empty() {
        return Decision { class: NetworkClass::Unknown, confidence: 0, signals: Vec::new() };
    }
    let model = model();
    let mut signals = model.weigh(features(name, profile));
    signals.extend(evidence.iter().filter_map(Evidence::weights).map(|(n, w)| (n.to_string(), w)));
    model.decide(signals)
}

/// The signals of an AS, by name: what the model has weights for (see the module doc). The same function
/// for training and for deciding, so the two cannot differ.
pub fn features(name: &str, profile: Option<&AsProfile>) -> Vec<String> {
    let mut out = Vec::new();
    let rule = classify::name_rule(name).map_or("none", NetworkClass::as_str);
    out.push(format!("rule:{rule}"));
    let mut words = classify::words(name);
    words.sort();
    words.dedup();
    out.push(format!("words:{}", words.len().min(6)));
    for w in &words {
        out.push(format!("w:{w}"));
        let chars: Vec<char> = w.chars().collect();
        if chars.len() >= 5 {
            out.push(format!("p:{}", chars[..4].iter().collect::<String>()));
            out.push(format!("s:{}", chars[chars.len() - 4..].iter().collect::<String>()));
        }
    }
    let Some(p) = profile else {
        out.push("profile:none".into());
        return out;
    };
    let log2 = |n: u64| if n == 0 { 0 } else { n.ilog2() };
    out.push(format!("v4:{}", log2(p.v4_addresses).clamp(8, 24)));
    out.push(format!("r4:{}", log2(u64::from(p.v4_ranges) + 1).min(7)));
    out.push(format!("r6:{}", log2(u64::from(p.v6_ranges) + 1).min(6)));
    let widest = match p.v6_widest {
        0 => "none",
        1..=29 => "<=29",
        30..=32 => "30-32",
        33..=47 => "33-47",
        _ => "48+",
    };
    out.push(format!("v6w:{widest}"));
    let mean = p.v4_addresses / u64::from(p.v4_ranges.max(1));
    out.push(format!("mean:{}", log2(mean).clamp(8, 20)));
    out.push(format!("countries:{}", p.countries.min(4)));
    if !p.country_code().is_empty() {
        out.push(format!("cc:{}", p.country_code()));
    }
    out.push(format!("siblings:{}", p.siblings.clamp(1, 4)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_model_parses_and_round_trips() {
        let m = Model::parse(MODEL).expect("data/class-model.tsv parses");
        assert!(m.weights.len() > 100, "{} signals", m.weights.len());
        assert!((0.0..1.0).contains(&m.business_min));
        let again = Model::parse(&m.to_text("header")).unwrap();
        assert_eq!(again.weights.len(), m.weights.len());
        for (k, w) in &m.weights {
            for (a, b) in w.iter().zip(&again.weights[k]) {
                assert!((a - b).abs() < 1e-4, "{k}");
            }
        }
    }

    #[test]
    fn features_name_the_footprint() {
        let p = AsProfile {
            v4_addresses: 1024,
            v4_ranges: 3,
            v6_ranges: 1,
            v6_widest: 32,
            countries: 1,
            country: *b"BR",
            siblings: 1,
        };
        let f = features("Rede Fibra Telecomunicações LTDA", Some(&p));
        for want in [
            "rule:isp",
            "w:fibra",
            "w:ltda",
            "p:tele",
            "s:coes",
            "v4:10",
            "r4:2",
            "r6:1",
            "v6w:30-32",
            "mean:8",
            "cc:BR",
        ] {
            assert!(f.iter().any(|s| s == want), "{want} missing from {f:?}");
        }
        assert!(features("Acme", None).contains(&"profile:none".to_string()));
    }

    #[test]
    fn business_needs_its_threshold() {
        let m = Model { bias: [1.0, 0.8, 0.0, 0.0, 0.0], weights: HashMap::new(), business_min: 0.5 };
        let d = m.decide(Vec::new());
        assert_eq!(d.class, NetworkClass::Isp, "business is most likely but below 50 %");
        let m = Model { business_min: 0.2, ..m };
        assert_eq!(m.decide(Vec::new()).class, NetworkClass::Business);
    }

    #[test]
    fn evidence_moves_the_decision() {
        let ptr = Evidence::Ptr { looked_up: 4, generated: 3, servers: 0, organisation: 0 };
        assert_eq!(ptr.weights().map(|w| w.0), Some("ptr:generated"));
        assert_eq!(Evidence::Ptr { looked_up: 4, generated: 1, servers: 0, organisation: 0 }.weights(), None);
        let spread = Evidence::Traffic { visitors: 30, networks: 20, cities: 6 };
        assert_eq!(spread.weights().map(|w| w.0), Some("traffic:spread"));
        let m = Model { bias: [2.0, 0.0, 0.0, 0.0, 0.0], weights: HashMap::new(), business_min: 0.5 };
        assert_eq!(m.decide(Vec::new()).class, NetworkClass::Business);
        let (n, w) = spread.weights().unwrap();
        assert_eq!(m.decide(vec![(n.to_string(), w)]).class, NetworkClass::Isp);
    }
}
