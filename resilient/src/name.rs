//! Policy names. A name given as text is used as written. An annotated function's default name
//! is `module::fn_name`, or `module::Type::method` for a function in an impl: only the compiler
//! knows the impl a function sits in, and it tells it only at run time (`type_name` is not
//! `const`), so the type is read on first use and the name kept.

use std::panic::RefUnwindSafe;
use std::sync::OnceLock;

/// The default name of an annotated function: a closure written in a constant inside it, which
/// returns the function's module, and whose type's name is the function's path followed by
/// `::__RESILIENT_FN::{{closure}}`.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Name {
    module: &'static (dyn Fn() -> &'static str + Sync + RefUnwindSafe),
    marker: fn() -> &'static str,
}

/// The default name of the function in which `marker` is written.
#[doc(hidden)]
pub const fn name<T: Fn() -> &'static str + Sync + RefUnwindSafe>(marker: &'static T) -> Name {
    Name {
        module: marker,
        marker: std::any::type_name::<T>,
    }
}

/// `const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);` in an annotated
/// function: its default name. The runtime module comes by its alias in the generated code,
/// which keeps the line short in `cargo expand`.
#[doc(hidden)]
#[macro_export]
macro_rules! __resilient_function_name {
    ($runtime:ident) => {
        $runtime::name(&|| ::core::module_path!())
    };
}

/// A policy's name, as its events, metrics, rejections and registry entry show it.
#[derive(Clone)]
pub(crate) enum PolicyName {
    Given(&'static str),
    /// The function's default name, and the text made of it on first use.
    Function(Name, OnceLock<&'static str>),
}

impl PolicyName {
    pub(crate) const fn given(name: &'static str) -> Self {
        Self::Given(name)
    }

    pub(crate) const fn of_function(name: Name) -> Self {
        Self::Function(name, OnceLock::new())
    }

    #[inline]
    pub(crate) fn get(&self) -> &'static str {
        match self {
            Self::Given(name) => name,
            Self::Function(Name { module, marker }, read) => read.get_or_init(|| {
                // Read once per policy and kept for the life of its `static`.
                Box::leak(function_name(module(), marker()).into_boxed_str())
            }),
        }
    }
}

/// `module::fn_name`, or `module::Type::method` when the marker's path shows the function in an
/// impl of `Type` (or of a trait for it, or in a trait `Type`'s default method). A function
/// nested in another keeps the module alone, as `module_path!()` names it.
fn function_name(module: &str, marker: &str) -> String {
    let Some(path) = marker.strip_suffix("::__RESILIENT_FN::{{closure}}") else {
        return format!("{module}::{marker}");
    };
    // The body of an async function is a closure of its own.
    let path = path.strip_suffix("::{{closure}}").unwrap_or(path);
    let (owner, function) = split_last(path);
    match owner.and_then(type_of_impl) {
        Some(ty) => format!("{module}::{ty}::{function}"),
        None => format!("{module}::{function}"),
    }
}

/// `(everything before, last segment)` of a path, splitting at the last `::` outside brackets.
fn split_last(path: &str) -> (Option<&str>, &str) {
    let mut depth = 0i32;
    let mut split = None;
    for (at, c) in path.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if !path[..at].ends_with('-') => depth -= 1,
            ':' if depth == 0 && path[at..].starts_with("::") && !path[..at].ends_with(':') => {
                split = Some(at)
            }
            _ => {}
        }
    }
    match split {
        Some(at) => (Some(&path[..at]), &path[at + 2..]),
        None => (None, path),
    }
}

/// The type an impl is for, named as in code (`Client`), when `owner` is one: `Client<_>`,
/// `<Client<_> as Trait>` or a name in UpperCamelCase; `None` for a module or an enclosing
/// function, or a type that is not a plain path (a tuple, a slice).
fn type_of_impl(owner: &str) -> Option<&str> {
    let (_, last) = split_last(owner);
    let ty = match last.strip_prefix('<') {
        // `<Type as Trait>`: the type, without the trait.
        Some(inner) => {
            let inner = inner.strip_suffix('>')?;
            let ty = inner.find(" as ").map_or(inner, |at| &inner[..at]);
            let ty = ty.trim_start_matches('&').trim_start_matches("mut ");
            split_last(ty).1
        }
        None => last,
    };
    let ty = ty.find('<').map_or(ty, |at| &ty[..at]);
    let is_type = ty.starts_with(|c: char| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
    is_type.then_some(ty)
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn a_default_name_is_the_module_the_impl_type_and_the_function() {
        let cases = [
            ("app::free::__RESILIENT_FN::{{closure}}", "app::free"),
            (
                "app::fetch::{{closure}}::__RESILIENT_FN::{{closure}}",
                "app::fetch",
            ),
            (
                "app::db::Pool<_>::query::__RESILIENT_FN::{{closure}}",
                "app::Pool::query",
            ),
            (
                "app::db::Pool::query::{{closure}}::__RESILIENT_FN::{{closure}}",
                "app::Pool::query",
            ),
            (
                "<app::db::Pool<_> as app::Store>::save::__RESILIENT_FN::{{closure}}",
                "app::Pool::save",
            ),
            (
                "<&mut app::Pool as app::Store>::save::__RESILIENT_FN::{{closure}}",
                "app::Pool::save",
            ),
            (
                "app::Store::load::__RESILIENT_FN::{{closure}}",
                "app::Store::load",
            ),
            (
                "app::Buf<'_, N>::read::__RESILIENT_FN::{{closure}}",
                "app::Buf::read",
            ),
            (
                "<app::Map<fn() -> u8, Vec<u8>> as app::T>::get::__RESILIENT_FN::{{closure}}",
                "app::Map::get",
            ),
            (
                "<(app::A, app::B) as app::T>::get::__RESILIENT_FN::{{closure}}",
                "app::get",
            ),
            (
                "app::test::{{closure}}::inner::{{closure}}::__RESILIENT_FN::{{closure}}",
                "app::inner",
            ),
            (
                "app::Client<_>::fetch::inner::__RESILIENT_FN::{{closure}}",
                "app::inner",
            ),
            ("no marker", "app::no marker"),
        ];
        for (marker, expected) in cases {
            assert_eq!(function_name("app", marker), expected, "{marker}");
        }
    }

    #[test]
    fn the_marker_of_a_method_shows_its_type() {
        struct Pool<T>(T);
        impl<T> Pool<T> {
            fn name() -> &'static str {
                use crate::__private as runtime;
                const __RESILIENT_FN: super::Name = crate::__resilient_function_name!(runtime);
                super::PolicyName::of_function(__RESILIENT_FN).get()
            }
        }
        assert_eq!(Pool::<u8>::name(), "resilient::name::tests::Pool::name");
    }
}
