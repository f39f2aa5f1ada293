"""The names that cross boundaries: what the components write and the plan, the smoke check, the
tests and the policy pack read. Change a name here and every reader follows (the policy pack keeps
its own copy, since it travels alone; `tests/test_contract.py` fails if the two drift).
"""

from pulumi.runtime import rpc

# The Pulumi project and its config namespace (`sks-mig:zone`, ...).
PROJECT = "sks-mig"

# Labels and annotations the components write on Kubernetes objects and GPU nodes.
LABEL_PREFIX = "sks-mig.io"
LABEL_GPU = f"{LABEL_PREFIX}/gpu"
"""On GPU nodes: the GPU's API key (e.g. rtxpro6000.96gb)."""
LABEL_MIG_PROFILE = f"{LABEL_PREFIX}/mig-profile"
"""On GPU nodes: the MIG profile, label-safe ("+" becomes "_")."""
LABEL_NODEPOOL = f"{LABEL_PREFIX}/nodepool"
LABEL_SLICES_PER_NODE = f"{LABEL_PREFIX}/slices-per-node"
"""On GPU nodes: MIG slices per node (GPUs per node x slices per GPU)."""
ANNOTATION_MAX_NODES = f"{LABEL_PREFIX}/max-nodes"
"""On a Karpenter NodePool: the most nodes its limits allow (x slices per node = its capacity)."""
ANNOTATION_MODEL = f"{LABEL_PREFIX}/model"
ANNOTATION_ESTIMATED_MEMORY_GB = f"{LABEL_PREFIX}/estimated-memory-gb"
ANNOTATION_WEIGHTS_GB = f"{LABEL_PREFIX}/weights-gb"
ANNOTATION_SLICE_MEMORY_GB = f"{LABEL_PREFIX}/slice-memory-gb"
ANNOTATION_MIG_PROFILE = f"{LABEL_PREFIX}/mig-profile"
ANNOTATION_STARTUP_BUDGET_SECONDS = f"{LABEL_PREFIX}/startup-budget-seconds"
"""The least time the startup probe allows for loading the model (the download is before it)."""
ANNOTATION_DOWNLOAD_BUDGET_SECONDS = f"{LABEL_PREFIX}/download-budget-seconds"
ANNOTATION_READY_TIMEOUT_SECONDS = f"{LABEL_PREFIX}/ready-timeout-seconds"
ANNOTATION_MODEL_REVISION = f"{LABEL_PREFIX}/model-revision"
"""The Hugging Face commit every replica downloads and loads; set only when pinned."""
ANNOTATION_REQUIRES_API_KEY = f"{LABEL_PREFIX}/requires-api-key"

# Kubernetes' recommended labels, as the components set them on model servers.
COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_SERVER = "model-server"
MODEL_ROUTER = "model-router"
ANNOTATION_CONFIG_SHA256 = f"{LABEL_PREFIX}/config-sha256"
"""On the router's pods: its config's hash, so a config change rolls them."""
ANNOTATION_SECRETS_FINGERPRINT = f"{LABEL_PREFIX}/secrets-fingerprint"
"""On the model servers' and the router's pods: a fingerprint (scrypt) of the secrets they read at
start (the API key, secret environment), so a new value rolls them (components/secret_fingerprint.py)."""

# Only pods that tolerate this taint (the model servers) are scheduled on the GPU nodes.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
# The extended resource of one MIG slice under the device plugin's `single` strategy.
SLICE_RESOURCE = "nvidia.com/gpu"

# Type tokens of the components and of the GPU nodepool's dynamic resource.
SKS_CLUSTER_COMPONENT = f"{PROJECT}:index:SksCluster"
MIG_GPU_NODEPOOL_COMPONENT = f"{PROJECT}:index:MigGpuNodepool"
VLLM_SERVICE_COMPONENT = f"{PROJECT}:index:VllmService"
KARPENTER_GPU_POOL_COMPONENT = f"{PROJECT}:index:KarpenterGpuPool"
MODEL_ROUTER_COMPONENT = f"{PROJECT}:index:ModelRouter"
MIG_NODEPOOL_MODULE = "nodepool"
MIG_NODEPOOL_NAME = "MigNodepool"
MIG_NODEPOOL = f"pulumi-python:dynamic/{MIG_NODEPOOL_MODULE}:{MIG_NODEPOOL_NAME}"
SKS_ADDON_MODULE = "sks"
SKS_ADDON_NAME = "SksAddon"
SKS_ADDON = f"pulumi-python:dynamic/{SKS_ADDON_MODULE}:{SKS_ADDON_NAME}"

# Type tokens of the bridged Exoscale provider's resources the program registers.
EXOSCALE_SKS_CLUSTER = "exoscale:index/sksCluster:SksCluster"
EXOSCALE_SKS_NODEPOOL = "exoscale:index/sksNodepool:SksNodepool"
EXOSCALE_SKS_KUBECONFIG = "exoscale:index/sksKubeconfig:SksKubeconfig"
EXOSCALE_SECURITY_GROUP = "exoscale:index/securityGroup:SecurityGroup"
EXOSCALE_SECURITY_GROUP_RULE = "exoscale:index/securityGroupRule:SecurityGroupRule"
EXOSCALE_ANTI_AFFINITY_GROUP = "exoscale:index/antiAffinityGroup:AntiAffinityGroup"

# Karpenter's custom resources, as type tokens of the Kubernetes provider.
KARPENTER_NODE_CLASS = "kubernetes:karpenter.exoscale.com/v1:ExoscaleNodeClass"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
KARPENTER_NODE_OVERLAY = "kubernetes:karpenter.sh/v1alpha1:NodeOverlay"

# Stack outputs the plan and the README read.
OUTPUT_CLUSTER_ID = "clusterId"
OUTPUT_CLUSTER_ENDPOINT = "clusterEndpoint"
OUTPUT_KUBERNETES_VERSION = "kubernetesVersion"
OUTPUT_KUBECONFIG = "kubeconfig"
OUTPUT_GPU_NODEPOOL_ID = "gpuNodepoolId"
OUTPUT_MIG_CAPACITY = "migCapacity"
OUTPUT_ENDPOINTS = "endpoints"
OUTPUT_SLICE_USE = "sliceUse"
OUTPUT_API_ENDPOINT = "apiEndpoint"
"""The router's in-cluster base URL (http://...:4000/v1): one endpoint for every model."""
OUTPUT_API_ENDPOINT_EXTERNAL = "apiEndpointExternal"

# How the engine marks a secret value on the wire (pulumi/sdk/python/lib/pulumi/runtime/rpc.py):
# `{SECRET_SIG: SECRET_VALUE, "value": ...}`.
SECRET_SIG: str = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_VALUE: str = rpc._special_secret_sig  # "1b47061264138c4ac30d75fd1eb44270"
