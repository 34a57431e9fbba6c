//! Synthetic organizations for benchmarks (and tests that `#[path]`-include this file).
//!
//! [`generate`] writes an organization of about `objects_target` manifest objects the way a
//! team would lay it out: `organization.yaml` at the root, then one multi-document file per
//! community (`communities/<community>.yaml`, 49 objects each: the community and eight projects
//! with five resources apiece). Every project holds a dataset, a secret (`value: {fromEnv:
//! SPHERECTL_BENCH_SECRET}`), a Docker image, a node on that image with the secret in its `env`,
//! and an alias on that node. Communities come in pairs that share a zone; each publishes some
//! datasets, images and aliases to its partner, whose projects use them (`spec.uses`).
//! Communities and projects have members.
//!
//! Output is deterministic: the same target gives the same bytes. [`edit`] then changes the
//! description of a given share of the objects, for a "plan after a small edit" measurement.
//!
//! Plain functions on purpose (no dependencies beyond `std`): a test includes it with
//! `#[path = "../benches/support/generate.rs"] mod generate;` (add `#[allow(dead_code)]` on the
//! `mod` when it uses only some of the functions).

// `pub` for the including crate's sake: in a bench or test this is a private module.
#![allow(unreachable_pub)]

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

/// The environment variable every generated secret reads its value from.
pub const SECRET_ENV: &str = "SPHERECTL_BENCH_SECRET";

/// The organization's id (`spec.id`).
pub const ORGANIZATION_ID: &str = "bpf000000000000bench";

/// Projects per community (below the default quota of 10, as a real organization would keep).
pub const PROJECTS_PER_COMMUNITY: usize = 8;

/// Resources per project: dataset, secret, Docker image, node, alias.
pub const RESOURCES_PER_PROJECT: usize = 5;

/// Objects in one community's file: the community, its projects and their resources.
pub const OBJECTS_PER_COMMUNITY: usize = 1 + PROJECTS_PER_COMMUNITY * (1 + RESOURCES_PER_PROJECT);

const ZONES: [&str; 3] = ["ru-central1-a", "ru-central1-b", "ru-central1-d"];

/// The size of a generated organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub communities: usize,
    pub projects: usize,
    /// Manifest documents (objects), the organization included.
    pub objects: usize,
    /// Manifest files.
    pub files: usize,
    /// `spec.publish` entries.
    pub publications: usize,
    /// `spec.uses` entries.
    pub uses: usize,
}

/// The shape [`generate`] produces for `objects_target`: the nearest whole number of communities.
pub fn shape(objects_target: usize) -> Shape {
    let communities = ((objects_target.saturating_sub(1) + OBJECTS_PER_COMMUNITY / 2)
        / OBJECTS_PER_COMMUNITY)
        .max(1);
    let projects = communities * PROJECTS_PER_COMMUNITY;
    let paired = communities - communities % 2;
    let per_community: usize =
        (0..PROJECTS_PER_COMMUNITY).map(|j| shared(j).iter().filter(|s| **s).count()).sum();
    Shape {
        communities,
        projects,
        objects: 1 + communities * OBJECTS_PER_COMMUNITY,
        files: 1 + communities,
        publications: paired * per_community,
        uses: paired * per_community,
    }
}

/// Writes an organization of about `objects_target` objects into `dir` (created if needed;
/// files of a previous run are overwritten, not removed).
///
/// # Panics
/// When a file cannot be written.
pub fn generate(dir: &Path, objects_target: usize) {
    let shape = shape(objects_target);
    let communities_dir = dir.join("communities");
    fs::create_dir_all(&communities_dir).expect("create the manifest directory");
    write(&dir.join("organization.yaml"), &organization());
    for c in 0..shape.communities {
        let text = community_file(c, shape.communities);
        write(&communities_dir.join(format!("{}.yaml", community_name(c))), &text);
    }
}

