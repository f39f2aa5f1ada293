"""What the vLLM component sets itself, or what cannot work in the pod it builds, so `extraArgs`
and `env` may not: one list, read by the stack config (refused at config time) and by
`components/vllm_service.py` (refused when the component is used on its own).
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
# Flags that cannot work in the pod the component builds (vLLM 0.22.1, vllm/engine/arg_utils.py
# and vllm/entrypoints/openai/cli_args.py):
# - parallelism: one server process holds one MIG slice, one CUDA device, so any parallel size
#   above 1 (or a second node) asks for devices the pod does not have; replicas scale instead;
# - what the probes, the Services and the router rely on: an HTTP server on the TCP port
#   (--headless runs none, --grpc serves gRPC, --uds a Unix socket, --ssl-* HTTPS);
# - what the offline start relies on: the init container downloads the model, at its revision,
#   into the cache on the claim, and vLLM starts with HF_HUB_OFFLINE=1, so weights, tokenizer or
#   code from anywhere else are not on disk;
# - --hf-token, which would put the token in the pod spec (hfToken passes it from a Secret).
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
    "--tensor-parallel-size",
    "--pipeline-parallel-size",
    "--data-parallel-size",
    "--data-parallel-size-local",
    "--decode-context-parallel-size",
    "--prefill-context-parallel-size",
    "--nnodes",
    "--headless",
    "--grpc",
    "--uds",
    "--ssl-keyfile",
    "--ssl-certfile",
    "--download-dir",
    "--tokenizer",
    "--tokenizer-revision",
    "--code-revision",
    "--hf-token",
)

# The flags up to --config are the ones the component passes itself; the rest cannot work.
COMPONENT_FLAGS = frozenset(OWNED_FLAGS[: OWNED_FLAGS.index("--config") + 1])

# The short forms vLLM 0.22.1 gives owned flags (vllm/engine/arg_utils.py, add_cli_args).
SHORT_FLAGS = {
    "-tp": "--tensor-parallel-size",
    "-pp": "--pipeline-parallel-size",
    "-dp": "--data-parallel-size",
    "-dpl": "--data-parallel-size-local",
    "-dcp": "--decode-context-parallel-size",
    "-pcp": "--prefill-context-parallel-size",
    "-n": "--nnodes",
}

# Flags that take no value (argparse store_true or BooleanOptionalAction in vLLM 0.22.1): a word
# after one is a second positional argument, which vLLM refuses (the model is the only one).
# Besides these, every --enable-*, --disable-* and --no-* flag but the one below takes none.
_NO_VALUE_FLAGS = frozenset({
    "--trust-remote-code", "--enforce-eager", "--skip-tokenizer-init", "--async-scheduling",
    "--use-tqdm-on-load", "--kv-sharing-fast-prefill", "--calculate-kv-scales", "--fully-sharded-loras",
    "--allow-credentials", "--return-tokens-as-token-ids", "--trust-request-chat-template",
    "--exclude-tools-when-tool-choice-none", "--log-error-stack", "--tokens-only", "--skip-mm-profiling",
    "--interleave-mm-strings", "--allow-deprecated-quantization", "--ray-workers-use-nsight",
})
_VALUE_FLAGS_NAMED_LIKE_SWITCHES = frozenset({"--disable-access-log-for-endpoints"})

# Secrets the component passes from Kubernetes Secrets: `hfToken` and `apiKey` set them.
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY")
# Environment the component sets, and why.
_SET_ENV_WHY = {
    "HF_HOME": "the model cache lives on the claim the component mounts (the root filesystem is read-only)",
    "HOME": "the component points it at a writable volume (the root filesystem is read-only)",
    "VLLM_CACHE_ROOT": "vLLM's compile caches live on the claim, so a restart reuses them",
    "HF_HUB_OFFLINE": "vLLM starts offline, from the weights the init container downloaded",
}
# Environment that would undo what the component sets up, and why. huggingface_hub and
# transformers read the cache variables before HF_HOME.
_BREAKING_ENV_WHY = {
    "HF_HUB_CACHE": "it would move the model cache off the claim the init container filled (HF_HOME)",
    "HUGGINGFACE_HUB_CACHE": "it would move the model cache off the claim the init container filled (HF_HOME)",
    "TRANSFORMERS_CACHE": "it would move the model cache off the claim the init container filled (HF_HOME)",
    "TRANSFORMERS_OFFLINE": "vLLM starts offline (HF_HUB_OFFLINE=1), from the weights the init container downloaded",
    # The NVIDIA device plugin gives each replica its slice through these.
    "CUDA_VISIBLE_DEVICES": "the NVIDIA device plugin chooses the MIG slice the container sees",
    "NVIDIA_VISIBLE_DEVICES": "the NVIDIA device plugin chooses the MIG slice the container sees",
}
OWNED_ENV = (*SECRET_ENV, *_SET_ENV_WHY, *_BREAKING_ENV_WHY)

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
    abbreviation (`--max-model`, `-t`) for the whole flag, and a one-letter short flag with its
    value attached (`-n2`)."""
    name = flag_name(arg).split(".", 1)[0]
    if name.startswith("--"):
        if len(name) <= 2:
            return None
        if name in OWNED_FLAGS:
            return name
        return next((flag for flag in OWNED_FLAGS if flag.startswith(name)), None)
    if len(name) < 2 or not name.startswith("-") or not name[1].isalpha():
        return None  # not a flag (`-` alone, a negative number)
    for short, flag in SHORT_FLAGS.items():
        if short.startswith(name) or (len(short) == 2 and name.startswith(short)):
            return flag
    return None


