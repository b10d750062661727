//! The annotated function: what shape it must have, and what its return type allows.

use crate::args::Errors;
use crate::attrs::Kind;
use proc_macro2::{Span, TokenStream};
use syn::{ItemFn, ReturnType, Type};

/// Parses the annotated item, which must be a function with a body.
pub(crate) fn parse(kind: Kind, item: TokenStream) -> Result<ItemFn, syn::Error> {
    syn::parse2::<ItemFn>(item.clone()).map_err(|_| {
        let name = kind.name();
        // A declaration without a body (in a trait): the error goes on its `;`.
        if let Ok(syn::TraitItemFn {
            default: None,
            semi_token: Some(semi),
            ..
        }) = syn::parse2::<syn::TraitItemFn>(item.clone())
        {
            let message = format!(
                "`#[{name}]` needs the function's body: put it on the method of each `impl`, not on the trait's declaration"
            );
            return syn::Error::new_spanned(semi, message);
        }
        let message = format!(
            "`#[{name}]` applies to a function with a body returning `Result`, like `async fn fetch(id: u64) -> Result<User, ApiError> {{ ... }}`"
        );
        syn::Error::new(what_it_is(item), message)
    })
}

/// The first token of an item after its attributes and visibility (`struct`, `impl`, ...).
fn what_it_is(item: TokenStream) -> Span {
    let first = |input: syn::parse::ParseStream<'_>| {
        input.call(syn::Attribute::parse_outer)?;
        input.parse::<syn::Visibility>()?;
        let first = input.parse::<proc_macro2::TokenTree>()?.span();
        input.parse::<TokenStream>()?;
        Ok(first)
    };
    syn::parse::Parser::parse2(first, item).unwrap_or_else(|_: syn::Error| Span::call_site())
}

/// The return type, which must look like it could be a `Result` (the type checker confirms it,
/// aliases included); `None` after reporting why not.
pub(crate) fn result_type<'f>(
    function: &'f ItemFn,
    kind: Kind,
    errors: &mut Errors,
) -> Option<&'f Type> {
    let name = kind.name();
    let ty = match &function.sig.output {
        ReturnType::Default => {
            errors.at(
                &function.sig.ident,
                format_args!(
                    "`#[{name}]` needs a function returning `Result<T, E>`; `{}` returns `()`",
                    function.sig.ident
                ),
            );
            return None;
        }
        ReturnType::Type(_, ty) => ty.as_ref(),
    };
    match ty {
        Type::Path(_) | Type::Group(_) | Type::Paren(_) => Some(ty),
        Type::ImplTrait(_) if function.sig.asyncness.is_none() => {
            errors.at(ty, format_args!("`#[{name}]` needs a function returning `Result<T, E>`; for a future, write an `async fn` returning the `Result`"));
            None
        }
        _ => {
            errors.at(ty, format_args!("`#[{name}]` needs a function returning `Result<T, E>` (or an alias of it, like `io::Result<T>`)"));
            None
        }
    }
}

/// Whether `ty` mentions `impl Trait`, which cannot be written in a `let` or a closure's return
/// type: the generated code then leaves the type to inference.
pub(crate) fn mentions_impl_trait(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(ty))
}

/// Whether a resilient attribute above this one already expanded the function: it did not take
/// this attribute into its stack because it is written under a name it does not know (a renamed
/// import). Its body then calls `__private::RetryLoop`, `__private::breaker`, and the like.
pub(crate) fn already_expanded(function: &ItemFn) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        let mut previous_was_private = false;
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => {
                let found = previous_was_private && GENERATED.iter().any(|name| ident == name);
                previous_was_private = ident == "__private";
                found
            }
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            proc_macro2::TokenTree::Punct(_) | proc_macro2::TokenTree::Literal(_) => false,
        })
    }
    const GENERATED: [&str; 5] = [
        "returns_result",
        "can_reject",
        "output",
        "body",
        "body_blocking",
    ];
    walk(quote::ToTokens::to_token_stream(&function.block))
}
