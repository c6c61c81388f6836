//! Validation of an exported users file: shape (JSON Schema) plus semantic rules.
//!
//! Entry points:
//! - [`validate_json`] — a parsed JSON value → the typed [`UsersFile`] or every [`Problem`].
//! - [`validate_text`] — JSON text (also catches duplicate keys, which a parsed value hides).
//! - [`load_users_file`] — a file on disk; what `devboxd` calls at start.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use thiserror::Error;

use crate::model::UsersFile;
use crate::problem::{child, index, Problem};
use crate::{rules, schema};

/// Why a users file could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read (exit code 2 in the CLI).
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input is not JSON (exit code 2 in the CLI).
    #[error("the input is not valid JSON: {0} (is it the output of `nix-instantiate --eval --strict --json lib/export-users.nix ...`?)")]
    NotJson(String),
    /// The input is JSON but breaks the rules (exit code 1 in the CLI).
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

/// Formats a list of problems, one block each, with a count line first.
struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "the users file has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in self.0 {
            write!(f, "\n  {}", p.to_string().replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

/// Reads and validates an exported users file (the JSON printed by lib/export-users.nix).
pub fn load_users_file(path: &Path) -> Result<UsersFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    validate_text(&text)
}

/// Validates JSON text. Duplicate object keys are reported as problems.
pub fn validate_text(text: &str) -> Result<UsersFile, LoadError> {
    let duplicates = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_str(text);
    let value = ValueSeed {
        path: String::new(),
        duplicates: &duplicates,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| LoadError::NotJson(e.to_string()))?;
    let mut problems = duplicates.into_inner();
    match validate_json(&value) {
        Ok(file) if problems.is_empty() => Ok(file),
        Ok(_) => Err(LoadError::Invalid(problems)),
        Err(more) => {
            problems.extend(more);
            Err(LoadError::Invalid(problems))
        }
    }
}

/// Validates a parsed exported users file: shape against the JSON Schema, then the semantic
/// rules. On failure returns every problem found, in document order of their paths.
pub fn validate_json(value: &Value) -> Result<UsersFile, Vec<Problem>> {
    let semantic = rules::check(value);
    let mut problems = shape_problems(value);
    // A range rule explains a number better than the schema's generic minimum/maximum.
    problems.retain(|p| !(p.code == "out-of-bounds" && semantic.iter().any(|s| s.path == p.path)));
    problems.extend(semantic);
    if problems.is_empty() {
        return serde_json::from_value::<UsersFile>(value.clone()).map_err(|e| {
            vec![Problem::new(
                "",
                "shape",
                format!("the file does not fit the model: {e}"),
                "compare it with `devbox-schema schema`",
            )]
        });
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Err(problems)
}

fn validator() -> Result<&'static Validator, &'static str> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            jsonschema::validator_for(&schema::users_file_schema()).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(String::as_str)
}

fn shape_problems(value: &Value) -> Vec<Problem> {
    let validator = match validator() {
        Ok(v) => v,
        Err(e) => {
            return vec![Problem::new(
                "",
                "internal",
                format!("the built-in JSON Schema does not compile: {e}"),
                "this is a bug in devbox-schema; please report it",
            )]
        }
    };
    let schema = schema::users_file_schema();
    let mut out = Vec::new();
    for err in validator.iter_errors(value) {
        let path = err.instance_path().as_str().to_string();
        let (expected, field_hint) = expectation(&path);
        match err.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let path = child(&path, name);
                let (expected, field_hint) = expectation(&path);
                out.push(Problem::new(
                    path,
                    "missing-field",
                    format!("the required field `{name}` is missing"),
                    format!("add `{name}`: {expected}{field_hint}"),
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_fields(&schema, err.schema_path().as_str());
                for name in unexpected {
                    let hint = match closest(name, &known) {
                        Some(k) => format!("did you mean `{k}`? (names are case-sensitive)"),
                        None if known.is_empty() => "remove it".to_string(),
                        None => format!("remove it; the fields here are: {}", known.join(", ")),
                    };
                    out.push(Problem::new(
                        child(&path, name),
                        "unknown-field",
                        format!("unknown field `{name}`"),
                        hint,
                    ));
                }
            }
            ValidationErrorKind::Type { .. } => out.push(Problem::new(
                path,
                "wrong-type",
                format!("expected {expected}, found {}", describe(err.instance())),
                format!("write {expected} here{field_hint}"),
            )),
            ValidationErrorKind::Minimum { .. }
            | ValidationErrorKind::Maximum { .. }
            | ValidationErrorKind::ExclusiveMinimum { .. }
            | ValidationErrorKind::ExclusiveMaximum { .. } => out.push(Problem::new(
                path,
                "out-of-bounds",
                err.to_string(),
                format!("write {expected} here{field_hint}"),
            )),
            _ => out.push(Problem::new(
                path,
                "shape",
                err.to_string(),
                format!("write {expected} here{field_hint}"),
            )),
        }
    }
    out
}

