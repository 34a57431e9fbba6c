# Secrets stay in their team: a secret may be published to its own project's community (so
# that the team's other projects can use it), never to another community.
package spherectl.secrets

import rego.v1

deny contains {"msg": msg, "address": o.address} if {
	some o in input.desired.objects
	o.kind == "Secret"
	some target in o.publish
	target != o.community
	msg := sprintf(
		"%s is published to `%s`: secrets are never published outside their own community `%s`",
		[o.address, target, o.community],
	)
}
