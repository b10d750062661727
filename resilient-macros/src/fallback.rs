//! `#[fallback(path_or_closure)]` or `#[fallback(path_or_closure, when = ...)]`.

use crate::args::{self, Errors, Setting, set};
use proc_macro2::{Span, TokenStream};
use syn::Expr;

const KEYS: &[&str] = &["when", "crate"];

pub(crate) struct FallbackArgs {
    /// The function or closure called with the error; `None` when missing or invalid (reported).
    pub(crate) handler: Option<Expr>,
    pub(crate) when: Option<Setting<Expr>>,
    pub(crate) krate: Option<Setting<syn::Path>>,
}

impl FallbackArgs {
    pub(crate) fn parse(tokens: TokenStream, at: Span, errors: &mut Errors) -> Self {
        let mut this = FallbackArgs {
            handler: None,
            when: None,
            krate: None,
        };
        let parsed = syn::parse::Parser::parse2(
            |input: syn::parse::ParseStream<'_>| {
                args::positional_then_keys(input, |meta| {
                    let key = args::key_of(&meta)?;
                    match key.to_string().as_str() {
                        "when" => set(
                            &mut this.when,
                            &key,
                            args::callable(&meta, &key, errors)?,
                            errors,
                        ),
                        "crate" => set(
                            &mut this.krate,
                            &key,
                            args::crate_path(&meta, &key, errors)?,
                            errors,
                        ),
                        _ => args::unknown_key(&meta, &key, "fallback", KEYS, errors)?,
                    }
                    Ok(())
                })
            },
            tokens,
        );
        match parsed {
            Ok(Some(expr)) => match args::callable_of(expr.clone(), &"fallback") {
                Ok(handler) => this.handler = Some(handler),
                Err(_) => errors.at(&expr, "`#[fallback]` takes a function path or a closure that gets the error: `#[fallback(cached_user)]` or `#[fallback(|err| cached(id))]`"),
            },
            Ok(None) => errors.at_span(at, "`#[fallback]` needs a function or closure to call with the error: `#[fallback(cached_user)]`"),
            Err(err) => errors.push(err),
        }
        this
    }
}
