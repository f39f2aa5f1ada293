"""The sks-mig policy pack. The CLI runs this file (`python -m pulumi.policy <engine> <pack dir>`);
PolicyPack starts the Analyzer gRPC server, prints its port and serves until stopped.

The policies live in policies.py; secret_marks.install() keeps secret-ness visible to them.
"""

import secret_marks
from policies import PACK_DESCRIPTION, PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

secret_marks.install()

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(POLICIES),
)
