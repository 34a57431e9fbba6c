//! Organization policies in Rego (OPA's language), evaluated in-process with `regorus` over the
//! plan JSON (DESIGN §6), and their tests (`spherectl policy test`).
//!
//! Takes a directory of `*.rego` files (`--policy DIR`, default `policies/` beside the manifests)
//! and the plan as `plan --format json` prints it plus `actor`, `live` and `desired`
//! ([`super::input`]) as the `input` document; returns one finding per
//! result of every package's `deny` rule (an error: the plan is refused) and `warn` rule (shown).
//! A result is a message string, or an object with `msg` (or `message`) and an optional
//! `address`. A policy that does not parse or fails to evaluate is an error naming the file: a
//! broken policy never reads as "nothing denied".

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{
    diagnostics::{Problem, Severity},
    manifest::Loaded,
    plan::{Finding, Plan},
};

/// One result of a policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFinding {
    pub severity: Severity,
    /// The package, such as `data.spherectl`.
    pub package: String,
    pub message: String,
    pub address: Option<String>,
}

/// The `*.rego` files under `dir`, recursively, sorted. Symbolic links are followed, as for
/// manifests: a linked policy file is a policy (a link that leads nowhere is an error when it is
/// read, never a policy silently left out), and a linked directory is searched once, however
/// many links lead to it (a link loop ends).
///
/// # Errors
/// When the directory cannot be read.
pub fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        if !seen.insert(std::fs::canonicalize(&current).unwrap_or_else(|_| current.clone())) {
            continue;
        }
        let entries = std::fs::read_dir(&current).map_err(|e| {
            format!("cannot read the policy directory `{}`: {e}", current.display())
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            let is_rego = path.extension().is_some_and(|e| e == "rego");
            if kind.is_dir() || (kind.is_symlink() && !is_rego && path.is_dir()) {
                pending.push(path);
            } else if is_rego && (kind.is_file() || kind.is_symlink()) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Evaluates the policies in `files` against `plan` (the plan JSON).
///
/// # Errors
/// A message naming the file when a policy cannot be read, parsed or evaluated.
pub fn evaluate(files: &[PathBuf], plan: &Value) -> Result<Vec<PolicyFinding>, String> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut engine = new_engine()?;
    let mut packages: Vec<String> = Vec::new();
    for file in files {
        let package = add_policy(&mut engine, file)?;
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    let input =
        serde_json::to_string(plan).map_err(|e| format!("the plan as policy input: {e}"))?;
    engine.set_input_json(&input).map_err(|e| format!("the plan as policy input: {e}"))?;
    let mut findings = Vec::new();
    for package in &packages {
        for (rule, severity) in [("deny", Severity::Error), ("warn", Severity::Warning)] {
            let query = format!("{package}.{rule}");
            let results = engine
                .eval_query(query.clone(), false)
                .map_err(|e| format!("the policy rule `{query}` failed: {}", reword(&e)))?;
            for result in results.result {
                for expression in result.expressions {
                    let value = serde_json::to_value(&expression.value).unwrap_or(Value::Null);
                    collect(&value, package, severity, &mut findings);
                }
            }
        }
    }
    Ok(findings)
}

/// How long one policy rule may run by default: Rego has no loops, but comprehensions over
/// large ranges can run for hours, and a plan must not hang in CI.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// The environment variable that sets the time limit of one policy rule, in seconds.
pub const TIMEOUT_VARIABLE: &str = "SPHERECTL_POLICY_TIMEOUT";

/// The time limit of one rule's evaluation: `SPHERECTL_POLICY_TIMEOUT` (seconds), else
/// [`DEFAULT_TIMEOUT_SECONDS`].
///
/// # Errors
/// When the variable is set to something other than a positive number of seconds.
fn timeout() -> Result<std::time::Duration, String> {
    match std::env::var(TIMEOUT_VARIABLE) {
        Err(_) => Ok(std::time::Duration::from_secs(DEFAULT_TIMEOUT_SECONDS)),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(std::time::Duration::from_secs(seconds)),
            _ => Err(format!("`{TIMEOUT_VARIABLE}={text}` is not a positive number of seconds")),
        },
    }
}

/// A Rego engine whose every evaluation stops at the time limit ([`timeout`]).
fn new_engine() -> Result<regorus::Engine, String> {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: timeout()?,
        check_interval: std::num::NonZeroU32::MIN,
    });
    Ok(engine)
}

