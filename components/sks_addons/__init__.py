"""A Pulumi dynamic resource that enables an SKS cluster add-on (Karpenter) through the Exoscale
API, on a new cluster and on an existing one alike.

Why not the bridged `exoscale.SksCluster`'s own `addons` input. pulumiverse-exoscale 0.66.1 bridges
terraform-provider-exoscale v0.66.0 (pulumiverse/pulumi-exoscale tag v0.66.1, provider/go.mod and
go.sum: `github.com/exoscale/terraform-provider-exoscale v0.66.0`; the upstream tag is commit
548f180c1b63a9a9e8c36382fdb1edf1cf37ac7d). In its exoscale/resource_exoscale_sks_cluster.go:

* Create (`resourceSKSClusterCreate`) sends `addons` = the deprecated `addons` set, plus
  `exoscale-cloud-controller` if `exoscale_ccm` (default true), `metrics-server` if
  `metrics_server` (default true) and `exoscale-container-storage-interface` if `exoscale_csi`
  (default false), in that order, and omits `addons` when the list is empty. The program sets all
  three flags and not `addons`, so a new cluster is created with exactly
  `["exoscale-cloud-controller", "metrics-server", "exoscale-container-storage-interface"]`.
* Update (`resourceSKSClusterUpdate`) never looks at a change of `addons`: the only add-on PUT it
  makes is when `exoscale_csi` turns true (the state's `addons` plus the CSI). Adding
  "karpenter" to `addons` on an existing cluster is a diff, then an update that sends nothing about
  add-ons, then a read that records the API's list without it: the same diff on every run, and no
  Karpenter. `addons` is deprecated besides (pulumiverse_exoscale/sks_cluster.py warns when it is
  set). Only Terraform v0.67.0's `enable_karpenter` (commit 8ebebc16a77a14ad8e83f6e5fbe5a99d6a1fbf29)
  PUTs the state's add-ons plus (or minus) `karpenter` on update, and no pulumiverse-exoscale
  release bridges it yet (0.66.1, the latest tag of pulumiverse/pulumi-exoscale, is on v0.66.0).
  Hence this resource, for new and existing clusters alike: it does what v0.67.0 does, through
  `update-sks-cluster`, whose `addons` is the cluster's whole add-on set (the API's OpenAPI
  document: enum exoscale-cloud-controller, exoscale-container-storage-interface,
  karpenter, metrics-server).

What the bridged cluster shows once the API lists an extra add-on. `addons` is `Optional: true,
Computed: true` (the schema's first attribute in that file), and Read (`resourceSKSClusterApply`)
sets it to the API's list whenever that list is not empty (and `exoscale_ccm`, `metrics_server`,
`exoscale_csi` from it; `karpenter` maps to none of them). So `pulumi refresh` records
`karpenter` in the SksCluster's `addons` output (a change of state, shown as such by the refresh),
and the next preview shows no diff: the program does not set `addons`, and for a Computed set with
an old value and no new one "nothing has changed" (terraform-plugin-sdk `helper/schema/schema.go`,
`schemaMap.diffSet`, in the fork pulumi-exoscale 0.66.1 builds with, pulumi/terraform-plugin-sdk
7f1981c8674a16b6510e63e2ada3c3b13089da01, as in the upstream SDK v0.66.0 vendors).

One hazard stays: that CSI PUT sends the add-ons of the *state*. Were `exoscale_csi` to turn true on
a cluster whose state predates Karpenter (no refresh since), it would drop `karpenter`. The
program creates its clusters with `exoscale_csi=True`, so it never turns. To retire this resource
for a future `enable_karpenter`, remove it from the state (`pulumi state delete`): deleting it
removes the add-on.

Karpenter needs the cluster's `pro` service level ("Prerequisites: An Exoscale SKS cluster on the
Pro plan", https://community.exoscale.com/product/compute/containers/how-to/karpenter, which also
says that enabling the add-on creates its IAM role and installs the Karpenter CRDs).

One concept per module:

* `resource`: `SksAddon` and `SksAddonArgs`, what a program declares;
* `provider`: `SksAddonProvider`, the CRUD the engine calls;
* `cluster_api`: the cluster's add-ons through the API (the MIG nodepool's client: retries, waits);
* `spec`: inputs, outputs, defaults, the API's add-ons and cluster states, offline validation;
* `errors`: `SksAddonError`.

Importing the package has no side effects beyond a logging NullHandler and imports no HTTP stack.
"""

import logging

from components.sks_addons.errors import SksAddonError
from components.sks_addons.provider import SksAddonProvider
from components.sks_addons.resource import SksAddon, SksAddonArgs
from components.sks_addons.spec import (
    DEFAULT_TIMEOUT_SECONDS,
    INPUT_KEYS,
    KARPENTER,
    OUTPUT_KEYS,
    SKS_ADDON,
    SKS_ADDON_MODULE,
    SKS_ADDON_NAME,
    api_addons,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "INPUT_KEYS",
    "KARPENTER",
    "OUTPUT_KEYS",
    "SKS_ADDON",
    "SKS_ADDON_MODULE",
    "SKS_ADDON_NAME",
    "SksAddon",
    "SksAddonArgs",
    "SksAddonError",
    "SksAddonProvider",
    "api_addons",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
