//! The repository stands on its own: whoever clones it alone can read every
//! rule it follows. The agreed contract it was built from lives outside the
//! repository (beside it, for the developers who wrote it); the rules as
//! built are in README.md, docs/ and openapi.yaml, so no tracked file may
//! send a reader to that outside copy. Scripts may still *use* the test
//! infrastructure beside the checkout (a Spin CLI, FastDFS sources), which
//! is why only the contract's file name is refused.

use std::path::Path;
use std::process::Command;

/// The outside contract's file name as a citation would spell it.
const OUTSIDE_CONTRACT: &str = concat!("shared/", "API.md");

#[test]
fn no_tracked_file_cites_the_outside_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed");
    let mut citing = Vec::new();
    for path in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8_lossy(path).into_owned();
        // Binary files (images, fixtures) are skipped: only text can cite.
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else {
            continue;
        };
        if text.contains(OUTSIDE_CONTRACT) {
            citing.push(path);
        }
    }
    assert!(
        citing.is_empty(),
        "these files cite the contract outside the repository; write the rule \
         into README.md, docs/ or openapi.yaml instead: {citing:?}"
    );
}
