//! The error collector that lets independent mistakes be reported together, each on its own
//! token, and the nearest valid name for a typo.

use proc_macro2::Span;
use quote::ToTokens;

/// Errors found so far; each stays on its own token.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn at_span(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn into_result(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

pub(crate) fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The valid name closest to `name` by edit distance, if it is close enough to be a typo (and is
/// not `name` itself).
pub(crate) fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let (best, distance) = valid
        .iter()
        .filter(|v| **v != name)
        .map(|v| (*v, edit_distance(name, v)))
        .min_by_key(|(_, d)| *d)?;
    (distance <= name.len().max(3) / 3 + 1).then_some(best)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_but_not_strangers() {
        let keys = [
            "failure_threshold",
            "recovery_timeout",
            "half_open_calls",
            "window",
        ];
        assert_eq!(
            nearest("failure_treshold", &keys),
            Some("failure_threshold")
        );
        assert_eq!(nearest("recovery_timout", &keys), Some("recovery_timeout"));
        assert_eq!(nearest("windw", &keys), Some("window"));
        assert_eq!(nearest("colour", &keys), None);
        // A key valid elsewhere is never its own suggestion.
        assert_eq!(nearest("jitter", &["base", "max"]), None);
    }
}
