"""`sks-mig:cluster`: the SKS control plane, its CNI, the system nodepool and who reaches NodePorts."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from config.errors import echo
from config.field_types import DnsLabel, Section
from config.instance_types import instance_type_problem
from config.limits import (
    ANTI_AFFINITY_GROUP_MAX_INSTANCES,
    MAX_LIST_ITEMS,
    NODEPOOL_DISK_MAX_GIB,
    NODEPOOL_DISK_MIN_GIB,
)

# The Kubernetes version the plan checks objects against when the stack leaves the version to
# the API (its latest): the newest minor SKS offered when this was written.
DEFAULT_KUBERNETES_MINOR = "1.36"

_FULL_VERSION = re.compile(r"[1-9][0-9]*\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_MINOR_ONLY = re.compile(r"[1-9][0-9]*\.(0|[1-9][0-9]*)")
_VERSION_HELP = (
    'a full version such as "1.36.2" (in quotes; `exo compute sks versions` lists what SKS '
    "offers), or no kubernetesVersion key at all for the API's latest"
)


class SystemNodepoolConfig(Section):
    """CPU nodes for the cluster add-ons; they share one anti-affinity group."""

    instance_type: str = Field("standard.medium", description="an Exoscale instance type, <family>.<size>")
    size: int = Field(2, gt=0, description="a number of nodes from 1 to 8")
    disk_size: int = Field(
        50, ge=NODEPOOL_DISK_MIN_GIB, le=NODEPOOL_DISK_MAX_GIB, description="GiB, 20 to 51200"
    )

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, instance_type: str) -> str:
        problem = instance_type_problem(instance_type, mig_capable=False)
        if problem is not None:
            raise ValueError(problem)
        return instance_type

    @field_validator("size")
    @classmethod
    def _fits_its_anti_affinity_group(cls, size: int) -> int:
        if size > ANTI_AFFINITY_GROUP_MAX_INSTANCES:
            raise ValueError(
                f"{size} system nodes do not fit their anti-affinity group: an Exoscale "
                f"anti-affinity group holds at most {ANTI_AFFINITY_GROUP_MAX_INSTANCES} instances; "
                f"use at most {ANTI_AFFINITY_GROUP_MAX_INSTANCES} (larger instances instead of more)"
            )
        return size


class ClusterConfig(Section):
    name: DnsLabel = Field(description="a DNS label")
    kubernetes_version: str | None = Field(None, description=_VERSION_HELP)
    service_level: Literal["starter", "pro"] = "starter"
    cni: Literal["calico", "cilium"] = "calico"
    system_nodepool: SystemNodepoolConfig = SystemNodepoolConfig()
    node_port_cidrs: list[str] = Field(
        [], max_length=MAX_LIST_ITEMS, description="a list of networks in CIDR form, e.g. [203.0.113.0/24]"
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _full_version(cls, version: str | None) -> str | None:
        # create-sks-cluster needs a version SKS has; clients resolve "1.36" to a patch version
        # themselves, and pulumiverse-exoscale 0.66.1 passes it through unchanged.
        if version is None or _FULL_VERSION.fullmatch(version):
            return version
        if _MINOR_ONLY.fullmatch(version):
            raise ValueError(
                f"{echo(version)} is not accepted: SKS needs a full patch version, not a minor; "
                f"write {_VERSION_HELP}"
            )
        raise ValueError(f"{echo(version)} is not a Kubernetes version; write {_VERSION_HELP}")

    @field_validator("node_port_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        seen: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
        for cidr in cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"{echo(cidr)} is not a network in CIDR form, e.g. 203.0.113.0/24") from None
            if str(network) != cidr:
                # The security group rule carries the text as given: one spelling per network.
                raise ValueError(f"{echo(cidr)} is not accepted: write it as {str(network)!r}")
            if network in seen:
                raise ValueError(f"{echo(cidr)} is listed twice (each CIDR becomes one security group rule)")
            seen.add(network)
        return cidrs

    @property
    def kubernetes_minor(self) -> str:
        """The "1.36" of the version: what the plan checks Kubernetes objects against."""
        if self.kubernetes_version is None:
            return DEFAULT_KUBERNETES_MINOR
        return ".".join(self.kubernetes_version.split(".")[:2])
