//! Expansion snapshots: each `snapshots/<name>.rs` holds annotated functions, and
//! `snapshots/<name>.expanded.rs` what the attributes make of them, pretty-printed. A change to
//! the generated code shows up as a diff in review. Regenerate with
//! `SNAPSHOTS=overwrite cargo test -p resilient-macros` and read every diff.

use crate::stack::Kind;
use quote::ToTokens;
use std::path::Path;

/// Expands the first resilient attribute of every function in `source`, as the compiler would.
fn expand_file(source: &str) -> String {
    let file: syn::File = syn::parse_str(source).expect("snapshot inputs are valid Rust");
    let mut output = syn::File {
        items: Vec::new(),
        ..file.clone()
    };
    for mut item in file.items {
        let syn::Item::Fn(function) = &mut item else {
            output.items.push(item);
            continue;
        };
        let Some(index) = function.attrs.iter().position(|a| kind_of(a).is_some()) else {
            output.items.push(item);
            continue;
        };
        let attr = function.attrs.remove(index);
        let kind = kind_of(&attr).expect("found above");
        let args = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => proc_macro2::TokenStream::new(),
        };
        let expanded = crate::expand::attribute(kind, args, function.to_token_stream());
        let expanded: syn::File = syn::parse2(expanded).expect("the expansion is items");
        output.items.extend(expanded.items);
    }
    prettyplease::unparse(&output)
}

fn kind_of(attr: &syn::Attribute) -> Option<Kind> {
    let name = attr.path().segments.last()?.ident.to_string();
    Kind::ALL.into_iter().find(|k| k.name() == name)
}

#[test]
fn expansions_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let overwrite = std::env::var_os("SNAPSHOTS").is_some_and(|v| v == "overwrite");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("snapshots/ exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "rs")
                && !path.to_string_lossy().ends_with(".expanded.rs")
        })
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no snapshot inputs in {}",
        dir.display()
    );
    let mut stale = Vec::new();
    for input in inputs {
        let expected_path = input.with_extension("expanded.rs");
        let actual = expand_file(&std::fs::read_to_string(&input).expect("readable"));
        if overwrite {
            std::fs::write(&expected_path, &actual).expect("writable");
        } else if std::fs::read_to_string(&expected_path).ok().as_deref() != Some(actual.as_str()) {
            stale.push(format!("{}:\n{actual}", expected_path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "expansions changed (SNAPSHOTS=overwrite to accept):\n{}",
        stale.join("\n")
    );
}

/// The README shows the stacked snapshot between two markers; it must stay a true copy.
#[test]
fn readme_shows_the_stacked_expansion() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme_path = root.join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let expansion =
        std::fs::read_to_string(root.join("snapshots/stacked.expanded.rs")).expect("snapshot");
    let (start, end) = ("<!-- expansion:start -->\n", "<!-- expansion:end -->");
    let (before, rest) = readme
        .split_once(start)
        .expect("README has the start marker");
    let (_, after) = rest.split_once(end).expect("README has the end marker");
    let current = format!("{before}{start}```rust\n{expansion}```\n{end}{after}");
    if std::env::var_os("SNAPSHOTS").is_some_and(|v| v == "overwrite") {
        std::fs::write(&readme_path, current).expect("writable");
    } else {
        assert!(
            readme == current,
            "README's expansion is stale: SNAPSHOTS=overwrite cargo test -p resilient-macros"
        );
    }
}
