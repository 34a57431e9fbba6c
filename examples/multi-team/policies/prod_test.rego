package spherectl.prod_test

import rego.v1

import data.spherectl.prod

community(name, labels) := {"address": concat("", ["Community/", name]), "kind": "Community", "path": name, "community": name, "labels": labels, "publish": []}

project(path, community, labels) := {"address": concat("", ["Project/", path]), "kind": "Project", "path": path, "community": community, "labels": labels, "publish": []}

dataset(publish) := {
	"address": "Dataset/core/warehouse/events",
	"kind": "Dataset",
	"path": "core/warehouse/events",
	"community": "core",
	"project": "core/warehouse",
	"labels": {},
	"publish": publish,
}

world(core, warehouse, lab, publish) := {
	"desired": {"objects": [
		community("core", core),
		community("lab", lab),
		project("core/warehouse", "core", warehouse),
		dataset(publish),
	]},
	"live": {"communities": [{"id": "bt1000000000prod", "name": "elsewhere", "labels": {"env": "prod"}}]},
}

test_prod_community_to_non_prod_is_denied if {
	some finding in prod.deny with input as world({"env": "prod"}, {}, {"env": "dev"}, ["lab"])
	finding.address == "Dataset/core/warehouse/events"
	contains(finding.msg, "`lab`")
}

test_prod_project_to_unlabelled_community_is_denied if {
	count(prod.deny) == 1 with input as world({}, {"env": "prod"}, {}, ["lab"])
}

test_prod_to_prod_passes if {
	count(prod.deny) == 0 with input as world({"env": "prod"}, {}, {"env": "prod"}, ["lab"])
}

test_prod_to_a_live_prod_community_by_id_passes if {
	count(prod.deny) == 0 with input as world({"env": "prod"}, {}, {}, ["id:bt1000000000prod"])
}

test_prod_to_an_unknown_community_id_is_denied if {
	count(prod.deny) == 1 with input as world({"env": "prod"}, {}, {}, ["id:bt10000000000gone"])
}

test_non_prod_may_publish_anywhere if {
	count(prod.deny) == 0 with input as world({"env": "dev"}, {}, {}, ["lab"])
}
