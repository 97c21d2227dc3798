//! spin.toml (manifest version 2) loading and validation.
//!
//! The raw serde types mirror Spin's `manifest/src/schema/v2.rs` with
//! `deny_unknown_fields` where Spin has it, so a typo is a load error here
//! as it is under `spin up`. Features Spin supports but this host does not
//! (remote sources, glob file patterns, WAGI, static responses, non-HTTP
//! triggers) are reported as clear errors instead of being ignored.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::state::variables::{Template, VariableDecl, validate_name};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Value>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    version: Option<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    #[serde(default, rename = "authors")]
    _authors: Vec<String>,
    #[serde(default, rename = "targets")]
    _targets: Vec<String>,
    #[serde(rename = "tool")]
    _tool: Option<toml::Table>,
    trigger: Option<RawAppTriggers>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppTriggers {
    http: Option<RawAppHttp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppHttp {
    base: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    #[serde(rename = "description")]
    _description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawComponentRef {
    Id(String),
    Inline(Box<RawComponent>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    id: Option<String>,
    route: RawRoute,
    component: Option<RawComponentRef>,
    executor: Option<toml::Table>,
    static_response: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Local(String),
    Remote(toml::Table),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFileMount {
    Pattern(String),
    Placement { source: String, destination: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    #[serde(rename = "command")]
    _command: toml::Value,
    workdir: Option<String>,
    #[serde(default, rename = "watch")]
    _watch: Vec<String>,
    #[serde(default, rename = "environment")]
    _environment: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: RawSource,
    description: Option<String>,
    #[serde(default)]
    files: Vec<RawFileMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    build: Option<RawBuild>,
    #[serde(default, rename = "ai_models")]
    _ai_models: Vec<String>,
    #[serde(default, rename = "targets")]
    _targets: Vec<String>,
    #[serde(rename = "tool")]
    _tool: Option<toml::Table>,
    #[serde(rename = "dependencies")]
    _dependencies: Option<toml::Table>,
    #[serde(default, rename = "dependencies_inherit_configuration")]
    _dependencies_inherit_configuration: bool,
    #[serde(rename = "profile")]
    _profile: Option<toml::Table>,
}

/// A directory made visible to the guest, read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    /// Absolute guest path.
    pub guest: String,
}

/// A validated component.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    /// Printed under the component's routes in the startup banner.
    pub description: Option<String>,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    pub files: Vec<Mount>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Raw entries; may hold `{{ var }}` templates.
    pub allowed_outbound_hosts: Vec<Template>,
    pub variables: BTreeMap<String, Template>,
    pub environment: BTreeMap<String, String>,
}

/// A routable (non-private) HTTP trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    pub id: String,
    pub route: String,
    pub component: String,
}

/// A loaded, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory holding spin.toml; relative paths resolve against it.
    pub dir: PathBuf,
    pub name: String,
    pub version: Option<String>,
    pub variables: BTreeMap<String, VariableDecl>,
    pub triggers: Vec<HttpTrigger>,
    /// Components of `route = { private = true }` triggers: not routable,
    /// but loaded, so service chaining reaches them (as under Spin).
    pub private_components: Vec<String>,
    /// In id order; triggers refer to them by id.
    pub components: Vec<Component>,
}

/// Component ids are kebab-case words, each all-lowercase or all-UPPERCASE,
/// each starting with a letter (Spin's `KebabId`).
pub fn validate_component_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("must not be empty");
    }
    for word in id.split('-') {
        let Some(first) = word.chars().next() else {
            return Err("must not contain empty words (leading, trailing or double '-')");
        };
        if !first.is_ascii_alphabetic() {
            return Err("each '-'-separated word must start with a letter");
        }
        let lower = word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let upper = word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !lower && !upper {
            return Err("each word must be all lowercase or all UPPERCASE letters and digits");
        }
    }
    Ok(())
}

/// Store/database labels: kebab-case or snake_case.
fn validate_label(label: &str) -> Result<(), &'static str> {
    let mut chars = label.chars();
    match chars.next() {
        None => Err("must not be empty"),
        Some(c) if !c.is_ascii_lowercase() => Err("must start with a lowercase letter"),
        _ if !chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') =>
        {
            Err("must be kebab-case or snake_case (lowercase letters, digits, '-' or '_')")
        }
        _ => Ok(()),
    }
}