/// Appends ` (edited)` to the description of every `1/share`-th object (`share = 100` edits 1%
/// of the objects), walking the files in a stable order. Returns how many objects it edited.
///
/// # Panics
/// When a file cannot be read or written.
pub fn edit(dir: &Path, share: usize) -> usize {
    let share = share.max(1);
    let mut files = Vec::new();
    collect_yaml(dir, &mut files);
    files.sort();
    let mut seen = 0_usize;
    let mut edited = 0_usize;
    for file in files {
        let text = fs::read_to_string(&file).expect("read a manifest file");
        let mut out = String::with_capacity(text.len() + 64);
        let mut changed = false;
        for line in text.split_inclusive('\n') {
            if line.trim_start().starts_with("description: ") {
                seen += 1;
                if seen.is_multiple_of(share) {
                    out.push_str(line.trim_end_matches('\n'));
                    out.push_str(" (edited)\n");
                    edited += 1;
                    changed = true;
                    continue;
                }
            }
            out.push_str(line);
        }
        if changed {
            write(&file, &out);
        }
    }
    edited
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read a manifest directory") {
        let entry = entry.expect("read a directory entry");
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write `{}`: {e}", path.display()));
}

fn community_name(c: usize) -> String {
    format!("team-{c:04}")
}

fn project_name(j: usize) -> String {
    const PRODUCTS: [&str; PROJECTS_PER_COMMUNITY] =
        ["churn", "fraud", "pricing", "search", "recsys", "forecast", "vision", "speech"];
    PRODUCTS[j].to_owned()
}

/// The partner community that shares a zone with `c`, if any (the last of an odd count has none).
fn partner(c: usize, communities: usize) -> Option<usize> {
    let p = c ^ 1;
    (p < communities).then_some(p)
}

fn zone(c: usize) -> &'static str {
    ZONES[(c / 2) % ZONES.len()]
}

/// Which of project `j`'s dataset, Docker image and alias are published to the partner.
fn shared(j: usize) -> [bool; 3] {
    [j.is_multiple_of(2), j == 0, j.is_multiple_of(4)]
}

fn organization() -> String {
    format!(
        "# yaml-language-server: $schema=../../schemas/manifest.schema.json\n\
         # A synthetic organization for benchmarks: see benches/support/generate.rs.\n\
         apiVersion: spherectl/v1\n\
         kind: Organization\n\
         metadata:\n  name: bench\n\
         spec:\n  id: {ORGANIZATION_ID}\n  description: Synthetic organization for benchmarks\n"
    )
}

fn community_file(c: usize, communities: usize) -> String {
    let name = community_name(c);
    let mut s = String::with_capacity(24 * 1024);
    let _ = write!(
        s,
        "# yaml-language-server: $schema=../../../schemas/manifest.schema.json\n\
         # Team {c}: its community, its projects and their resources.\n\
         apiVersion: spherectl/v1\n\
         kind: Community\n\
         metadata:\n  name: {name}\n  labels: {{team: {name}, cost-center: cc-{cc:03}}}\n\
         spec:\n  description: Team {c} data science\n  zone: {zone}\n  \
         billingAccount: dn2000000000000bill\n  members:\n    \
         - {{subject: \"userAccount:lead-{c}\", role: admin}}\n    \
         - {{subject: \"serviceAccount:ci-{c}\", role: admin}}\n    \
         - {{subject: \"federatedUser:analyst-{c}\", role: developer}}\n    \
         - {{subject: \"group:readers-{c}\", role: viewer}}\n",
        cc = c % 100,
        zone = zone(c),
    );
    for j in 0..PROJECTS_PER_COMMUNITY {
        project(&mut s, c, j, communities);
    }
    s
}

