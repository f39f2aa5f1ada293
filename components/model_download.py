"""The model server's download: an init container fetches the weights from Hugging Face into the
replica's model cache before vLLM starts, so the startup probe covers loading only and a restart
never depends on Hugging Face. Here: the paths the download and vLLM share, the download's shell
script and its environment.
"""

import shlex
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

# The replica's model cache (its claim) and the HOME of both containers (an emptyDir).
CACHE_PATH = "/data/models"
HOME_PATH = "/home/vllm"

# What vLLM reads from a model repository, and nothing else (no `original/*.pth`, GGUF, ONNX,
# TensorFlow or Flax copies of the weights). Weights: vLLM's default loader with load_format auto
# takes *.safetensors, or else *.bin, or else *.pt, whichever the repository has first
# (vllm/model_executor/model_loader/default_loader.py, _prepare_weights; weight_utils.py,
# download_weights_from_hf). Offline, as here, it finds them in the cache, with their
# model.safetensors.index.json. Besides the weights: configs, tokenizers (tokenizer.json,
# tokenizer.model, vocab and merges, tiktoken files), chat templates and, for models with custom
# code, their Python files. huggingface_hub matches these with fnmatch, whose `*` also crosses
# `/` (utils/_paths.py, filter_repo_objects).
SUPPORT_PATTERNS = ("*.json", "*.jinja", "*.model", "*.tiktoken", "*.txt", "*.py")
WEIGHT_PATTERNS = ("*.safetensors",)
FALLBACK_WEIGHT_PATTERNS = ("*.bin", "*.pt")


def download_script(revision: str | None) -> str:
    """Download what vLLM loads into the cache unless a previous run on this pod's claim finished.

    `hf download` fills the cache under HF_HOME that vLLM reads. `hf` is huggingface_hub's CLI
    since 0.34, its only one since 1.0 (entry points of the 0.34.0 and 1.0.0 wheels); vLLM 0.22.1
    requires transformers >= 4.56, which requires huggingface_hub >= 0.34. Older images have only
    `huggingface-cli`, with the same arguments.

    The patterns are positional arguments: with two or more, every version of both CLIs passes
    them to snapshot_download as allow_patterns (commands/download.py from 0.17.0, cli/download.py
    0.34.0 to 1.28). `--include` is not portable: up to 0.36 it is argparse's nargs="*" (one flag,
    all patterns; repeated, only the last counts), from 1.0 a typer list option (one pattern per
    flag; a second pattern after it becomes a file name). The patterns go before `--revision`,
    where argparse still reads them as positionals.

    The first call fetches the support files and any safetensors; only if the revision's snapshot
    then holds no safetensors (huggingface_hub's cache layout: models--<org>--<name>/refs/<ref>
    names the commit, snapshots/<commit>/ holds its files) does a second call fetch the PyTorch
    weights, as vLLM would choose. The marker is written only after a complete download, so a pod
    recreated on the same claim never contacts Hugging Face again. Values come in as environment
    variables, never spliced into the script.
    """
    pinned = ' --revision "$REVISION"' if revision else ""
    first = " ".join(shlex.quote(pattern) for pattern in (*SUPPORT_PATTERNS, *WEIGHT_PATTERNS))
    fallback = " ".join(shlex.quote(pattern) for pattern in FALLBACK_WEIGHT_PATTERNS)
    return (
        "set -e\n"
        'if [ -f "$DOWNLOADED" ]; then echo "$MODEL: already in the cache"; exit 0; fi\n'
        "if command -v hf >/dev/null 2>&1; then cli=hf; else cli=huggingface-cli; fi\n"
        f'"$cli" download "$MODEL" {first}{pinned}\n'
        'repo="${HF_HUB_CACHE:-$HF_HOME/hub}/models--$(printf \'%s\' "$MODEL" | sed \'s|/|--|g\')"\n'
        'ref="${REVISION:-main}"; commit="$ref"\n'
        'if [ -f "$repo/refs/$ref" ]; then commit="$(cat "$repo/refs/$ref")"; fi\n'
        'if [ -z "$(find "$repo/snapshots/$commit" -name \'*.safetensors\' 2>/dev/null | head -n 1)" ]; then\n'
        '  echo "$MODEL: no safetensors weights; downloading its PyTorch weights"\n'
        f'  "$cli" download "$MODEL" {fallback}{pinned}\n'
        "fi\n"
        'mkdir -p "$(dirname "$DOWNLOADED")"\n'
        'touch "$DOWNLOADED"\n'
    )


def download_env(
    model: str,
    revision: str | None,
    extra_env: Mapping[str, pulumi.Input[str]],
    hf_secret: pulumi.Output[str] | None,
    secret_env: Sequence[k8s.core.v1.EnvVarArgsDict] = (),
) -> list[k8s.core.v1.EnvVarArgsDict]:
    """The script's environment: the model, its revision, the marker of a finished download, the
    user's extra variables (`secret_env`: those taken from a Secret, e.g. a proxy's credentials),
    and the Hugging Face token from its Secret when there is one."""
    marker = f"{model}@{revision or 'unpinned'}".replace("/", "--")
    plain = {
        "HF_HOME": CACHE_PATH,
        "HOME": HOME_PATH,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        **extra_env,
        "MODEL": model,
        "DOWNLOADED": f"{CACHE_PATH}/.sks-mig/{marker}.complete",
    }
    if revision:
        plain["REVISION"] = revision
    env: list[k8s.core.v1.EnvVarArgsDict] = [{"name": k, "value": v} for k, v in plain.items()]
    env += secret_env
    if hf_secret is not None:
        env.append({"name": "HF_TOKEN", "value_from": {"secret_key_ref": {"name": hf_secret, "key": "token"}}})
    return env
