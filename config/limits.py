"""Every bound on a number in the stack config, with where it comes from.

Where the Exoscale API document or a component's own source sets a limit, that limit is used;
elsewhere a generous ceiling of this program catches a typo (an extra zero) before it turns into
an invoice or a server that cannot start. A ceiling is never tighter than a real deployment needs.
"""

from __future__ import annotations

from config.mig_catalogue import openapi_document


def _nodepool_disk_bounds() -> tuple[int, int]:
    """`disk-size` of the API's create-sks-nodepool request: 20 to 51200 GiB."""
    body = openapi_document()["paths"]["/sks-cluster/{id}/nodepool"]["post"]["requestBody"]
    disk = body["content"]["application/json"]["schema"]["properties"]["disk-size"]
    return int(disk["minimum"]), int(disk["maximum"])


NODEPOOL_DISK_MIN_GIB, NODEPOOL_DISK_MAX_GIB = _nodepool_disk_bounds()
# Karpenter's GPU nodes take their disk from the ExoscaleNodeClass: `spec.diskSize` 10 to 8000 GiB
# (exoscale/karpenter-provider-exoscale, karpenter.exoscale.com_exoscalenodeclasses.yaml, vendored
# in schemas/crds/); the API server refuses a class beyond it.
KARPENTER_DISK_MAX_GIB = 8000

# "An Anti-Affinity Group cannot contain more than 8 instances" (Exoscale documentation,
# https://community.exoscale.com/product/compute/instances/how-to/anti-affinity/).
ANTI_AFFINITY_GROUP_MAX_INSTANCES = 8

# The API sets no maximum on a nodepool's size; GPU nodes beyond this are beyond any default quota.
MAX_GPU_NODES = 64
# GPUs in one instance: HGX boards carry 8; twice that is a ceiling no instance type reaches.
MAX_GPUS_PER_NODE = 16

# Model servers and their replicas (each replica holds one MIG slice, and the slices are counted
# separately against the nodepool).
MAX_MODEL_SERVERS = 32
MAX_REPLICAS = 64

# vLLM batch settings: its own defaults are at most 1024 sequences and 16384 batched tokens on the
# largest GPUs (vllm/engine/arg_utils.py, get_batch_defaults); a MIG slice runs fewer.
MAX_NUM_SEQS = 1024
MAX_NUM_BATCHED_TOKENS = 1_048_576
# Context lengths: 16M tokens is beyond the longest native context of any model vLLM serves.
MAX_CONTEXT_TOKENS = 16_777_216

# Model cache volumes: the Exoscale block storage CSI driver creates volumes of 1 to 10000 GiB, in
# whole GiB only (exoscale/exoscale-csi-driver driver/controller.go, MinimalVolumeSizeGiB and
# MaximumVolumeSizeGiB; a size that is not a whole number of GiB fails CreateVolume).
CACHE_MIN_GIB = 1
CACHE_MAX_GIB = 10_000

# How long a model server may take to become ready on a first deploy (minutes): at least the
# 30 minutes a new GPU node, the image pull, the download and the load take; at most 12 hours.
READY_TIMEOUT_MIN_MINUTES = 30
READY_TIMEOUT_MAX_MINUTES = 720

# Memory kept free on a slice (GB): a B300's largest slice has 269 GB.
MAX_MEMORY_HEADROOM_GB = 256.0

# A model's numbers, for models the catalogue does not know (from its config.json).
MAX_PARAMETERS_BILLION = 10_000.0
MAX_WEIGHTS_GB = 2_000.0
MAX_LAYERS = 1024
MAX_KV_HEADS = 1024
MAX_HEAD_DIM = 4096

# Lists and free text: far beyond what a stack needs, short of what a Kubernetes object can hold.
MAX_LIST_ITEMS = 64
MAX_TEXT_LENGTH = 4096
MAX_ENV_VALUE_LENGTH = 32_768
