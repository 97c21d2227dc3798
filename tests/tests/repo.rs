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

/// docs/ is reachable and whole: README.md links its index, the index
/// links every page, and no relative link in README.md or docs/ points at a
/// file that isn't there.
#[test]
fn docs_are_linked_and_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = root.join("docs");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        readme.contains("(docs/README.md)"),
        "README.md must link docs/README.md"
    );
    let index = std::fs::read_to_string(docs.join("README.md")).expect("docs/README.md");
    let mut pages: Vec<String> = std::fs::read_dir(&docs)
        .expect("docs/")
        .map(|e| {
            e.expect("docs/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md") && name != "README.md")
        .collect();
    pages.sort();
    for page in &pages {
        assert!(
            index.contains(&format!("]({page})")),
            "docs/README.md does not link {page}"
        );
    }
    let mut broken = Vec::new();
    let files = std::iter::once((root.clone(), "README.md".to_string()))
        .chain(std::iter::once((docs.clone(), "README.md".to_string())))
        .chain(pages.iter().map(|p| (docs.clone(), p.clone())));
    for (dir, name) in files {
        let text = std::fs::read_to_string(dir.join(&name)).expect("markdown file");
        for target in relative_links(&text) {
            if !dir.join(&target).exists() {
                broken.push(format!("{}: {target}", dir.join(&name).display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to missing files: {broken:?}");
}

/// The file part of every `](target)` link that is not a URL or an anchor.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or("").to_string())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.contains(' '))
        .collect()
}
