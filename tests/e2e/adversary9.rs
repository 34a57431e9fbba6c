//! Two teams, two manifest sets, one organization: the team workflow of `examples/ci` end to
//! end. Team `data-team` (directory `data/`) owns the community `data` and publishes its dataset
//! `events` to the community `ml-lab` of team `ml-team` (directory `ml/`), whose project `models`
//! uses it. Pull-request plans are saved (`--out`, `--format markdown`), merges apply the saved
//! plan (`apply --plan FILE --yes`), nightly drift runs with `--format markdown --out`.
//!
//! Every command names the one platform both teams share: the case's sandbox database, or (with
//! `SPHERECTL_E2E_OVER_HTTP=1`) a `spherectl serve` of it.

use std::path::Path;

use serde_json::Value;
use spherectl::{manifest::Kind, platform::Platform};

use crate::{
    Case, Run,
    http::{self, TOKEN},
    support::{self, Running, edited_in_the_console, id_of, made_by_hand, served},
};

const FLOW: &str = "bpf000000000000flow1";

const DATA: &str = "apiVersion: spherectl/v1
kind: Organization
metadata: {name: data-team}
spec: {id: bpf000000000000flow1}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: data}
spec: {description: Data team}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: warehouse, community: data}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: raw, project: data/warehouse}
spec: {sizeGb: 1}
";

const ML: &str = "apiVersion: spherectl/v1
kind: Organization
metadata: {name: ml-team}
spec: {id: bpf000000000000flow1}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: ml-lab}
spec: {description: ML team}
";

/// The two teams' directories and the platform they share.
struct Teams {
    case: Case,
    platform: String,
    token: Option<String>,
}

impl Teams {
    /// Both teams' first manifests, not applied; the platform is the case's sandbox database,
    /// or a `spherectl serve` of it when the suite runs over HTTP.
    fn new() -> Teams {
        let case = Case::files(&[]);
        for (dir, text) in [("data", DATA), ("ml", ML)] {
            std::fs::create_dir_all(case.path().join(dir)).unwrap();
            std::fs::write(case.path().join(dir).join("org.yaml"), text).unwrap();
        }
        std::fs::create_dir_all(case.db().parent().unwrap()).unwrap();
        let (platform, token) = if http::over_http() {
            (http::shared_server(&case.db()), Some(http::token_for(None)))
        } else {
            (format!("sandbox:{}", case.db().display()), None)
        };
        Teams { case, platform, token }
    }

    /// Over a `spherectl serve` of the teams' own (for waits on its lease).
    fn over(case: Case, url: &str) -> Teams {
        Teams { case, platform: url.to_owned(), token: Some(TOKEN.to_owned()) }
    }

    /// Both teams set up: `ml-lab` applied, `data` publishing `events` to it, `models` using it.
    fn set_up() -> Teams {
        let teams = Teams::new();
        teams.applied("ml");
        teams.add("data", &teams.events_published());
        teams.applied("data");
        teams.add("ml", &teams.models_using_events());
        teams.applied("ml");
        teams
    }

    fn env(&self) -> Vec<(&str, &str)> {
        let mut env = support::env(&self.case, &[]);
        if let Some(token) = &self.token {
            env.push(("SPHERECTL_TOKEN", token));
        }
        env
    }

    /// `spherectl ARGS --platform PLATFORM` in the case's directory.
    fn run(&self, args: &[&str]) -> Run {
        let mut args = args.to_vec();
        args.extend(["--platform", &self.platform]);
        let mut command = support::spherectl(self.case.path(), &args);
        for (name, value) in self.env() {
            command.env(name, value);
        }
        Run::of(&command.output().unwrap())
    }

    /// `spherectl ARGS --platform PLATFORM`, started (as `Running::slow`).
    fn slow(&self, args: &[&str], delay_ms: &str) -> Running {
        let mut args = args.to_vec();
        args.extend(["--platform", &self.platform]);
        let mut env = self.env();
        env.push(("SPHERECTL_TEST_WRITE_DELAY_MS", delay_ms));
        Running::start(self.case.path(), &args, &env)
    }

