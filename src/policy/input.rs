//! The document Rego policies read as `input`: the plan JSON, plus
//! - `actor`: the acting subject (`userAccount:local-admin`, ...);
//! - `live`: a summary of the live organization (communities, projects and resources with ids,
//!   labels, members, publications and uses) as the plan saw it;
//! - `desired`: the declared objects (address, kind, labels, members, publications, uses), the
//!   planned end state of what this set manages.
//!
//! Secret values never enter it: the plan JSON masks them, and the summaries carry no
//! attributes.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::{
    manifest::{Kind, Model},
    platform::LiveState,
};

/// Returns the policy input: `plan` (the plan JSON object) with `actor`, `live` and `desired`
/// added.
pub fn document(plan: Value, actor: &str, live: &LiveState, model: &Model) -> Value {
    let mut document = match plan {
        Value::Object(map) => map,
        other => Map::from_iter([("plan".to_owned(), other)]),
    };
    document.insert("actor".into(), Value::from(actor));
    document.insert("live".into(), live_summary(live));
    document.insert("desired".into(), desired_summary(model, live));
    Value::Object(document)
}

/// The live organization, by kind; names are the objects' platform names and paths
/// (`community/project/name`) so that policies can join them with plan addresses.
pub fn live_summary(live: &LiveState) -> Value {
    let by_id: HashMap<&str, &crate::platform::LiveObject> =
        live.objects.iter().map(|o| (o.id.as_str(), o)).collect();
    let path = |id: &str| path_of(&by_id, id);
    let mut published: HashMap<&str, Vec<String>> = HashMap::new();
    for (resource, community) in &live.publications {
        let name = path(community).unwrap_or_else(|| format!("id:{community}"));
        published.entry(resource.as_str()).or_default().push(name);
    }
    let mut users: HashMap<&str, Vec<String>> = HashMap::new();
    for (project, resource) in &live.uses {
        let name = path(project).unwrap_or_else(|| format!("id:{project}"));
        users.entry(resource.as_str()).or_default().push(name);
    }
    let (mut communities, mut projects, mut resources) = (Vec::new(), Vec::new(), Vec::new());
    for object in &live.objects {
        let members: BTreeMap<&str, &str> =
            object.members.iter().map(|(s, r)| (s.as_str(), r.as_str())).collect();
        match object.kind {
            Kind::Community => communities.push(json!({
                "id": object.id,
                "name": object.name,
                "labels": object.labels,
                "zone": object.attributes.get("spec.zone"),
                "members": members,
            })),
            Kind::Project => projects.push(json!({
                "id": object.id,
                "name": object.name,
                "path": path(&object.id),
                "community": by_id.get(object.parent_id.as_str()).map(|c| c.name.clone()),
                "labels": object.labels,
                "members": members,
            })),
            Kind::Organization => {}
            kind => {
                let mut published_to = published.remove(object.id.as_str()).unwrap_or_default();
                published_to.sort();
                let mut used_by = users.remove(object.id.as_str()).unwrap_or_default();
                used_by.sort();
                resources.push(json!({
                    "id": object.id,
                    "kind": kind.as_str(),
                    "name": object.name,
                    "path": path(&object.id),
                    "project": path(&object.parent_id),
                    "labels": object.labels,
                    "active": object.active,
                    "publishedTo": published_to,
                    "usedBy": used_by,
                }));
            }
        }
    }
    let organization_members: BTreeMap<&str, &str> =
        live.organization_members.iter().map(|(s, r)| (s.as_str(), r.as_str())).collect();
    json!({
        "organization": {"id": live.organization_id, "members": organization_members},
        "communities": communities,
        "projects": projects,
        "resources": resources,
    })
}

fn path_of(by_id: &HashMap<&str, &crate::platform::LiveObject>, id: &str) -> Option<String> {
    let object = by_id.get(id)?;
    match object.kind {
        Kind::Community => Some(object.name.clone()),
        Kind::Organization => None,
        _ => Some(format!("{}/{}", path_of(by_id, &object.parent_id)?, object.name)),
    }
}

