//! From the checked models to code: the policies become `static`s, and the layers wrap the body in
//! reading order, each a call into `resilient::__private`.

use crate::args::Errors;
use crate::attrs::{self, Kind, Layer};
use crate::breaker::duration;
use crate::function;
use crate::timeout::Limit;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

/// The whole pipeline for one attribute and those stacked below it.
pub(crate) fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = match function::parse(kind, item.clone()) {
        Ok(function) => function,
        Err(err) => {
            let err = err.into_compile_error();
            return quote!(#err #item);
        }
    };
    let mut errors = Errors::default();
    let mut taken = Vec::new();
    let layers = attrs::stack(kind, args, &mut function.attrs, &mut taken, &mut errors);
    let output = function::result_type(&function, kind, &mut errors).cloned();
    if function.sig.asyncness.is_none() {
        for (kind, _) in &layers {
            if *kind == Kind::Timeout {
                errors.at(
                    function.sig.fn_token,
                    "`#[timeout]` needs an `async fn`: a blocking function cannot be stopped while it runs",
                );
            }
        }
    }
    match (errors.into_result(), output) {
        (Ok(()), Some(output)) => generate(function, &layers, &output, &taken),
        (Err(err), _) => {
            // The function stays, without our attributes, so the IDE keeps working.
            let err = err.into_compile_error();
            quote!(#err #function)
        }
        (Ok(()), None) => quote!(#function),
    }
}

/// What the layers wrap: the function's body, or another layer.
struct Inner {
    tokens: TokenStream,
    is_layer: bool,
}

struct Context<'a> {
    root: TokenStream,
    is_async: bool,
    default_name: TokenStream,
    output: &'a Type,
    /// Statics and per-call values the layers use, written before the call.
    prelude: TokenStream,
}

fn generate(
    mut function: ItemFn,
    layers: &[(Kind, Layer)],
    output: &Type,
    taken: &[syn::Path],
) -> TokenStream {
    let root = layers
        .iter()
        .find_map(|(_, layer)| layer.crate_path())
        .map_or_else(
            || quote!(::resilient),
            |path| quote::ToTokens::to_token_stream(&path.value),
        );
    let fn_name = function.sig.ident.to_string();
    let mut cx = Context {
        default_name: quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
        is_async: function.sig.asyncness.is_some(),
        output,
        prelude: checks(&root, layers, output),
        root,
    };
    let mut inner = body(&cx, &function);
    for (_, layer) in layers.iter().rev() {
        inner = Inner {
            tokens: wrap(&mut cx, layer, inner),
            is_layer: true,
        };
    }
    // The attributes expanded here were never resolved: name them, so their imports count as used.
    let uses = taken.iter().map(|path| quote!(use #path as _;));
    let (prelude, call) = (cx.prelude, inner.tokens);
    let call = if cx.is_async {
        quote!(#call.await)
    } else {
        quote!((#call)())
    };
    function.block = syn::parse_quote!({ #(#uses)* #prelude #call });
    quote!(#function)
}

/// Compile-time checks, spanned at the return type so their errors point at it.
fn checks(root: &TokenStream, layers: &[(Kind, Layer)], output: &Type) -> TokenStream {
    if function::mentions_impl_trait(output) {
        return TokenStream::new();
    }
    let span = output.span();
    let mut checks = quote_spanned!(span=> #root::__private::returns_result::<#output>(););
    if layers
        .iter()
        .any(|(kind, _)| matches!(kind, Kind::CircuitBreaker | Kind::Timeout))
    {
        checks.extend(quote_spanned!(span=> #root::__private::can_reject::<#output>();));
    }
    if layers.iter().any(|(kind, _)| *kind == Kind::Retry) {
        checks.extend(quote_spanned!(span=> #root::__private::error_is_debug::<#output>();));
    }
    checks
}

/// The body as a future (async) or a closure (blocking), its result typed as the function's.
fn body(cx: &Context<'_>, function: &ItemFn) -> Inner {
    let block = &function.block;
    let output = cx.output;
    let typed = !function::mentions_impl_trait(output);
    let tokens = if cx.is_async {
        // A return edge that never runs but fixes the block's type, so `?` and `return` in the body
        // need no annotation, and type errors land on the user's code.
        let fake_return = typed.then(|| {
            let var = Span::mixed_site();
            let ret = format_ident!("__resilient_return", span = var);
            quote_spanned! {output.span()=>
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::needless_return)]
                if false {
                    let #ret: #output = loop {};
                    return #ret;
                }
            }
        });
        quote!(async { #fake_return #block })
    } else if typed {
        quote!(|| -> #output #block)
    } else {
        quote!(|| #block)
    };
    Inner {
        tokens,
        is_layer: false,
    }
}

fn wrap(cx: &mut Context<'_>, layer: &Layer, inner: Inner) -> TokenStream {
    let root = cx.root.clone();
    let every_error = quote!(#root::__private::every_error);
    let Inner {
        tokens: inner,
        is_layer,
    } = inner;
    let local = |name: &str| format_ident!("__resilient_{}", name, span = Span::mixed_site());
    match layer {
        Layer::Timeout(args) => {
            let name = policy_name(cx, &args.name);
            let limit = match &args.limit {
                Limit::Fixed(d) => duration(&root, *d),
                Limit::Dynamic(expr) => {
                    let var = local("time_limit");
                    cx.prelude
                        .extend(quote!(let #var: #root::__private::Duration = #expr;));
                    quote!(#var)
                }
                Limit::Missing => unreachable!("reported while parsing"),
            };
            quote!(#root::__private::timeout(#name, #limit, #inner, #is_layer))
        }
        Layer::Breaker(args) => {
            let breaker = match &args.breaker {
                Some(expr) => {
                    let var = local("breaker");
                    let expr = &expr.value;
                    cx.prelude
                        .extend(quote!(let #var: &#root::__private::CircuitBreaker = #expr;));
                    quote!(#var)
                }
                None => {
                    let name = policy_name(cx, &args.name);
                    let config = args.config(&root);
                    cx.prelude.extend(quote! {
                        static __RESILIENT_CIRCUIT_BREAKER: #root::__private::CircuitBreaker =
                            #root::__private::CircuitBreaker::new(#name, #config);
                    });
                    quote!(&__RESILIENT_CIRCUIT_BREAKER)
                }
            };
            let when = predicate(&args.when, every_error);
            if cx.is_async {
                quote!(#root::__private::breaker(#breaker, #inner, #when, #is_layer))
            } else {
                quote!(|| #root::__private::breaker_blocking(#breaker, #inner, #when))
            }
        }
        Layer::Retry(args) => {
            let policy = match &args.policy {
                Some(expr) => {
                    let var = local("retry_policy");
                    let expr = &expr.value;
                    cx.prelude
                        .extend(quote!(let #var: &#root::__private::RetryPolicy = #expr;));
                    quote!(#var)
                }
                None => {
                    let name = policy_name(cx, &args.name);
                    let policy = args.policy(&root, &name);
                    cx.prelude.extend(
                        quote!(static __RESILIENT_RETRY: #root::__private::RetryPolicy = #policy;),
                    );
                    quote!(&__RESILIENT_RETRY)
                }
            };
            let when = predicate(&args.when, every_error);
            let (state, delay, done) = (local("retry"), local("delay"), local("result"));
            let (attempt, wait) = if cx.is_async {
                (
                    quote!(#inner.await),
                    quote!(#root::__private::sleep(#delay).await),
                )
            } else {
                (
                    quote!((#inner)()),
                    quote!(#root::__private::sleep_blocking(#delay)),
                )
            };
            let run = quote! {{
                let mut #state = #root::__private::RetryLoop::new(#policy);
                loop {
                    #state.begin();
                    match #state.after(#attempt, #when, #is_layer) {
                        ::core::ops::ControlFlow::Break(#done) => break #done,
                        ::core::ops::ControlFlow::Continue(#delay) => #wait,
                    }
                }
            }};
            if cx.is_async {
                quote!(async #run)
            } else {
                quote!(|| #run)
            }
        }
        Layer::Fallback(args) => {
            let handler = args.handler.as_ref().expect("reported while parsing");
            let when = predicate(&args.when, every_error);
            let (error, result) = (local("error"), local("result"));
            let (attempt, handled) = if cx.is_async {
                (
                    quote!(#inner.await),
                    quote!(#root::__private::call_fallback(#error, #handler).await),
                )
            } else {
                (
                    quote!((#inner)()),
                    quote!(#root::__private::call_fallback(#error, #handler)),
                )
            };
            let run = quote! {
                match #attempt {
                    ::core::result::Result::Err(#error) if #root::__private::fallback_applies(&#error, #when) => {
                        let #result = #handled;
                        #root::__private::fallback_ran();
                        #result
                    }
                    #result => #result,
                }
            };
            if cx.is_async {
                quote!(async { #run })
            } else {
                quote!(|| #run)
            }
        }
    }
}

/// The policy's name: the one given, or `module_path::fn_name`.
fn policy_name(cx: &Context<'_>, name: &Option<crate::args::Setting<syn::LitStr>>) -> TokenStream {
    match name {
        Some(setting) => quote::ToTokens::to_token_stream(&setting.value),
        None => cx.default_name.clone(),
    }
}

/// The `when = ...` given, or the predicate that accepts every error.
fn predicate(
    when: &Option<crate::args::Setting<syn::Expr>>,
    every_error: TokenStream,
) -> TokenStream {
    match when {
        Some(setting) => quote::ToTokens::to_token_stream(&setting.value),
        None => every_error,
    }
}
