//! Names the import makes up: file names, secret variables and a default manifest set.

use std::collections::{BTreeMap, BTreeSet};

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

/// `SPHERECTL_SECRET_<COMMUNITY>_<PROJECT>_<NAME>` for each secret at `community/project/name`.
///
/// Names that differ only by `-`, `_`, case or non-ASCII letters would share a variable: each of
/// them gets a suffix made from its exact path instead (`_` and six hex digits), so that a
/// variable never passes from one secret to another when secrets are added (at most, a secret
/// whose name becomes shared gets a new variable, which the plan reports as not set). (With `_2`, `_3` in order, a new
/// secret `DB_token` would shift `db-token` from `_2` to `_3` on the next import, and the value a
/// user's CI set for one secret would silently go to another.)
pub(super) fn secret_variables(paths: &[&str]) -> Vec<String> {
    let bases: Vec<String> = paths
        .iter()
        .map(|path| {
            let words: Vec<String> =
                path.split('/').map(upper_snake).filter(|word| !word.is_empty()).collect();
            format!("SPHERECTL_SECRET_{}", words.join("_"))
        })
        .collect();
    let mut shared: BTreeMap<&str, usize> = BTreeMap::new();
    for base in &bases {
        *shared.entry(base.as_str()).or_default() += 1;
    }
    let wanted: Vec<String> = bases
        .iter()
        .zip(paths)
        .map(|(base, path)| {
            if shared[base.as_str()] > 1 {
                format!("{base}_{:06X}", fnv1a(path.as_bytes()) & 0xff_ffff)
            } else {
                base.clone()
            }
        })
        .collect();
    // A suffixed name could still meet another secret's name (a secret literally called
    // `db-token-5f3a9c`): then `_2`, `_3`, ... as a last resort.
    let mut taken = BTreeSet::new();
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| paths[i]);
    let mut names = vec![String::new(); paths.len()];
    for i in order {
        let mut candidate = wanted[i].clone();
        let mut n = 1;
        while taken.contains(&candidate) {
            n += 1;
            candidate = format!("{}_{n}", wanted[i]);
        }
        taken.insert(candidate.clone());
        names[i] = candidate;
    }
    names
}

/// 32-bit FNV-1a: a hash that does not change between Rust versions or runs.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
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
    fn secret_variables_are_unique_and_independent_of_each_other() {
        let names = secret_variables(&[
            "research/fraud-detection/db-password",
            "a-b/c/d",
            "a/b-c/d",
            "рус/p/s",
        ]);
        assert_eq!(names[0], "SPHERECTL_SECRET_RESEARCH_FRAUD_DETECTION_DB_PASSWORD");
        assert!(
            names[1].starts_with("SPHERECTL_SECRET_A_B_C_D_") && names[1].len() == 31,
            "{names:?}"
        );
        assert!(
            names[2].starts_with("SPHERECTL_SECRET_A_B_C_D_") && names[2] != names[1],
            "{names:?}"
        );
        assert_eq!(names[3], "SPHERECTL_SECRET_P_S");
        // Another similar secret changes no one else's variable.
        let more = secret_variables(&[
            "a-b/c/d",
            "a/b-c/d",
            "a/b/c-d",
            "research/fraud-detection/db-password",
        ]);
        assert_eq!((&more[0], &more[1], &more[3]), (&names[1], &names[2], &names[0]));
        // A secret named like a suffixed variable: still unique.
        let suffix = &names[1]["SPHERECTL_SECRET_A_B_C_D_".len()..];
        let odd = format!("d-{suffix}");
        let clash = secret_variables(&["a-b/c/d", "a/b-c/d", &format!("a/b/c/{odd}")]);
        let distinct: BTreeSet<&String> = clash.iter().collect();
        assert_eq!(distinct.len(), 3, "{clash:?}");
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
