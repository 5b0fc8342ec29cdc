//! Text on its way to a spreadsheet or a terminal: what visitors typed (titles, UTM tags) and what IP
//! databases say (company names) must not run there.
//!
//! Every CSV vtrack writes (the dashboard's export, `vtrack sql`, `accounts`, `alerts`) passes its text
//! cells through [`spreadsheet_cell`], and every table printed to a terminal through [`terminal_cell`].

use std::borrow::Cow;

/// A text cell a spreadsheet will not run: a leading `=`, `+`, `-`, `@`, tab or carriage return makes
/// Excel, LibreOffice and Sheets read a formula (`=HYPERLINK(…)`), so such a cell gets a leading `'`, which
/// they show as text. Numbers are not text cells and are written as they are.
pub fn spreadsheet_cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// A cell a terminal shows as text: control characters (ESC sequences that clear the screen or set the
/// window title, BEL, NUL …) and the bidirectional overrides that reorder what is shown are replaced by
/// `�`; newlines and tabs become spaces, so a row stays one line.
pub fn terminal_cell(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\n' | '\r' | '\t' => ' ',
                c if unsafe_char(c) => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_text_kept() {
        assert_eq!(spreadsheet_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_cell("+SUM(A1)"), "'+SUM(A1)");
        assert_eq!(spreadsheet_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_cell("Acme"), "Acme");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(terminal_cell("a\u{1b}]0;pwned\u{7}b"), "a\u{FFFD}]0;pwned\u{FFFD}b");
        assert_eq!(terminal_cell("x\u{0}\u{202E}y\nz"), "x\u{FFFD}\u{FFFD}y z");
        assert_eq!(terminal_cell("Zürich"), "Zürich");
    }
}
