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
    if function::already_expanded(&function) {
        let name = kind.name();
        errors.at_span(
            Span::call_site(),
            format_args!(
                "this `#[{name}]` was not stacked with the resilient attribute above it, which does not know it under this name: \
                 write it `#[{name}]` or `#[resilient::{name}]` (not a renamed import) so the layers apply in reading order"
            ),
        );
    }
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
            // The function stays, without our attributes, so the IDE keeps working; their
            // imports stay used.
            for path in taken.iter().rev() {
                function
                    .block
                    .stmts
                    .insert(0, syn::parse_quote!(use #path as _;));
            }
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
    /// Per-call values the layers use, written before the call.
    prelude: TokenStream,
    /// The default policy name, `module_path::fn_name`, as a constant expression.
    name: TokenStream,
    /// The return type, unless it mentions `impl Trait` (which generated code cannot name).
    typed: Option<Type>,
    /// The return type's name, where errors about it go: see [`written_at`].
    output: Span,
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
    let fn_name = function.sig.ident.to_string();
    let mut cx = Context {
        prelude: checks(&root, layers, output),
        is_async: function.sig.asyncness.is_some(),
        root,
        name: quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
        typed: (!function::mentions_impl_trait(output)).then(|| output.clone()),
        output: anchor(output),
    };
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
        awaited(&call, cx.output)
    } else {
        called(&call, cx.output)
    };
    // What the layers return, as the return type (the same type; see `__private::Outcome`).
    let call = match &cx.typed {
        Some(output) => {
            let (convert, output) = at_return_type(&cx.root, quote!(output), output);
            quote_spanned!(cx.output=> #convert::<#output>(#call))
        }
        None => call,
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
    let at = anchor(output);
    let (check, output) = at_return_type(root, check, output);
    quote_spanned!(at=> #check::<#output>();)
}

/// `__private::#name` and the return type, both written at the return type's name (see
/// [`written_at`]): the error of a call `#name::<#output>(...)` on the type covers the same
/// tokens as those of the layers' calls.
fn at_return_type(
    root: &TokenStream,
    name: TokenStream,
    output: &Type,
) -> (TokenStream, TokenStream) {
    let at = anchor(output);
    let path = written_at(quote!(#root::__private::#name), at);
    let output = output
        .to_token_stream()
        .into_iter()
        .map(|mut tree| {
            tree.set_span(tree.span().located_at(at));
            tree
        })
        .collect();
    (path, output)
}

/// The body as a future (async) or a closure (blocking), typed as the function's result so that
/// `?` and `return` in it need no annotation, and marked as the body: whatever it returns is its
/// own result, never a layer's rejection.
fn body(cx: &Context, block: &syn::Block, output: &Type) -> Inner {
    let root = &cx.root;
    let typed = !function::mentions_impl_trait(output);
    let tokens = match (cx.is_async, typed) {
        (true, true) => {
            let call = written_at(quote!(#root::__private::body), cx.output);
            // The block keeps its place: a move out of it "in previous iteration of loop" is
            // shown on the attribute that loops.
            let block = quote!(async #block);
            quote_spanned!(cx.output=> #call::<#output, _>(#block))
        }
        (true, false) => quote!(#root::__private::body(async #block)),
        (false, true) => {
            let call = written_at(quote!(#root::__private::body_blocking), cx.output);
            let block = quote!(|| -> #output #block);
            quote_spanned!(cx.output=> #call(#block))
        }
        (false, false) => quote!(#root::__private::body_blocking(|| #block)),
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
            let name = policy_name(&args.name, &cx.name);
            let (policy, limit) = match &args.limit {
                Limit::Fixed(d) => {
                    let limit = duration(&root, *d);
                    let policy = quote!(#root::__private::TimeoutPolicy::new(#name, #limit));
                    (policy, quote!(::core::option::Option::None))
                }
                Limit::Dynamic(expr) => {
                    let var = local("time_limit");
                    cx.prelude
                        .extend(quote!(let #var: #root::__private::Duration = #expr;));
                    let policy = quote!(#root::__private::TimeoutPolicy::per_call(#name));
                    (policy, quote!(::core::option::Option::Some(#var)))
                }
                Limit::Missing => unreachable!("a missing limit is reported while parsing"),
            };
            let var = local("timeout_policy");
            cx.prelude.extend(quote!(
                let #var: &'static #root::__private::TimeoutPolicy = {
                    static __RESILIENT_TIMEOUT: #root::__private::TimeoutPolicy = #policy;
                    #root::__private::registered(&__RESILIENT_TIMEOUT)
                };
            ));
            let timeout = written_at(quote!(#root::__private::timeout), cx.output);
            quote_spanned!(cx.output=> #timeout(#var, #limit, #inner, #is_layer))
        }
        Layer::Breaker(args) => {
            // A `static` in a block of its own: the body cannot see it, so it shadows nothing.
            let expr = match &args.breaker {
                Some(expr) => expr.value.to_token_stream(),
                None => {
                    let (name, config) = (policy_name(&args.name, &cx.name), args.config(&root));
                    quote!({
                        static __RESILIENT_BREAKER: #root::__private::CircuitBreaker =
                            #root::__private::CircuitBreaker::new(#name, #config);
                        #root::__private::registered(&__RESILIENT_BREAKER)
                    })
                }
            };
            let breaker = local("breaker");
            cx.prelude
                .extend(quote!(let #breaker: &#root::__private::CircuitBreaker = #expr;));
            let when = predicate(&root, &args.when, cx.typed_when());
            if cx.is_async {
                let call = written_at(quote!(#root::__private::breaker), cx.output);
                quote_spanned!(cx.output=> #call(#breaker, #inner, #when, #is_layer))
            } else {
                let call = written_at(quote!(#root::__private::breaker_blocking), cx.output);
                let call = quote_spanned!(cx.output=> #call(#breaker, #inner, #when));
                quote!(|| #call)
            }
        }
        Layer::Retry(args) => {
            let expr = match &args.policy {
                Some(expr) => expr.value.to_token_stream(),
                None => {
                    let policy = args.policy(&root, &policy_name(&args.name, &cx.name));
                    quote!({
                        static __RESILIENT_RETRY: #root::__private::RetryPolicy = #policy;
                        #root::__private::registered(&__RESILIENT_RETRY)
                    })
                }
            };
            let policy = local("retry_policy");
            cx.prelude
                .extend(quote!(let #policy: &#root::__private::RetryPolicy = #expr;));
            let when = predicate(&root, &args.when, cx.typed_when());
            let (state, done) = (local("retry"), local("result"));
            // Judged without a future of its own: a successful attempt costs no more than the
            // runtime's `retry`. Only a wait is awaited.
            let attempt = attempted(&root, cx, &inner, is_layer);
            let (next, wait) = if cx.is_async {
                let next = quote!(#state.after(#attempt, #when));
                (next, quote!(#state.wait().await;))
            } else {
                let next = quote!(#state.after_blocking(#attempt, #when));
                (next, TokenStream::new())
            };
            let run = quote! {{
                let mut #state = #root::__private::RetryLoop::start(#policy);
                loop {
                    if let ::core::option::Option::Some(#done) = #next {
                        break #done;
                    }
                    #wait
                }
            }};
            if cx.is_async {
                quote!(async #run)
            } else {
                quote!(|| #run)
            }
        }
        Layer::Atomic(_) => {
            if cx.is_async {
                let call = written_at(quote!(#root::__private::atomic), cx.output);
                quote_spanned!(cx.output=> #call(#inner, #is_layer))
            } else {
                let call = written_at(quote!(#root::__private::atomic_blocking), cx.output);
                let call = quote_spanned!(cx.output=> #call(#inner));
                quote!(|| #call)
            }
        }
        Layer::Fallback(args) => {
            let handler = args
                .handler
                .as_ref()
                .expect("a missing fallback is reported while parsing");
            let when = predicate(&root, &args.when, None);
            let (error, result) = (local("error"), local("result"));
            let policy = local("fallback_policy");
            let name = &cx.name;
            cx.prelude.extend(quote!(
                let #policy: &'static #root::__private::FallbackPolicy = {
                    static __RESILIENT_FALLBACK: #root::__private::FallbackPolicy =
                        #root::__private::FallbackPolicy::new(#name);
                    #root::__private::registered(&__RESILIENT_FALLBACK)
                };
            ));
            // Typed by the return type, a mistake in the handler is reported in the handler.
            let call = match (&cx.typed, cx.is_async) {
                (Some(output), true) => quote!(call_fallback_async::<#output, _, _>),
                (Some(output), false) => quote!(call_fallback_blocking::<#output, _>),
                (None, _) => quote!(call_fallback),
            };
            // Written at what the handler returns, where a mistake in it is reported.
            let at = match handler {
                Expr::Closure(closure) => closure.body.span(),
                _ => handler.span(),
            };
            let call = written_at(quote!(#root::__private::#call), at);
            let attempt = attempted(&root, cx, &inner, is_layer);
            let handled = if cx.is_async {
                let call = quote_spanned!(at=> #call(#error, #handler));
                awaited(&call, at)
            } else {
                quote_spanned!(at=> #call(#error, #handler))
            };
            let (attempted, rejection) = (local("attempted"), local("rejection"));
            // The attempt is a statement of its own: what it leaves to drop is dropped before the
            // rejection is passed on.
            let run = quote! {
                let #attempted = #attempt;
                match #attempted {
                    (::core::result::Result::Err(#error), #rejection) if #root::__private::fallback_applies(&#error, #when) => {
                        #root::__private::fallback_starts(#policy, #rejection);
                        let #result = #handled;
                        #root::__private::fallback_ran();
                        #result
                    }
                    #attempted => #root::__private::passed_on(#attempted),
                }
            };
            if cx.is_async {
                quote!(async { #run })
            } else {
                quote!(|| { #run })
            }
        }
    }
}

/// The policy's name: the one given, or `module_path::fn_name`.
fn policy_name(name: &Option<Setting<LitStr>>, default: &TokenStream) -> TokenStream {
    match name {
        Some(setting) => setting.value.to_token_stream(),
        None => default.clone(),
    }
}

/// The `when = ...` given, or the predicate that accepts every error. `typed` checks it against
/// the return type, so that a mistake in it is reported once, at it.
fn predicate(
    root: &TokenStream,
    when: &Option<Setting<Expr>>,
    typed: Option<(&Type, TokenStream)>,
) -> TokenStream {
    match (when, typed) {
        (Some(setting), Some((output, check))) => {
            // Written at the predicate, where a mistake in it is reported.
            let (when, at) = (&setting.value, setting.value.span());
            let check = written_at(quote!(#root::__private::#check), at);
            quote_spanned!(at=> #check::<#output>(&#when))
        }
        (Some(setting), None) => setting.value.to_token_stream(),
        (None, _) => quote!(#root::__private::every_error),
    }
}

impl Context {
    /// How a `when` is checked against the return type: on a blocking function whose return type
    /// can be named (see `__private::when_blocking`).
    fn typed_when(&self) -> Option<(&Type, TokenStream)> {
        let output = self.typed.as_ref().filter(|_| !self.is_async)?;
        Some((output, quote!(when_blocking)))
    }
}

/// The return type's name (`Result` in `io::Result<T>`), where the compiler reports what the
/// generated code asks of the return type.
fn anchor(ty: &Type) -> Span {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.span()),
        _ => None,
    }
    .unwrap_or_else(|| ty.span())
}

/// A path (`::resilient::__private::breaker`) written at `at`, where the compiler then reports a
/// failed bound of the call through it. The check of the return type and the calls whose bounds
/// repeat it (`From<Rejected>` for a breaker or a timeout) are written at the return type's name,
/// so that a failed bound is reported once, there, instead of again on the attribute; a `when` or
/// a fallback's check at the predicate or the handler. The path is absolute: where it is written
/// does not change what it names.
fn written_at(path: TokenStream, at: Span) -> TokenStream {
    path.into_iter()
        .map(|mut tree| {
            tree.set_span(at);
            tree
        })
        .collect()
}

/// `inner.await`, the `.await` written where the awaited call is: at the return type's name for a
/// layer (see [`written_at`]).
fn awaited(inner: &TokenStream, at: Span) -> TokenStream {
    quote_spanned!(at=> #inner.await)
}

/// What `#[retry]` and `#[fallback]` judge: the layer or body inside, run, with the rejection it
/// was marked with, taken as it returns (`__private::attempt`).
fn attempted(root: &TokenStream, cx: &Context, inner: &TokenStream, is_layer: bool) -> TokenStream {
    let at = cx.output;
    if cx.is_async {
        let call = written_at(quote!(#root::__private::attempt), at);
        awaited(&quote_spanned!(at=> #call(#inner, #is_layer)), at)
    } else {
        let call = written_at(quote!(#root::__private::attempt_blocking), at);
        let called = called(inner, at);
        quote_spanned!(at=> #call(#called, #is_layer))
    }
}

/// `(inner)()`, a blocking layer or body called, written as [`awaited`].
fn called(inner: &TokenStream, at: Span) -> TokenStream {
    quote_spanned!(at=> (#inner)())
}
