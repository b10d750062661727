//! `#[timeout("5s")]` or `#[timeout(EXPR)]`.

use crate::args::{self, Errors, Setting, set};
use proc_macro2::{Span, TokenStream};
use std::time::Duration;
use syn::{Expr, LitStr};

const KEYS: &[&str] = &["name", "crate"];

pub(crate) struct TimeoutArgs {
    pub(crate) limit: Limit,
    pub(crate) name: Option<Setting<LitStr>>,
    pub(crate) krate: Option<Setting<syn::Path>>,
}

pub(crate) enum Limit {
    /// A duration literal, checked here.
    Fixed(Duration),
    /// An expression of type `Duration`, evaluated at each call.
    Dynamic(Expr),
    /// Not given, or not valid (already reported).
    Missing,
}

impl TimeoutArgs {
    pub(crate) fn parse(tokens: TokenStream, at: Span, errors: &mut Errors) -> Self {
        let mut this = TimeoutArgs {
            limit: Limit::Missing,
            name: None,
            krate: None,
        };
        let parsed = syn::parse::Parser::parse2(
            |input: syn::parse::ParseStream<'_>| {
                args::positional_then_keys(input, |meta| {
                    let key = args::key_of(&meta)?;
                    match key.to_string().as_str() {
                        "name" => set(
                            &mut this.name,
                            &key,
                            args::string(&meta, &key, errors)?,
                            errors,
                        ),
                        "crate" => set(
                            &mut this.krate,
                            &key,
                            args::crate_path(&meta, &key, errors)?,
                            errors,
                        ),
                        _ => args::unknown_key(&meta, &key, "timeout", KEYS, errors)?,
                    }
                    Ok(())
                })
            },
            tokens,
        );
        match parsed {
            Ok(Some(Expr::Lit(lit))) if matches!(lit.lit, syn::Lit::Str(_)) => {
                match args::duration_of(&Expr::Lit(lit.clone()), &"timeout") {
                    Ok(d) => this.limit = Limit::Fixed(d),
                    Err(message) => errors.at(&lit, message),
                }
            }
            Ok(Some(Expr::Lit(lit))) => {
                errors.at(&lit, format_args!("`#[timeout]` takes a duration in quotes or an expression of type `Duration`: {}", resilient_duration::EXPECTED));
            }
            Ok(Some(expr)) => this.limit = Limit::Dynamic(expr),
            Ok(None) => errors.at_span(at, "`#[timeout]` needs its limit: `#[timeout(\"5s\")]` or `#[timeout(EXPR)]` with `EXPR: Duration`"),
            Err(err) => errors.push(err),
        }
        this
    }
}
