//! Platform rules that validation and the sandbox both check (issue 7): a rule that passes at
//! validate and plan must not fail at apply, and what the sandbox refuses, validate reports first.

use serde_json::{Value, json};
use spherectl::{
    manifest::Kind,
    platform::{CreateRequest, ErrorKind, LiveState, Platform},
};

use crate::{Case, support::id_of};

const ORGANIZATION: &str = "bpf00000000000rules";

const HEADER: &str = "apiVersion: spherectl/v1
kind: Organization
metadata: {name: acme}
spec: {id: bpf00000000000rules}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: research}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: fraud, community: research}
";

fn image(name: &str, active: bool) -> String {
    format!(
        "---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {{name: {name}, project: research/fraud}}
spec: {{repository: {name}, tag: \"1.0\", dockerfile: FROM python:3.10, active: {active}}}
"
    )
}

fn live(case: &Case) -> LiveState {
    case.sandbox().read(ORGANIZATION).unwrap()
}

fn active_images(state: &LiveState) -> Vec<String> {
    let mut names: Vec<String> = state
        .objects
        .iter()
        .filter(|o| o.kind == Kind::DockerImage && o.active)
        .map(|o| o.name.clone())
        .collect();
    names.sort();
    names
}

fn request(kind: Kind, parent_id: &str, name: &str, attributes: Value) -> CreateRequest {
    CreateRequest {
        kind,
        parent_id: parent_id.to_owned(),
        name: name.to_owned(),
        labels: Default::default(),
        attributes: serde_json::from_value(attributes).unwrap(),
        secret: None,
    }
}

/// Issue 7: two `active: true` images in one project flip-flopped on every apply, since the
/// platform keeps one environment per project. Validate (and so plan) now refuse them at the
/// second image; switching the environment from one image to another, or away from a live image
/// that the manifests do not declare, still converges.
#[test]
fn two_active_images_in_one_project_are_refused_before_apply() {
    let case = Case::files(&[("manifests.yaml", &format!("{HEADER}{}", image("train", true)))]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);

    let both = format!("{HEADER}{}{}", image("train", true), image("serve", true));
    std::fs::write(case.path().join("manifests.yaml"), &both).unwrap();
    for command in ["validate", "plan"] {
        let run = case.run(&[command, "."]);
        assert_eq!(run.code, 1, "{command}: {}", run.stderr);
        assert!(run.stderr.contains("spherectl::rules::one_environment"), "{}", run.stderr);
        assert!(run.stderr.contains("`DockerImage/research/fraud/train`"), "{}", run.stderr);
        assert!(run.stderr.contains("`DockerImage/research/fraud/serve`"), "{}", run.stderr);
    }
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 1);
    assert_eq!(active_images(&live(&case)), ["train"], "nothing was applied");

    // Switching: one image active, the other declared inactive.
    let switched = format!("{HEADER}{}{}", image("train", false), image("serve", true));
    std::fs::write(case.path().join("manifests.yaml"), &switched).unwrap();
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(active_images(&live(&case)), ["serve"]);
    assert_eq!(case.run(&["plan", ".", "--detailed-exitcode"]).code, 0);

    // A live image that the manifests do not declare takes the environment: the next apply
    // switches it back to the declared one, once, and then converges.
    let state = live(&case);
    let project = id_of(&state, Kind::Project, "fraud");
    let sandbox = case.sandbox();
    let attributes =
        json!({"spec.repository": "hand", "spec.tag": "1", "spec.dockerfile": "FROM x"});
    let hand = sandbox.create(&request(Kind::DockerImage, &project, "hand-made", attributes));
    sandbox.set_active(Kind::DockerImage, &hand.unwrap(), true).unwrap();
    drop(sandbox);
    assert_eq!(active_images(&live(&case)), ["hand-made"]);
    assert_eq!(case.run(&["validate", "."]).code, 0);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(active_images(&live(&case)), ["serve"]);
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

/// Manifests where research/fraud deploys a node from analytics' image, which analytics
/// publishes to research and research/fraud uses.
const SHARED: &str = "---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: warehouse, community: analytics}
---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {name: env, project: analytics/warehouse}
spec: {repository: env, tag: \"1.0\", dockerfile: FROM python:3.10, publish: [research]}
---
apiVersion: spherectl/v1
kind: Node
metadata: {name: scorer, project: research/fraud}
spec:
  source: {dockerImage: analytics/warehouse/env}
";

const USES: &str = "spec:\n  uses: [{kind: DockerImage, ref: analytics/warehouse/env}]\n";

/// Issue 7: publishing was enforced only for `uses`, so a node could run another project's image
/// without its project using it (or without it being published). Validate and plan refuse it at
/// the reference, with the line to add; with the use, the apply orders it before the node.
#[test]
fn a_node_on_another_projects_image_needs_a_use_in_the_manifests() {
    let case = Case::files(&[("manifests.yaml", &format!("{HEADER}{SHARED}"))]);
    for command in ["validate", "plan"] {
        let run = case.run(&[command, "."]);
        assert_eq!(run.code, 1, "{command}: {}", run.stderr);
        assert!(run.stderr.contains("spherectl::rules::unshared_reference"), "{}", run.stderr);
        assert!(run.stderr.contains("add `uses: [{kind: DockerImage, ref:"), "{}", run.stderr);
    }

    std::fs::write(case.path().join("manifests.yaml"), format!("{HEADER}{USES}{SHARED}")).unwrap();
    let plan = case.plan_json();
    let node = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "Node/research/fraud/scorer")
        .expect("the node is created");
    let use_key = "Project/research/fraud#use:DockerImage/analytics/warehouse/env";
    assert!(
        node["dependsOn"].as_array().unwrap().iter().any(|d| d == use_key),
        "the node waits for its project's use of the image: {node:#}"
    );
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(case.run(&["plan", ".", "--detailed-exitcode"]).code, 0);
}

/// Issue 7: the sandbox accepted a node on any image of the organization. It now refuses a node
/// on another project's image unless the image is published to the node's community and used by
/// the node's project, as validate does.
#[test]
fn the_sandbox_refuses_a_node_on_an_unshared_image() {
    let case = Case::files(&[("manifests.yaml", &format!("{HEADER}{USES}{SHARED}"))]);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let state = live(&case);
    let fraud = id_of(&state, Kind::Project, "fraud");
    let warehouse = id_of(&state, Kind::Project, "warehouse");
    let shared = id_of(&state, Kind::DockerImage, "env");
    let sandbox = case.sandbox();
    let attributes = json!({"spec.repository": "x", "spec.tag": "1", "spec.dockerfile": "FROM x"});
    let private = sandbox.create(&request(Kind::DockerImage, &warehouse, "private", attributes));
    let node = |image: &str| json!({"spec.source.dockerImage": image});
    let error = sandbox
        .create(&request(Kind::Node, &fraud, "sneaky", node(&private.unwrap())))
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Rejected);
    assert!(error.message.contains("neither published to community `research`"), "{error:?}");
    assert!(
        error.message.contains("uses: [{kind: DockerImage, ref: analytics/warehouse/private}]")
    );

    // Published and used: fine; published but no longer used: refused.
    assert!(sandbox.create(&request(Kind::Node, &fraud, "second", node(&shared))).is_ok());
    sandbox.unuse_resource(&fraud, Kind::DockerImage, &shared).unwrap();
    let error = sandbox.create(&request(Kind::Node, &fraud, "third", node(&shared))).unwrap_err();
    assert!(error.message.contains("does not use"), "{error:?}");

    // Within one project, references stay free.
    assert!(sandbox.create(&request(Kind::Node, &warehouse, "own", node(&shared))).is_ok());
}

/// Issue 7: the sum of alias weights overflowed (a panic in debug builds, a wrap in release
/// ones). The sandbox checks the same rule, in the same checked arithmetic.
#[test]
fn the_sandbox_refuses_alias_weights_that_overflow() {
    let case = Case::files(&[("manifests.yaml", HEADER)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    let state = live(&case);
    let fraud = id_of(&state, Kind::Project, "fraud");
    let sandbox = case.sandbox();
    let checkpoint = sandbox
        .create(&request(Kind::Checkpoint, &fraud, "model", json!({"spec.pinned": true})))
        .unwrap();
    let node = sandbox
        .create(&request(
            Kind::Node,
            &fraud,
            "scorer",
            json!({"spec.source.checkpoint": checkpoint}),
        ))
        .unwrap();
    let alias = |weights: &[i64]| {
        let backends: Vec<Value> =
            weights.iter().map(|w| json!({"node": node, "weight": w})).collect();
        request(Kind::Alias, &fraud, "api", json!({"spec.backends": backends}))
    };
    for weights in [&[i64::MAX, 1][..], &[i64::MAX, i64::MAX, 102], &[80, 10]] {
        let error = sandbox.create(&alias(weights)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Rejected, "{weights:?}");
        assert!(error.message.contains("weights"), "{error:?}");
    }
    assert!(sandbox.create(&alias(&[60, 40])).is_ok());
}
