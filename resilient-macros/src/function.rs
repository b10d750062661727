//! The annotated function: what shape it must have, and what its return type allows.

use crate::errors::Errors;
use crate::stack::Kind;
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
                "`#[{name}]` needs the function's body: on a trait, put it on the method of each `impl`; a function of an `extern` block has no body to wrap"
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
        Type::Path(path) if is_never_a_result(path) => {
            let shown = quote::ToTokens::to_token_stream(ty)
                .to_string()
                .replace(' ', "");
            errors.at(
                ty,
                format_args!("`#[{name}]` needs a function returning `Result<T, E>`, not `{shown}`: the layers judge the call by its `Err`"),
            );
            None
        }
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

/// A type that is never a `Result` (nor an alias of one): the standard library's own, which the
/// type checker would otherwise report once per layer. Other names (`io::Result<T>`, a user's
/// alias) are left to the type checker, which confirms them.
fn is_never_a_result(path: &syn::TypePath) -> bool {
    const NEVER: &[&str] = &[
        "Option", "Vec", "String", "Box", "Rc", "Arc", "HashMap", "bool", "char", "str", "u8",
        "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
        "f64",
    ];
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|last| NEVER.iter().any(|name| last.ident == name))
}

/// What the function's signature rules out: a `const fn`, whose layers could not run in a
/// constant.
pub(crate) fn check_signature(function: &ItemFn, kind: Kind, errors: &mut Errors) {
    if let Some(constness) = &function.sig.constness {
        errors.at(
            constness,
            format_args!(
                "`#[{}]` cannot wrap a `const fn`: its layers run when the function is called; remove `const`",
                kind.name()
            ),
        );
    }
}

/// Whether `#[tracing::instrument]` was expanded above this attribute: its body then awaits the
/// function's body moved into a future of its own, once.
pub(crate) fn instrumented(function: &ItemFn) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => {
                ident.to_string().starts_with("__tracing_attr_")
            }
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(&function.block))
}

/// The error type of `Result<T, E>` when it is one of the function's generic parameters: its
/// check names `From<Rejected>` itself, which is the bound to add.
pub(crate) fn generic_error<'f>(function: &'f ItemFn, output: &'f Type) -> Option<&'f Type> {
    let Type::Path(path) = output else {
        return None;
    };
    let syn::PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    let (Some(_), Some(error), None) = (types.next(), types.next(), types.next()) else {
        return None;
    };
    let Type::Path(error_path) = error else {
        return None;
    };
    let ident = error_path.path.get_ident()?;
    function
        .sig
        .generics
        .type_params()
        .any(|param| param.ident == *ident)
        .then_some(error)
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
/// import). Its body then opens with `use ::resilient::__private as __resilient;`.
pub(crate) fn already_expanded(function: &ItemFn) -> bool {
    let Some(syn::Stmt::Item(syn::Item::Use(item))) = function.block.stmts.first() else {
        return false;
    };
    let mut tree = &item.tree;
    loop {
        match tree {
            syn::UseTree::Path(path) => tree = &path.tree,
            syn::UseTree::Rename(rename) => {
                return rename.ident == "__private" && rename.rename == "__resilient";
            }
            _ => return false,
        }
    }
}
