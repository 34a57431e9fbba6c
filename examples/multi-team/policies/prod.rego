# Production data stays in production: a resource whose project or community is labelled
# `env: prod` is published only to communities labelled `env: prod`. A community given by id
# (one this set does not manage) is looked up in the live organization; one that cannot be found
# counts as not production.
package spherectl.prod

import rego.v1

declared(kind, path) := [o | some o in input.desired.objects; o.kind == kind; o.path == path]

labels(kind, path) := declared(kind, path)[0].labels

prod_source(o) if labels("Project", o.project).env == "prod"

prod_source(o) if labels("Community", o.community).env == "prod"

community_labels(target) := c.labels if {
	startswith(target, "id:")
	some c in input.live.communities
	c.id == substring(target, 3, -1)
}

community_labels(target) := labels("Community", target) if not startswith(target, "id:")

deny contains {"msg": msg, "address": o.address} if {
	some o in input.desired.objects
	o.project
	prod_source(o)
	some target in o.publish
	not community_labels(target).env == "prod"
	msg := sprintf(
		"%s comes from an `env: prod` project or community and is published to `%s`, which is not labelled `env: prod`",
		[o.address, target],
	)
}
