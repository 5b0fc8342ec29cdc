//! URL-path patterns: `*` matches any run of characters, everything else matches itself.
//!
//! Marketers write `/pricing*` or `/blog/*`; a full glob or regex language would be one more thing to get
//! wrong in a config file.

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<String>,
    anchored_end: bool,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        Pattern { parts: pattern.split('*').map(str::to_string).collect(), anchored_end: !pattern.ends_with('*') }
    }

    pub fn matches(&self, path: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(x) => x,
            None => return path.is_empty(),
        };
        let Some(mut remaining) = path.strip_prefix(first.as_str()) else { return false };
        if rest.is_empty() {
            return remaining.is_empty();
        }
        let last = rest.len() - 1;
        for (i, part) in rest.iter().enumerate() {
            if i == last && self.anchored_end {
                return remaining.ends_with(part.as_str());
            }
            match remaining.find(part.as_str()) {
                Some(at) => remaining = &remaining[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn stars_and_literals() {
        let m = |p: &str, s: &str| Pattern::new(p).matches(s);
        assert!(m("/pricing*", "/pricing") && m("/pricing*", "/pricing/enterprise"));
        assert!(!m("/pricing*", "/about/pricing"));
        assert!(m("/blog/*", "/blog/x") && !m("/blog/*", "/blog"));
        assert!(m("/docs", "/docs") && !m("/docs", "/docs/a"));
        assert!(m("*/compare", "/en/compare") && !m("*/compare", "/en/compare/x"));
        assert!(m("/products/*/pricing", "/products/fleet/pricing") && !m("/products/*/pricing", "/products/fleet"));
        assert!(m("*", "/anything"));
    }
}
