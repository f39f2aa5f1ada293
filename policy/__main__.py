"""The sks-mig policy pack. The CLI runs this file (`python -u -m pulumi.policy <engine> <pack dir>`,
with the pack directory first on the import path); PolicyPack starts the Analyzer gRPC server, prints
its port and serves until stopped.

The pack is self-contained: it imports only its own modules and what policy/requirements.txt
installs, so it runs from a copy of this directory alone (as `pulumi policy publish` uploads it).
Each policy lives in the module named after it (policies.py lists them); secret_marks.install()
keeps secret-ness visible to them.
"""

import secret_marks
from policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PACK_NAME = "sks-mig-policies"
PACK_DESCRIPTION = (
    "Guards for an SKS cluster whose GPUs are cut into NVIDIA MIG slices and serve vLLM models: "
    "one slice per server, pinned images and (in production) pinned weights, models that fit, no "
    "open endpoints and none around the model router, secrets kept secret, rollouts that cannot "
    "wait forever for a slice, capacity for every replica, and Karpenter pools that really cut "
    "their GPUs into those slices."
)

secret_marks.install()

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(POLICIES),
)