/// An evaluation error as the user reads it: the time limit named with its variable.
fn reword(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    if text.contains("exceeded time limit") {
        let limit = timeout().map_or(DEFAULT_TIMEOUT_SECONDS, |t| t.as_secs());
        format!(
            "it ran longer than the {limit} s a policy rule may take (set `{TIMEOUT_VARIABLE}` to allow more)"
        )
    } else {
        text
    }
}

/// Parses every policy file (what `validate` checks: their rules need the plan JSON, so they
/// run at plan time); returns how many files there are.
///
/// # Errors
/// A message naming the file, line and column of the first syntax error.
pub fn compile(files: &[PathBuf]) -> Result<usize, String> {
    let mut engine = regorus::Engine::new();
    for file in files {
        add_policy(&mut engine, file)?;
    }
    Ok(files.len())
}

/// Reads and adds one policy file; returns its package (`data.NAME`).
///
/// # Errors
/// A message naming the file, and the line and column for a syntax error, when it cannot be
/// read or does not parse.
fn add_policy(engine: &mut regorus::Engine, file: &Path) -> Result<String, String> {
    let text = crate::manifest::read::read_regular_file(file, 1 << 20)
        .map_err(|e| format!("cannot read the policy `{}`: {e}", file.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("the policy `{}` is not UTF-8", file.display()))?;
    engine
        .add_policy(file.display().to_string(), text)
        .map_err(|e| parse_error(&file.display().to_string(), &e.to_string()))
}

/// Rewords a regorus syntax error (`--> FILE:LINE:COLUMN`, the line with a caret, then
/// `error: REASON`) so that the first line says where and why.
fn parse_error(file: &str, error: &str) -> String {
    let place = error
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("--> "))
        .map_or_else(|| file.to_owned(), str::to_owned);
    let reason = error
        .lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("error: "))
        .unwrap_or("syntax error");
    let snippet: Vec<&str> = error
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.is_empty() && !line.starts_with("--> ") && !line.starts_with("error: ")
        })
        .collect();
    let mut message = format!("the policy `{place}` does not parse: {reason}");
    if !snippet.is_empty() {
        message.push('\n');
        message.push_str(&snippet.join("\n"));
    }
    message
}

/// Turns a policy result into a plan finding (`spherectl::policy::deny` or `warn`), pointing at
/// the manifest of the object its `address` names (a change's address or an object's).
pub fn to_finding(finding: PolicyFinding, plan: &Plan, loaded: &Loaded) -> Finding {
    let code = match finding.severity {
        Severity::Error => "spherectl::policy::deny",
        _ => "spherectl::policy::warn",
    };
    let mut problem = Problem::error(code, finding.message.clone())
        .help(format!("reported by the organization policy `{}`", finding.package));
    problem.severity = finding.severity;
    let object = finding.address.as_deref().and_then(|address| {
        let from_change = plan.changes.iter().find(|c| c.address == address).map(|c| &c.object);
        match from_change {
            Some(object) => loaded.model.get(object),
            None => loaded.model.objects.iter().find(|o| o.address.to_string() == address),
        }
    });
    if let Some(object) = object {
        problem = problem.at(object.location, "this object");
    }
    Finding::new(problem, finding.address, Some(&loaded.sources))
}

/// One `test_*` rule of a policy directory and how it ended.
#[derive(Clone, Debug)]
pub struct TestOutcome {
    pub file: PathBuf,
    pub line: usize,
    /// `data.PACKAGE.test_NAME`.
    pub rule: String,
    /// `Ok(true)`: passed; `Ok(false)`: false or undefined; `Err`: evaluation failed.
    pub result: Result<bool, String>,
}

/// Runs every `test_*` rule of the policy files, as `opa test` does: a test passes when it is
/// defined and true (the tests set their own `input` with `with input as ...`).
///
/// # Errors
/// A message naming the file (and line) when a policy cannot be read or does not parse.
pub fn run_tests(files: &[PathBuf]) -> Result<Vec<TestOutcome>, String> {
    let mut engine = new_engine()?;
    let mut tests = Vec::new();
    for file in files {
        let package = add_policy(&mut engine, file)?;
        // `add_policy` read the file already and it parsed: reading it again cannot fail in
        // any way that matters here.
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (line, name) in test_rules(&text) {
            let rule = format!("{package}.{name}");
            if !tests.iter().any(|(_, _, r): &(PathBuf, usize, String)| *r == rule) {
                tests.push((file.clone(), line, rule));
            }
        }
    }
    Ok(tests
        .into_iter()
        .map(|(file, line, rule)| {
            let result = match engine.eval_rule(rule.clone()) {
                Ok(regorus::Value::Bool(true)) => Ok(true),
                Ok(_) => Ok(false),
                Err(error) => Err(reword(&error)),
            };
            TestOutcome { file, line, rule, result }
        })
        .collect())
}