fn project(s: &mut String, c: usize, j: usize, communities: usize) {
    let community = community_name(c);
    let project = project_name(j);
    let path = format!("{community}/{project}");
    let _ = write!(
        s,
        "---\n\
         apiVersion: spherectl/v1\n\
         kind: Project\n\
         metadata:\n  name: {project}\n  community: {community}\n  \
         labels: {{team: {community}, product: {project}}}\n\
         spec:\n  description: {project} models of team {c}\n  \
         settings:\n    serviceAccount: aje0000000000{c:04}sa\n    \
         defaultFolder: b1g00000000000{c:04}\n    staleExecTimeout: three-hours\n    \
         vmInactivityTimeout: 30m\n    defaultDedicatedSpec: c1.4\n  \
         limits: {{maxUnitsPerHour: {hour}, maxUnitsPerExecution: 10}}\n  \
         balance: {balance}\n  members:\n    \
         - {{subject: \"userAccount:owner-{c}-{j}\", role: admin}}\n    \
         - {{subject: \"userAccount:dev-{c}-{j}\", role: editor}}\n",
        hour = 100 + j * 10,
        balance = 1000 + c % 10 * 100,
    );
    // What this project uses: what the partner's project `j - 1` publishes to this community.
    if let (Some(p), Some(from)) = (partner(c, communities), j.checked_sub(1)) {
        let [dataset, image, alias] = shared(from);
        let owner = format!("{}/{}", community_name(p), project_name(from));
        let mut uses = String::new();
        if dataset {
            let _ = writeln!(uses, "    - {{kind: Dataset, ref: {owner}/data}}");
        }
        if image {
            let _ = writeln!(uses, "    - {{kind: DockerImage, ref: {owner}/env}}");
        }
        if alias {
            let _ = writeln!(uses, "    - {{kind: Alias, ref: {owner}/api}}");
        }
        if !uses.is_empty() {
            s.push_str("  uses:\n");
            s.push_str(&uses);
        }
    }
    let [dataset, image, alias] = shared(j);
    let publish = |yes: bool| match (yes, partner(c, communities)) {
        (true, Some(p)) => format!("  publish: [{}]\n", community_name(p)),
        _ => String::new(),
    };
    let _ = write!(
        s,
        "---\n\
         apiVersion: spherectl/v1\n\
         kind: Dataset\n\
         metadata: {{name: data, project: {path}}}\n\
         spec:\n  description: Training data of {path}\n  sizeGb: {size}\n  \
         initCode: |\n    #pragma dataset init data --size {size}Gb\n    \
         from loaders import load\n    load(\"{path}\", out=\"/home/jupyter/mnt/datasets/data\")\n  \
         active: {active}\n{publish}",
        size = 10 + j * 5,
        active = j.is_multiple_of(2),
        publish = publish(dataset),
    );
    let _ = write!(
        s,
        "---\n\
         apiVersion: spherectl/v1\n\
         kind: Secret\n\
         metadata: {{name: db-password, project: {path}}}\n\
         spec:\n  description: Database password of {path}\n  value: {{fromEnv: {SECRET_ENV}}}\n",
    );
    let _ = write!(
        s,
        "---\n\
         apiVersion: spherectl/v1\n\
         kind: DockerImage\n\
         metadata: {{name: env, project: {path}}}\n\
         spec:\n  description: Runtime of {path}\n  repository: {project}\n  tag: \"1.{j}.{c}\"\n  \
         buildPath: .\n  dockerfile: |\n    FROM python:3.10-slim\n    \
         RUN pip install --no-cache-dir scikit-learn==1.4.2 pandas==2.2.2\n    \
         USER jupyter\n  active: true\n{publish}",
        publish = publish(image),
    );
    let _ = write!(
        s,
        "---\n\
         apiVersion: spherectl/v1\n\
         kind: Node\n\
         metadata: {{name: server, project: {path}}}\n\
         spec:\n  description: Model server of {path}\n  source: {{dockerImage: env}}\n  \
         instanceType: c1.4\n  instances: {{min: 1, max: {max}}}\n  \
         folder: b1g00000000000{c:04}\n  env: [db-password]\n  \
         endpoint: {{type: http, port: 8080}}\n  \
         healthCheck: {{type: http, path: /health, port: 8080, timeout: 5, interval: 10}}\n",
        max = 2 + j % 3,
    );
    let _ = write!(
        s,
        "---\n\
         apiVersion: spherectl/v1\n\
         kind: Alias\n\
         metadata: {{name: api, project: {path}}}\n\
         spec:\n  description: Public endpoint of {path}\n  \
         backends:\n    - {{node: server, weight: 100}}\n  folder: b1g00000000000{c:04}\n{publish}",
        publish = publish(alias),
    );
}