/// The property names of the object schema that holds an `additionalProperties` keyword.
fn known_fields(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

/// The known field closest to a misspelt one, if it is close enough to be a typo.
fn closest(name: &str, known: &[String]) -> Option<String> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn describe(v: &Value) -> String {
    let text = v.to_string();
    let shown = if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    };
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(_) => format!("the boolean {shown}"),
        Value::Number(_) => format!("the number {shown}"),
        Value::String(_) => format!("the string {shown}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an attribute set".to_string(),
    }
}

/// What a place in the document should hold, for messages: (expected, extra hint).
fn expectation(path: &str) -> (&'static str, &'static str) {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let export = "; the file must be the output of lib/export-users.nix";
    match segments.as_slice() {
        [] => ("an attribute set { users, containers, derived }", export),
        ["users"] => ("an attribute set of users keyed by user name", ""),
        ["users", _] => (
            "an attribute set { uid, description, email, gitUser, isAdmin, sshKeys, extraGroups }",
            "",
        ),
        ["users", _, "uid"] => ("a whole number from 1000 to 65533", ""),
        ["users", _, "description"] => ("a string with the person's full name", ""),
        ["users", _, "email"] => ("a string with an e-mail address", ""),
        ["users", _, "gitUser"] => ("a string with the GitHub user name", ""),
        ["users", _, "isAdmin"] => ("true or false", ""),
        ["users", _, "sshKeys"] => ("a list of SSH public keys (strings)", ""),
        ["users", _, "sshKeys", _] => ("a string with one SSH public key", ""),
        ["users", _, "extraGroups"] => ("a list of group names (strings)", ""),
        ["users", _, "extraGroups", _] => ("a string with a group name", ""),
        ["containers"] => ("an attribute set of container limits", ""),
        ["containers", "opVault"] => (
            "a string with the 1Password vault name, or null for no 1Password",
            "",
        ),
        ["containers", "maxPerUser" | "maxGlobal"] => ("a whole number of containers", ""),
        ["containers", "maxKeptVolumesPerUser"] => ("a whole number of kept volumes", ""),
        ["containers", "defaultCpu" | "maxCpu"] => ("a number of CPUs such as 2 or 1.5", ""),
        ["containers", "defaultMemory" | "maxMemory"] => {
            ("a string such as \"4G\" or \"512M\"", "")
        }
        ["containers", "idleStopDays" | "stoppedDestroyDays"] => ("a whole number of days", ""),
        ["containers", "notifyWebhook"] => {
            ("an op://VAULT/ITEM/FIELD string (or leave it out)", "")
        }
        ["containers", "tailscaleApiKeyRef"] => {
            ("an op://VAULT/ITEM/FIELD string (or leave it out)", "")
        }
        ["derived", ..] => (
            "the value computed by lib/export-users.nix",
            "; do not write `derived` by hand, export users.nix again",
        ),
        _ => ("a value of the documented shape", "; see docs/users-nix.md"),
    }
}

/// Builds a `Value` like serde_json does, but records keys that appear twice in one object
/// (serde_json would silently keep the last one).
struct ValueSeed<'a> {
    path: String,
    duplicates: &'a RefCell<Vec<Problem>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            path: index(&self.path, items.len()),
            duplicates: self.duplicates,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = child(&self.path, &key);
            let value = map.next_value_seed(ValueSeed {
                path: path.clone(),
                duplicates: self.duplicates,
            })?;
            if object.contains_key(&key) {
                self.duplicates.borrow_mut().push(Problem::new(
                    path,
                    "duplicate-key",
                    format!("`{key}` appears twice in the same object"),
                    "keep one of them; a JSON object cannot have two entries with one name",
                ));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_compiles() {
        assert!(validator().is_ok());
    }

    #[test]
    fn typos_get_suggestions() {
        let known = vec!["maxPerUser".to_string(), "maxGlobal".to_string()];
        assert_eq!(closest("maxPeruser", &known).as_deref(), Some("maxPerUser"));
        assert_eq!(closest("maxGlobl", &known).as_deref(), Some("maxGlobal"));
        assert_eq!(closest("color", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn duplicate_keys_are_found_with_their_path() {
        let err = validate_text(r#"{"users": {"a": {"uid": 1, "uid": 2}}}"#).unwrap_err();
        let LoadError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}");
        };
        assert!(problems
            .iter()
            .any(|p| p.code == "duplicate-key" && p.path == "/users/a/uid"));
    }

    #[test]
    fn not_json_and_trailing_garbage() {
        assert!(matches!(validate_text("{"), Err(LoadError::NotJson(_))));
        assert!(matches!(validate_text("{} {}"), Err(LoadError::NotJson(_))));
        assert!(matches!(validate_text(""), Err(LoadError::NotJson(_))));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(matches!(validate_text(&deep), Err(LoadError::NotJson(_))));
    }
}