/// The `test_*` rule heads of a policy (rules start at the start of a line), with their
/// 1-based line numbers.
fn test_rules(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if !line.starts_with("test_") {
            continue;
        }
        let name: String =
            line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let rest = line[name.len()..].trim_start();
        let head = ["if", "{", ":=", "=", "contains", "["].iter().any(|t| rest.starts_with(t));
        if head && !found.iter().any(|(_, n)| *n == name) {
            found.push((index + 1, name));
        }
    }
    found
}

/// The findings of one rule's value:
/// - a set (array) of results: each element is one finding, whatever its type (a message, an
///   object with `msg`, or any other value, shown as JSON): a `deny` that yields something
///   denies;
/// - an object with `msg` (or `message`): one finding;
/// - any other object (a partial object rule, `deny[address] := msg`): one finding per entry,
///   about the key; an empty one (no entry matched) is none;
/// - a boolean rule: `true` denies without a message, `false` does not;
/// - any other single value (`deny := "text"`, `deny := 3`): one finding.
fn collect(value: &Value, package: &str, severity: Severity, out: &mut Vec<PolicyFinding>) {
    match value {
        Value::Array(items) => {
            items.iter().for_each(|item| out.push(one(item, None, package, severity)));
        }
        Value::Object(map) if !map.contains_key("msg") && !map.contains_key("message") => {
            for (key, item) in map {
                out.push(one(item, Some(key), package, severity));
            }
        }
        Value::Bool(false) | Value::Null => {}
        Value::Bool(true) => out.push(PolicyFinding {
            severity,
            package: package.to_owned(),
            message: format!("{package}: denied"),
            address: None,
        }),
        value => out.push(one(value, None, package, severity)),
    }
}

/// One result: a message string, an object with `msg` (or `message`) and an optional
/// `address`, or any other value shown as JSON. `key` is the key of a partial object rule's
/// entry, taken as the address it is about.
fn one(value: &Value, key: Option<&str>, package: &str, severity: Severity) -> PolicyFinding {
    let (message, address) = match value {
        Value::String(message) => (message.clone(), None),
        Value::Object(map) => (
            map.get("msg")
                .or_else(|| map.get("message"))
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned),
            map.get("address").and_then(Value::as_str).map(str::to_owned),
        ),
        other => (other.to_string(), None),
    };
    let message = match key {
        Some(key) if address.is_none() && !message.contains(key) => format!("{key}: {message}"),
        _ => message,
    };
    PolicyFinding {
        severity,
        package: package.to_owned(),
        message,
        address: address.or_else(|| key.map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deny_and_warn_results_become_findings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.rego"),
            r#"package spherectl

import rego.v1

deny contains msg if {
    some change in input.changes
    change.action == "delete"
    msg := sprintf("%s: no deletes", [change.address])
}

warn contains {"msg": "big plan", "address": "Community/x"} if count(input.changes) > 1
"#,
        )
        .unwrap();
        let files = policy_files(dir.path()).unwrap();
        let plan = json!({"changes": [{"address": "Project/a/b", "action": "delete"}, {"address": "Community/x", "action": "create"}]});
        let findings = evaluate(&files, &plan).unwrap();
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(
            findings
                .iter()
                .any(|f| f.severity == Severity::Error && f.message == "Project/a/b: no deletes")
        );
        assert!(findings.iter().any(
            |f| f.severity == Severity::Warning && f.address.as_deref() == Some("Community/x")
        ));
        let quiet = json!({"changes": []});
        assert!(evaluate(&files, &quiet).unwrap().is_empty());
    }

    #[test]
    fn a_policy_that_does_not_parse_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.rego"), "package x\ndeny contains if {").unwrap();
        let files = policy_files(dir.path()).unwrap();
        let error = evaluate(&files, &json!({})).unwrap_err();
        assert!(error.contains("bad.rego"), "{error}");
    }
}
