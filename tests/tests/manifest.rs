//! spin.toml against the code (issue 14, item 8).
//!
//! - Every `functions/*` crate is a component of the same id, with a route,
//!   its wasm as `source` and its build entry; every component is a crate.
//! - spin.toml's `[variables]` are `config::VARIABLES`, with the same defaults.
//! - Each component is granted exactly the Spin variables its crate reads,
//!   and its `allowed_outbound_hosts` are exactly the outbound ones among
//!   them (`{{ fdfs_proxy_origin }}`, …). A component that is not granted a
//!   variable still runs (Spin answers `Undefined`, read as "unset"), so
//!   without this test a missing grant would silently serve the default.
//!
//! # How "reads" is derived
//! From the source, with no table to keep up to date:
//! 1. `config::<variable>()` reads `<variable>` (each accessor is named like
//!    its variable; nothing else in the code calls `variables::get`).
//! 2. A function of `shared/src` that uses a reader is a reader of the same
//!    variables, to a fixed point. Uses are found by name: `Type::f` and
//!    `Self::f` for associated functions (and `.f(` for methods),
//!    `module::f` for free functions (a bare `f(` inside their own module,
//!    or in a crate that imports them with `use`). `Type::f` without a call
//!    counts too: a handler in a method table is a use.
//! 3. A crate reads what the readers it uses read.
//!
//! Comments, string literals and `#[cfg(test)]` modules are ignored. The
//! scanner's own tests below show it catching a read without a grant, a
//! grant without a read, and reads through helpers, handler tables and
//! `use` imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ihome_shared::config::VARIABLES;
use ihome_tests::workspace_root;

/// A source file, with comments (and test modules) blanked out.
struct Source {
    /// Relative to the workspace root.
    path: String,
    /// The top-level module of `shared/src` it belongs to (`houses` for
    /// `shared/src/houses/detail.rs`), or the crate directory for a crate.
    module: String,
    /// The file's own module name (`detail`), for `detail::f(` paths.
    stem: String,
    /// The text with comments and the insides of string and char literals
    /// blanked, so braces and names in them are not mistaken for code.
    code: String,
    /// The functions with a body, innermost last.
    fns: Vec<FnSpan>,
}

/// A function definition and the byte range of its whole item.
#[derive(Clone, Debug)]
struct FnSpan {
    name: String,
    /// The type of the `impl` block it is in.
    ty: Option<String>,
    /// Whether it takes `self` (so it can be called as `.name(`).
    method: bool,
    start: usize,
    end: usize,
}

/// Something that reads variables: an accessor or a function calling one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Reader {
    module: String,
    /// The file's own module name, for paths such as `houses::detail::f(`.
    stem: String,
    ty: Option<String>,
    name: String,
    method: bool,
}

impl Reader {
    fn label(&self) -> String {
        match &self.ty {
            Some(ty) => format!("{}::{ty}::{}", self.module, self.name),
            None => format!("{}::{}", self.module, self.name),
        }
    }
}

/// Which variables a reader reads, and through what (for messages).
type Reads = BTreeMap<String, String>;

// ---------------------------------------------------------------- sources

