//! Names the import makes up: file names, secret variables and a default manifest set.

use std::collections::BTreeSet;

/// File names, unique within the output directory (compared without case, for file systems
/// that ignore it).
#[derive(Debug, Default)]
pub(super) struct FileNames {
    taken: BTreeSet<String>,
}

impl FileNames {
    /// `STEM.yaml` for a community name: lowercase ASCII letters, digits, `-` and `_`, anything
    /// else a `-`; `-2`, `-3`, ... when that is taken.
    pub(super) fn take(&mut self, name: &str) -> String {
        let mut stem = String::new();
        for c in name.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                stem.push(c);
            } else if !stem.ends_with('-') {
                stem.push('-');
            }
        }
        let stem = stem.trim_matches('-');
        let stem = if stem.is_empty() { "community" } else { stem };
        let mut candidate = stem.to_owned();
        let mut n = 1;
        while self.taken.contains(&candidate) {
            n += 1;
            candidate = format!("{stem}-{n}");
        }
        self.taken.insert(candidate.clone());
        format!("{candidate}.yaml")
    }
}

/// Upper snake case of ASCII letters and digits; anything else separates words.
fn upper_snake(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// `SPHERECTL_SECRET_<COMMUNITY>_<PROJECT>_<NAME>` for a secret at `community/project/name`,
/// with `_2`, `_3`, ... when two secrets would share one.
pub(super) fn secret_variable(path: &str, taken: &mut BTreeSet<String>) -> String {
    let words: Vec<String> =
        path.split('/').map(upper_snake).filter(|word| !word.is_empty()).collect();
    let base = format!("SPHERECTL_SECRET_{}", words.join("_"));
    let mut candidate = base.clone();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    taken.insert(candidate.clone());
    candidate
}

/// A manifest set name for an organization no set manages yet. The DataSphere API does not
/// return an organization's name, so it is made from the id: lowercase letters, digits, `-`
/// and `_` (a label value), at most 63 characters.
pub(super) fn set_name(organization_id: &str) -> String {
    let mut name: String = organization_id
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    // A label key too (the set name is checked as one): a letter first.
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "org-");
    }
    name.chars().take(63).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_unique_without_case() {
        let mut names = FileNames::default();
        assert_eq!(names.take("organization"), "organization.yaml");
        assert_eq!(names.take("Organization"), "organization-2.yaml");
        assert_eq!(names.take("a:b"), "a-b.yaml");
        assert_eq!(names.take("a#b"), "a-b-2.yaml");
        assert_eq!(names.take("исследования"), "community.yaml");
        assert_eq!(names.take("..."), "community-2.yaml");
    }

    #[test]
    fn secret_variables_are_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(
            secret_variable("research/fraud-detection/db-password", &mut taken),
            "SPHERECTL_SECRET_RESEARCH_FRAUD_DETECTION_DB_PASSWORD"
        );
        assert_eq!(secret_variable("a-b/c/d", &mut taken), "SPHERECTL_SECRET_A_B_C_D");
        assert_eq!(secret_variable("a/b-c/d", &mut taken), "SPHERECTL_SECRET_A_B_C_D_2");
        assert_eq!(secret_variable("рус/p/s", &mut taken), "SPHERECTL_SECRET_P_S");
    }

    #[test]
    fn set_names_are_label_values() {
        assert_eq!(set_name("bpf0000ACME"), "bpf0000acme");
        assert_eq!(set_name("0x.y"), "org-0x-y");
        for id in ["bpf0000ACME", "0x.y", ""] {
            let name = set_name(id);
            assert!(crate::rules::check_label_value(&name).is_ok(), "{name}");
            assert!(crate::rules::check_label_key(&name).is_ok(), "{name}");
        }
    }
}
