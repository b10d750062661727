//! The resilient attributes stacked on one function, in reading order (the top one outermost).

use crate::args::Errors;
use crate::{
    atomic::AtomicArgs, breaker::BreakerArgs, fallback::FallbackArgs, retry::RetryArgs,
    timeout::TimeoutArgs,
};
use proc_macro2::{Span, TokenStream};
use syn::{Attribute, Meta};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    CircuitBreaker,
    Retry,
    Timeout,
    Fallback,
    Atomic,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::CircuitBreaker,
        Kind::Retry,
        Kind::Timeout,
        Kind::Fallback,
        Kind::Atomic,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Retry => "retry",
            Kind::Timeout => "timeout",
            Kind::Fallback => "fallback",
            Kind::Atomic => "atomic",
        }
    }

    /// Whether `attr` is one of ours: `retry`, `resilient::retry` or `::resilient::retry`.
    fn of(attr: &Attribute) -> Option<Kind> {
        let path = attr.path();
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let name = match segments.as_slice() {
            [name] if path.leading_colon.is_none() => name,
            [krate, name] if krate == "resilient" => name,
            _ => return None,
        };
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// One attribute's model.
pub(crate) enum Layer {
    Breaker(Box<BreakerArgs>),
    Retry(Box<RetryArgs>),
    Timeout(TimeoutArgs),
    Fallback(FallbackArgs),
    Atomic(AtomicArgs),
}

impl Layer {
    fn parse(kind: Kind, args: TokenStream, at: Span, errors: &mut Errors) -> Layer {
        match kind {
            Kind::CircuitBreaker => Layer::Breaker(Box::new(BreakerArgs::parse(args, errors))),
            Kind::Retry => Layer::Retry(Box::new(RetryArgs::parse(args, errors))),
            Kind::Timeout => Layer::Timeout(TimeoutArgs::parse(args, at, errors)),
            Kind::Fallback => Layer::Fallback(FallbackArgs::parse(args, at, errors)),
            Kind::Atomic => Layer::Atomic(AtomicArgs::parse(args, errors)),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        match self {
            Layer::Breaker(args) => args.validate(errors),
            Layer::Retry(args) => args.validate(errors),
            Layer::Timeout(_) | Layer::Fallback(_) | Layer::Atomic(_) => {}
        }
    }

    /// The `crate = "..."` this attribute was given.
    pub(crate) fn crate_path(&self) -> Option<&crate::args::Setting<syn::Path>> {
        match self {
            Layer::Breaker(args) => args.krate.as_ref(),
            Layer::Retry(args) => args.krate.as_ref(),
            Layer::Timeout(args) => args.krate.as_ref(),
            Layer::Fallback(args) => args.krate.as_ref(),
            Layer::Atomic(args) => args.krate.as_ref(),
        }
    }
}

/// The invoked attribute and every one of ours below it (taken off `attrs`, their paths added to
/// `taken`), parsed and checked.
pub(crate) fn stack(
    kind: Kind,
    args: TokenStream,
    attrs: &mut Vec<Attribute>,
    taken: &mut Vec<syn::Path>,
    errors: &mut Errors,
) -> Vec<(Kind, Layer)> {
    let mut stacked = vec![(kind, args, Span::call_site())];
    let mut duplicate = None;
    attrs.retain(|attr| {
        let Some(kind) = Kind::of(attr) else {
            return true;
        };
        let args = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(nv) => {
                errors.at(
                    nv,
                    format_args!(
                        "write `#[{}(...)]`, with the settings in parentheses",
                        kind.name()
                    ),
                );
                TokenStream::new()
            }
        };
        if stacked.iter().any(|(k, _, _)| *k == kind) {
            duplicate.get_or_insert((kind, attr.path().clone()));
        }
        stacked.push((kind, args, syn::spanned::Spanned::span(attr.path())));
        taken.push(attr.path().clone());
        false
    });
    if let Some((kind, path)) = duplicate {
        errors.at(
            path,
            format_args!(
                "`#[{}]` is already on this function: each attribute may be given once",
                kind.name()
            ),
        );
    }
    stacked
        .into_iter()
        .map(|(kind, args, at)| {
            let layer = Layer::parse(kind, args, at, errors);
            layer.validate(errors);
            (kind, layer)
        })
        .collect()
}