impl Manifest {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .canonicalize()
            .with_context(|| format!("cannot resolve manifest path {}", path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text whose relative paths resolve against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        match &raw.spin_manifest_version {
            toml::Value::Integer(2) => {}
            toml::Value::String(s) if s == "1" => {
                bail!(
                    "spin_manifest_version \"1\" is not supported by edge-host; convert to version 2"
                )
            }
            other => bail!("unsupported spin_manifest_version {other}; expected 2"),
        }
        if raw.application.name.is_empty() {
            bail!("[application] name must not be empty");
        }
        if let Some(base) = raw
            .application
            .trigger
            .as_ref()
            .and_then(|t| t.http.as_ref())
            .and_then(|h| h.base.as_deref())
            && base != "/"
        {
            bail!("[application.trigger.http] base = {base:?} is not supported; only \"/\" is");
        }

        let mut variables = BTreeMap::new();
        for (name, v) in raw.variables {
            if let Err(reason) = validate_name(&name) {
                bail!("invalid variable name {name:?}: {reason}");
            }
            if v.required == v.default.is_some() {
                bail!("variable {name:?} must be `required` OR have a `default`");
            }
            variables.insert(
                name,
                VariableDecl {
                    default: v.default,
                    required: v.required,
                    secret: v.secret,
                },
            );
        }

        let mut raw_components = raw.component;
        let mut triggers = Vec::new();
        let mut private_components = Vec::new();
        for (trigger_type, list) in raw.trigger {
            if trigger_type != "http" {
                bail!(
                    "trigger type {trigger_type:?} is not supported by edge-host (only \"http\")"
                );
            }
            let list: Vec<RawHttpTrigger> = list.try_into()?;
            let mut inline_n = 0;
            for (n, t) in list.into_iter().enumerate() {
                if t.static_response.is_some() {
                    bail!("[[trigger.http]] static_response is not supported by edge-host");
                }
                if let Some(exec) = &t.executor {
                    match exec.get("type").and_then(toml::Value::as_str) {
                        Some("http" | "spin") => {}
                        other => bail!(
                            "[[trigger.http]] executor type {other:?} is not supported (only \"http\")"
                        ),
                    }
                }
                let component = match t.component {
                    Some(RawComponentRef::Id(id)) => id,
                    Some(RawComponentRef::Inline(c)) => {
                        inline_n += 1;
                        let id = match &t.id {
                            Some(tid) => format!("{tid}-component"),
                            None => format!("inline-component{inline_n}"),
                        };
                        raw_components.insert(id.clone(), *c);
                        id
                    }
                    None => bail!("[[trigger.http]] number {} has no component", n + 1),
                };
                let id = t.id.unwrap_or_else(|| format!("{component}-http-trigger"));
                match t.route {
                    RawRoute::Path(route) => triggers.push(HttpTrigger {
                        id,
                        route,
                        component,
                    }),
                    RawRoute::Private { private: true } => private_components.push(component),
                    RawRoute::Private { private: false } => {
                        bail!(
                            "trigger {id:?}: `route = {{ private = false }}` is invalid; use a route string"
                        )
                    }
                }
            }
        }

        let mut components = Vec::new();
        for (id, c) in raw_components {
            components.push(
                load_component(&id, c, dir, &variables)
                    .with_context(|| format!("component {id:?}"))?,
            );
        }
        let ids: HashSet<&str> = components.iter().map(|c| c.id.as_str()).collect();
        for c in &private_components {
            if !ids.contains(c.as_str()) {
                bail!("a private trigger refers to no such component {c:?}");
            }
        }
        for t in &triggers {
            if !ids.contains(t.component.as_str()) {
                bail!(
                    "trigger {:?} (route {:?}) refers to no such component {:?}",
                    t.id,
                    t.route,
                    t.component
                );
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            name: raw.application.name,
            version: raw.application.version,
            variables,
            triggers,
            private_components,
            components,
        })
    }

    /// The component with this id.
    pub fn component_index(&self, id: &str) -> Option<usize> {
        self.components.iter().position(|c| c.id == id)
    }
}

fn load_component(
    id: &str,
    c: RawComponent,
    dir: &Path,
    app_vars: &BTreeMap<String, VariableDecl>,
) -> Result<Component> {
    if let Err(reason) = validate_component_id(id) {
        bail!("invalid component id {id:?}: {reason}");
    }
    let source = match c.source {
        RawSource::Local(p) => dir.join(p),
        RawSource::Remote(t) => {
            let keys: Vec<&str> = t.keys().map(String::as_str).collect();
            bail!(
                "source {{ {} }}: only local `source` paths are supported by edge-host (no url/registry sources)",
                keys.join(", ")
            )
        }
    };
    if !source.is_file() {
        bail!(
            "source file {} does not exist (build it with `cargo build --profile wasm --target wasm32-wasip2 -p {id}` or the component's build command)",
            source.display()
        );
    }
    if !c.exclude_files.is_empty() {
        bail!("exclude_files is not supported by edge-host (files are mounted, not copied)");
    }
    let mut files = Vec::new();
    for f in c.files {
        files.push(load_mount(f, dir)?);
    }
    for label in c.key_value_stores.iter().chain(&c.sqlite_databases) {
        if let Err(reason) = validate_label(label) {
            bail!("invalid store label {label:?}: {reason}");
        }
    }
    let check_refs = |t: &Template, what: &str| -> Result<()> {
        for v in t.variables() {
            if !app_vars.contains_key(v) {
                bail!("{what} refers to variable {v:?}, which [variables] does not declare");
            }
        }
        Ok(())
    };
    let mut allowed = Vec::new();
    if !c.allowed_http_hosts.is_empty() {
        eprintln!(
            "warning: component {id:?} uses deprecated `allowed_http_hosts`; use `allowed_outbound_hosts`"
        );
    }
    for entry in c.allowed_outbound_hosts.iter().chain(&c.allowed_http_hosts) {
        let t = Template::parse(entry)?;
        check_refs(&t, &format!("allowed_outbound_hosts entry {entry:?}"))?;
        allowed.push(t);
    }
    let mut variables = BTreeMap::new();
    for (name, text) in c.variables {
        if let Err(reason) = validate_name(&name) {
            bail!("invalid variable name {name:?}: {reason}");
        }
        let t = Template::parse(&text)?;
        check_refs(&t, &format!("variable {name:?}"))?;
        variables.insert(name, t);
    }
    if let Some(build) = &c.build
        && let Some(workdir) = &build.workdir
        && Path::new(workdir).is_absolute()
    {
        bail!("build.workdir {workdir:?} must be relative");
    }
    Ok(Component {
        id: id.to_owned(),
        source,
        files,
        key_value_stores: c.key_value_stores,
        sqlite_databases: c.sqlite_databases,
        allowed_outbound_hosts: allowed,
        variables,
        environment: c.environment,
        description: c.description,
    })
}

/// `files` entries. Spin copies files into a temp dir; this host mounts
/// directories in place instead (read-only, so the guest sees the same
/// thing), which covers directory patterns and directory placements.
fn load_mount(f: RawFileMount, dir: &Path) -> Result<Mount> {
    let bad_pattern = |p: &str| p == "." || p == ".." || p.ends_with("/.") || p.ends_with("/..");
    match f {
        RawFileMount::Pattern(p) => {
            if bad_pattern(&p) {
                bail!("files pattern {p:?} is not allowed");
            }
            let host = dir.join(&p);
            if host.is_dir() {
                Ok(Mount {
                    host,
                    guest: format!("/{}", p.trim_start_matches("./").trim_end_matches('/')),
                })
            } else if host.exists() {
                bail!(
                    "files entry {p:?} is a single file; edge-host mounts directories only, use {{ source = \"<dir>\", destination = \"/...\" }}"
                )
            } else if p.contains(['*', '?', '[']) {
                bail!(
                    "glob pattern {p:?} in `files` is not supported by edge-host; mount a directory"
                )
            } else {
                bail!("files entry {p:?} does not exist and doesn't appear to be a glob pattern")
            }
        }
        RawFileMount::Placement {
            source,
            destination,
        } => {
            if !destination.starts_with('/') {
                bail!("files destination {destination:?} must be an absolute path");
            }
            let host = dir.join(&source);
            if !host.exists() {
                bail!("files source {source:?} does not exist");
            }
            if !host.is_dir() {
                bail!("files source {source:?} is a file; edge-host mounts directories only");
            }
            Ok(Mount {
                host,
                guest: destination,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("a.wasm"), b"\0asm").unwrap();
            std::fs::create_dir(dir.path().join("static")).unwrap();
            Self { dir }
        }

        fn parse(&self, body: &str) -> Result<Manifest> {
            let text = format!(
                "spin_manifest_version = 2\n[application]\nname = \"t\"\nversion = \"1.0.0\"\n{body}"
            );
            Manifest::parse(&text, self.dir.path())
        }
    }

    const GOOD: &str = r#"
[variables]
origin = { default = "http://127.0.0.1:8090" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/api/v1.0/areas"
component = "areas"

[[trigger.http]]
route = { private = true }
component = "areas"

[component.areas]
source = "a.wasm"
files = [{ source = "static", destination = "/" }, "static"]
key_value_stores = ["default"]
sqlite_databases = ["default", "other_db"]
allowed_outbound_hosts = ["{{ origin }}"]
environment = { RUST_LOG = "info" }
[component.areas.variables]
origin = "{{ origin }}/x"
[component.areas.build]
command = "cargo build"
watch = ["src/**/*.rs"]
"#;

    #[test]
    fn parses_a_full_manifest() {
        let f = Fixture::new();
        let m = f.parse(GOOD).unwrap();
        assert_eq!(m.name, "t");
        assert_eq!(m.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            m.triggers,
            [HttpTrigger {
                id: "areas-http-trigger".into(),
                route: "/api/v1.0/areas".into(),
                component: "areas".into()
            }]
        );
        let c = &m.components[0];
        assert_eq!(c.source, f.dir.path().join("a.wasm"));
        assert_eq!(c.files[0].guest, "/");
        assert_eq!(c.files[1].guest, "/static");
        assert_eq!(c.sqlite_databases, ["default", "other_db"]);
        assert_eq!(c.environment["RUST_LOG"], "info");
        assert!(m.variables["token"].required);
    }

    fn err(body: &str) -> String {
        format!("{:#}", Fixture::new().parse(body).unwrap_err())
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(err("[component.a]\nsource = \"a.wasm\"\nsourse = 1\n").contains("unknown field"));
        assert!(err("bogus = 1\n").contains("unknown field"));
        assert!(
            err("[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"\n")
                .contains("no such component")
        );
        assert!(err("[component.a]\nsource = \"missing.wasm\"\n").contains("does not exist"));
        assert!(err("[component.Bad_Id]\nsource = \"a.wasm\"\n").contains("invalid component id"));
        assert!(err("[variables]\nx = {}\n").contains("must be `required` OR have a `default`"));
        assert!(err("[variables]\nX = { default = \"1\" }\n").contains("invalid variable name"));
        assert!(
            err("[component.a]\nsource = \"a.wasm\"\nallowed_outbound_hosts = [\"{{ nope }}\"]\n")
                .contains("does not declare")
        );
        assert!(
            err("[component.a]\nsource = \"a.wasm\"\nfiles = [\"nope\"]\n")
                .contains("does not exist")
        );
        assert!(
            err("[component.a]\nsource = \"a.wasm\"\nfiles = [\"..\"]\n").contains("not allowed")
        );
        assert!(
            err("[[trigger.http]]\nroute = { private = false }\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n")
                .contains("private = false")
        );
        assert!(err("[[trigger.redis]]\ncomponent = \"a\"\n").contains("not supported"));
    }

    #[test]
    fn rejects_wrong_manifest_version() {
        let e = Manifest::parse(
            "spin_manifest_version = 3\n[application]\nname=\"x\"\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("unsupported spin_manifest_version"),
            "{e}"
        );
    }

    #[test]
    fn component_id_rules() {
        for ok in ["a", "house-detail", "user-avatar", "HTTP-api", "a1-b2"] {
            assert!(validate_component_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a--b", "1a", "a_b", "Ab", "a.b"] {
            assert!(validate_component_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inline_components_get_spin_ids() {
        let f = Fixture::new();
        let m = f
            .parse("[[trigger.http]]\nroute = \"/x\"\ncomponent = { source = \"a.wasm\" }\n")
            .unwrap();
        assert_eq!(m.triggers[0].component, "inline-component1");
        assert_eq!(m.components[0].id, "inline-component1");
    }
}
