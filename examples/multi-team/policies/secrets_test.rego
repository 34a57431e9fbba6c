package spherectl.secrets_test

import rego.v1

import data.spherectl.secrets

secret(publish) := {"desired": {"objects": [{
	"address": "Secret/research/fraud/token",
	"kind": "Secret",
	"path": "research/fraud/token",
	"community": "research",
	"project": "research/fraud",
	"labels": {},
	"publish": publish,
}]}}

test_a_secret_published_to_another_community_is_denied if {
	some finding in secrets.deny with input as secret(["analytics"])
	finding.address == "Secret/research/fraud/token"
	contains(finding.msg, "`analytics`")
}

test_a_secret_published_by_id_is_denied if {
	count(secrets.deny) == 1 with input as secret(["id:bt1000000000other"])
}

test_a_secret_kept_in_its_own_community_passes if {
	count(secrets.deny) == 0 with input as secret(["research"])
	count(secrets.deny) == 0 with input as secret([])
}

test_other_kinds_may_be_published_anywhere if {
	other := {"desired": {"objects": [{
		"address": "Dataset/research/fraud/events",
		"kind": "Dataset",
		"path": "research/fraud/events",
		"community": "research",
		"project": "research/fraud",
		"labels": {},
		"publish": ["analytics"],
	}]}}
	count(secrets.deny) == 0 with input as other
}