/// The declared objects, in address order. An object whose `metadata.labels` is not given
/// (labels not managed) shows the labels the live object at its address has.
pub fn desired_summary(model: &Model, live: &LiveState) -> Value {
    let by_id: HashMap<&str, &crate::platform::LiveObject> =
        live.objects.iter().map(|o| (o.id.as_str(), o)).collect();
    let live_labels: HashMap<(Kind, String), &BTreeMap<String, String>> = live
        .objects
        .iter()
        .filter_map(|o| Some(((o.kind, path_of(&by_id, &o.id)?), &o.labels)))
        .collect();
    let objects: Vec<Value> = model
        .objects
        .iter()
        .map(|object| {
            let mut entry = json!({
                "address": object.address.to_string(),
                "kind": object.address.kind.as_str(),
                "name": object.name,
                "path": object.address.path,
                "community": object.address.community(),
                "labels": object.labels.clone().unwrap_or_else(|| {
                    live_labels
                        .get(&(object.address.kind, object.address.path.clone()))
                        .map(|labels| {
                            labels
                                .iter()
                                .filter(|(key, _)| !crate::rules::is_reserved_label(key))
                                .map(|(key, value)| (key.clone(), value.clone()))
                                .collect()
                        })
                        .unwrap_or_default()
                }),
                "publish": object.publish.iter().map(|p| p.target.to_string()).collect::<Vec<_>>(),
                // Resources used by `id`: their address when the platform lists them, else
                // `id:ID` (as publications to communities given by id).
                "uses": object
                    .uses
                    .iter()
                    .map(|u| u.target.to_string())
                    .chain(object.external_uses.iter().map(|u| match path_of(&by_id, &u.id) {
                        Some(path) => format!("{}/{path}", u.kind),
                        None => format!("id:{}", u.id),
                    }))
                    .collect::<Vec<_>>(),
            });
            if let Some(project) =
                object.address.parent().filter(|_| object.address.kind.is_resource())
            {
                entry["project"] = Value::from(project.path);
            }
            if let Some(members) = &object.members {
                entry["members"] = members
                    .iter()
                    .map(|m| json!({"subject": m.subject, "role": m.role.as_str()}))
                    .collect();
            }
            entry
        })
        .collect();
    json!({"organization": model.organization.name, "objects": objects})
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{manifest::model::Organization, platform::LiveObject, rules::Role};

    fn object(id: &str, kind: Kind, name: &str, parent_id: &str) -> LiveObject {
        LiveObject {
            id: id.into(),
            kind,
            name: name.into(),
            parent_id: parent_id.into(),
            labels: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
            attributes: BTreeMap::new(),
            members: BTreeMap::new(),
            active: false,
            balance: None,
            secret_digest: None,
            version: 1,
        }
    }

    #[test]
    fn the_live_summary_names_publications_and_users_and_holds_no_secret_digest() {
        let mut research = object("c1", Kind::Community, "research", "org");
        research.members.insert("userAccount:alice".into(), Role::Admin);
        let mut token = object("s1", Kind::Secret, "token", "p1");
        token.secret_digest = Some("digest-of-the-value".into());
        let live = LiveState {
            organization_id: "org".into(),
            objects: vec![
                research,
                object("c2", Kind::Community, "analytics", "org"),
                object("p1", Kind::Project, "models", "c1"),
                object("p2", Kind::Project, "reports", "c2"),
                token,
            ],
            publications: vec![("s1".into(), "c2".into()), ("s1".into(), "elsewhere".into())],
            uses: vec![("p2".into(), "s1".into())],
            ..LiveState::default()
        };
        let model = Model {
            organization: Organization {
                name: "acme".into(),
                id: "org".into(),
                sharing: None,
                location: crate::manifest::span::Location::default(),
            },
            objects: Vec::new(),
        };
        let document = document(json!({"changes": []}), "userAccount:bob", &live, &model);
        assert_eq!(document["actor"], "userAccount:bob");
        assert_eq!(document["changes"], json!([]));
        let resource = &document["live"]["resources"][0];
        assert_eq!(resource["path"], "research/models/token");
        assert_eq!(resource["publishedTo"], json!(["analytics", "id:elsewhere"]));
        assert_eq!(resource["usedBy"], json!(["analytics/reports"]));
        assert_eq!(document["live"]["communities"][0]["members"]["userAccount:alice"], "admin");
        assert_eq!(document["live"]["projects"][1]["community"], "analytics");
        assert!(!document.to_string().contains("digest-of-the-value"));
    }

    #[test]
    fn desired_labels_are_the_declared_ones_or_else_the_live_objects() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("org.yaml"),
            "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\nspec: {id: org}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: research}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: analytics, labels: {team: bi}}\n",
        )
        .unwrap();
        let loaded = crate::manifest::load(&[dir.path().to_path_buf()]).unwrap();
        let mut research = object("c1", Kind::Community, "research", "org");
        research.labels.insert(crate::rules::LABEL_SET.into(), "acme".into());
        let mut analytics = object("c2", Kind::Community, "analytics", "org");
        analytics.labels.insert("team".into(), "old".into());
        let live = LiveState { objects: vec![research, analytics], ..LiveState::default() };
        let desired = desired_summary(&loaded.model, &live);
        let labels = |name: &str| {
            desired["objects"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap()
                ["labels"]
                .clone()
        };
        // Not managed: the live labels, without spherectl's own.
        assert_eq!(labels("research"), json!({"env": "prod"}));
        // Managed: exactly the declared ones.
        assert_eq!(labels("analytics"), json!({"team": "bi"}));
    }
}
