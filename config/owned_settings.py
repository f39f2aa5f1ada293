"""What the vLLM component sets itself, so `extraArgs` and `env` may not: one list, read by the
stack config (refused at config time) and by `components/vllm_service.py` (refused when the
component is used on its own).
"""

from __future__ import annotations

import re

# `vllm serve` flags the component sets, or whose value only it may choose:
# - the port the probes, Services and NetworkPolicy use, and the address vLLM listens on;
# - the API key, which must come from a Kubernetes Secret (VLLM_API_KEY), never the pod spec;
# - the model (positional, or --model) and the name clients send;
# - the memory settings the config layer fitted to the slice, and the dtype (its own key);
# - the pinned revision of the weights;
# - --config, a file that could set any of the above.
# `--shutdown-timeout` is not here: the component sets a default the user may override.
OWNED_FLAGS = (
    "--port",
    "--host",
    "--api-key",
    "--model",
    "--served-model-name",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--dtype",
    "--revision",
    "--config",
)

# Secrets the component passes from Kubernetes Secrets: `hfToken` and `apiKey` set them.
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY")
# Environment the component sets itself: where the caches live (the root filesystem is read-only,
# so these point at the volumes it mounts) and that vLLM starts offline, from the weights the init
# container downloaded.
OWNED_ENV = (*SECRET_ENV, "HF_HOME", "HOME", "VLLM_CACHE_ROOT", "HF_HUB_OFFLINE")

# POSIX portable environment variable names (IEEE Std 1003.1, 8.1): what every shell and runtime
# accepts; Kubernetes accepts these on every version.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def flag_name(arg: str) -> str:
    """The flag of one argument as vLLM reads it: `--max_model_len=8` is `--max-model-len`.

    vLLM's FlexibleArgumentParser turns underscores into dashes in the part of a flag before the
    first "." (vllm/utils/argparse_utils.py, parse_args)."""
    name = arg.split("=", 1)[0]
    if not name.startswith("--"):
        return name
    head, dot, rest = name[2:].partition(".")
    return "--" + head.replace("_", "-") + dot + rest


def owned_flag(arg: str) -> str | None:
    """The owned flag `arg` sets, or None. A prefix counts too: argparse takes an unambiguous
    abbreviation (`--max-model`) for the whole flag."""
    name = flag_name(arg).split(".", 1)[0]
    if not name.startswith("--") or len(name) <= 2:
        return None
    return next((flag for flag in OWNED_FLAGS if flag == name or flag.startswith(name)), None)


def arg_problem(arg: str) -> str | None:
    """Why one extra argument cannot be passed to `vllm serve` after the component's, or None."""
    if arg == "--":
        return "'--' would make what follows positional; the model is the only positional argument"
    owned = owned_flag(arg)
    if owned is not None:
        return f"{arg!r} sets {owned}, which the component sets itself; {_OWNED_WHY[owned]}"
    return None


def extra_args_problem(args: list[str]) -> tuple[int, str] | None:
    """(index, why) of the first argument the component cannot accept, or None."""
    if args and not args[0].startswith("-"):
        return 0, (
            f"{args[0]!r} is not a flag: the component passes the model as the one positional "
            "argument, so extra arguments start with a flag such as --enable-prefix-caching"
        )
    for index, arg in enumerate(args):
        problem = arg_problem(arg)
        if problem is not None:
            return index, problem
    return None


def env_name_problem(name: str) -> str | None:
    """Why `name` cannot be an environment variable of the model server, or None."""
    if not _ENV_NAME.fullmatch(name):
        return (
            f"{name!r} is not an environment variable name: letters, digits and '_', "
            "not starting with a digit"
        )
    if name in SECRET_ENV:
        secret = "apiKey" if name == "VLLM_API_KEY" else "hfToken"
        return (
            f"{name!r} is set by the component from a Kubernetes Secret; set it with "
            f"`pulumi config set --secret sks-mig:{secret} ...` instead"
        )
    if name in OWNED_ENV:
        return f"{name!r} is set by the component: caches on the volumes it mounts, and vLLM offline"
    return None


_OWNED_WHY = {
    "--port": "probes, Services and the NetworkPolicy use port 8000",
    "--host": "probes and Services reach vLLM on every address of the pod",
    "--api-key": "set `pulumi config set --secret sks-mig:apiKey ...` (it reaches vLLM from a Secret)",
    "--model": "set the model's `model` key",
    "--served-model-name": "set the model's `servedModelName` key",
    "--max-model-len": "set the model's `maxModelLen` key (it is checked against the slice)",
    "--gpu-memory-utilization": "set the model's `gpuMemoryUtilization` key",
    "--max-num-seqs": "set the model's `maxNumSeqs` key",
    "--max-num-batched-tokens": "set the model's `maxNumBatchedTokens` key",
    "--dtype": "set the model's `dtype` key",
    "--revision": "set the model's `revision` key",
    "--config": "a config file could set any flag the component owns",
}
