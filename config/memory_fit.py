"""Will a model fit its MIG slice? The memory estimate behind every vLLM server of the stack.

Pure functions, no Pulumi: the stack config calls `fit_model` for each model server, and the vLLM
component and the policy pack call `startup_budget_seconds`.

Units. Every figure is in GB = 10**9 bytes, the unit of parameter counts ("7.61B") and of the
file sizes Hugging Face shows. A MIG profile's "24gb" is nominal and really a binary size (NVIDIA
derives the names from MiB: the A30's 24 GB is 24 GiB, a quarter of it 6 GiB) of which the CUDA
process sees a little less (an A30 `1g.6gb` slice reports about 5.75 GiB, an A100 `1g.5gb` about
4.75 GiB). So a slice's usable memory is taken as nominal GiB x `SLICE_USABLE_FRACTION`, converted
to GB: 24gb -> 24.48 GB, 6gb -> 6.12 GB (5.70 GiB, just under the measured 5.75).

The estimate, as vLLM sizes its memory at startup:
- weights: parameters x bytes per parameter of the dtype, or the declared `weights_gb`;
- KV cache for one full sequence: 2 (K and V) x layers x KV heads x head size x bytes per element
  x max_model_len; vLLM refuses to start if it cannot hold one sequence of max_model_len;
- a fixed runtime overhead (`RUNTIME_OVERHEAD_GB`);
against the budget: usable slice memory x gpu_memory_utilization, the share vLLM may take.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from config.model_catalogue import (
    DTYPE_BYTES,
    EIGHT_BIT_WEIGHTS,
    KNOWN_MODELS,
    ModelArchitecture,
    resolve_dtype,
)

GB = 1e9
GIB = 2**30

# Share of a slice's nominal size (read as GiB) a CUDA process can use. Measured slices lose 4-5%
# (A30 1g.6gb: 5.75 of 6 GiB; A100 1g.5gb: 4.75 of 5 GiB); 0.95 takes the larger loss.
SLICE_USABLE_FRACTION = 0.95

# What vLLM holds besides weights and KV cache: the CUDA context and cuBLAS/NCCL workspaces
# (~0.5 GB), the activation peak of its profiling forward pass over a full batch of tokens, the
# sampler's logits, and the captured CUDA graphs (~0.5 GB). 1.5 GB covers 1-14B models at the
# default batch sizes; larger batches (--max-num-batched-tokens) need more.
RUNTIME_OVERHEAD_GB = 1.5

# A context below this is of little use to a chat server (the seed article's review and its
# answer take about 500 tokens); a model that fits only a shorter one is reported as not fitting.
MIN_CONTEXT_TOKENS = 2048

# A reduced max_model_len is rounded down to a multiple of this many tokens (a multiple of
# vLLM's 16-token KV blocks, and a round number for people to read).
CONTEXT_STEP = 256

# KV cache bytes per element when the weights are 8-bit: the activations, and so the KV cache
# (vLLM's --kv-cache-dtype auto), stay 16-bit.
_KV_BYTES_WITH_8BIT_WEIGHTS = 2

# Startup probe budget: a base for the container's Python imports, CUDA initialisation, vLLM's
# profiling run, torch.compile and CUDA-graph capture; then per GB of weights the download from
# Hugging Face at an assumed sustained 80 MB/s (12.5 s/GB) plus reading the files into GPU memory
# (~2.5 s/GB). The image pull is not counted: the kubelet starts the probe after it.
STARTUP_BASE_SECONDS = 120
STARTUP_SECONDS_PER_GB = 15


@dataclass(frozen=True)
class MemoryFit:
    """The memory plan of one vLLM server on one MIG slice; every size in GB (10**9 bytes)."""

    weights_gb: float
    kv_cache_gb: float  # one sequence of max_model_len tokens
    overhead_gb: float
    total_gb: float  # weights + KV cache + overhead
    budget_gb: float  # usable slice memory x gpu_memory_utilization
    max_model_len: int  # what to pass vLLM as --max-model-len
    # the native context, when it did not fit and a shorter max_model_len was chosen
    reduced_from: int | None

    @property
    def headroom_gb(self) -> float:
        return self.budget_gb - self.total_gb


class MemoryFitError(ValueError):
    """The model does not fit as configured; the message says why and what would fit."""


def usable_slice_gb(nominal_gb: float) -> float:
    """Memory a CUDA process can use on a slice whose profile name says `nominal_gb`, in GB."""
    return nominal_gb * GIB * SLICE_USABLE_FRACTION / GB


def kv_bytes_per_token(architecture: ModelArchitecture, kv_element_bytes: float) -> float:
    """KV cache bytes one token takes: K and V, in every layer, for every KV head."""
    return (
        2 * architecture.layers * architecture.kv_heads * architecture.head_dim * kv_element_bytes
    )


def startup_budget_seconds(weights_gb: float) -> int:
    """Seconds a startup probe must allow for a server to download and load `weights_gb` GB."""
    if weights_gb < 0 or not math.isfinite(weights_gb):
        raise ValueError(f"weights_gb must be a finite size >= 0, not {weights_gb!r}")
    return math.ceil(STARTUP_BASE_SECONDS + weights_gb * STARTUP_SECONDS_PER_GB)


def fit_model(
    *,
    model: str,
    architecture: ModelArchitecture | None,
    weights_gb: float | None,
    dtype: str | None,
    max_model_len: int | None,
    gpu_memory_utilization: float,
    slice_name: str,
    slice_memory_gb: float,
    other_profiles: Mapping[str, float],
) -> MemoryFit:
    """Check that `model` fits a `slice_name` slice and choose its max_model_len.

    `architecture` None means the catalogue's entry for `model`. `weights_gb`, when given, replaces
    parameters x dtype (for quantized or otherwise unusual checkpoints). `dtype` None is vLLM's
    "auto". `max_model_len` None picks the model's native context if it fits, else the largest
    that does (and says so in `reduced_from`). `other_profiles` maps the GPU's profile names to
    their nominal memory, to suggest one when the model does not fit.
    """
    arch = architecture if architecture is not None else KNOWN_MODELS.get(model)
    if arch is None:
        raise MemoryFitError(_unknown_model_message(model, weights_gb))
    _check_architecture(model, arch)
    if not 0 < gpu_memory_utilization <= 1:
        raise MemoryFitError(
            f"gpuMemoryUtilization {gpu_memory_utilization} must be above 0 and at most 1"
        )
    if not slice_memory_gb > 0:
        raise MemoryFitError(f"slice {slice_name} has no memory ({slice_memory_gb} GB)")

    run_dtype = resolve_dtype(dtype, arch.dtype)
    if run_dtype not in DTYPE_BYTES:
        raise MemoryFitError(
            f"dtype {run_dtype!r} of {model} is not one the estimate knows; "
            f"use one of: auto, {', '.join(DTYPE_BYTES)}"
        )
    weight_bytes = DTYPE_BYTES[run_dtype]
    kv_element_bytes = (
        _KV_BYTES_WITH_8BIT_WEIGHTS if run_dtype in EIGHT_BIT_WEIGHTS else weight_bytes
    )
    per_token_gb = kv_bytes_per_token(arch, kv_element_bytes) / GB

    if weights_gb is not None:
        if not (weights_gb > 0 and math.isfinite(weights_gb)):
            raise MemoryFitError(f"weightsGb must be a size above 0, not {weights_gb!r}")
        weights = float(weights_gb)
        weights_note = "declared weightsGb"
    else:
        if not arch.parameters_billion > 0:
            raise MemoryFitError(
                f"the parameter count of {model} is unknown; set weightsGb (the size of its "
                "weight files in GB) or the parameter count"
            )
        weights = arch.parameters_billion * weight_bytes
        weights_note = (
            f"{arch.parameters_billion:g}B parameters x {weight_bytes:g} bytes ({run_dtype})"
        )

    budget = usable_slice_gb(slice_memory_gb) * gpu_memory_utilization
    kv_room = budget - weights - RUNTIME_OVERHEAD_GB
    native = arch.context_length
    largest = _largest_context(kv_room, per_token_gb, native)
    minimal = min(MIN_CONTEXT_TOKENS, native)

    def plan(length: int, reduced_from: int | None) -> MemoryFit:
        kv = length * per_token_gb
        return MemoryFit(
            weights_gb=weights,
            kv_cache_gb=kv,
            overhead_gb=RUNTIME_OVERHEAD_GB,
            total_gb=weights + kv + RUNTIME_OVERHEAD_GB,
            budget_gb=budget,
            max_model_len=length,
            reduced_from=reduced_from,
        )

    slice_text = (
        f"a {slice_name} slice ({slice_memory_gb:g} GB nominal, {budget:.2f} GB usable at "
        f"gpuMemoryUtilization {gpu_memory_utilization:g})"
    )
    if largest < minimal:
        need = weights + RUNTIME_OVERHEAD_GB + minimal * per_token_gb
        raise MemoryFitError(
            f"{model} does not fit {slice_text}: its weights take about {weights:.2f} GB "
            f"({weights_note}), plus {RUNTIME_OVERHEAD_GB:g} GB runtime overhead and "
            f"{minimal * per_token_gb:.2f} GB of KV cache for a {minimal}-token context, "
            f"{need:.2f} GB in all. "
            + _suggestion(need, gpu_memory_utilization, slice_name, other_profiles)
        )

    if max_model_len is None:
        if largest >= native:
            return plan(native, None)
        return plan(largest, native)

    if max_model_len <= 0:
        raise MemoryFitError(
            f"maxModelLen must be a positive number of tokens, not {max_model_len}"
        )
    if max_model_len > native:
        raise MemoryFitError(
            f"maxModelLen {max_model_len} is longer than the native context of {model} "
            f"({native} tokens, max_position_embeddings); vLLM refuses it. "
            f"Use at most {min(native, largest)}."
        )
    if max_model_len > largest:
        kv = max_model_len * per_token_gb
        need = weights + RUNTIME_OVERHEAD_GB + kv
        raise MemoryFitError(
            f"maxModelLen {max_model_len} of {model} needs {kv:.2f} GB of KV cache, but "
            f"{slice_text} leaves {kv_room:.2f} GB after its weights ({weights:.2f} GB) and "
            f"{RUNTIME_OVERHEAD_GB:g} GB runtime overhead. The largest maxModelLen that fits is "
            f"{largest} (rounded down to a multiple of {CONTEXT_STEP}); or leave maxModelLen "
            f"unset to get it. "
            + _suggestion(need, gpu_memory_utilization, slice_name, other_profiles, for_what="it")
        )
    return plan(max_model_len, None)


def _largest_context(kv_room_gb: float, per_token_gb: float, native: int) -> int:
    """The longest context whose KV cache fits `kv_room_gb`: native, or a multiple of the step."""
    if kv_room_gb <= 0:
        return 0
    if native * per_token_gb <= kv_room_gb:
        return native
    tokens = math.floor(kv_room_gb / per_token_gb)
    return tokens // CONTEXT_STEP * CONTEXT_STEP


def _suggestion(
    need_gb: float,
    utilization: float,
    current: str,
    profiles: Mapping[str, float],
    *,
    for_what: str = "the model",
) -> str:
    """The smallest profile of `profiles` whose budget holds `need_gb`, as a sentence."""
    fitting = [
        (memory, _variant_rank(name), name)
        for name, memory in profiles.items()
        if name != current and usable_slice_gb(memory) * utilization >= need_gb
    ]
    if not fitting:
        return (
            f"None of this GPU's MIG profiles ({', '.join(profiles) or 'none given'}) fits "
            f"{for_what}; choose a smaller model, a quantized checkpoint (with weightsGb) or a GPU "
            "with more memory."
        )
    memory, _, name = min(fitting)
    return f"A profile that would fit {for_what}: {name} ({memory:g} GB)."


def _variant_rank(name: str) -> int:
    # Among profiles of the same size prefer the plain one over +me/+gfx/-me variants.
    return 0 if "+" not in name and "-" not in name else 1


def _check_architecture(model: str, arch: ModelArchitecture) -> None:
    numbers = {
        "layers": arch.layers,
        "kvHeads": arch.kv_heads,
        "headDim": arch.head_dim,
        "contextLength": arch.context_length,
    }
    bad = [f"{key} ({value})" for key, value in numbers.items() if not value > 0]
    if bad:
        raise MemoryFitError(f"the architecture of {model} needs positive {', '.join(bad)}")


def _unknown_model_message(model: str, weights_gb: float | None) -> str:
    kv_numbers = (
        "architecture.layers (num_hidden_layers), architecture.kvHeads (num_key_value_heads), "
        "architecture.headDim (head_dim, or hidden_size / num_attention_heads) and "
        "architecture.contextLength (max_position_embeddings), from the model's config.json on "
        "huggingface.co"
    )
    known = ", ".join(KNOWN_MODELS)
    if weights_gb is None:
        return (
            f"{model} is not in the model catalogue, so its memory cannot be estimated: set "
            "weightsGb (the size of its weight files in GB; or architecture.parametersBillion) "
            f"for the weights, and for the KV cache {kv_numbers}. Catalogued models: {known}"
        )
    return (
        f"{model} is not in the model catalogue and weightsGb alone does not size its KV cache: "
        f"also set {kv_numbers}. Catalogued models: {known}"
    )
