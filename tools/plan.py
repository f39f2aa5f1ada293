"""The offline plan: what `pulumi up -s <stack>` would create, with no account and no network.

    python -m tools.plan [STACK] [--out DIR]

Runs the real `__main__.py` with the real `Pulumi.<STACK>.yaml` under Pulumi's mock engine, checks
every Exoscale resource against the bridged provider's schema and every Kubernetes object against
the cluster version's schema, prints the resource tree, the stack outputs (secrets as [secret]) and
the MIG capacity per GPU, and writes the Kubernetes manifests to DIR for review.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import contract
from tools.checks import (
    EXOSCALE_PROVIDER_VERSION,
    SchemasMissing,
    VersionNotCheckable,
    exoscale_input_errors,
    kubernetes_errors,
    kubernetes_manifest,
    project_file_errors,
)
from tools.crd_check import custom_resource_errors, is_custom_resource
from tools.mock_run import (
    PROJECT_DIR,
    SECRET_PLACEHOLDER,
    ProgramFailed,
    RegisteredResource,
    StackFileError,
    StackRun,
    is_secret,
    run_stack,
    stack_file_config,
)

SECRET_SHOWN_AS = "[secret]"

# The inputs worth a reviewer's eye, per type; everything else is in the written manifests.
_SHOWN_INPUTS: dict[str, tuple[str, ...]] = {
    contract.EXOSCALE_SKS_CLUSTER: ("zone", "version", "serviceLevel", "cni", "exoscaleCcm", "exoscaleCsi"),
    contract.EXOSCALE_SECURITY_GROUP_RULE: ("protocol", "startPort", "endPort", "icmpType", "cidr", "description"),
    contract.EXOSCALE_SKS_NODEPOOL: ("instanceType", "size", "diskSize"),
    contract.EXOSCALE_SKS_KUBECONFIG: ("user", "groups", "ttlSeconds"),
    contract.MIG_NODEPOOL: (
        "instance_type", "size", "disk_size", "nvidia_mig_profiles", "taints", "replace_strategy"
    ),
    contract.SKS_ADDON: ("addon",),
    "pulumi:providers:kubernetes": ("kubeconfig",),
}


def masked(value: Any, within_secret: bool = False) -> Any:
    """The value with every secret shown as [secret] (and the wire's 2.0 shown as 2).

    A secret inside an object (a `secure:` env value in a pod spec) makes the whole object secret
    on the wire: the engine cannot mark one leaf. Such an object is shown with the stack's secrets
    in it masked (offline, every config secret is SECRET_PLACEHOLDER), so the rest stays reviewable;
    a placeholder outside any secret is left visible, as the leak it would be."""
    if is_secret(value):
        inner = value.get("value")
        return masked(inner, within_secret=True) if isinstance(inner, (dict, list)) else SECRET_SHOWN_AS
    if within_secret and isinstance(value, str) and SECRET_PLACEHOLDER in value:
        return SECRET_SHOWN_AS
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: masked(v, within_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, within_secret) for v in value]
    return value


def _summary(resource: RegisteredResource) -> str:
    if resource.type.startswith("kubernetes:"):
        inputs = masked(resource.inputs)
        metadata = inputs.get("metadata") or {}
        text = f"{inputs.get('kind', '')} {metadata.get('name', resource.name)}"
        spec = inputs.get("spec") or {}
        if resource.type == "kubernetes:apps/v1:StatefulSet":
            container = spec["template"]["spec"]["containers"][0]
            limits = container.get("resources", {}).get("limits", {})
            text += f"  replicas={spec.get('replicas')}  image={container['image']}  limits={limits}"
        elif resource.type == "kubernetes:core/v1:Service":
            headless = spec.get("clusterIP") == "None"
            text += f"  type={'headless' if headless else spec.get('type') or 'ClusterIP'}"
        return text
    keys = _SHOWN_INPUTS.get(resource.type, ())
    shown = masked({k: resource.inputs[k] for k in keys if resource.inputs.get(k) is not None})
    return "  ".join(f"{k}={v}" for k, v in shown.items())


def resource_tree(run: StackRun) -> list[str]:
    # Registration order varies from run to run (it is asynchronous): sort, so plans diff cleanly.
    ordered = sorted(run.resources, key=lambda r: (r.type, r.name))
    children: dict[str, list[RegisteredResource]] = {}
    for resource in ordered:
        children.setdefault(resource.parent, []).append(resource)
    roots = [r for r in ordered if run.by_urn(r.parent) is None]
    lines: list[str] = []

    def walk(resource: RegisteredResource, prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        flags = " [protect]" if resource.protect else ""
        lines.append(f"{prefix}{branch}{resource.type} {resource.name}{flags}  {_summary(resource)}".rstrip())
        kids = children.get(resource.urn, [])
        for index, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), index == len(kids) - 1)

    for index, root in enumerate(roots):
        walk(root, "", index == len(roots) - 1)
    return lines


def capacity_view(run: StackRun) -> list[str]:
    """Slices per GPU and one possible placement of the model servers' replicas on them."""
    capacity = run.outputs[contract.OUTPUT_MIG_CAPACITY].value
    use: dict[str, dict[str, Any]] = run.outputs[contract.OUTPUT_SLICE_USE].value
    per_gpu, total = int(capacity["slicesPerGpu"]), int(capacity["totalSlices"])
    memory = capacity["memoryPerSliceGb"]
    replicas = [
        f"{name} #{i} ({server['estimatedMemoryGb']}/{memory} GB)"
        for name, server in use.items()
        for i in range(int(server["replicas"]))
    ]
    karpenter = capacity.get("provisioner") == "karpenter"
    lines = [
        f"{capacity['gpuModel']} on {capacity['migProfile']}: {per_gpu} slice(s) of {memory} GB per GPU, "
        f"{'up to ' if karpenter else ''}{total} in all; pods request {capacity['resourceName']}: 1",
    ]
    slots = replicas + ["free"] * (total - len(replicas))
    for gpu in range(math.ceil(total / per_gpu) if per_gpu else 0):
        cells = slots[gpu * per_gpu : (gpu + 1) * per_gpu]
        lines.append(f"  GPU {gpu + 1}: " + " | ".join(cells))
    lines.append(f"  used {len(replicas)} of {total}, free {total - len(replicas)} "
                 "(the scheduler picks the real slices; this is one placement)")
    for name, server in use.items():
        if server.get("contextReducedFrom"):
            lines.append(
                f"  note: {name}: the native context {server['contextReducedFrom']} does not fit the slice; "
                f"vLLM gets --max-model-len {server['maxModelLen']}"
            )
    for name, server in use.items():
        if "memoryHeadroomGb" in server:
            lines.append(
                f"  headroom: {name}: {server['memoryHeadroomGb']} GB of the slice's budget left free "
                f"(--max-num-batched-tokens {server['maxNumBatchedTokens']})"
            )
    lines += _pool_notes(run, karpenter)
    return lines


def _pool_notes(run: StackRun, karpenter: bool) -> list[str]:
    """What the GPU pool does on change, or what Karpenter does not know about slices."""
    if not karpenter:
        pools = run.of_type(contract.MIG_NODEPOOL)
        return [
            f"  note: changing gpuNodepool.migProfile or instanceType replaces the GPU nodepool "
            f"({pool.inputs.get('replace_strategy', 'deleteFirst')}): its GPU nodes are recreated and "
            "the model servers restart"
            for pool in pools
        ]
    if run.of_type(contract.KARPENTER_NODE_OVERLAY):
        return ["  note: the NodeOverlay tells Karpenter each node's slices; it needs Karpenter's "
                "NodeOverlay feature gate, and without it Karpenter counts physical GPUs"]
    return ["  note: nodeOverlay is off: Karpenter counts each node's physical GPUs, not its slices, so it "
            "may start one GPU node per pending model server (up to maxNodes); once nodes have joined it "
            "sees their slices and starts no more"]


def check(run: StackRun) -> tuple[list[str], list[str]]:
    """(what was checked, what failed) against the real schemas. Each check runs on its own: one
    that cannot run is an error of its own and never keeps the others from running."""
    version = ".".join(str(run.outputs[contract.OUTPUT_KUBERNETES_VERSION].value).split(".")[:2])
    exoscale = [r for r in run.resources if r.type.startswith("exoscale:")]
    kubernetes = [r for r in run.resources if r.type.startswith("kubernetes:") and not is_custom_resource(r.type)]
    custom = [r for r in run.resources if is_custom_resource(r.type)]
    checks: list[tuple[str, Callable[[], list[str]]]] = [
        (
            f"{len(exoscale)} Exoscale resources against pulumiverse-exoscale {EXOSCALE_PROVIDER_VERSION}'s schema",
            lambda: [e for r in exoscale for e in exoscale_input_errors(r)],
        ),
        (
            f"{len(kubernetes)} Kubernetes objects against the Kubernetes {version} schemas (strict)",
            lambda: [e for r in kubernetes for e in kubernetes_errors(r, version)],
        ),
        ("Pulumi.yaml against Pulumi's project schema", project_file_errors),
    ]
    if custom:
        checks.insert(2, (
            f"{len(custom)} custom resources against their CRD schemas (schemas/crds)",
            lambda: [f"{r.name} ({r.type}): {e}" for r in custom for e in custom_resource_errors(kubernetes_manifest(r))],
        ))
    done: list[str] = []
    errors: list[str] = []
    for what, run_check in checks:
        try:
            errors += run_check()
        except (SchemasMissing, VersionNotCheckable) as error:
            errors.append(f"not checked: {what}: {error}")
            continue
        done.append(what)
    return done, errors


# The files the plan writes, `NN-<kind>-<name>.yaml`: the only ones it ever deletes.
_PLAN_FILE = re.compile(r"[0-9]{2,}-[a-z0-9]+-[^/]+\.yaml")


class OutFolderError(Exception):
    """The --out folder cannot be used; the message says why."""


def check_out_folder(out: Path) -> None:
    """Refuse a folder the plan cannot write to, or one holding YAML it did not write: it replaces
    its own manifests on every run, and `--out .` must never touch Pulumi.yaml or a stack file."""
    if out.exists() and not out.is_dir():
        raise OutFolderError(f"--out {out}: not a folder")
    if out.is_dir():
        try:
            names = [p.name for p in out.iterdir()]
        except OSError as error:
            raise OutFolderError(f"--out {out}: cannot be read ({error.strerror})") from None
        foreign = sorted(name for name in names if name.endswith((".yaml", ".yml")) and not _PLAN_FILE.fullmatch(name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise OutFolderError(
                f"--out {out}: the folder holds YAML the plan did not write ({shown}); the plan replaces "
                "the manifests in its folder, so give it a folder of its own (default plan-out/<stack>)"
            )


def write_manifests(run: StackRun, out: Path) -> int:
    check_out_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if _PLAN_FILE.fullmatch(old.name) and old.is_file():
            old.unlink()
    # Ordered by kind and name, not by registration (which follows the order Outputs resolve in).
    kubernetes = sorted((r for r in run.resources if r.type.startswith("kubernetes:")), key=lambda r: (r.type, r.name))
    for index, resource in enumerate(kubernetes):
        manifest = kubernetes_manifest(resource)
        # Secrets are written masked: the folder is for review, never for kubectl apply.
        manifest = masked(_masked_like(resource.inputs, manifest))
        name = f"{index:02d}-{manifest.get('kind', 'object').lower()}-{resource.name}.yaml"
        (out / name).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return len(kubernetes)


def _masked_like(wire: Any, plain: Any) -> Any:
    """`plain` with [secret] wherever `wire` holds a secret (inside a secret object: wherever it
    holds one of the stack's secrets, as `masked` shows it)."""
    if is_secret(wire):
        inner = wire.get("value")
        if isinstance(inner, (dict, list)) and isinstance(plain, (dict, list)):
            return masked(plain, within_secret=True)
        return SECRET_SHOWN_AS
    if isinstance(wire, dict) and isinstance(plain, dict):
        return {k: _masked_like(wire.get(k), v) for k, v in plain.items()}
    if isinstance(wire, list) and isinstance(plain, list):
        return [_masked_like(w, p) for w, p in zip(wire, plain, strict=False)]
    return plain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", nargs="?", help="stack name: Pulumi.<stack>.yaml (default dev)")
    # `-s dev`, as the Pulumi CLI takes it.
    parser.add_argument("-s", "--stack", dest="stack_option", metavar="STACK", help="the same, as `pulumi -s`")
    parser.add_argument("--out", type=Path, help="folder for the manifests (default plan-out/<stack>)")
    parser.add_argument(
        "--assume-secret", action="append", default=[], metavar="KEY", choices=("apiKey", "hfToken"),
        help="plan as if `pulumi config set --secret sks-mig:KEY` had been run (apiKey or hfToken)",
    )
    args = parser.parse_args(argv)
    if args.stack and args.stack_option and args.stack != args.stack_option:
        parser.error(f"two stacks given: {args.stack!r} and -s {args.stack_option!r}")
    args.stack = args.stack_option or args.stack or "dev"
    out = args.out or PROJECT_DIR / "plan-out" / args.stack
    try:
        check_out_folder(out)
        config = stack_file_config(args.stack)
        for key in args.assume_secret:
            config.setdefault(f"{contract.PROJECT}:{key}", {"secure": "assumed-by-the-offline-plan"})
        run = run_stack(args.stack, config)
    except (ProgramFailed, StackFileError, OutFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        if f"{contract.PROJECT}:apiKey: required" in str(error):
            print("(to plan before the key is set: --assume-secret apiKey)", file=sys.stderr)
        return 1

    print(f"sks-mig offline plan for stack '{args.stack}': what `pulumi up -s {args.stack}` would create")
    print("(Pulumi's mock engine ran the real program; nothing was created and no account was used)\n")
    print(f"Resources ({len(run.resources)}):")
    print("\n".join(resource_tree(run)))
    print("\nStack outputs:")
    for name, output in run.outputs.items():
        print(f"  {name}: {SECRET_SHOWN_AS if output.secret else masked(output.value)}")
    print("\nMIG capacity:")
    print("\n".join(capacity_view(run)))

    try:
        count = write_manifests(run, out)
    except (OutFolderError, OSError) as error:
        print(f"error: cannot write the manifests to {out}: {error}", file=sys.stderr)
        return 1
    # Relative to the project when inside it: the output is the same on every machine.
    shown = out.resolve().relative_to(PROJECT_DIR) if out.resolve().is_relative_to(PROJECT_DIR) else out
    print(f"\nKubernetes manifests: {count} written to {shown} (secrets masked)")
    done, errors = check(run)
    print("Checked: " + "; ".join(done))
    if errors:
        print("\n".join(f"  error: {e}" for e in errors), file=sys.stderr)
        return 1
    print("All checks passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
