//! The workspace itself keeps the house rules (a file or function that grows past a limit fails
//! the test run, with where and by how much).

use std::path::Path;

#[test]
fn every_non_test_file_and_function_is_within_the_limits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = devbox_house::source_files(&root).unwrap();
    // The walk found the workspace (not an empty directory that would pass trivially).
    assert!(files.len() > 50, "found only {} source files", files.len());
    let findings = devbox_house::check_workspace(&root).unwrap();
    let shown: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "split these by job (docs/architecture.md):\n{}",
        shown.join("\n")
    );
}
