//! From the checked models to code: the policies become `static`s, and the layers wrap the body in
//! reading order, each a call into `resilient::__private`.

use crate::backoff::duration;
use crate::errors::Errors;
use crate::function;
use crate::stack::{self, Kind, Layer};
use crate::timeout::Limit;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, ReturnType, Type};

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
                 write it as `#[{name}]` or `#[resilient::{name}]` (not a renamed import), or, for a renamed crate, \
                 give the attribute above it `crate = \"...\"`, so the layers apply in reading order"
            ),
        );
    }
    function::check_signature(&function, kind, &mut errors);
    let mut taken = Vec::new();
    let layers = stack::stack(kind, args, &mut function.attrs, &mut taken, &mut errors);
    if layers
        .iter()
        .any(|layer| matches!(layer.kind, Kind::Retry | Kind::Hedge))
        && function::instrumented(&function)
    {
        errors.at_span(
            Span::call_site(),
            "`#[tracing::instrument]` above `#[retry]` moves the body into a future of its own, which cannot run again: write it below the resilient attributes, where it records the whole call, retries included",
        );
    }
    let output = function::result_type(&function, kind, &mut errors).cloned();
    if function.sig.asyncness.is_none() && layers.iter().any(|layer| layer.kind == Kind::Timeout) {
        errors.at(
            function.sig.fn_token,
            "`#[timeout]` needs an `async fn`: a blocking function cannot be stopped while it runs",
        );
    }
    if function.sig.asyncness.is_none() && layers.iter().any(|layer| layer.kind == Kind::Hedge) {
        errors.at(
            function.sig.fn_token,
            "`#[hedge]` needs an `async fn`: its attempts run side by side on one task, which a blocking function cannot do",
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

/// What the layers written so far leave for the layer around them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inner {
    /// `__call` is a future (async) or a closure (blocking) that runs them.
    Call,
    /// `__result` holds what they returned (they ran: a retry loop).
    Result,
}

/// One statement of the generated body, a `let`: the last can be folded into the expression that
/// uses its binding (see [`Body::finish`]).
/// What differs between the layers that limit calls: a rate limiter and a bulkhead.
struct Limiting {
    /// The key that takes the user's own policy.
    shared_key: &'static str,
    /// The `__private` function, before `_blocking` and after `shared_`.
    function: &'static str,
    prefix: &'static str,
    runtime_type: &'static str,
    build: fn(&crate::parse::Settings, &Naming, &TokenStream) -> TokenStream,
}

const RATE_LIMIT: Limiting = Limiting {
    shared_key: "limiter",
    function: "rate_limit",
    prefix: "RATE_LIMIT",
    runtime_type: "RateLimiter",
    build: crate::rate_limit::limiter,
};

const BULKHEAD: Limiting = Limiting {
    shared_key: "bulkhead",
    function: "bulkhead",
    prefix: "BULKHEAD",
    runtime_type: "Bulkhead",
    build: crate::bulkhead::bulkhead,
};

struct Stmt {
    name: Ident,
    mutable: bool,
    value: TokenStream,
}

/// The statements written so far, innermost layer first, and what they leave.
struct Body {
    stmts: Vec<Stmt>,
    inner: Inner,
}

struct Context {
    is_async: bool,
    /// The return type, unless it mentions `impl Trait` (which generated code cannot name).
    typed: Option<Type>,
    /// The return type's name, where errors about it go: see [`written_at`].
    output: Span,
    /// The function's default policy name, `module_path::fn_name`, if a policy uses it.
    uses_default_name: bool,
    /// The error type, when it is a generic parameter of the function (see
    /// `__private::rejectable_generic`).
    generic_error: Option<Type>,
    /// The function's statics, in reading order.
    statics: Vec<TokenStream>,
    /// Per-call values, computed once before the layers run.
    prelude: Vec<TokenStream>,
}

/// The runtime module's alias, declared first in the function.
fn runtime() -> TokenStream {
    let alias = Ident::new("__resilient", Span::call_site());
    quote!(#alias)
}

/// A local of the generated code, invisible to the body.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// A local of the generated code, reported at `at`.
fn at_output(local: &Ident, at: Span) -> Ident {
    Ident::new(&local.to_string(), local.span().located_at(at))
}

/// `tokens` with every identifier a local of the generated code.
fn respan_mixed(tokens: TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Ident(ident) = &mut tree {
                ident.set_span(Span::mixed_site());
            }
            tree
        })
        .collect()
}

