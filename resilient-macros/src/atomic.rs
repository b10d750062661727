//! `#[atomic]`: a rollback scope around the function. Its only key is `crate = "..."`.

use crate::args::{self, Errors, Setting, set};
use proc_macro2::TokenStream;

const KEYS: &[&str] = &["crate"];

#[derive(Default)]
pub(crate) struct AtomicArgs {
    pub(crate) krate: Option<Setting<syn::Path>>,
}

impl AtomicArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut this = Self::default();
        let parser = syn::meta::parser(|meta| {
            let key = args::key_of(&meta)?;
            match key.to_string().as_str() {
                "crate" => set(
                    &mut this.krate,
                    &key,
                    args::crate_path(&meta, &key, errors)?,
                    errors,
                ),
                _ => args::unknown_key(&meta, &key, "atomic", KEYS, errors)?,
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(err);
        }
        this
    }
}
