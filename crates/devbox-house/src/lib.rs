//! The house rules, measured: no non-test Rust file over [`MAX_FILE_LINES`] lines and no non-test
//! function over [`MAX_FN_LINES`] lines. Parsed with `syn`, so a test module, a `#[test]` function or a
//! brace in a string cannot fool the count.
//!
//! Test code is: everything under a crate's `tests/` directory, a `tests.rs` file (a test module kept
//! beside its code), and items marked `#[cfg(test)]`, `#[test]`, `#[tokio::test]` or `#[host_test]`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use syn::visit::Visit;

pub const MAX_FILE_LINES: usize = 700;
pub const MAX_FN_LINES: usize = 80;

/// One rule broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    /// The function's path (`Type::method`, `outer::inner`), or None for the file itself.
    pub function: Option<String>,
    pub line: usize,
    pub lines: usize,
    pub limit: usize,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.function {
            Some(name) => write!(
                f,
                "{}:{}: fn {} has {} lines (limit {})",
                self.file.display(),
                self.line,
                name,
                self.lines,
                self.limit
            ),
            None => write!(
                f,
                "{}: {} lines (limit {})",
                self.file.display(),
                self.lines,
                self.limit
            ),
        }
    }
}

/// Every non-test `.rs` file of the workspace at `root` (under `crates/*/src`, plus build scripts).
pub fn source_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let crates = root.join("crates");
    let entries =
        std::fs::read_dir(&crates).with_context(|| format!("reading {}", crates.display()))?;
    for entry in entries {
        let dir = entry?.path();
        collect(&dir.join("src"), &mut files)?;
        let build = dir.join("build.rs");
        if build.is_file() {
            files.push(build);
        }
    }
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                collect(&path, files)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// The rules broken by one file's text.
pub fn check_source(file: &Path, text: &str) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let lines = text.lines().count();
    if lines > MAX_FILE_LINES {
        findings.push(Finding {
            file: file.to_path_buf(),
            function: None,
            line: 1,
            lines,
            limit: MAX_FILE_LINES,
        });
    }
    let parsed =
        syn::parse_file(text).with_context(|| format!("parsing {} as Rust", file.display()))?;
    let mut walker = Walker {
        file,
        scope: Vec::new(),
        findings: &mut findings,
    };
    walker.visit_file(&parsed);
    Ok(findings)
}

/// The rules broken anywhere in the workspace at `root`, largest first.
pub fn check_workspace(root: &Path) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for file in source_files(root)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let shown = file.strip_prefix(root).unwrap_or(&file);
        findings.extend(check_source(shown, &text)?);
    }
    findings.sort_by(|a, b| b.lines.cmp(&a.lines).then(a.file.cmp(&b.file)));
    Ok(findings)
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let path = a.path();
        if path.is_ident("cfg") {
            // `#[cfg(test)]`, and `#[cfg(all(test, unix))]` alike: any `test` word in the predicate.
            return match &a.meta {
                syn::Meta::List(list) => list
                    .tokens
                    .to_string()
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == "test"),
                _ => false,
            };
        }
        let last = path.segments.last().map(|s| s.ident.to_string());
        matches!(last.as_deref(), Some("test" | "host_test"))
    })
}

struct Walker<'a> {
    file: &'a Path,
    scope: Vec<String>,
    findings: &'a mut Vec<Finding>,
}

impl Walker<'_> {
    fn function(&mut self, name: String, sig: &syn::Signature, block: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        let lines = end.saturating_sub(start) + 1;
        let mut path = self.scope.clone();
        path.push(name);
        if lines > MAX_FN_LINES {
            self.findings.push(Finding {
                file: self.file.to_path_buf(),
                function: Some(path.join("::")),
                line: start,
                lines,
                limit: MAX_FN_LINES,
            });
        }
    }
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test(&m.attrs) {
            return;
        }
        self.scope.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.scope.pop();
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if is_test(&i.attrs) {
            return;
        }
        let name = match &*i.self_ty {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default(),
            _ => "impl".to_string(),
        };
        self.scope.push(name);
        syn::visit::visit_item_impl(self, i);
        self.scope.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if is_test(&f.attrs) {
            return;
        }
        self.function(f.sig.ident.to_string(), &f.sig, &f.block);
        self.scope.push(f.sig.ident.to_string());
        syn::visit::visit_item_fn(self, f);
        self.scope.pop();
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if is_test(&f.attrs) {
            return;
        }
        self.function(f.sig.ident.to_string(), &f.sig, &f.block);
        self.scope.push(f.sig.ident.to_string());
        syn::visit::visit_impl_item_fn(self, f);
        self.scope.pop();
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if is_test(&f.attrs) {
            return;
        }
        if let Some(block) = &f.default {
            self.function(f.sig.ident.to_string(), &f.sig, block);
        }
        self.scope.push(f.sig.ident.to_string());
        syn::visit::visit_trait_item_fn(self, f);
        self.scope.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> String {
        "    let _ = 1;\n".repeat(n)
    }

    #[test]
    fn a_long_function_is_found_with_its_path_and_length() {
        let text = format!(
            "struct S;\nimpl S {{\n    fn long() {{\n{}    }}\n}}\n",
            body(79)
        );
        let found = check_source(Path::new("x.rs"), &text).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].function.as_deref(), Some("S::long"));
        assert_eq!(found[0].lines, 81);
        assert_eq!(found[0].line, 3);
    }

    #[test]
    fn a_function_at_the_limit_passes() {
        let text = format!("fn ok() {{\n{}}}\n", body(78));
        assert_eq!(check_source(Path::new("x.rs"), &text).unwrap(), vec![]);
    }

    #[test]
    fn test_code_is_not_measured() {
        let text = format!(
            "#[cfg(test)]\nmod tests {{\n    fn helper() {{\n{0}    }}\n}}\n#[test]\nfn t() {{\n{0}}}\n#[cfg(all(test, unix))]\nfn u() {{\n{0}}}\n",
            body(100)
        );
        assert_eq!(check_source(Path::new("x.rs"), &text).unwrap(), vec![]);
    }

    #[test]
    fn a_long_file_is_found_and_braces_in_strings_do_not_count() {
        let text = format!(
            "fn f() {{ let _ = \"}}}}{{\"; }}\n{}",
            "// line\n".repeat(700)
        );
        let found = check_source(Path::new("x.rs"), &text).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].function.clone(), found[0].lines), (None, 701));
    }

    #[test]
    fn unparsable_text_is_an_error_naming_the_file() {
        let e = check_source(Path::new("bad.rs"), "fn (").unwrap_err();
        assert!(format!("{e:#}").contains("bad.rs"), "{e:#}");
    }
}
