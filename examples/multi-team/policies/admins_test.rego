package spherectl.admins_test

import rego.v1

import data.spherectl.admins

world(community_members, project_members) := {
	"desired": {"objects": [
		{"address": "Community/research", "kind": "Community", "path": "research", "community": "research", "labels": {}, "publish": [], "members": community_members},
		{"address": "Project/research/fraud", "kind": "Project", "path": "research/fraud", "community": "research", "labels": {}, "publish": [], "members": project_members},
	]},
	"live": {"communities": [], "projects": []},
}

ci := {"subject": "serviceAccount:ci-research", "role": "admin"}

test_a_project_administered_only_by_ci_is_denied if {
	some finding in admins.deny with input as world([ci], [ci])
	finding.address == "Project/research/fraud"
	contains(finding.msg, "serviceAccount:ci-research")
}

test_a_community_admin_counts if {
	count(admins.deny) == 0 with input as world([ci, {"subject": "userAccount:alice", "role": "admin"}], [ci])
}

test_a_project_admin_counts if {
	count(admins.deny) == 0 with input as world([], [{"subject": "group:ml-leads", "role": "admin"}])
}

test_an_editor_is_not_an_admin if {
	count(admins.deny) == 1 with input as world([ci], [{"subject": "userAccount:dave", "role": "editor"}])
}

test_other_service_accounts_count if {
	count(admins.deny) == 0 with input as world([], [{"subject": "serviceAccount:airflow", "role": "admin"}])
}

test_live_members_count_when_the_manifests_do_not_manage_them if {
	count(admins.deny) == 0 with input as unmanaged_community("admin")
	count(admins.deny) == 1 with input as unmanaged_community("viewer")
}

# The community's `spec.members` is not given: its live members count.
unmanaged_community(alice) := {
	"desired": {"objects": [
		{"address": "Community/research", "kind": "Community", "path": "research", "community": "research", "labels": {}, "publish": []},
		{"address": "Project/research/fraud", "kind": "Project", "path": "research/fraud", "community": "research", "labels": {}, "publish": [], "members": [ci]},
	]},
	"live": {"communities": [{"id": "bt1", "name": "research", "members": {"userAccount:alice": alice}}], "projects": []},
}
