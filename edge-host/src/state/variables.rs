//! Application variables: name rules, `{{ name }}` templates, the provider
//! chain, and the host side of `fermyon:spin/variables@2.0.0`.
//!
//! Resolution order follows Spin's (`expressions`, `variables-env`): an
//! explicit `--variable`, then `SPIN_VARIABLE_<NAME>` from the process
//! environment, then the manifest `default`. The environment is read at call
//! time, like Spin's env provider, so a guest always sees the current value.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::instance::Host;
use crate::spin_bindings::fermyon::spin::variables;

/// Prefix of the environment variables Spin's env provider consults.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Checks a variable name against Spin's rules (lower_snake: `[a-z0-9_]`,
/// starting with a letter, ending with a letter or digit, no `__`).
/// The error text is the reason, which callers wrap with the name.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("must contain only lowercase letters, digits and underscores");
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return Err("must start with a lowercase letter");
    }
    if name.ends_with('_') {
        return Err("must end with a letter or digit");
    }
    if name.contains("__") {
        return Err("must not contain consecutive underscores");
    }
    Ok(())
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Variable(String),
}

/// A string with `{{ var }}` references to application variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`. Whitespace inside the braces is trimmed; an unmatched
    /// `{{` is an error (Spin's `expressions::Template::new`), while a lone
    /// `}}` is literal text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("invalid template {text:?}: unmatched '{{{{'");
            };
            let name = after[..end].trim();
            if let Err(reason) = validate_name(name) {
                bail!("invalid template {text:?}: variable name {name:?} {reason}");
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The application variables this template refers to.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Substitutes every reference with `lookup`'s answer.
    pub fn render(&self, mut lookup: impl FnMut(&str) -> Result<String>) -> Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Variable(v) => out.push_str(&lookup(v)?),
            }
        }
        Ok(out)
    }
}

/// A declared application variable (`[variables]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// Why an application variable has no value.
#[derive(Debug)]
pub enum ResolveError {
    /// Not declared in `[variables]` (manifest validation prevents this for
    /// templates; kept for direct lookups).
    Undeclared(String),
    /// Declared `required` and no provider has it.
    Missing(String),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undeclared(n) => write!(f, "no variable named {n:?} is declared in [variables]"),
            Self::Missing(n) => write!(
                f,
                "required variable {n:?} has no value: set {ENV_PREFIX}{} or pass --variable {n}=...",
                n.to_ascii_uppercase()
            ),
        }
    }
}

impl std::error::Error for ResolveError {}

/// The provider chain for application variables.
#[derive(Debug, Default)]
pub struct Resolver {
    declared: BTreeMap<String, VariableDecl>,
    /// `--variable k=v` values; they win over everything else.
    overrides: BTreeMap<String, String>,
    /// `SPIN_VARIABLE_*` entries of a `.env` file in the CWD, consulted
    /// after the process environment (Spin's env provider does the same).
    dotenv: BTreeMap<String, String>,
}

/// Parses the `KEY=VALUE` lines of a `.env` file: `#` comments, optional
/// `export `, and single- or double-quoted values. Lines that aren't
/// assignments are skipped, as dotenv tools do with blank lines.
pub fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = match value.as_bytes() {
            [q @ (b'"' | b'\''), .., last] if last == q => &value[1..value.len() - 1],
            _ => value.split(" #").next().unwrap_or(value).trim_end(),
        };
        out.insert(key.trim().to_owned(), value.to_owned());
    }
    out
}

impl Resolver {
    pub fn new(
        declared: BTreeMap<String, VariableDecl>,
        overrides: BTreeMap<String, String>,
    ) -> Self {
        Self {
            declared,
            overrides,
            dotenv: BTreeMap::new(),
        }
    }

    /// Also consults these `.env` entries (see [`parse_dotenv`]).
    pub fn with_dotenv(mut self, dotenv: BTreeMap<String, String>) -> Self {
        self.dotenv = dotenv;
        self
    }

    /// Resolves one application variable at call time.
    pub fn resolve(&self, name: &str) -> Result<String, ResolveError> {
        let Some(decl) = self.declared.get(name) else {
            return Err(ResolveError::Undeclared(name.to_owned()));
        };
        if let Some(v) = self.overrides.get(name) {
            return Ok(v.clone());
        }
        let key = format!("{ENV_PREFIX}{}", name.to_ascii_uppercase());
        if let Ok(v) = std::env::var(&key) {
            return Ok(v);
        }
        if let Some(v) = self.dotenv.get(&key) {
            return Ok(v.clone());
        }
        decl.default
            .clone()
            .ok_or_else(|| ResolveError::Missing(name.to_owned()))
    }

    /// Renders a template against the provider chain.
    pub fn render(&self, template: &Template) -> Result<String> {
        template.render(|name| Ok(self.resolve(name)?))
    }

    /// Startup check: every `required` variable must have a provider.
    pub fn check_required(&self) -> Result<()> {
        for (name, decl) in &self.declared {
            if decl.required {
                self.resolve(name)?;
            }
        }
        Ok(())
    }
}

