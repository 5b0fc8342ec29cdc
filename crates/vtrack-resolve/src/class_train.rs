//! Learning the class model's weights from hand-labelled ASes: `vtrack classify --train`.
//!
//! Multinomial logistic regression with an L2 penalty, fitted by full-batch Adam for a fixed number of
//! steps from zero weights: no randomness, so the same labelled rows and AS data give the same model on
//! any machine. Each row's signals come from [`class_model::features`], the function the decision itself
//! uses. A signal shared by fewer than [`TrainConfig::min_support`] rows is left out: a word seen once is a
//! name, not evidence, and would only teach the model that one network.
//!
//! Only labelled random samples should be trained on (the training sample and the dev half): the test half
//! measures the result and must never be part of it.

use std::collections::HashMap;

use vtrack_model::NetworkClass;

use crate::as_profile::AsProfiles;
use crate::class_model::{self, Model, CLASSES};
use crate::eval::EvalRow;

/// How a model is fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// The fewest rows a signal must appear in to get a weight.
    pub min_support: usize,
    /// The L2 penalty on the weights (not the bias), per row.
    pub l2: f32,
    /// Adam steps over the whole set.
    pub steps: usize,
    /// Adam's step size.
    pub rate: f32,
    /// The least probability `business` needs to be decided (see [`Model::business_min`]).
    pub business_min: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { min_support: 3, l2: 1e-3, steps: 400, rate: 0.05, business_min: 0.5 }
    }
}

/// Fits a model on `rows` (each AS with its footprint from `profiles`).
pub fn train(rows: &[EvalRow], profiles: &AsProfiles, cfg: &TrainConfig) -> Model {
    let examples: Vec<(Vec<String>, usize)> = rows
        .iter()
        .filter_map(|r| {
            let class = CLASSES.iter().position(|&c| c == r.class)?;
            Some((class_model::features(&r.name, profiles.get(r.asn)), class))
        })
        .collect();
    let mut support: HashMap<&str, usize> = HashMap::new();
    for (signals, _) in &examples {
        for s in signals {
            *support.entry(s.as_str()).or_default() += 1;
        }
    }
    let mut names: Vec<&str> = support.iter().filter(|(_, n)| **n >= cfg.min_support).map(|(s, _)| *s).collect();
    names.sort_unstable();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let data: Vec<(Vec<usize>, usize)> = examples
        .iter()
        .map(|(signals, y)| (signals.iter().filter_map(|s| index.get(s.as_str()).copied()).collect(), *y))
        .collect();
    let (bias, weights) = fit(&data, names.len(), cfg);
    Model {
        bias,
        weights: names.iter().zip(weights).map(|(n, w)| (n.to_string(), w)).collect(),
        business_min: cfg.business_min,
    }
}

/// Adam on the mean cross-entropy plus `l2 / 2 · ‖W‖²`; returns the bias and one weight row per signal.
fn fit(data: &[(Vec<usize>, usize)], signals: usize, cfg: &TrainConfig) -> ([f32; 5], Vec<[f32; 5]>) {
    let n = data.len().max(1) as f32;
    // Parameters: row 0 is the bias, row 1 + i the weights of signal i.
    let rows = signals + 1;
    let mut w = vec![[0f32; 5]; rows];
    let (mut m, mut v) = (vec![[0f32; 5]; rows], vec![[0f32; 5]; rows]);
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    for step in 1..=cfg.steps {
        let mut grad = vec![[0f32; 5]; rows];
        for (active, y) in data {
            let mut z = w[0];
            for &i in active {
                for k in 0..5 {
                    z[k] += w[i + 1][k];
                }
            }
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e = z.map(|x| (x - max).exp());
            let sum: f32 = e.iter().sum();
            let mut g = e.map(|x| x / sum);
            g[*y] -= 1.0;
            for k in 0..5 {
                grad[0][k] += g[k] / n;
                for &i in active {
                    grad[i + 1][k] += g[k] / n;
                }
            }
        }
        let (c1, c2) = (1.0 - b1.powi(step as i32), 1.0 - b2.powi(step as i32));
        for r in 0..rows {
            for k in 0..5 {
                let g = grad[r][k] + if r > 0 { cfg.l2 * w[r][k] } else { 0.0 };
                m[r][k] = b1 * m[r][k] + (1.0 - b1) * g;
                v[r][k] = b2 * v[r][k] + (1.0 - b2) * g * g;
                w[r][k] -= cfg.rate * (m[r][k] / c1) / ((v[r][k] / c2).sqrt() + eps);
            }
        }
    }
    let bias = w[0];
    (bias, w.split_off(1))
}

/// The class the fitted model gives a row: what the evaluation of a candidate model scores.
pub fn classify_with(model: &Model, name: &str, asn: u32, profiles: &AsProfiles) -> NetworkClass {
    if let Some(class) = crate::classify::well_known(asn) {
        return class;
    }
    model.decide(model.weigh(class_model::features(name, profiles.get(asn)))).class
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(asn: u32, name: &str, class: NetworkClass) -> EvalRow {
        EvalRow { line: 0, asn, name: name.into(), country: "ZZ".into(), class, reason: String::new(), drawn: None }
    }

    #[test]
    fn learns_shared_words_and_ignores_one_off_names() {
        let mut rows = Vec::new();
        for i in 0..6 {
            rows.push(row(64500 + i, &format!("Alpha{i} Fibra Telecom"), NetworkClass::Isp));
            rows.push(row(64600 + i, &format!("Beta{i} Bank"), NetworkClass::Business));
        }
        rows.push(row(64700, "Zebracorp Fibra", NetworkClass::Business));
        let cfg = TrainConfig { min_support: 2, ..TrainConfig::default() };
        let model = train(&rows, &AsProfiles::default(), &cfg);
        assert!(model.weights.contains_key("w:fibra") && model.weights.contains_key("w:bank"));
        assert!(!model.weights.contains_key("w:zebracorp"), "seen once: a name, not evidence");
        let p = AsProfiles::default();
        assert_eq!(classify_with(&model, "Gamma Fibra Telecom", 64800, &p), NetworkClass::Isp);
        assert_eq!(classify_with(&model, "Delta Bank", 64801, &p), NetworkClass::Business);
        // Deterministic: the same rows give the same model.
        assert_eq!(model, train(&rows, &AsProfiles::default(), &cfg));
    }
}
