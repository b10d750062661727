//! From the checked models to code: the policies become `static`s, and the layers wrap the body in
//! reading order, each a call into `resilient::__private`.

use crate::args::{Errors, Setting};
use crate::attrs::{self, Kind, Layer};
use crate::breaker::duration;
use crate::function;
use crate::timeout::Limit;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, LitStr, Type};

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
    if function.sig.asyncness.is_none() && layers.iter().any(|(kind, _)| *kind == Kind::Timeout) {
        errors.at(
            function.sig.fn_token,
            "`#[timeout]` needs an `async fn`: a blocking function cannot be stopped while it runs",
        );
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

/// What a layer wraps: the function's body, or another layer.
struct Inner {
    tokens: TokenStream,
    is_layer: bool,
}

struct Context {
    root: TokenStream,
    is_async: bool,
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
        .map_or_else(|| quote!(::resilient), |path| path.value.to_token_stream());
    let mut cx = Context {
        prelude: checks(&root, layers, output),
        is_async: function.sig.asyncness.is_some(),
        root,
    };
    if layers.iter().any(|(_, layer)| layer.uses_default_name()) {
        let fn_name = function.sig.ident.to_string();
        cx.prelude.extend(quote! {
            const __RESILIENT_NAME: &str = ::core::concat!(::core::module_path!(), "::", #fn_name);
        });
    }
    let mut inner = body(&cx, &function.block, output);
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

/// The compile-time check of the return type, spanned at it so its error points there: a
/// `Result`, whose error holds a rejection if a layer can reject.
fn checks(root: &TokenStream, layers: &[(Kind, Layer)], output: &Type) -> TokenStream {
    if function::mentions_impl_trait(output) {
        return TokenStream::new();
    }
    let rejects = layers
        .iter()
        .any(|(kind, _)| matches!(kind, Kind::CircuitBreaker | Kind::Timeout));
    let check = if rejects {
        quote!(can_reject)
    } else {
        quote!(returns_result)
    };
    quote_spanned!(output.span()=> #root::__private::#check::<#output>();)
}

/// The body as a future (async) or a closure (blocking), typed as the function's result so that
/// `?` and `return` in it need no annotation.
fn body(cx: &Context, block: &syn::Block, output: &Type) -> Inner {
    let root = &cx.root;
    let typed = !function::mentions_impl_trait(output);
    let tokens = match (cx.is_async, typed) {
        (true, true) => quote!(#root::__private::body::<#output, _>(async #block)),
        (true, false) => quote!(async #block),
        (false, true) => quote!(|| -> #output #block),
        (false, false) => quote!(|| #block),
    };
    Inner {
        tokens,
        is_layer: false,
    }
}

fn wrap(cx: &mut Context, layer: &Layer, inner: Inner) -> TokenStream {
    let root = cx.root.clone();
    let Inner {
        tokens: inner,
        is_layer,
    } = inner;
    let local = |name: &str| format_ident!("__resilient_{}", name, span = Span::mixed_site());
    match layer {
        Layer::Timeout(args) => {
            let name = policy_name(&args.name);
            let limit = match &args.limit {
                Limit::Fixed(d) => duration(&root, *d),
                Limit::Dynamic(expr) => {
                    let var = local("time_limit");
                    cx.prelude
                        .extend(quote!(let #var: #root::__private::Duration = #expr;));
                    quote!(#var)
                }
                Limit::Missing => unreachable!("a missing limit is reported while parsing"),
            };
            quote!(#root::__private::timeout(#name, #limit, #inner, #is_layer))
        }
        Layer::Breaker(args) => {
            let breaker = match &args.breaker {
                Some(expr) => {
                    let (var, expr) = (local("breaker"), &expr.value);
                    cx.prelude
                        .extend(quote!(let #var: &#root::__private::CircuitBreaker = #expr;));
                    quote!(#var)
                }
                None => {
                    let (name, config) = (policy_name(&args.name), args.config(&root));
                    cx.prelude.extend(quote! {
                        static __RESILIENT_BREAKER: #root::__private::CircuitBreaker =
                            #root::__private::CircuitBreaker::new(#name, #config);
                    });
                    quote!(&__RESILIENT_BREAKER)
                }
            };
            let when = predicate(&root, &args.when);
            if cx.is_async {
                quote!(#root::__private::breaker(#breaker, #inner, #when, #is_layer))
            } else {
                quote!(|| #root::__private::breaker_blocking(#breaker, #inner, #when))
            }
        }
        Layer::Retry(args) => {
            let policy = match &args.policy {
                Some(expr) => {
                    let (var, expr) = (local("retry_policy"), &expr.value);
                    cx.prelude
                        .extend(quote!(let #var: &#root::__private::RetryPolicy = #expr;));
                    quote!(#var)
                }
                None => {
                    let policy = args.policy(&root, &policy_name(&args.name));
                    cx.prelude.extend(
                        quote!(static __RESILIENT_RETRY: #root::__private::RetryPolicy = #policy;),
                    );
                    quote!(&__RESILIENT_RETRY)
                }
            };
            let when = predicate(&root, &args.when);
            let (state, done) = (local("retry"), local("result"));
            let next = if cx.is_async {
                quote!(#state.after(#inner.await, #when, #is_layer).await)
            } else {
                quote!(#state.after_blocking((#inner)(), #when, #is_layer))
            };
            let run = quote! {{
                let mut #state = #root::__private::RetryLoop::start(#policy);
                loop {
                    if let ::core::option::Option::Some(#done) = #next {
                        break #done;
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
            let handler = args
                .handler
                .as_ref()
                .expect("a missing fallback is reported while parsing");
            let when = predicate(&root, &args.when);
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
fn policy_name(name: &Option<Setting<LitStr>>) -> TokenStream {
    match name {
        Some(setting) => setting.value.to_token_stream(),
        None => quote!(__RESILIENT_NAME),
    }
}

/// The `when = ...` given, or the predicate that accepts every error.
fn predicate(root: &TokenStream, when: &Option<Setting<Expr>>) -> TokenStream {
    match when {
        Some(setting) => setting.value.to_token_stream(),
        None => quote!(#root::__private::every_error),
    }
}