def _takes_no_value(arg: str) -> bool:
    """Whether flag `arg` leaves no room for a value after it: a switch, or `--flag=value`."""
    if not arg.startswith("-"):
        return False  # a value, not a flag
    if "=" in arg:
        return True
    name = flag_name(arg)
    if name in _VALUE_FLAGS_NAMED_LIKE_SWITCHES:
        return False
    return name in _NO_VALUE_FLAGS or name.startswith(("--enable-", "--disable-", "--no-"))


def arg_problem(arg: str) -> str | None:
    """Why one extra argument cannot be passed to `vllm serve` after the component's, or None."""
    if arg == "--":
        return "'--' would make what follows positional; the model is the only positional argument"
    owned = owned_flag(arg)
    if owned in COMPONENT_FLAGS:
        return f"{arg!r} sets {owned}, which the component sets itself; {_OWNED_WHY[owned]}"
    if owned is not None:
        return f"{arg!r} sets {owned}, which cannot work in the model server's pod: {_OWNED_WHY[owned]}"
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
        previous = args[index - 1] if index else ""
        if index and not arg.startswith("-") and _takes_no_value(previous):
            why = "already has its value (after '=')" if "=" in previous else "takes no value"
            return index, (
                f"{arg!r} follows {previous!r}, which {why}, so vLLM would read it as a second model "
                "and refuse to start (the model is the only positional argument); remove it, or put "
                "it after the flag it belongs to"
            )
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
    if name in _SET_ENV_WHY:
        return f"{name!r} is set by the component: {_SET_ENV_WHY[name]}"
    if name in _BREAKING_ENV_WHY:
        return f"{name!r} cannot be set: {_BREAKING_ENV_WHY[name]}"
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
    **dict.fromkeys(
        ("--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--data-parallel-size-local",
         "--decode-context-parallel-size", "--prefill-context-parallel-size", "--nnodes"),
        "each replica is one process on one MIG slice (one CUDA device), so parallelism across "
        "devices cannot start; scale with the model's `replicas` key",
    ),
    "--headless": "it runs no API server: the probes, the Services and the router need vLLM's HTTP port",
    "--grpc": "it serves gRPC instead of HTTP: the probes, the Services and the router speak HTTP",
    "--uds": "it listens on a Unix socket instead of port 8000: the probes and the Services need the port",
    "--ssl-keyfile": "it turns the server to HTTPS: the probes and the router speak plain HTTP inside the cluster",
    "--ssl-certfile": "it turns the server to HTTPS: the probes and the router speak plain HTTP inside the cluster",
    "--download-dir": (
        "vLLM starts offline from the cache the init container filled on the claim (HF_HOME); "
        "weights elsewhere are not there"
    ),
    "--tokenizer": (
        "vLLM starts offline and only the model (at its revision) is downloaded: a tokenizer from "
        "elsewhere is not on disk; the model's own tokenizer is used"
    ),
    "--tokenizer-revision": "vLLM starts offline and only the model's `revision` is downloaded; set the model's `revision` key",
    "--code-revision": "vLLM starts offline and only the model's `revision` is downloaded; set the model's `revision` key",
    "--hf-token": "set `pulumi config set --secret sks-mig:hfToken ...` (it reaches vLLM from a Secret, not the pod spec)",
}
