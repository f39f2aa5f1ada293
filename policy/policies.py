"""The pack's policies, in the order it serves them; each lives in the module named after it,
next to its validator."""

from __future__ import annotations

import gpu_slice_exactly_one
import karpenter_mig_pool
import model_fits_slice
import model_image_pinned
import model_revision_pinned
import no_open_model_server
import production_hardening
import rollout_cannot_deadlock
import secrets_are_secret
import slices_within_capacity
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    gpu_slice_exactly_one.POLICY,
    model_image_pinned.POLICY,
    model_revision_pinned.POLICY,
    model_fits_slice.POLICY,
    no_open_model_server.POLICY,
    secrets_are_secret.POLICY,
    rollout_cannot_deadlock.POLICY,
    slices_within_capacity.POLICY,
    karpenter_mig_pool.POLICY,
    production_hardening.POLICY,
]