fn generate(
    mut function: ItemFn,
    layers: &[Layer],
    output: &Type,
    taken: &[syn::Path],
) -> TokenStream {
    let root = layers
        .iter()
        .find_map(|layer| layer.settings.crate_path())
        .map_or_else(|| quote!(::resilient), ToTokens::to_token_stream);
    let mut cx = Context {
        is_async: function.sig.asyncness.is_some(),
        typed: (!function::mentions_impl_trait(output)).then(|| output.clone()),
        output: anchor(output),
        uses_default_name: false,
        generic_error: function::generic_error(&function, output).cloned(),
        statics: Vec::new(),
        prelude: Vec::new(),
    };
    let rejects = layers.iter().any(|layer| {
        matches!(
            layer.kind,
            Kind::CircuitBreaker | Kind::Timeout | Kind::RateLimit | Kind::Bulkhead
        )
    });
    let mut body = cx.body(&function.block, rejects);
    for layer in layers.iter().rev() {
        cx.wrap(&mut body, layer);
    }
    let call = body.finish(cx.is_async, cx.output);
    let rt = runtime();
    let name = cx.uses_default_name.then(|| {
        let name = name_const();
        quote!(const #name: #rt::Name = #rt::name!(#rt);)
    });
    let (statics, prelude) = (&cx.statics, &cx.prelude);
    let uses = imports_used(taken);
    function.block = syn::parse_quote!({
        use #root::__private as #rt;
        #uses
        #name
        #(#statics)*
        #(#prelude)*
        #call
    });
    quote!(#function)
}

/// The attributes expanded here were never resolved: named, their imports count as used.
fn imports_used(taken: &[syn::Path]) -> TokenStream {
    let (rooted, relative): (Vec<_>, Vec<_>) =
        taken.iter().partition(|path| path.leading_colon.is_some());
    let relative = match relative.as_slice() {
        [] => TokenStream::new(),
        [path] => quote!(use #path as _;),
        paths => quote!(use {#(#paths as _),*};),
    };
    quote!(#relative #(use #rooted as _;)*)
}

fn name_const() -> Ident {
    Ident::new("__RESILIENT_FN", Span::call_site())
}

/// A policy's name where it is built: a name given with `name =`, or the function's path, which
/// the runtime completes on first use (`__private::Name`).
pub(crate) enum Naming {
    Given(TokenStream),
    Function,
}

impl Naming {
    /// The constructor or builder method to call, and its name argument.
    pub(crate) fn constructor(&self, given: &str, function: &str) -> (Ident, TokenStream) {
        match self {
            Naming::Given(name) => (Ident::new(given, Span::call_site()), name.clone()),
            Naming::Function => (
                Ident::new(function, Span::call_site()),
                name_const().to_token_stream(),
            ),
        }
    }
}

impl Body {
    fn push_let(&mut self, name: &str, value: TokenStream) {
        self.stmts.push(Stmt {
            name: local(name),
            mutable: false,
            value,
        });
    }

    /// The statements, and the expression that gives their result (its `.await` written at
    /// `at`); the last `let` is folded into it.
    fn finish(mut self, is_async: bool, at: Span) -> TokenStream {
        let name = match self.inner {
            Inner::Call => "__call",
            Inner::Result => "__result",
        };
        let last = match self.stmts.pop() {
            Some(Stmt {
                name: binding,
                mutable: false,
                value,
            }) if binding == name => value,
            other => {
                self.stmts.extend(other);
                local(name).to_token_stream()
            }
        };
        let tail = match (self.inner, is_async) {
            (Inner::Call, true) => awaited(last, at),
            (Inner::Call, false) => call_closure(last),
            (Inner::Result, _) => last,
        };
        let stmts = self.stmts.iter().map(Stmt::to_tokens);
        quote!(#(#stmts)* #tail)
    }
}

/// `call()`, or the closure's body where `call` is a closure without arguments.
fn call_closure(call: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ExprClosure>(call.clone()) {
        Ok(closure)
            if closure.inputs.is_empty() && matches!(closure.output, ReturnType::Default) =>
        {
            closure.body.to_token_stream()
        }
        _ => quote!(#call()),
    }
}

impl Stmt {
    fn to_tokens(&self) -> TokenStream {
        let Stmt {
            name,
            mutable,
            value,
        } = self;
        let mutable = mutable.then(|| quote!(mut));
        quote!(let #mutable #name = #value;)
    }
}

impl Context {
    /// `__resilient::#name`, written at the return type's name (see [`written_at`]).
    fn private(&self, name: &str) -> TokenStream {
        let rt = runtime();
        let name = Ident::new(name, Span::call_site());
        written_at(quote!(#rt::#name), self.output)
    }

    /// The function's body: an async block, or a closure returning the function's type; its
    /// return edge types it as the function's result before the body is checked (async) and
    /// checks the return type.
    fn body(&self, block: &syn::Block, rejects: bool) -> Body {
        // The user's items (and macros, which may expand to items) stay in a block of their own,
        // where they cannot shadow what the return edge names.
        let own_scope = block
            .stmts
            .iter()
            .any(|stmt| matches!(stmt, syn::Stmt::Item(_) | syn::Stmt::Macro(_)));
        let stmts = if own_scope {
            vec![syn::Stmt::Expr(
                Expr::Block(syn::ExprBlock {
                    attrs: Vec::new(),
                    label: None,
                    block: block.clone(),
                }),
                None,
            )]
        } else {
            block.stmts.clone()
        };
        let edge = self.typed.as_ref().map(|output| {
            let output = at_return_type(output, self.output);
            let edge = match (&self.generic_error, rejects) {
                (Some(error), true) => {
                    let check = self.private("rejectable_generic");
                    let error = at_return_type(error, self.output);
                    quote_spanned!(self.output=> #check::<#output, #error>())
                }
                (None, true) => {
                    let check = self.private("rejectable");
                    quote_spanned!(self.output=> #check::<#output>())
                }
                (_, false) => {
                    let check = self.private("result");
                    quote_spanned!(self.output=> #check::<#output>())
                }
            };
            quote!(if false { return #edge; })
        });
        let call = if self.is_async {
            quote!(async { #edge #(#stmts)* })
        } else {
            let returns = self.typed.as_ref().map(|output| quote!(-> #output));
            let body_blocking = self.private("body_blocking");
            quote!(#body_blocking(|| #returns { #edge #(#stmts)* }))
        };
        Body {
            stmts: vec![Stmt {
                name: local("__call"),
                mutable: false,
                value: call,
            }],
            inner: Inner::Call,
        }
    }

    /// Declares a policy's `static`: `__RESILIENT_<KIND>`.
    fn declare(&mut self, kind: &str, ty: &str, value: TokenStream) -> Ident {
        let name = format_ident!("__RESILIENT_{}", kind);
        let ty = Ident::new(ty, Span::call_site());
        let rt = runtime();
        // Written inside out: the outermost layer's static comes first.
        self.statics
            .insert(0, quote!(static #name: #rt::#ty = #value;));
        name
    }

    /// The policy's name: the one given, or the function's.
    fn policy_name(&mut self, layer: &Layer) -> Naming {
        match layer.settings.name() {
            Some(name) => Naming::Given(name.to_token_stream()),
            None => {
                self.uses_default_name = true;
                Naming::Function
            }
        }
    }

    /// The layers so far as a future (async) or closure (blocking) in `__call`.
    fn as_call(&self, body: &mut Body) {
        if body.inner == Inner::Call {
            return;
        }
        let stmts = std::mem::take(&mut body.stmts);
        let block = Body {
            stmts,
            inner: Inner::Result,
        }
        .finish(self.is_async, self.output);
        let call = if self.is_async {
            let layer = self.private("layer");
            quote!(#layer(async { #block }))
        } else {
            quote!(|| { #block })
        };
        body.push_let("__call", call);
        body.inner = Inner::Call;
    }

    /// Wraps the layers so far in `layer`.
    fn wrap(&mut self, body: &mut Body, layer: &Layer) {
        match layer.kind {
            Kind::Retry => self.retry(body, layer),
            Kind::Hedge => self.hedge(body, layer),
            Kind::Fallback if !self.is_async || body.inner == Inner::Result => {
                self.fallback_after(body, layer);
            }
            Kind::Fallback => self.fallback(body, layer),
            Kind::Timeout
            | Kind::CircuitBreaker
            | Kind::RateLimit
            | Kind::Bulkhead
            | Kind::Atomic => {
                self.as_call(body);
                let call = local("__call");
                let wrapped = match layer.kind {
                    Kind::Timeout => self.timeout(layer, &call),
                    Kind::CircuitBreaker => self.breaker(layer, &call),
                    Kind::RateLimit => self.limiting(layer, &call, &RATE_LIMIT),
                    Kind::Bulkhead => self.limiting(layer, &call, &BULKHEAD),
                    _ => self.atomic(&call),
                };
                body.push_let("__call", wrapped);
            }
        }
    }

    fn timeout(&mut self, layer: &Layer, call: &Ident) -> TokenStream {
        let rt = runtime();
        let naming = self.policy_name(layer);
        match layer
            .limit
            .as_ref()
            .expect("a missing limit is reported while parsing")
        {
            Limit::Fixed(d) => {
                let limit = duration(&rt, *d);
                let (new, name) = naming.constructor("new", "for_function");
                let policy = quote!(#rt::TimeoutPolicy::#new(#name, #limit));
                let policy = self.declare("TIMEOUT", "TimeoutPolicy", policy);
                let timeout = self.private("timeout");
                quote_spanned!(self.output=> #timeout(&#policy, #call))
            }
            Limit::Dynamic(expr) => {
                let (new, name) = naming.constructor("per_call", "per_call_for_function");
                let policy = quote!(#rt::TimeoutPolicy::#new(#name));
                let policy = self.declare("TIMEOUT", "TimeoutPolicy", policy);
                let limit = local("__limit");
                self.prelude
                    .push(quote!(let #limit: #rt::Duration = #expr;));
                let timeout = self.private("timeout_for");
                quote_spanned!(self.output=> #timeout(&#policy, #limit, #call))
            }
        }
    }

    fn breaker(&mut self, layer: &Layer, call: &Ident) -> TokenStream {
        let rt = runtime();
        let when = self.predicate(layer.settings.expr("when"));
        let (function, breaker) = match layer.settings.expr("breaker") {
            Some(breaker) => {
                // With `breaker = ...` no other key is given (checked while parsing).
                let function = self.private(if self.is_async {
                    "shared_breaker"
                } else {
                    "shared_breaker_blocking"
                });
                let call = quote_spanned!(self.output=> #function(#breaker, #call));
                return self.blocking_layer(call);
            }
            None => {
                let (build, name) = self
                    .policy_name(layer)
                    .constructor("build", "build_for_function");
                let config = crate::breaker::config(&layer.settings, &rt);
                let value = quote!(#config.#build(#name));
                ("breaker", self.declare("BREAKER", "CircuitBreaker", value))
            }
        };
        let call = match (self.is_async, when) {
            (true, None) => {
                let function = self.private(function);
                quote_spanned!(self.output=> #function(&#breaker, #call))
            }
            (true, Some(when)) => {
                let function = self.private("breaker_when");
                quote_spanned!(self.output=> #function(&#breaker, #call, #when))
            }
            (false, when) => {
                let when = when.unwrap_or_else(|| self.private("every_error"));
                let function = self.private("breaker_blocking");
                quote_spanned!(self.output=> #function(&#breaker, #when, #call))
            }
        };
        self.blocking_layer(call)
    }

    /// A rate limiter or a bulkhead: the policy built from the keys, or the user's own.
    fn limiting(&mut self, layer: &Layer, call: &Ident, kind: &Limiting) -> TokenStream {
        let blocking = if self.is_async { "" } else { "_blocking" };
        let (function, policy) = match layer.settings.expr(kind.shared_key) {
            // With the shared key no other key is given (checked while validating).
            Some(policy) => (
                format!("shared_{}{blocking}", kind.function),
                policy.to_token_stream(),
            ),
            None => {
                let naming = self.policy_name(layer);
                let value = (kind.build)(&layer.settings, &naming, &runtime());
                let policy = self.declare(kind.prefix, kind.runtime_type, value);
                (format!("{}{blocking}", kind.function), quote!(&#policy))
            }
        };
        let function = self.private(&function);
        self.blocking_layer(quote_spanned!(self.output=> #function(#policy, #call)))
    }

    fn atomic(&mut self, call: &Ident) -> TokenStream {
        let function = self.private(if self.is_async {
            "atomic"
        } else {
            "atomic_blocking"
        });
        let call = quote_spanned!(self.output=> #function(#call));
        self.blocking_layer(call)
    }

    /// `#[fallback]` on an async function: a future around the layers inside, awaited at once at
    /// the handler, where a mistake in it is reported.
    fn fallback(&mut self, body: &mut Body, layer: &Layer) {
        let (policy, when, handler, at) = self.fallback_parts(layer);
        let call = local("__call");
        let fallback = match when {
            Some(when) => {
                let function = written_at(quote!(__resilient::fallback_when), at);
                quote_spanned!(at=> #function(&#policy, #call, #when, #handler))
            }
            None => {
                let function = written_at(quote!(__resilient::fallback), at);
                quote_spanned!(at=> #function(&#policy, #call, #handler))
            }
        };
        body.push_let("__result", awaited(fallback, at));
        body.inner = Inner::Result;
    }

    /// `#[fallback]` judging what the layers inside returned: on a blocking function, or after a
    /// retry loop.
    fn fallback_after(&mut self, body: &mut Body, layer: &Layer) {
        let (policy, when, handler, at) = self.fallback_parts(layer);
        let result = respan_mixed(match body.inner {
            Inner::Call => quote!(__call()),
            Inner::Result => quote!(__result),
        });
        let value = if self.is_async {
            let call = match when {
                Some(when) => {
                    let function = written_at(quote!(__resilient::fallback_after_when), at);
                    quote_spanned!(at=> #function(&#policy, #result, #when, #handler))
                }
                None => {
                    let function = written_at(quote!(__resilient::fallback_after), at);
                    quote_spanned!(at=> #function(&#policy, #result, #handler))
                }
            };
            awaited(call, at)
        } else {
            let when = when.unwrap_or_else(|| self.private("every_error"));
            let function = written_at(quote!(__resilient::fallback_blocking), at);
            quote_spanned!(at=> #function(&#policy, #result, #when, #handler))
        };
        body.push_let("__result", value);
        body.inner = Inner::Result;
    }

    /// The fallback's static, `when` and handler, and where a mistake in the handler is reported:
    /// at what it returns.
    fn fallback_parts(&mut self, layer: &Layer) -> (Ident, Option<TokenStream>, Expr, Span) {
        let rt = runtime();
        let handler = layer
            .handler
            .clone()
            .expect("a missing fallback is reported while parsing");
        let (new, name) = self.policy_name(layer).constructor("new", "for_function");
        let policy = self.declare(
            "FALLBACK",
            "FallbackPolicy",
            quote!(#rt::FallbackPolicy::#new(#name)),
        );
        let when = self.predicate(layer.settings.expr("when"));
        let at = match &handler {
            Expr::Closure(closure) => closure.body.span(),
            _ => handler.span(),
        };
        (policy, when, self.typed_handler(handler), at)
    }

    /// A closure answering with an `async` block gets the body's return edge in that block: its
    /// output is then the function's type, and a wrong value in it is reported at the value.
    fn typed_handler(&self, mut handler: Expr) -> Expr {
        let (true, Some(output), Expr::Closure(closure)) =
            (self.is_async, &self.typed, &mut handler)
        else {
            return handler;
        };
        if let Expr::Async(answer) = &mut *closure.body {
            let output = at_return_type(output, self.output);
            let check = self.private("result");
            let edge = quote_spanned!(self.output=> if false { return #check::<#output>(); });
            answer.block.stmts.insert(0, syn::parse_quote!(#edge));
        }
        handler
    }

    fn retry(&mut self, body: &mut Body, layer: &Layer) {
        let rt = runtime();
        let when = self
            .predicate_checked(layer.settings.expr("when"), false)
            .unwrap_or_else(|| self.private("every_error"));
        let (start, policy) = match layer.settings.expr("policy") {
            Some(policy) => ("shared_retry", policy.to_token_stream()),
            None => {
                let naming = self.policy_name(layer);
                let policy = crate::retry::policy(&layer.settings, &rt, &naming);
                let policy = self.declare("RETRY", "RetryPolicy", policy);
                ("retry", quote!(&#policy))
            }
        };
        let start = if self.is_async {
            let start = self.private(start);
            quote_spanned!(self.output=> #start(#policy, #when))
        } else {
            let start = self.private(&format!("{start}_blocking"));
            quote_spanned!(self.output=> #start(#policy))
        };
        let is_async = self.is_async;
        self.attempt_loop(body, "__retry", start, |state, call, at| {
            if is_async {
                quote_spanned!(at=> #state.attempt(#call).await)
            } else {
                quote_spanned!(at=> #state.attempt_blocking(#call, #when))
            }
        });
    }

    /// The loop of a retry or a hedge: `state` (`let mut`, built by `start`) starts each attempt,
    /// a new future of the layers so far, with `attempt(state, call, at the return type)`, until
    /// it gives the result.
    fn attempt_loop(
        &mut self,
        body: &mut Body,
        state: &str,
        start: TokenStream,
        attempt: impl FnOnce(&Ident, &Ident, Span) -> TokenStream,
    ) {
        self.as_call(body);
        let (state, result, call) = (local(state), local("__result"), local("__call"));
        // Every token at the return type: a failed bound of the attempt is reported there, once.
        let (state_at, call_at) = (
            at_output(&state, self.output),
            at_output(&call, self.output),
        );
        let attempt = attempt(&state_at, &call_at, self.output);
        let stmts = body.stmts.iter().map(Stmt::to_tokens);
        let run = quote!(loop {
            #(#stmts)*
            if let ::core::option::Option::Some(#result) = #attempt {
                break #result;
            }
        });
        body.stmts = vec![
            Stmt {
                name: state,
                mutable: true,
                value: start,
            },
            Stmt {
                name: result,
                mutable: false,
                value: run,
            },
        ];
        body.inner = Inner::Result;
    }

    /// The hedge's attempts, pinned in the function's frame, and a loop that starts each one: the
    /// body's future is built anew on each turn, as for a retry, so its attempts are of one type.
    fn hedge(&mut self, body: &mut Body, layer: &Layer) {
        let rt = runtime();
        let when = self
            .predicate_checked(layer.settings.expr("when"), false)
            .unwrap_or_else(|| self.private("every_error"));
        let (start, policy) = match layer.settings.expr("policy") {
            Some(policy) => ("shared_hedge", policy.to_token_stream()),
            None => {
                let naming = self.policy_name(layer);
                let policy = crate::hedge::policy(&layer.settings, &rt, &naming);
                let policy = self.declare("HEDGE", "HedgePolicy", policy);
                ("hedge", quote!(&#policy))
            }
        };
        let start = self.private(start);
        let start = quote_spanned!(self.output=> ::core::pin::pin!(#start(#policy, #when)));
        self.attempt_loop(
            body,
            "__hedge",
            start,
            |state, call, at| quote_spanned!(at=> #state.as_mut().attempt(#call).await),
        );
    }

    /// A blocking layer is a closure, run by the layer around it.
    fn blocking_layer(&self, call: TokenStream) -> TokenStream {
        if self.is_async {
            call
        } else {
            quote!(|| #call)
        }
    }

    /// The `when = ...` given, checked against the return type where it can be named, so that a
    /// mistake in it is reported at it: on a blocking function through
    /// `__private::when_blocking`, on an async one through `__private::when_path` (a path) or
    /// `__private::when` (a closure, which gets its argument's type from it). A retry checks a
    /// path where the attempt is awaited instead: its line stays short, and the path (a function
    /// item) takes no room in the future.
    fn predicate(&self, when: Option<&Expr>) -> Option<TokenStream> {
        self.predicate_checked(when, true)
    }

    fn predicate_checked(&self, when: Option<&Expr>, paths: bool) -> Option<TokenStream> {
        let when = when?;
        let at = when.span();
        let Some(output) = &self.typed else {
            return Some(when.to_token_stream());
        };
        Some(if !self.is_async {
            let check = written_at(quote!(__resilient::when_blocking), at);
            quote_spanned!(at=> #check::<#output>(&#when))
        } else if let Expr::Closure(closure) = when {
            // A closure that names its argument's type needs no help (and would be reported
            // twice through it).
            let annotated = closure
                .inputs
                .iter()
                .all(|input| matches!(input, syn::Pat::Type(_)));
            if annotated {
                return Some(when.to_token_stream());
            }
            let check = written_at(quote!(__resilient::when), at);
            quote_spanned!(at=> #check::<#output, _>(#when))
        } else if paths {
            let check = written_at(quote!(__resilient::when_path), at);
            quote_spanned!(at=> #check::<#output>(#when))
        } else {
            when.to_token_stream()
        })
    }
}

/// `call.await`, the `.await` written at `at`, where a failed bound of the awaited call is
/// reported.
fn awaited(call: TokenStream, at: Span) -> TokenStream {
    quote_spanned!(at=> #call.await)
}

/// The return type written at `at`: the error of a call `f::<#output>()` on the type covers the
/// same tokens as those of the layers' calls.
fn at_return_type(output: &Type, at: Span) -> TokenStream {
    written_at(output.to_token_stream(), at)
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

/// A path (`__resilient::breaker`) written at `at`, where the compiler then reports a failed
/// bound of the call through it. The return edge and the calls whose bounds repeat its check
/// (`From<Rejected>` for a breaker or a timeout) are written at the return type's name, so that a
/// failed bound is reported once, there, instead of again on the attribute; a `when` or a
/// fallback's check at the predicate or the handler. The path resolves there as where the macro
/// wrote it: `__resilient` is an item of the function.
fn written_at(path: TokenStream, at: Span) -> TokenStream {
    path.into_iter()
        .map(|mut tree| {
            tree.set_span(at);
            tree
        })
        .collect()
}