fn read_sources(dir: &Path, module_of: &dyn Fn(&Path) -> String) -> Vec<Source> {
    let mut files = Vec::new();
    collect_rs(dir, &mut files);
    files.sort();
    let root = workspace_root();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let rel = path.strip_prefix(&root).unwrap_or(&path);
            Source::new(
                &rel.to_string_lossy(),
                &module_of(&path),
                &file_stem(&path),
                &text,
            )
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `detail` for `houses/detail.rs`, `houses` for `houses/mod.rs`.
fn file_stem(path: &Path) -> String {
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    if stem == "mod" {
        path.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    } else {
        stem
    }
}

fn shared_sources() -> Vec<Source> {
    let src = workspace_root().join("shared/src");
    read_sources(&src, &|path| {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    })
}

impl Source {
    fn new(path: &str, module: &str, stem: &str, raw: &str) -> Source {
        let code = blank_test_modules(blank(raw));
        let fns = functions(&code);
        Source {
            path: path.to_string(),
            module: module.to_string(),
            stem: stem.to_string(),
            code,
            fns,
        }
    }

    /// The innermost function whose item contains byte `at`.
    fn enclosing(&self, at: usize) -> Option<&FnSpan> {
        self.fns
            .iter()
            .filter(|f| f.start <= at && at < f.end)
            .min_by_key(|f| f.end - f.start)
    }

    fn line(&self, at: usize) -> usize {
        self.code[..at].matches('\n').count() + 1
    }
}

/// `raw` with comments and the insides of string and char literals
/// replaced by spaces, so offsets and lines stay put.
fn blank(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut code = b.to_vec();
    let mut space = |from: usize, to: usize| {
        for c in &mut code[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = raw[i..].find('\n').map_or(b.len(), |n| i + n);
                space(i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if b[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                space(i, j);
                i = j;
            }
            // A raw string, r"…" or r#"…"# (also br"…"), not r#ident.
            b'r' if raw_string_start(b, i) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes + 1;
                let close = format!("\"{}", "#".repeat(hashes));
                let end = raw[open..].find(&close).map_or(b.len(), |n| open + n);
                space(open, end);
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                space(i + 1, j);
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'', '中'), or a lifetime ('a).
                let rest = &raw[i + 1..];
                let len = if rest.starts_with('\\') {
                    // The escape, then up to the closing quote.
                    rest.get(2..).and_then(|r| r.find('\'')).map(|n| n + 2)
                } else {
                    rest.chars()
                        .next()
                        .filter(|c| rest[c.len_utf8()..].starts_with('\''))
                        .map(|c| c.len_utf8())
                };
                match len {
                    Some(len) => {
                        space(i + 1, i + 1 + len);
                        i += len + 2;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(code).expect("only whole characters were blanked")
}

fn raw_string_start(b: &[u8], i: usize) -> bool {
    let prefix_ok = match i.checked_sub(1).map(|p| b[p]) {
        None => true,
        Some(b'b') => i < 2 || !is_ident_byte(b[i - 2]),
        Some(c) => !is_ident_byte(c),
    };
    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
    prefix_ok && b.get(i + 1 + hashes) == Some(&b'"')
}

/// Blanks `#[cfg(test)] mod name { … }` items: test code is not in the wasm.
fn blank_test_modules(code: String) -> String {
    let mut code = code.into_bytes();
    const ATTR: &[u8] = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(at) = find_from(&code, ATTR, from) {
        from = at + 1;
        let after = String::from_utf8_lossy(&code[at + ATTR.len()..]).into_owned();
        let trimmed = after.trim_start();
        let Some(rest) = trimmed
            .strip_prefix("mod ")
            .or(trimmed.strip_prefix("pub(crate) mod "))
        else {
            continue;
        };
        match rest.find(['{', ';']) {
            Some(brace) if rest.as_bytes()[brace] == b'{' => {
                let open = at + ATTR.len() + (after.len() - rest.len()) + brace;
                let close = matching_brace(&code, open);
                for c in &mut code[at..close] {
                    if *c != b'\n' {
                        *c = b' ';
                    }
                }
            }
            _ => continue,
        }
    }
    String::from_utf8(code).expect("only whole characters were blanked")
}

fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The offset just past the `}` matching the `{` at `open`.
fn matching_brace(code: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every `fn` with a body, and the `impl` type it is in.
fn functions(code: &str) -> Vec<FnSpan> {
    let b = code.as_bytes();
    let word_at = |i: usize, w: &str| {
        b[i..].starts_with(w.as_bytes())
            && (i == 0 || !is_ident_byte(b[i - 1]))
            && b.get(i + w.len()).is_none_or(|&c| !is_ident_byte(c))
    };
    let ident_after = |i: usize| {
        let rest = code[i..].trim_start();
        let len = rest.bytes().take_while(|&c| is_ident_byte(c)).count();
        rest[..len].to_string()
    };
    enum Open {
        Fn(usize),
        Impl(String),
        Other,
    }
    let mut spans = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    // A `fn` seen whose body has not opened yet: (name, start, header start).
    let mut pending_fn: Option<(String, usize, usize)> = None;
    let mut pending_impl: Option<usize> = None;
    let mut open_fns: Vec<(String, Option<String>, bool, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if pending_fn.is_none() && word_at(i, "impl") && pending_impl.is_none() {
            pending_impl = Some(i + 4);
        } else if word_at(i, "fn") {
            let name = ident_after(i + 2);
            if !name.is_empty() {
                pending_fn = Some((name, i, i + 2));
                pending_impl = None;
            }
        }
        match b[i] {
            b'{' => {
                if let Some((name, start, header)) = pending_fn.take() {
                    let params = &code[header..i];
                    let method = params
                        .split_once('(')
                        .map(|(_, p)| p.split([',', ')']).next().unwrap_or(""))
                        .is_some_and(is_self_param);
                    let ty = stack.iter().rev().find_map(|o| match o {
                        Open::Impl(ty) => Some(ty.clone()),
                        _ => None,
                    });
                    open_fns.push((name, ty, method, start));
                    stack.push(Open::Fn(open_fns.len() - 1));
                } else if let Some(header) = pending_impl.take() {
                    stack.push(Open::Impl(impl_type(&code[header..i])));
                } else {
                    stack.push(Open::Other);
                }
            }
            b'}' => {
                if let Some(Open::Fn(k)) = stack.pop() {
                    let (name, ty, method, start) = open_fns[k].clone();
                    spans.push(FnSpan {
                        name,
                        ty,
                        method,
                        start,
                        end: i + 1,
                    });
                }
            }
            b';' => {
                // The end of a declaration without a body (a trait's), unless
                // inside the header's brackets (`[u8; 4]`); or of a statement
                // with `impl` in a type.
                if pending_fn
                    .as_ref()
                    .is_some_and(|(_, _, header)| brackets_closed(&code[*header..i]))
                {
                    pending_fn = None;
                }
                pending_impl = None;
            }
            _ => {}
        }
        i += 1;
    }
    spans
}

/// Whether a first parameter is a `self` receiver (`self`, `&self`,
/// `&'a mut self`, `mut self`, `self: &Self`).
fn is_self_param(param: &str) -> bool {
    let mut p = param.trim().trim_start_matches('&').trim_start();
    if p.starts_with('\'') {
        p = p.split_once(' ').map_or("", |(_, rest)| rest).trim_start();
    }
    let p = p.strip_prefix("mut ").unwrap_or(p).trim_start();
    p == "self" || p.starts_with("self:") || p.starts_with("self ")
}

fn brackets_closed(text: &str) -> bool {
    let count = |c: char| text.matches(c).count();
    count('(') == count(')') && count('[') == count(']')
}

/// `Store` of `impl<T> Trait for Store<T> where …`.
fn impl_type(header: &str) -> String {
    let mut depth = 0;
    let mut plain = String::new();
    for c in header.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.split(" where ").next().unwrap_or("");
    let target = plain.rsplit(" for ").next().unwrap_or(plain);
    target
        .trim()
        .rsplit("::")
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

// ---------------------------------------------------------------- calls

/// How a reader's name appears where it is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// `Type::f` or `module::f`: a call or a reference (`serve(req,
    /// &[(Get, accounts::profile)])`).
    Path,
    /// `f(` alone: a call (a bare `f` alone could be anything).
    Call,
    /// `.f(`: a method call.
    Method,
}

/// Offsets in `src.code` where `reader` is used.
fn calls(src: &Source, reader: &Reader, in_crate: bool) -> Vec<usize> {
    let code = &src.code;
    let mut patterns: Vec<(String, Use)> = Vec::new();
    let in_module = !in_crate && src.module == reader.module;
    match &reader.ty {
        Some(ty) => {
            patterns.push((format!("{ty}::{}", reader.name), Use::Path));
            if in_module {
                patterns.push((format!("Self::{}", reader.name), Use::Path));
            }
            if reader.method {
                patterns.push((format!(".{}(", reader.name), Use::Method));
            }
        }
        None => {
            patterns.push((format!("{}::{}", reader.module, reader.name), Use::Path));
            if reader.stem != reader.module {
                patterns.push((format!("{}::{}", reader.stem, reader.name), Use::Path));
            }
            let imported = in_crate && imports(src, reader);
            if in_module || imported {
                patterns.push((format!("{}(", reader.name), Use::Call));
            }
        }
    }
    let b = code.as_bytes();
    let mut out = Vec::new();
    for (pattern, kind) in patterns {
        let mut from = 0;
        while let Some(at) = code[from..].find(&pattern).map(|p| p + from) {
            from = at + 1;
            let before = at.checked_sub(1).map(|i| b[i]);
            let after = b.get(at + pattern.len()).copied();
            let ok = match kind {
                Use::Method => true,
                Use::Call => {
                    before.is_none_or(|c| !is_ident_byte(c) && c != b'.' && c != b':')
                        && !code[..at].trim_end().ends_with("fn")
                }
                Use::Path => {
                    before.is_none_or(|c| !is_ident_byte(c))
                        && after.is_none_or(|c| !is_ident_byte(c) && c != b'!')
                }
            };
            if ok {
                out.push(at);
            }
        }
    }
    out
}

/// Whether a crate's `use` declarations import a free function reader by
/// name (`use ihome_shared::images::url;`, `images::{url, …}`).
fn imports(src: &Source, reader: &Reader) -> bool {
    src.code
        .split(';')
        .filter_map(|stmt| {
            stmt.trim_start()
                .strip_prefix("use ")
                .or(stmt.split("pub use ").nth(1))
        })
        .map(|stmt| stmt.split_whitespace().collect::<String>())
        .any(|stmt| {
            [&reader.module, &reader.stem].iter().any(|m| {
                let prefix = format!("{m}::");
                stmt.match_indices(&prefix).any(|(at, _)| {
                    let rest = &stmt[at + prefix.len()..];
                    let word = |s: &str| {
                        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .any(|w| w == reader.name)
                    };
                    match rest.strip_prefix('{') {
                        Some(group) => word(group.split('}').next().unwrap_or("")),
                        None => {
                            let len = rest.bytes().take_while(|&c| is_ident_byte(c)).count();
                            rest[..len] == reader.name
                        }
                    }
                })
            })
        })
}

// ---------------------------------------------------------------- derivation

/// Every reader of `shared` and what it reads, to a fixed point.
fn shared_readers(shared: &[Source]) -> Result<BTreeMap<Reader, Reads>, Vec<String>> {
    let mut problems = Vec::new();
    let config = shared
        .iter()
        .find(|s| s.module == "config")
        .expect("shared/src/config.rs");
    let mut readers: BTreeMap<Reader, Reads> = BTreeMap::new();
    for var in VARIABLES {
        let defined = config
            .fns
            .iter()
            .any(|f| f.name == var.name && f.ty.is_none());
        if !defined {
            problems.push(format!(
                "config.rs has no accessor `pub fn {}()` for the variable {0}",
                var.name
            ));
        }
        readers.insert(
            Reader {
                module: "config".into(),
                stem: "config".into(),
                ty: None,
                name: var.name.into(),
                method: false,
            },
            [(var.name.to_string(), format!("config::{}", var.name))].into(),
        );
    }
    // Everything but config.rs itself, whose accessors are the seeds above.
    let sources: Vec<&Source> = shared.iter().filter(|s| s.module != "config").collect();
    for src in &sources {
        if src.code.contains("variables::get(") {
            problems.push(format!(
                "{}: reads a Spin variable directly; read it through a config accessor",
                src.path
            ));
        }
    }
    loop {
        let mut changed = false;
        let known: Vec<(Reader, Reads)> = readers.clone().into_iter().collect();
        for (reader, reads) in &known {
            for src in &sources {
                for at in calls(src, reader, false) {
                    for (var, via) in reads {
                        changed |= add(&mut readers, src, at, var, via.clone());
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    if problems.is_empty() {
        Ok(readers)
    } else {
        Err(problems)
    }
}

/// Records that the function around `at` in `src` reads `var`; whether
/// that is news.
fn add(
    readers: &mut BTreeMap<Reader, Reads>,
    src: &Source,
    at: usize,
    var: &str,
    via: String,
) -> bool {
    let Some(f) = src.enclosing(at) else {
        return false;
    };
    let reader = Reader {
        module: src.module.clone(),
        stem: src.stem.clone(),
        ty: f.ty.clone(),
        name: f.name.clone(),
        method: f.method,
    };
    let via = format!("{} ({}:{}) → {via}", reader.label(), src.path, src.line(at));
    let reads = readers.entry(reader).or_default();
    if reads.contains_key(var) {
        return false;
    }
    reads.insert(var.to_string(), via);
    true
}

/// The variables a crate reads, each with how.
fn crate_reads(
    crate_sources: &[Source],
    readers: &BTreeMap<Reader, Reads>,
) -> Result<Reads, Vec<String>> {
    let mut reads = Reads::new();
    let mut problems = Vec::new();
    for src in crate_sources {
        if src.code.contains("variables::get(") {
            problems.push(format!(
                "{}: reads a Spin variable directly; read it through a config accessor",
                src.path
            ));
        }
        for (reader, vars) in readers {
            for at in calls(src, reader, true) {
                for (var, via) in vars {
                    reads
                        .entry(var.clone())
                        .or_insert_with(|| format!("{}:{} → {via}", src.path, src.line(at)));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(reads)
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------- spin.toml

struct FunctionCrate {
    /// The directory under functions/, which is also the component id.
    dir: String,
    /// The package name.
    package: String,
    sources: Vec<Source>,
}

fn function_crates() -> Vec<FunctionCrate> {
    let functions = workspace_root().join("functions");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&functions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let cargo: toml::Value =
                toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
            let package = cargo["package"]["name"].as_str().unwrap().to_string();
            let sources = read_sources(&dir.join("src"), &|_| name.clone());
            FunctionCrate {
                dir: name,
                package,
                sources,
            }
        })
        .collect()
}

fn manifest() -> toml::Value {
    let text = std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap();
    toml::from_str(&text).expect("spin.toml parses")
}

fn components(manifest: &toml::Value) -> &toml::map::Map<String, toml::Value> {
    manifest["component"].as_table().expect("[component.*]")
}

fn strings(value: Option<&toml::Value>) -> Vec<String> {
    value
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_function_crate_is_a_component_with_its_route_and_build() {
    let manifest = manifest();
    let components = components(&manifest);
    let routes: Vec<(String, String)> = manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]")
        .iter()
        .map(|t| {
            (
                t["route"].as_str().unwrap().to_string(),
                t["component"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let crates = function_crates();
    assert!(crates.len() >= 20, "found only {} crates", crates.len());
    let mut problems = Vec::new();
    for c in &crates {
        let Some(component) = components.get(&c.dir) else {
            problems.push(format!(
                "functions/{}: no [component.{0}] in spin.toml",
                c.dir
            ));
            continue;
        };
        let wasm = format!(
            "target/wasm32-wasip2/wasm/{}.wasm",
            c.package.replace('-', "_")
        );
        if component.get("source").and_then(|s| s.as_str()) != Some(wasm.as_str()) {
            problems.push(format!(
                "[component.{}] source = {:?}, expected {wasm:?}",
                c.dir,
                component.get("source")
            ));
        }
        let build = component.get("build");
        let command = format!(
            "cargo build --profile wasm --target wasm32-wasip2 -p {}",
            c.package
        );
        if build
            .and_then(|b| b.get("command"))
            .and_then(|c| c.as_str())
            != Some(command.as_str())
        {
            problems.push(format!(
                "[component.{}.build] command should be {command:?}",
                c.dir
            ));
        }
        let watch = strings(build.and_then(|b| b.get("watch")));
        for pattern in [
            format!("functions/{}/src/**/*.rs", c.dir),
            format!("functions/{}/Cargo.toml", c.dir),
            "shared/src/**/*.rs".to_string(),
        ] {
            if !watch.contains(&pattern) {
                problems.push(format!(
                    "[component.{}.build] watch lacks {pattern:?}",
                    c.dir
                ));
            }
        }
        if !routes.iter().any(|(_, component)| component == &c.dir) {
            problems.push(format!("component {}: no [[trigger.http]] route", c.dir));
        }
    }
    for id in components.keys() {
        if !crates.iter().any(|c| &c.dir == id) {
            problems.push(format!("[component.{id}] has no crate functions/{id}"));
        }
    }
    for (route, component) in &routes {
        if !components.contains_key(component) {
            problems.push(format!("route {route} names no component {component:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "spin.toml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_application_variables_are_the_config_table() {
    let manifest = manifest();
    let declared = manifest["variables"].as_table().expect("[variables]");
    let mut problems = Vec::new();
    for var in VARIABLES {
        match declared.get(var.name) {
            None => problems.push(format!("[variables] lacks {}", var.name)),
            Some(decl) => {
                let default = decl.get("default").and_then(|d| d.as_str());
                if default != Some(var.default) {
                    problems.push(format!(
                        "[variables] {} default {default:?}, config.rs says {:?}",
                        var.name, var.default
                    ));
                }
            }
        }
    }
    for name in declared.keys() {
        if !VARIABLES.iter().any(|v| v.name == name) {
            problems.push(format!(
                "[variables] {name} is not in config::VARIABLES (add it there with an accessor)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "spin.toml:\n  {}",
        problems.join("\n  ")
    );
}

/// What spin.toml must grant a component that reads `reads`:
/// `(variables, allowed_outbound_hosts)`.
fn expected_grants(reads: &Reads) -> (BTreeSet<String>, BTreeSet<String>) {
    let variables: BTreeSet<String> = reads.keys().cloned().collect();
    let outbound = VARIABLES
        .iter()
        .filter(|v| variables.contains(v.name))
        .filter_map(|v| v.allowed_host_entry())
        .collect();
    (variables, outbound)
}

/// Differences between what a component reads and what it is granted.
fn grant_problems(id: &str, reads: &Reads, component: &toml::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let (variables, outbound) = expected_grants(reads);
    let granted: BTreeMap<String, String> = component
        .get("variables")
        .and_then(|v| v.as_table())
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    for var in &variables {
        if !granted.contains_key(var) {
            problems.push(format!(
                "component {id} reads {var} but is not granted it: {}",
                reads[var]
            ));
        }
    }
    for (var, value) in &granted {
        if !variables.contains(var) {
            problems.push(format!(
                "component {id} is granted {var} but never reads it"
            ));
        } else if *value != format!("{{{{ {var} }}}}") {
            problems.push(format!(
                "component {id}: {var} = {value:?}, expected \"{{{{ {var} }}}}\""
            ));
        }
    }
    let hosts = strings(component.get("allowed_outbound_hosts"));
    let hosts_set: BTreeSet<String> = hosts.iter().cloned().collect();
    if hosts_set != outbound || hosts.len() != hosts_set.len() {
        problems.push(format!(
            "component {id}: allowed_outbound_hosts = {hosts:?}, expected {outbound:?} (the outbound variables it reads)"
        ));
    }
    problems
}

#[test]
fn each_component_is_granted_exactly_the_variables_it_reads() {
    let shared = shared_sources();
    let readers = shared_readers(&shared).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let manifest = manifest();
    let components = components(&manifest);
    let mut problems = Vec::new();
    let mut summary = Vec::new();
    for c in function_crates() {
        let reads = match crate_reads(&c.sources, &readers) {
            Ok(reads) => reads,
            Err(p) => {
                problems.extend(p);
                continue;
            }
        };
        summary.push(format!("{}: {:?}", c.dir, reads.keys().collect::<Vec<_>>()));
        if let Some(component) = components.get(&c.dir) {
            problems.extend(grant_problems(&c.dir, &reads, component));
        }
    }
    println!("{}", summary.join("\n"));
    assert!(
        problems.is_empty(),
        "spin.toml grants:\n  {}",
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------- the scanner's own tests

fn shared_of(files: &[(&str, &str)]) -> Vec<Source> {
    files
        .iter()
        .map(|(module, text)| Source::new(&format!("shared/src/{module}.rs"), module, module, text))
        .collect()
}

/// A config.rs with the accessors of every variable (bodies don't matter).
fn config_rs() -> String {
    VARIABLES
        .iter()
        .map(|v| {
            format!(
                "pub fn {}() -> ApiResult<String> {{ read(\"{0}\") }}\n",
                v.name
            )
        })
        .collect()
}

fn reads_of(shared: &[Source], krate: &str) -> BTreeSet<String> {
    let readers = shared_readers(shared).unwrap();
    let krate = vec![Source::new("functions/x/src/lib.rs", "x", "lib", krate)];
    crate_reads(&krate, &readers).unwrap().into_keys().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn scanner_follows_reads_through_shared_helpers() {
    let config = config_rs();
    let shared = shared_of(&[
        ("config", &config),
        (
            "clock",
            r#"
            pub fn today() -> ApiResult<Date> { Ok(Date::today_at(config::utc_offset()?)) }
            impl Date {
                pub fn today_at(offset: i64) -> Date { Date(offset) }
                /// Doc comments don't count: config::image_base_url()
                pub fn legacy() -> Date { today().unwrap_or(Self::today_at(0)) }
            }
            "#,
        ),
        (
            "images",
            r#"
            fn base_url() -> ApiResult<String> { crate::config::image_base_url() }
            pub fn url(id: &str) -> String { format!("{}{id}", base_url().unwrap()) }
            pub fn url_with(base: &str, id: &str) -> String { format!("{base}{id} {{}}") }
            "#,
        ),
        (
            "accounts",
            r#"
            pub fn profile_response(req: &ApiRequest) -> ApiResult<Response> {
                let url = images::url("a'b");
                todo!()
            }
            "#,
        ),
        (
            "houses",
            r#"
            pub struct View;
            impl View {
                pub fn from_config() -> View { let _ = (images::url(""), clock::today()); View }
                pub fn image(&self, id: &str) -> String { images::url_with("/", id) }
            }
            #[cfg(test)]
            mod tests {
                fn t() { let _ = config::sms_gateway_path(); }
            }
            "#,
        ),
    ]);
    assert_eq!(
        reads_of(
            &shared,
            "fn handle() { let v = View::from_config(); v.image(\"x\"); }"
        ),
        set(&["image_base_url", "utc_offset"])
    );
    assert_eq!(
        reads_of(&shared, "fn handle() { Date::legacy(); }"),
        set(&["utc_offset"])
    );
    assert_eq!(
        reads_of(
            &shared,
            "use ihome_shared::images::{self, url};\nfn h() { url(\"\"); }"
        ),
        set(&["image_base_url"])
    );
    assert_eq!(
        reads_of(
            &shared,
            "fn h() { images::url_with(\"/\", \"a\"); let s = \"config::utc_offset()\"; }"
        ),
        set(&[])
    );
    assert_eq!(
        reads_of(
            &shared,
            "fn h() { let x = config::fdfs_proxy_origin()?; let y = config::sms_gateway_path; }"
        ),
        set(&["fdfs_proxy_origin", "sms_gateway_path"])
    );
    assert_eq!(
        reads_of(
            &shared,
            "fn handle(req: IncomingRequest) -> Response {\n    http::serve(req, &[(Method::Get, accounts::profile_response)])\n}"
        ),
        set(&["image_base_url"])
    );
}

#[test]
fn scanner_reports_missing_and_unused_grants() {
    let component: toml::Value = toml::from_str(
        r#"
        allowed_outbound_hosts = []
        [variables]
        image_base_url = "{{ image_base_url }}"
        "#,
    )
    .unwrap();
    let reads: Reads = [("fdfs_proxy_origin".to_string(), "somewhere".to_string())].into();
    let problems = grant_problems("c", &reads, &component);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("reads fdfs_proxy_origin but is not granted it")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("granted image_base_url but never reads it")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("allowed_outbound_hosts")),
        "{problems:?}"
    );
    let exact: toml::Value = toml::from_str(
        r#"
        allowed_outbound_hosts = ["{{ fdfs_proxy_origin }}"]
        [variables]
        fdfs_proxy_origin = "{{ fdfs_proxy_origin }}"
        "#,
    )
    .unwrap();
    assert_eq!(grant_problems("c", &reads, &exact), Vec::<String>::new());
}

#[test]
fn scanner_blanks_comments_and_literals_but_not_code() {
    let src = Source::new(
        "x.rs",
        "x",
        "x",
        "fn a() { let c = '{'; let s = \"}\"; /* } */ // }\n let r = r#\"{\"#; }\nimpl<T: X> Tr for Y<T> where T: Z { fn b(&self) {} }\n",
    );
    let names: Vec<(String, Option<String>, bool)> = src
        .fns
        .iter()
        .map(|f| (f.name.clone(), f.ty.clone(), f.method))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a".to_string(), None, false),
            ("b".to_string(), Some("Y".to_string()), true)
        ]
    );
}