/// What one component may ask for: its own `variables` table.
#[derive(Debug)]
pub struct ComponentVariables {
    pub component_id: String,
    pub templates: BTreeMap<String, Template>,
    pub resolver: Arc<Resolver>,
}

impl ComponentVariables {
    /// `fermyon:spin/variables.get` semantics, including Spin's error texts.
    pub fn get(&self, name: &str) -> Result<String, variables::Error> {
        if let Err(reason) = validate_name(name) {
            return Err(variables::Error::InvalidName(format!("{name:?}: {reason}")));
        }
        let Some(template) = self.templates.get(name) else {
            return Err(variables::Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.component_id
            )));
        };
        self.resolver
            .render(template)
            .map_err(|e| variables::Error::Provider(e.to_string()))
    }
}

impl variables::Host for Host {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        let _span = crate::telemetry::call(
            "spin_variables.get",
            crate::telemetry::Measure::None,
            || vec![opentelemetry::KeyValue::new("key", name.clone())],
        );
        Ok(self.component.variables.get(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_spin_rules() {
        for ok in ["a", "api_key", "x1", "sms_gateway_origin", "a1_b2"] {
            assert!(validate_name(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "1a", "_a", "a_", "a__b", "Api", "a-b", "a b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn templates_parse_and_render() {
        let t = Template::parse("http://{{ host }}:{{port}}/x}}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["host", "port"]);
        let out = t
            .render(|n| Ok(if n == "host" { "h" } else { "80" }.to_owned()))
            .unwrap();
        assert_eq!(out, "http://h:80/x}}");
        assert_eq!(Template::parse("plain").unwrap().variables().count(), 0);
        assert!(Template::parse("a {{ b").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }

    fn resolver() -> Arc<Resolver> {
        let mut declared = BTreeMap::new();
        declared.insert(
            "greeting".to_owned(),
            VariableDecl {
                default: Some("hello".into()),
                required: false,
                secret: false,
            },
        );
        declared.insert(
            "edge_host_test_required_unset".to_owned(),
            VariableDecl {
                default: None,
                required: true,
                secret: false,
            },
        );
        Arc::new(Resolver::new(declared, BTreeMap::new()))
    }

    #[test]
    fn required_without_provider_fails_startup() {
        let err = resolver().check_required().unwrap_err().to_string();
        assert!(
            err.contains("SPIN_VARIABLE_EDGE_HOST_TEST_REQUIRED_UNSET"),
            "{err}"
        );
    }

    #[test]
    fn dotenv_parsing_and_precedence() {
        let env = parse_dotenv(
            "# comment\nexport SPIN_VARIABLE_A=\"quoted # not a comment\"\nSPIN_VARIABLE_B = plain # trailing\nnot an assignment\nSPIN_VARIABLE_C='x'\n",
        );
        assert_eq!(env["SPIN_VARIABLE_A"], "quoted # not a comment");
        assert_eq!(env["SPIN_VARIABLE_B"], "plain");
        assert_eq!(env["SPIN_VARIABLE_C"], "x");
        assert_eq!(env.len(), 3);
        let mut declared = BTreeMap::new();
        for n in ["b", "edge_host_test_dotenv_only"] {
            declared.insert(
                n.to_owned(),
                VariableDecl {
                    default: Some("default".into()),
                    required: false,
                    secret: false,
                },
            );
        }
        let r = Resolver::new(declared, BTreeMap::new()).with_dotenv(env);
        assert_eq!(r.resolve("b").unwrap(), "plain", ".env beats the default");
        assert_eq!(r.resolve("edge_host_test_dotenv_only").unwrap(), "default");
    }

    #[test]
    fn overrides_win_over_defaults() {
        let mut declared = BTreeMap::new();
        declared.insert(
            "greeting".to_owned(),
            VariableDecl {
                default: Some("hello".into()),
                required: false,
                secret: false,
            },
        );
        let r = Resolver::new(
            declared,
            BTreeMap::from([("greeting".to_owned(), "hi".to_owned())]),
        );
        assert_eq!(r.resolve("greeting").unwrap(), "hi");
    }

    #[test]
    fn component_lookup_errors_match_spin() {
        let vars = ComponentVariables {
            component_id: "probe".into(),
            templates: BTreeMap::from([
                (
                    "msg".to_owned(),
                    Template::parse("{{ greeting }}, world").unwrap(),
                ),
                (
                    "broken".to_owned(),
                    Template::parse("{{ edge_host_test_required_unset }}").unwrap(),
                ),
            ]),
            resolver: resolver(),
        };
        assert_eq!(vars.get("msg").unwrap(), "hello, world");
        match vars.get("nope") {
            Err(variables::Error::Undefined(m)) => {
                assert_eq!(m, r#"no variable for "probe"."nope""#)
            }
            other => panic!("{other:?}"),
        }
        match vars.get("Bad-Name") {
            Err(variables::Error::InvalidName(m)) => {
                assert!(m.starts_with("\"Bad-Name\": "), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            vars.get("broken"),
            Err(variables::Error::Provider(_))
        ));
    }
}