    fn applied(&self, team: &str) {
        let run = self.run(&["apply", team, "--yes"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }

    /// The team's next plan is empty.
    fn converged(&self, team: &str) {
        let run = self.run(&["plan", team, "--detailed-exitcode"]);
        assert_eq!(run.code, 0, "{team}: {}{}", run.stdout, run.stderr);
    }

    /// The team's drift is clean.
    fn no_drift(&self, team: &str) {
        let run = self.run(&["drift", team]);
        assert_eq!(run.code, 0, "{team}: {}{}", run.stdout, run.stderr);
    }

    /// Appends documents to the team's manifests.
    fn add(&self, team: &str, documents: &str) {
        let path = self.case.path().join(team).join("org.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}---\n{documents}")).unwrap();
    }

    /// Replaces `from` by `to` in the team's manifests.
    fn edit(&self, team: &str, from: &str, to: &str) {
        self.case.edit(&format!("{team}/org.yaml"), from, to);
    }

    fn id(&self, kind: Kind, name: &str) -> String {
        id_of(&self.case.sandbox().read(FLOW).unwrap(), kind, name)
    }

    /// `data`'s dataset `events`, published to `ml-lab` (another set's community, by id).
    fn events_published(&self) -> String {
        let ml = self.id(Kind::Community, "ml-lab");
        format!(
            "apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: events, project: data/warehouse}}
spec: {{sizeGb: 5, publish: [{{id: {ml}}}]}}
"
        )
    }

    /// `ml-lab`'s project `models`, which uses `data`'s dataset `events` (another set's
    /// resource, by id).
    fn models_using_events(&self) -> String {
        let events = self.id(Kind::Dataset, "events");
        format!(
            "apiVersion: spherectl/v1
kind: Project
metadata: {{name: models, community: ml-lab}}
spec:
  uses: [{{kind: Dataset, id: {events}}}]
"
        )
    }

    /// `project id → resource ids` of every use in the organization.
    fn uses(&self) -> Vec<(String, String)> {
        self.case.sandbox().read(FLOW).unwrap().uses
    }

    /// `Kind/name` of every object in the organization, sorted.
    fn objects(&self) -> Vec<String> {
        let live = self.case.sandbox().read(FLOW).unwrap();
        let mut names: Vec<String> =
            live.objects.iter().map(|o| format!("{}/{}", o.kind, o.name)).collect();
        names.sort();
        names
    }
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A project of one set uses a resource another set publishes to its community, by the
/// resource's id: applied once, and from then on neither team's plan or drift touches it.
#[test]
fn adversary9_a_project_uses_another_sets_published_dataset() {
    let teams = Teams::set_up();
    let models = teams.id(Kind::Project, "models");
    let events = teams.id(Kind::Dataset, "events");
    assert!(teams.uses().contains(&(models, events)), "{:?}", teams.uses());
    for team in ["data", "ml"] {
        teams.converged(team);
        teams.no_drift(team);
    }
    let plan = teams.run(&["plan", "ml"]);
    assert!(!plan.stdout.contains("unuse"), "{}", plan.stdout);
}

/// `uses` by id of a dataset that is not published to the project's community, or that does
/// not exist, or that this set declares itself: each refused at plan time, naming it.
#[test]
fn adversary9_a_use_by_id_is_checked_at_plan_time() {
    let teams = Teams::new();
    teams.applied("ml");
    teams.applied("data");
    let raw = teams.id(Kind::Dataset, "raw");
    teams.add(
        "ml",
        &format!(
            "apiVersion: spherectl/v1
kind: Project
metadata: {{name: models, community: ml-lab}}
spec:
  uses: [{{kind: Dataset, id: {raw}}}, {{kind: Dataset, id: ds0000000000nothere}}]
"
        ),
    );
    let plan = teams.run(&["plan", "ml"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::use_unpublished"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("Dataset/data/warehouse/raw") && plan.stderr.contains("ml-lab"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("ds0000000000nothere"), "{}", plan.stderr);
    let apply = teams.run(&["apply", "ml", "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(teams.uses().is_empty(), "{:?}", teams.uses());
    // A `ref` and an `id` in one entry: a manifest error.
    teams.edit("ml", &format!("id: {raw}}}"), &format!("id: {raw}, ref: data/warehouse/raw}}"));
    let validate = teams.run(&["plan", "ml"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(validate.stderr.contains("spec.uses[0]"), "{}", validate.stderr);
}

/// The pull-request flow of one team: PRs A and B change the same dataset, C another one;
/// all planned, then merged in turn. A applies, B is refused as stale (A changed what it
/// touches), C applies cleanly, and A applied again is refused: nothing applies twice.
#[test]
fn adversary9_interleaved_pull_requests_of_one_team() {
    let teams = Teams::set_up();
    let pr = |name: &str, from: &str, to: &str| {
        let dir = format!("pr-{name}");
        std::fs::create_dir_all(teams.case.path().join(&dir)).unwrap();
        let text = std::fs::read_to_string(teams.case.path().join("data/org.yaml")).unwrap();
        assert!(text.contains(from));
        std::fs::write(teams.case.path().join(&dir).join("org.yaml"), text.replacen(from, to, 1))
            .unwrap();
        let out = format!("{name}.json");
        let plan = teams.run(&[
            "plan",
            &dir,
            "--out",
            &out,
            "--format",
            "markdown",
            "--detailed-exitcode",
        ]);
        assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
        assert!(plan.stdout.starts_with("<!-- spherectl-plan -->"), "{}", plan.stdout);
        out
    };
    let a = pr("a", "spec: {sizeGb: 5,", "spec: {sizeGb: 5, description: from A,");
    let b = pr("b", "spec: {sizeGb: 5,", "spec: {sizeGb: 5, description: from B,");
    let c = pr("c", "spec: {sizeGb: 1}", "spec: {sizeGb: 1, description: from C}");
    let applied = |plan: &str| teams.run(&["apply", "--plan", plan, "--yes"]);
    let run = applied(&a);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = applied(&b);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the saved plan is stale"), "{}", run.stderr);
    assert!(run.stderr.contains("Dataset/data/warehouse/events"), "{}", run.stderr);
    let run = applied(&c);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("1 done"), "{}", run.stderr);
    let run = applied(&a);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the saved plan is stale"), "{}", run.stderr);
    let live = teams.case.sandbox().read(FLOW).unwrap();
    let description = |name: &str| {
        let object = live.objects.iter().find(|o| o.name == name).unwrap();
        object.attributes.get("spec.description").cloned()
    };
    assert_eq!(description("events"), Some("from A".into()));
    assert_eq!(description("raw"), Some("from C".into()));
    // The other team never noticed.
    teams.converged("ml");
    teams.no_drift("ml");
}

/// Team `data` drops the publication (or the dataset) that team `ml`'s project uses: refused,
/// naming that project; nothing changes. `destroy` of team `data` is refused the same way.
#[test]
fn adversary9_removing_what_the_other_team_uses_is_refused() {
    let teams = Teams::set_up();
    let before = teams.objects();
    let published = teams.events_published();
    let unpublished =
        published.replace(&published[published.find("spec:").unwrap()..], "spec: {sizeGb: 5}\n");
    teams.edit("data", &published, &unpublished);
    let plan = teams.run(&["plan", "data", "--format", "markdown", "--out", "unpublish.json"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("spherectl::rules::in_use"), "{}", plan.stdout);
    assert!(plan.stderr.contains("cannot unpublish Dataset/data/warehouse/events from `ml-lab`: it is used by Project/ml-lab/models"), "{}", plan.stderr);
    let apply = teams.run(&["apply", "data", "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    teams.edit("data", &unpublished, "");
    let apply = teams.run(&["apply", "data", "--yes", "--allow-delete"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains(
            "cannot delete Dataset/data/warehouse/events: it is used by Project/ml-lab/models"
        ),
        "{}",
        apply.stderr
    );
    let destroy = teams.run(&["destroy", "data", "--yes"]);
    assert_eq!(destroy.code, 1, "{}", destroy.stderr);
    assert!(destroy.stderr.contains("it is used by Project/ml-lab/models"), "{}", destroy.stderr);
    assert_eq!(teams.objects(), before);
    assert_eq!(teams.uses().len(), 1);
    // Once team `ml` drops its use, team `data` destroys its set and leaves `ml`'s alone.
    let using = teams.models_using_events();
    teams.edit(
        "ml",
        &using,
        "apiVersion: spherectl/v1\nkind: Project\nmetadata: {name: models, community: ml-lab}\n",
    );
    teams.applied("ml");
    assert!(teams.uses().is_empty());
    let destroy = teams.run(&["destroy", "data", "--yes"]);
    assert_eq!(destroy.code, 0, "{}{}", destroy.stdout, destroy.stderr);
    assert_eq!(teams.objects(), ["Community/ml-lab", "Project/models"]);
    teams.converged("ml");
    teams.no_drift("ml");
}

/// Team `ml` renames its community (`renamedFrom`) while team `data` holds a saved plan that
/// publishes to it: the saved plan is refused as stale, and a fresh one publishes to the
/// renamed community; team `ml`'s use survives the rename.
#[test]
fn adversary9_a_rename_by_the_other_team_makes_a_saved_plan_stale() {
    let teams = Teams::set_up();
    let ml = teams.id(Kind::Community, "ml-lab");
    teams.add(
        "data",
        &format!(
            "apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: features, project: data/warehouse}}
spec: {{sizeGb: 2, publish: [{{id: {ml}}}]}}
"
        ),
    );
    let plan = teams.run(&["plan", "data", "--out", "features.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    teams.edit("ml", "metadata: {name: ml-lab}", "metadata: {name: ml-lab2, renamedFrom: ml-lab}");
    teams.edit("ml", "community: ml-lab}", "community: ml-lab2}");
    teams.applied("ml");
    let apply = teams.run(&["apply", "--plan", "features.json", "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(apply.stderr.contains("the saved plan is stale"), "{}", apply.stderr);
    // The other set's community is named by its address, as this set's objects are.
    assert!(
        apply.stderr.contains("`Community/ml-lab` was changed since the plan"),
        "{}",
        apply.stderr
    );
    assert!(!teams.objects().contains(&"Dataset/features".to_owned()));
    teams.applied("data");
    assert_eq!(teams.uses().len(), 1, "the use survives the rename");
    for team in ["data", "ml"] {
        teams.converged(team);
        teams.no_drift(team);
    }
}

/// A saved plan is refused on another platform and for other manifests' organization.
#[test]
fn adversary9_a_saved_plan_for_another_platform_or_organization_is_refused() {
    let teams = Teams::set_up();
    teams.edit("data", "spec: {sizeGb: 1}", "spec: {sizeGb: 1, description: new}");
    assert_eq!(teams.run(&["plan", "data", "--out", "saved.json"]).code, 0);
    let elsewhere = teams.case.path().join("elsewhere.db");
    let mut command = support::spherectl(
        teams.case.path(),
        &[
            "apply",
            "--plan",
            "saved.json",
            "--yes",
            "--platform",
            &format!("sandbox:{}", elsewhere.display()),
        ],
    );
    let run = Run::of(&command.output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the saved plan was made for platform"), "{}", run.stderr);
    assert!(!elsewhere.exists());
    teams.edit("data", "id: bpf000000000000flow1", "id: bpf000000000000flow2");
    let run = teams.run(&["apply", "--plan", "saved.json", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the saved plan was made for organization `bpf000000000000flow1`"),
        "{}",
        run.stderr
    );
    let live = teams.case.sandbox().read(FLOW).unwrap();
    let raw = live.objects.iter().find(|o| o.name == "raw").unwrap();
    assert_eq!(raw.attributes.get("spec.description"), None);
}

/// Nightly drift: a hand-made change in team `ml`'s community (and a project made in the console
/// there) is `ml`'s drift, never `data`'s; `data`'s saved report lists them as left alone.
#[test]
fn adversary9_drift_of_one_team_never_reports_the_other_teams_objects() {
    let teams = Teams::set_up();
    let sandbox = teams.case.sandbox();
    let ml = id_of(&sandbox.read(FLOW).unwrap(), Kind::Community, "ml-lab");
    edited_in_the_console(&sandbox, Kind::Community, &ml);
    made_by_hand(&sandbox, Kind::Project, &ml, "scratch");
    drop(sandbox);
    let data = teams.run(&["drift", "data", "--format", "markdown", "--out", "data-drift.json"]);
    assert_eq!(data.code, 0, "{}{}", data.stdout, data.stderr);
    assert!(data.stdout.contains("<!-- spherectl-drift -->"), "{}", data.stdout);
    assert!(data.stdout.contains("`Community/ml-lab`"), "{}", data.stdout);
    assert!(!data.stdout.contains("edited in the console"), "{}", data.stdout);
    assert!(data.stderr.is_empty(), "{}", data.stderr);
    let saved = json(&teams.case.path().join("data-drift.json"));
    assert!(saved.to_string().contains("data-team"), "{saved}");
    let ml = teams.run(&["drift", "ml", "--format", "markdown", "--out", "ml-drift.json"]);
    assert_eq!(ml.code, 2, "{}{}", ml.stdout, ml.stderr);
    assert!(ml.stdout.contains("Community/ml-lab"), "{}", ml.stdout);
    assert!(ml.stdout.contains("edited in the console"), "{}", ml.stdout);
    assert!(!ml.stdout.contains("Dataset/data/warehouse/events`: "), "{}", ml.stdout);
    assert!(!ml.stdout.contains("unuse"), "{}", ml.stdout);
    let shown = teams.run(&["show", "ml-drift.json"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("edited in the console"), "{}", shown.stdout);
}

/// Both teams apply at once over one `spherectl serve`: the second waits for the first's lease,
/// or gives up after `--lock-timeout`; each change is applied once, and both converge.
#[test]
fn adversary9_both_teams_applying_at_once_over_serve() {
    let case = Case::files(&[]);
    for (dir, text) in [("data", DATA), ("ml", ML)] {
        std::fs::create_dir_all(case.path().join(dir)).unwrap();
        std::fs::write(case.path().join(dir).join("org.yaml"), text).unwrap();
    }
    let (_db, server) = served(&case, &[]);
    let teams = Teams::over(case, &server.url);
    let mut first = teams.slow(&["apply", "data", "--yes", "--parallelism", "1"], "1500");
    first.wait_for(true, "[1/");
    let impatient = teams.run(&["apply", "ml", "--yes", "--lock-timeout", "1s"]);
    support::assert_timed_out_after_1s(&impatient, "the lease", "running `spherectl apply data");
    let patient = teams.run(&["apply", "ml", "--yes", "--lock-timeout", "2m"]);
    assert_eq!(patient.code, 0, "{}", patient.stderr);
    assert!(patient.stderr.contains("waiting for another apply to finish"), "{}", patient.stderr);
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("3 done"), "{}", first.stderr);
    for team in ["data", "ml"] {
        teams.converged(team);
        teams.no_drift(team);
    }
    drop(server);
}

/// A Rego policy sees a use by id under the resource's address, as a use by `ref`: a team's
/// policy that forbids using another team's raw data cannot be bypassed by writing the id.
#[test]
fn adversary9_policies_see_uses_by_id_as_addresses() {
    let teams = Teams::new();
    teams.applied("ml");
    teams.add("data", &teams.events_published());
    teams.applied("data");
    std::fs::create_dir_all(teams.case.path().join("ml/policies")).unwrap();
    std::fs::write(
        teams.case.path().join("ml/policies/uses.rego"),
        "package spherectl.uses

import rego.v1

deny contains {\"msg\": msg, \"address\": o.address} if {
\tsome o in input.desired.objects
\tsome used in o.uses
\tused == \"Dataset/data/warehouse/events\"
\tmsg := sprintf(\"%s may not use %s\", [o.address, used])
}
",
    )
    .unwrap();
    teams.add("ml", &teams.models_using_events());
    let plan = teams.run(&["plan", "ml"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr.contains("Project/ml-lab/models may not use Dataset/data/warehouse/events"),
        "{}",
        plan.stderr
    );
    assert!(teams.uses().is_empty());
}

/// On the public API (resources cannot be listed), a use by id is planned and applied as an
/// unverified write, not refused as unknown.
#[test]
fn adversary9_a_use_by_id_on_the_public_api_is_an_unverified_write() {
    let case = Case::files(&[]);
    for (dir, text) in [("data", DATA), ("ml", ML)] {
        std::fs::create_dir_all(case.path().join(dir)).unwrap();
        std::fs::write(case.path().join(dir).join("org.yaml"), text).unwrap();
    }
    let db = case.path().join("public.db");
    let teams = Teams { case, platform: format!("sandbox:{}", db.display()), token: None };
    teams.applied("ml");
    let live = spherectl::platform::sandbox::Sandbox::open(&db, "userAccount:local-admin").unwrap();
    let ml = id_of(&live.read(FLOW).unwrap(), Kind::Community, "ml-lab");
    teams.add(
        "data",
        &format!(
            "apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: events, project: data/warehouse}}
spec: {{sizeGb: 5, publish: [{{id: {ml}}}]}}
"
        ),
    );
    teams.applied("data");
    let state = live.read(FLOW).unwrap();
    let events = id_of(&state, Kind::Dataset, "events");
    drop(live);
    teams.add(
        "ml",
        &format!(
            "apiVersion: spherectl/v1
kind: Project
metadata: {{name: models, community: ml-lab}}
spec:
  uses: [{{kind: Dataset, id: {events}}}]
"
        ),
    );
    let server = support::serve(&db, &["--public-api-only"]);
    let public = Teams::over(teams.case, &server.url);
    let run = public.run(&["apply", "ml", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("spherectl::plan::unverified"), "{}", run.stderr);
    assert!(!run.stderr.contains("use_unknown"), "{}", run.stderr);
    drop(server);
    let live = spherectl::platform::sandbox::Sandbox::open(&db, "userAccount:local-admin").unwrap();
    let state = live.read(FLOW).unwrap();
    let models = id_of(&state, Kind::Project, "models");
    assert_eq!(state.uses, [(models, events)]);
}

/// A saved plan that uses another set's dataset is stale once that set unpublishes it; the
/// reason names the dataset by its address.
#[test]
fn adversary9_a_saved_use_is_stale_once_the_owner_unpublishes() {
    let teams = Teams::new();
    teams.applied("ml");
    let published = teams.events_published();
    teams.add("data", &published);
    teams.applied("data");
    teams.add("ml", &teams.models_using_events());
    let plan = teams.run(&["plan", "ml", "--out", "use.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let unpublished =
        published.replace(&published[published.find("spec:").unwrap()..], "spec: {sizeGb: 5}\n");
    teams.edit("data", &published, &unpublished);
    teams.applied("data");
    let apply = teams.run(&["apply", "--plan", "use.json", "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains("`Dataset/data/warehouse/events` was changed since the plan"),
        "{}",
        apply.stderr
    );
    assert!(teams.uses().is_empty());
}
