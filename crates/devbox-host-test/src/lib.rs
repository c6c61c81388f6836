//! `#[host_test]`: a `#[test]` that needs the host — root, Podman, real Unix users, Syncthing.
//!
//! Where such a test cannot run (built without root, or with `DEVBOX_SKIP_HOST_TESTS=1` as in the
//! Nix sandbox) it becomes `#[ignore = "<reason>"]`, so cargo and nextest count it as ignored and
//! print the reason; it is never run and never counted as passed. `scripts/test-all.sh` (root, a
//! prepared machine) fails if any test is ignored.

use proc_macro::{TokenStream, TokenTree};

/// Empty when host tests can run; otherwise why not (decided by build.rs).
const SKIP_REASON: &str = env!("DEVBOX_HOST_TEST_SKIP_REASON");

/// Marks a host test. Takes no arguments; use it instead of `#[test]`, or above a test attribute
/// of a runtime (`#[host_test] #[tokio::test] async fn ...`), which then makes the test itself.
#[proc_macro_attribute]
pub fn host_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error("#[host_test] takes no arguments");
    }
    let test = if has_test_attribute(&item) {
        ""
    } else {
        "#[test]"
    };
    let head = if SKIP_REASON.is_empty() {
        test.to_string()
    } else {
        format!("{test} #[ignore = {SKIP_REASON:?}]")
    };
    match head.parse::<TokenStream>() {
        Ok(mut out) => {
            out.extend(item);
            out
        }
        Err(_) => compile_error("#[host_test]: could not build the test attributes"),
    }
}

/// True when one of the item's outer attributes is already a test attribute (`#[test]`,
/// `#[tokio::test]`, `#[tokio::test(flavor = ...)]`).
fn has_test_attribute(item: &TokenStream) -> bool {
    let mut tokens = item.clone().into_iter();
    while let Some(TokenTree::Punct(p)) = tokens.next() {
        if p.as_char() != '#' {
            break;
        }
        let Some(TokenTree::Group(group)) = tokens.next() else {
            break;
        };
        let path: String = group
            .stream()
            .into_iter()
            .take_while(|t| !matches!(t, TokenTree::Group(_)))
            .map(|t| t.to_string())
            .collect();
        if path == "test" || path.ends_with("::test") {
            return true;
        }
    }
    false
}

fn compile_error(message: &str) -> TokenStream {
    format!("compile_error!({message:?});")
        .parse()
        .unwrap_or_default()
}
