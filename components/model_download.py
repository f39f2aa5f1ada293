"""The model server's download: an init container fetches the weights from Hugging Face into the
replica's model cache before vLLM starts, so the startup probe covers loading only and a restart
never depends on Hugging Face. Here: the paths the download and vLLM share, the download's shell
script and its environment.
"""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

# The replica's model cache (its claim) and the HOME of both containers (an emptyDir).
CACHE_PATH = "/data/models"
HOME_PATH = "/home/vllm"


def download_script(revision: str | None) -> str:
    """Download the weights into the cache unless a previous run on this pod's claim finished.

    `hf download` fills the cache under HF_HOME that vLLM reads. `hf` is huggingface_hub's CLI
    since 0.34, its only one since 1.0 (entry points of the 0.34.0 and 1.0.0 wheels); vLLM 0.22.1
    requires transformers >= 4.56, which requires huggingface_hub >= 0.34. Older images have only
    `huggingface-cli`, with the same arguments. The marker is written only after a complete
    download, so a pod recreated on the same claim never contacts Hugging Face again. Values come
    in as environment variables, never spliced into the script.
    """
    pinned = ' --revision "$REVISION"' if revision else ""
    return (
        "set -e\n"
        'if [ -f "$DOWNLOADED" ]; then echo "$MODEL: already in the cache"; exit 0; fi\n'
        f'set -- download "$MODEL"{pinned}\n'
        'if command -v hf >/dev/null 2>&1; then hf "$@"; else huggingface-cli "$@"; fi\n'
        'mkdir -p "$(dirname "$DOWNLOADED")"\n'
        'touch "$DOWNLOADED"\n'
    )


def download_env(
    model: str,
    revision: str | None,
    extra_env: Mapping[str, pulumi.Input[str]],
    hf_secret: pulumi.Output[str] | None,
) -> list[k8s.core.v1.EnvVarArgsDict]:
    """The script's environment: the model, its revision, the marker of a finished download, the
    user's extra variables, and the Hugging Face token from its Secret when there is one."""
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
    if hf_secret is not None:
        env.append({"name": "HF_TOKEN", "value_from": {"secret_key_ref": {"name": hf_secret, "key": "token"}}})
    return env
