# Every project has a human (or team) admin: someone other than the CI service accounts. Each
# team's CI runs as `serviceAccount:ci-<team>` (`ci-research`, `ci-analytics`, `ci-platform`);
# a project administered only by CI has nobody who can fix its access when CI breaks.
#
# A project's admins are its own members with `role: admin` and its community's (a community
# role holds in every project of the community). Members come from the manifests where
# `spec.members` is given, else from the live organization.
package spherectl.admins

import rego.v1

is_ci(subject) if startswith(subject, "serviceAccount:ci-")

declared_members(kind, path) := members if {
	some o in input.desired.objects
	o.kind == kind
	o.path == path
	members := o.members
}

live_members(kind, path) := members if {
	kind == "Community"
	some c in input.live.communities
	c.name == path
	members := c.members
}

live_members(kind, path) := members if {
	kind == "Project"
	some p in input.live.projects
	p.path == path
	members := p.members
}

admins(kind, path) := result if {
	members := declared_members(kind, path)
	result := {m.subject | some m in members; m.role == "admin"}
} else := result if {
	members := live_members(kind, path)
	result := {subject | some subject, role in members; role == "admin"}
} else := set()

deny contains {"msg": msg, "address": o.address} if {
	some o in input.desired.objects
	o.kind == "Project"
	all := admins("Project", o.path) | admins("Community", o.community)
	humans := {s | some s in all; not is_ci(s)}
	count(humans) == 0
	msg := sprintf(
		"%s has no admin besides the CI service accounts (admins: %v): add a person or team with `role: admin` to the project or its community",
		[o.address, sort(all)],
	)
}
