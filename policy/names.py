"""The names the pack reads: labels, annotations, the GPU taint and resource type tokens.

The pack travels alone (`pulumi policy publish` uploads this directory only), so it keeps its own
copy of the names the program writes; the program's are in `contract.py` at the repository root,
and `tests/test_contract.py` fails if the two drift. Names only the pack needs (the Kubernetes and
provider type tokens it inspects) are here too, marked as such.
"""

# Labels and annotations the components write (components/gpu_nodepool.py, karpenter_gpu_pool.py,
# vllm_service.py).
LABEL_PREFIX = "sks-mig.io"
LABEL_GPU = f"{LABEL_PREFIX}/gpu"
"""On GPU nodes: the GPU's API key (e.g. rtxpro6000.96gb)."""
LABEL_MIG_PROFILE = f"{LABEL_PREFIX}/mig-profile"
"""On GPU nodes and in a model server's nodeSelector: the MIG profile, label-safe."""
LABEL_SLICES_PER_NODE = f"{LABEL_PREFIX}/slices-per-node"
"""On the MIG nodepool and a Karpenter NodePool's template: GPUs per node x slices per GPU, as a string."""
ANNOTATION_MAX_NODES = f"{LABEL_PREFIX}/max-nodes"
"""On a Karpenter NodePool: the most nodes its limits allow (x slices per node = its capacity)."""
ANNOTATION_MODEL = f"{LABEL_PREFIX}/model"
ANNOTATION_ESTIMATED_MEMORY_GB = f"{LABEL_PREFIX}/estimated-memory-gb"
ANNOTATION_SLICE_MEMORY_GB = f"{LABEL_PREFIX}/slice-memory-gb"
ANNOTATION_STARTUP_BUDGET_SECONDS = f"{LABEL_PREFIX}/startup-budget-seconds"
"""The time the startup probe must allow for loading the model (the download runs before it, in an
init container)."""
ANNOTATION_MODEL_REVISION = f"{LABEL_PREFIX}/model-revision"
"""The Hugging Face commit every replica downloads and loads; set only when pinned."""
ANNOTATION_REQUIRES_API_KEY = f"{LABEL_PREFIX}/requires-api-key"

# Kubernetes' recommended component label, as the components set it on model servers.
COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_SERVER = "model-server"
MODEL_ROUTER = "model-router"
"""On the router's pods (components/model_router.py), in front of the model servers."""

# The taint of the GPU nodes, and the extended resource of one slice (device plugin, `single`).
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
SLICE_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
"""Pack only: the `mixed` strategy's per-profile resources (nvidia.com/mig-1g.24gb...)."""

# Type tokens of the program's components and dynamic resource.
MIG_GPU_NODEPOOL_COMPONENT = "sks-mig:index:MigGpuNodepool"
MODEL_ROUTER_COMPONENT = "sks-mig:index:ModelRouter"
MIG_NODEPOOL = "pulumi-python:dynamic/nodepool:MigNodepool"

# Karpenter's custom resources, as type tokens of the Kubernetes provider.
KARPENTER_NODE_CLASS = "kubernetes:karpenter.exoscale.com/v1:ExoscaleNodeClass"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"

# Type tokens of the bridged Exoscale provider's resources.
EXOSCALE_SKS_CLUSTER = "exoscale:index/sksCluster:SksCluster"
EXOSCALE_SKS_KUBECONFIG = "exoscale:index/sksKubeconfig:SksKubeconfig"
EXOSCALE_SECURITY_GROUP = "exoscale:index/securityGroup:SecurityGroup"
EXOSCALE_SECURITY_GROUP_RULE = "exoscale:index/securityGroupRule:SecurityGroupRule"

# Pack only: other type tokens the policies inspect.
DYNAMIC_RESOURCE_PREFIX = "pulumi-python:dynamic"
EXOSCALE_PROVIDER = "pulumi:providers:exoscale"
K8S_PROVIDER = "pulumi:providers:kubernetes"
K8S_SECRET = "kubernetes:core/v1:Secret"
K8S_SERVICE = "kubernetes:core/v1:Service"
K8S_NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# Pack only: node labels a Karpenter NodePool's requirements restrict instance types by: Kubernetes'
# well-known label, and the family label of Exoscale's provider (karpenter-provider-exoscale
# pkg/constants/constants.go and pkg/providers/instancetype/provider.go, main e70bc63).
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
INSTANCE_FAMILY_LABEL = "exoscale.com/instance-family"

# How the engine marks a secret on the wire (pulumi/sdk/python/lib/pulumi/runtime/rpc.py,
# `_special_sig_key` and `_special_secret_sig`): `{SECRET_SIG: SECRET_VALUE, "value": ...}`.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
