//! Organization policies in Rego (OPA's language), evaluated in-process with `regorus` over the
//! plan JSON (DESIGN §6).
//!
//! Takes a directory of `*.rego` files (`--policy DIR`, default `policies/` beside the manifests)
//! and the plan as `plan --format json` prints it (the `input` document); returns one finding per
//! result of every package's `deny` rule (an error: the plan is refused) and `warn` rule (shown).
//! A result is a message string, or an object with `msg` (or `message`) and an optional
//! `address`. A policy that does not parse or fails to evaluate is an error naming the file: a
//! broken policy never reads as "nothing denied".

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diagnostics::Severity;

/// One result of a policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFinding {
    pub severity: Severity,
    /// The package, such as `data.spherectl`.
    pub package: String,
    pub message: String,
    pub address: Option<String>,
}

/// The `*.rego` files under `dir`, recursively, sorted.
///
/// # Errors
/// When the directory cannot be read.
pub fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| {
            format!("cannot read the policy directory `{}`: {e}", current.display())
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "rego") {
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
    let mut engine = regorus::Engine::new();
    let mut packages: Vec<String> = Vec::new();
    for file in files {
        let text = crate::manifest::read::read_regular_file(file, 1 << 20)
            .map_err(|e| format!("cannot read the policy `{}`: {e}", file.display()))?;
        let text = String::from_utf8(text)
            .map_err(|_| format!("the policy `{}` is not UTF-8", file.display()))?;
        let package = engine
            .add_policy(file.display().to_string(), text)
            .map_err(|e| format!("the policy `{}` does not parse: {e}", file.display()))?;
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
                .map_err(|e| format!("the policy rule `{query}` failed: {e}"))?;
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

/// The findings of one rule's value: a set (array) of messages or objects, or one of them.
fn collect(value: &Value, package: &str, severity: Severity, out: &mut Vec<PolicyFinding>) {
    let finding = |message: String, address: Option<String>| PolicyFinding {
        severity,
        package: package.to_owned(),
        message,
        address,
    };
    match value {
        Value::Array(items) => items.iter().for_each(|item| collect(item, package, severity, out)),
        Value::String(message) => out.push(finding(message.clone(), None)),
        Value::Object(map) => {
            let message = map
                .get("msg")
                .or_else(|| map.get("message"))
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            let address = map.get("address").and_then(Value::as_str).map(str::to_owned);
            out.push(finding(message, address));
        }
        // `deny` as a boolean rule: `true` denies without a message.
        Value::Bool(true) => out.push(finding(format!("{package}: denied"), None)),
        _ => {}
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
