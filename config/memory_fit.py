"""Will a model fit its MIG slice? The memory estimate behind every vLLM server of the stack.

Pure functions, no Pulumi: the stack config calls `fit_model` for each model server; the vLLM
component, the program and the policy pack call the time budgets at the end of this file.

Units. Every size is in GB = 10**9 bytes, the unit of parameter counts ("7.61B") and of the file
sizes Hugging Face shows. A slice's usable memory is what NVIDIA's driver reports for its profile
(config/mig_catalogue.py, `MigProfile.usable_memory_gb`), not its nominal "24gb".

The estimate follows how vLLM (V1 engine) sizes its memory at startup. vLLM requests
`total x gpu_memory_utilization` of the slice (vllm/v1/worker/gpu_worker.py, `requested_memory`)
and gives the KV cache what is left after weights, the torch activation peak of a profiling
forward pass and non-torch memory (`determine_available_memory`; vllm/utils/mem_utils.py
`non_kv_cache_memory`). So, against the budget usable memory x gpu_memory_utilization:

- weights: parameters x bytes per parameter of the dtype, or the declared `weights_gb`;
- KV cache for one full sequence: 2 (K and V) x layers x KV heads x head size x bytes per element
  x max_model_len; vLLM refuses to start if it cannot hold one sequence of max_model_len;
- activation peak (`activation_peak_gb`): the profiling pass runs `max_num_batched_tokens` tokens
  through the model (gpu_model_runner `profile_run` -> `_dummy_run(self.max_num_tokens)`) and
  samples one token for each of min(max_num_seqs, tokens) requests (`_dummy_sampler_run`);
- CUDA graphs (`cuda_graph_gb`): captured after the KV cache is allocated; vLLM takes them from
  the budget only with VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1 (vllm/envs.py, default off),
  else from the rest of the slice. Counting them in the budget is the safe side of both cases;
- runtime overhead (`RUNTIME_OVERHEAD_GB`): vLLM's measured "non-torch memory" (cuBLAS and
  attention workspaces) and the runner's persistent buffers;
- and at least `headroom_gb` of the budget left free (default `DEFAULT_HEADROOM_GB`).

The batch sizes are pinned, not left to vLLM: its defaults depend on the device's total memory as
NVML reports it (vllm/engine/arg_utils.py: >= 70 GiB and not an A100 -> 8192 batched tokens and
1024 sequences for the API server, else 2048 and 256; 0 when NVML does not answer). Inside a MIG
slice NVML may report the whole GPU (`NvmlCudaPlatform.get_device_total_memory` opens the
physical device by index, vllm/platforms/cuda.py) or nothing, so the same slice could get either.
The component passes `--max-num-batched-tokens` and `--max-num-seqs` with the values used here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from config.mig_catalogue import DERIVED_USABLE_FRACTION
from config.model_catalogue import (
    DTYPE_BYTES,
    EIGHT_BIT_WEIGHTS,
    KNOWN_MODELS,
    ModelArchitecture,
    resolve_dtype,
)

GB = 1e9
GIB = 2**30

# The usable share of a profile's nominal size where NVIDIA lists no figure (config/mig_catalogue.py
# says where 0.95 comes from). Kept under its old name for callers of `usable_slice_gb`.
SLICE_USABLE_FRACTION = DERIVED_USABLE_FRACTION

# --max-num-batched-tokens the component passes unless models[].maxNumBatchedTokens says otherwise:
# vLLM's own default for the API server on a GPU under 70 GiB (vllm/engine/arg_utils.py), which is
# what a slice gets when NVML does not answer; pinned so that NVML cannot turn it into 8192.
DEFAULT_MAX_NUM_BATCHED_TOKENS = 2048
# --max-num-seqs when the caller gives none: the stack config's default for models[].maxNumSeqs.
DEFAULT_MAX_NUM_SEQS = 16
# Memory of the budget left free after everything the estimate counts (models[].memoryHeadroomGb).
DEFAULT_HEADROOM_GB = 1.0

# Activation peak. At the peak of a decoder layer over T tokens live tensors hold about
# T x (4 x hidden + 3 x intermediate) elements: the residual stream, the normalised input and the
# attention output (~4 x hidden), the MLP's fused gate-up output (2 x intermediate) and its
# activation (1 x intermediate). The sampler holds, per request, the logits in the model's dtype
# and three float32 rows of vocab width: vllm/v1/sample/sampler.py `logits.to(torch.float32)`,
# then ops/topk_topp_sampler.py `softmax(dtype=torch.float32)` and `random_sample`'s exponential
# noise `torch.empty_like(probs)`. Measured against vLLM's
# own logs, this count was 0.94x the peak for Meta-Llama-3-8B (vllm PR #10511: 1.26 GiB at 8192
# tokens, 256 sequences) and 0.51x for Qwen3-8B-FP8 on the V1 engine (a public startup log: 1.40
# GiB at 2048 tokens, 256 sequences; torch.compile's buffers and FP8 activation quantisation), so
# the estimate doubles it.
ACTIVATION_MARGIN = 2.0
_SAMPLER_FLOAT32_COPIES = 3
# For a model whose hidden/intermediate/vocab sizes are not known: a dense decoder layer holds about
# 12 x hidden^2 parameters or more (so hidden is at most sqrt(parameters per layer / 12)), the MLP
# is taken 4 x hidden wide and the vocabulary 256,000 tokens (Gemma's, the largest of the common
# open models). Each errs large for the catalogued models.
_FALLBACK_PARAMETERS_PER_HIDDEN_SQUARED = 12
_FALLBACK_INTERMEDIATE_PER_HIDDEN = 4
_FALLBACK_VOCAB_SIZE = 256_000

# CUDA graphs. vLLM captures one graph per capture size; sizes are [1, 2, 4] + multiples of 8
# below 256 + multiples of 16 from 256, up to min(2 x max_num_seqs, 512, max_num_batched_tokens)
# (vllm/config/vllm.py, `_set_cudagraph_sizes`). Public V1 logs show "Graph capturing finished ...
# took 0.68 GiB" (0.73 GB) for an 8B model at the default 256 sequences (51 sizes); 0.3 GB plus
# 0.01 GB per size covers that (0.81 GB) and gives ~0.37 GB for 16 sequences (7 sizes).
CUDA_GRAPH_BASE_GB = 0.3
CUDA_GRAPH_PER_SIZE_GB = 0.01
_CUDA_GRAPH_MAX_SIZE = 512

# What else vLLM holds: the "non-torch memory" its profiler measures (0.02-0.30 GiB on one GPU in
# vLLM's logs: PR #12126 0.16 GiB, PR #14447 0.20 GiB, issue #15815 0.30 GiB) and the model
# runner's persistent input buffers, which no profiler term counts.
RUNTIME_OVERHEAD_GB = 0.5

# A context below this is of little use to a chat server (the seed article's review and its
# answer take about 500 tokens); a model that fits only a shorter one is reported as not fitting.
MIN_CONTEXT_TOKENS = 2048

# A reduced max_model_len is rounded down to a multiple of this many tokens (a multiple of
# vLLM's 16-token KV blocks, and a round number for people to read).
CONTEXT_STEP = 256

# KV cache bytes per element when the weights are 8-bit: the activations, and so the KV cache
# (vLLM's --kv-cache-dtype auto), stay 16-bit.
_KV_BYTES_WITH_8BIT_WEIGHTS = 2


@dataclass(frozen=True)
class MemoryFit:
    """The memory plan of one vLLM server on one MIG slice; every size in GB (10**9 bytes)."""

    weights_gb: float
    kv_cache_gb: float  # one sequence of max_model_len tokens
    overhead_gb: float  # runtime overhead (non-torch memory, persistent buffers)
    total_gb: float  # weights + KV cache + activation peak + CUDA graphs + overhead
    budget_gb: float  # usable slice memory x gpu_memory_utilization
    max_model_len: int  # what to pass vLLM as --max-model-len
    # the native context, when it did not fit and a shorter max_model_len was chosen
    reduced_from: int | None
    activation_gb: float = 0.0  # peak of the profiling pass over max_num_batched_tokens
    cuda_graph_gb: float = 0.0
    usable_gb: float = 0.0  # memory vLLM sees in the slice
    min_headroom_gb: float = DEFAULT_HEADROOM_GB  # the free memory the fit had to keep
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS  # what to pass vLLM
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS  # what the estimate assumed vLLM gets

    @property
    def headroom_gb(self) -> float:
        """Budget left free by the estimate; at least `min_headroom_gb`."""
        return self.budget_gb - self.total_gb


class MemoryFitError(ValueError):
    """The model does not fit as configured; the message says why and what would fit.

    `key` names the models[] setting at fault (camelCase, e.g. "maxModelLen") when one is; None
    when it is the model itself on this slice. The caller adds the stack prefix.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def usable_slice_gb(nominal_gb: float) -> float:
    """Usable GB assumed for a slice whose profile name says `nominal_gb` and no listing covers."""
    return nominal_gb * GIB * SLICE_USABLE_FRACTION / GB


def kv_bytes_per_token(architecture: ModelArchitecture, kv_element_bytes: float) -> float:
    """KV cache bytes one token takes: K and V, in every layer, for every KV head."""
    return (
        2 * architecture.layers * architecture.kv_heads * architecture.head_dim * kv_element_bytes
    )


def activation_sizes(architecture: ModelArchitecture) -> tuple[int, int, int]:
    """(hidden, intermediate, vocab) of the model: config.json's, or derived large when unknown."""
    hidden = architecture.hidden_size
    if hidden <= 0:
        per_layer = architecture.parameters_billion * 1e9 / max(1, architecture.layers)
        hidden = math.ceil(math.sqrt(per_layer / _FALLBACK_PARAMETERS_PER_HIDDEN_SQUARED))
    intermediate = architecture.intermediate_size
    if intermediate <= 0:
        intermediate = _FALLBACK_INTERMEDIATE_PER_HIDDEN * hidden
    vocab = architecture.vocab_size if architecture.vocab_size > 0 else _FALLBACK_VOCAB_SIZE
    return hidden, intermediate, vocab


def activation_peak_gb(
    architecture: ModelArchitecture,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    activation_bytes: float,
) -> float:
    """GB of the torch peak of vLLM's profiling pass (see ACTIVATION_MARGIN for the terms)."""
    hidden, intermediate, vocab = activation_sizes(architecture)
    tokens = max_num_batched_tokens * activation_bytes * (4 * hidden + 3 * intermediate)
    requests = min(max_num_seqs, max_num_batched_tokens)
    logits = requests * vocab * (activation_bytes + 4 * _SAMPLER_FLOAT32_COPIES)
    return ACTIVATION_MARGIN * (tokens + logits) / GB


def cudagraph_capture_sizes(max_num_seqs: int, max_num_batched_tokens: int) -> list[int]:
    """The batch sizes vLLM captures CUDA graphs for by default (vllm/config/vllm.py)."""
    largest = min(2 * max_num_seqs, _CUDA_GRAPH_MAX_SIZE, max_num_batched_tokens)
    candidates = [1, 2, 4, *range(8, 256, 8), *range(256, _CUDA_GRAPH_MAX_SIZE + 1, 16)]
    return [size for size in candidates if size <= largest]


def cuda_graph_gb(max_num_seqs: int, max_num_batched_tokens: int) -> float:
    """GB the captured CUDA graphs take (see CUDA_GRAPH_BASE_GB)."""
    sizes = cudagraph_capture_sizes(max_num_seqs, max_num_batched_tokens)
    return CUDA_GRAPH_BASE_GB + CUDA_GRAPH_PER_SIZE_GB * len(sizes)


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
    slice_usable_gb: float | None = None,
    other_profiles_usable_gb: Mapping[str, float] | None = None,
    max_num_batched_tokens: int | None = None,
    max_num_seqs: int | None = None,
    headroom_gb: float | None = None,
) -> MemoryFit:
    """Check that `model` fits a `slice_name` slice and choose its max_model_len.

    `architecture` None means the catalogue's entry for `model`. `weights_gb`, when given, replaces
    parameters x dtype (for quantized or otherwise unusual checkpoints). `dtype` None is vLLM's
    "auto". `max_model_len` None picks the model's native context if it fits, else the largest
    that does (and says so in `reduced_from`). `slice_memory_gb` is the profile's nominal size;
    `slice_usable_gb` what vLLM sees in it (`MigProfile.usable_memory_gb`; None derives it from
    the nominal size). `other_profiles` maps the GPU's profile names to their nominal memory and
    `other_profiles_usable_gb` to their usable memory, to suggest one when the model does not fit.
    `max_num_batched_tokens`, `max_num_seqs` and `headroom_gb` None take the defaults above.
    """
    arch = architecture if architecture is not None else KNOWN_MODELS.get(model)
    if arch is None:
        raise MemoryFitError(_unknown_model_message(model, weights_gb), "model")
    _check_architecture(model, arch)
    if not 0 < gpu_memory_utilization <= 1:
        raise MemoryFitError(
            f"gpuMemoryUtilization {gpu_memory_utilization} must be above 0 and at most 1",
            "gpuMemoryUtilization",
        )
    if not slice_memory_gb > 0:
        raise MemoryFitError(f"slice {slice_name} has no memory ({slice_memory_gb} GB)")
    usable = usable_slice_gb(slice_memory_gb) if slice_usable_gb is None else slice_usable_gb
    if not (usable > 0 and math.isfinite(usable)):
        raise MemoryFitError(f"slice {slice_name} has no usable memory ({usable} GB)")
    seqs = DEFAULT_MAX_NUM_SEQS if max_num_seqs is None else max_num_seqs
    batched = DEFAULT_MAX_NUM_BATCHED_TOKENS if max_num_batched_tokens is None else max_num_batched_tokens
    headroom = DEFAULT_HEADROOM_GB if headroom_gb is None else headroom_gb
    _check_runtime_settings(seqs, batched, headroom)

    run_dtype = resolve_dtype(dtype, arch.dtype)
    if run_dtype not in DTYPE_BYTES:
        raise MemoryFitError(
            f"dtype {run_dtype!r} of {model} is not one the estimate knows; "
            f"use one of: auto, {', '.join(DTYPE_BYTES)}",
            "dtype",
        )
    weight_bytes = DTYPE_BYTES[run_dtype]
    # 8-bit weight formats keep 16-bit activations, and so a 16-bit KV cache.
    element_bytes = _KV_BYTES_WITH_8BIT_WEIGHTS if run_dtype in EIGHT_BIT_WEIGHTS else weight_bytes
    per_token_gb = kv_bytes_per_token(arch, element_bytes) / GB

    if weights_gb is not None:
        if not (weights_gb > 0 and math.isfinite(weights_gb)):
            raise MemoryFitError(f"weightsGb must be a size above 0, not {weights_gb!r}", "weightsGb")
        weights = float(weights_gb)
        weights_note = "declared weightsGb"
    else:
        if not arch.parameters_billion > 0:
            raise MemoryFitError(
                f"the parameter count of {model} is unknown; set weightsGb (the size of its "
                "weight files in GB) or the parameter count",
                "weightsGb",
            )
        weights = arch.parameters_billion * weight_bytes
        weights_note = (
            f"{arch.parameters_billion:g}B parameters x {weight_bytes:g} bytes ({run_dtype})"
        )

    activation = activation_peak_gb(arch, batched, seqs, element_bytes)
    graphs = cuda_graph_gb(seqs, batched)
    fixed = weights + activation + graphs + RUNTIME_OVERHEAD_GB
    budget = usable * gpu_memory_utilization
    kv_room = budget - fixed - headroom
    native = arch.context_length
    largest = _largest_context(kv_room, per_token_gb, native)
    minimal = min(MIN_CONTEXT_TOKENS, native)

    def plan(length: int, reduced_from: int | None) -> MemoryFit:
        kv = length * per_token_gb
        return MemoryFit(
            weights_gb=weights,
            kv_cache_gb=kv,
            overhead_gb=RUNTIME_OVERHEAD_GB,
            total_gb=fixed + kv,
            budget_gb=budget,
            max_model_len=length,
            reduced_from=reduced_from,
            activation_gb=activation,
            cuda_graph_gb=graphs,
            usable_gb=usable,
            min_headroom_gb=headroom,
            max_num_batched_tokens=batched,
            max_num_seqs=seqs,
        )

    slice_text = (
        f"a {slice_name} slice ({slice_memory_gb:g} GB nominal, {usable:.2f} GB usable, "
        f"{budget:.2f} GB at gpuMemoryUtilization {gpu_memory_utilization:g})"
    )
    terms = (
        f"its weights take about {weights:.2f} GB ({weights_note}), the activation peak of "
        f"{batched} batched tokens {activation:.2f} GB, CUDA graphs {graphs:.2f} GB and runtime "
        f"overhead {RUNTIME_OVERHEAD_GB:g} GB, and {headroom:g} GB must stay free"
    )
    suggest = _Suggester(gpu_memory_utilization, headroom, slice_name, other_profiles, other_profiles_usable_gb)
    if largest < minimal:
        need = fixed + minimal * per_token_gb
        raise MemoryFitError(
            f"{model} does not fit {slice_text}: {terms}; with "
            f"{minimal * per_token_gb:.2f} GB of KV cache for a {minimal}-token context that is "
            f"{need + headroom:.2f} GB. " + suggest(need),
            "model",
        )

    if max_model_len is None:
        if largest >= native:
            return plan(native, None)
        return plan(largest, native)

    if max_model_len <= 0:
        raise MemoryFitError(
            f"maxModelLen must be a positive number of tokens, not {max_model_len}", "maxModelLen"
        )
    if max_model_len > native:
        raise MemoryFitError(
            f"maxModelLen {max_model_len} is longer than the native context of {model} "
            f"({native} tokens, max_position_embeddings); vLLM refuses it. "
            f"Use at most {min(native, largest)}.",
            "maxModelLen",
        )
    if max_model_len > largest:
        kv = max_model_len * per_token_gb
        raise MemoryFitError(
            f"maxModelLen {max_model_len} of {model} needs {kv:.2f} GB of KV cache, but on "
            f"{slice_text} {terms}, which leaves {max(kv_room, 0):.2f} GB. The largest maxModelLen "
            f"that fits is {largest} (rounded down to a multiple of {CONTEXT_STEP}); or leave "
            f"maxModelLen unset to get it. " + suggest(fixed + kv, for_what="it"),
            "maxModelLen",
        )
    return plan(max_model_len, None)


def _check_runtime_settings(max_num_seqs: int, max_num_batched_tokens: int, headroom_gb: float) -> None:
    if isinstance(max_num_seqs, bool) or not isinstance(max_num_seqs, int) or max_num_seqs < 1:
        raise MemoryFitError(f"maxNumSeqs must be a whole number of at least 1, not {max_num_seqs!r}", "maxNumSeqs")
    if (
        isinstance(max_num_batched_tokens, bool)
        or not isinstance(max_num_batched_tokens, int)
        or max_num_batched_tokens < max_num_seqs
    ):
        # vLLM's SchedulerConfig refuses fewer batched tokens than sequences (vllm/config/scheduler.py).
        raise MemoryFitError(
            f"maxNumBatchedTokens must be a whole number of at least maxNumSeqs ({max_num_seqs}), "
            f"not {max_num_batched_tokens!r}; vLLM refuses fewer batched tokens than sequences. "
            f"The default is {DEFAULT_MAX_NUM_BATCHED_TOKENS}.",
            "maxNumBatchedTokens",
        )
    if not (isinstance(headroom_gb, int | float) and math.isfinite(headroom_gb) and headroom_gb >= 0):
        raise MemoryFitError(
            f"memoryHeadroomGb must be a size in GB of at least 0, not {headroom_gb!r} "
            f"(the default is {DEFAULT_HEADROOM_GB:g})",
            "memoryHeadroomGb",
        )


def _largest_context(kv_room_gb: float, per_token_gb: float, native: int) -> int:
    """The longest context whose KV cache fits `kv_room_gb`: native, or a multiple of the step."""
    if kv_room_gb <= 0:
        return 0
    if native * per_token_gb <= kv_room_gb:
        return native
    tokens = math.floor(kv_room_gb / per_token_gb)
    return tokens // CONTEXT_STEP * CONTEXT_STEP


class _Suggester:
    """Names the smallest profile of the GPU whose budget would hold a given need, as a sentence."""

    def __init__(
        self,
        utilization: float,
        headroom_gb: float,
        current: str,
        nominal: Mapping[str, float],
        usable: Mapping[str, float] | None,
    ) -> None:
        self.utilization, self.headroom_gb, self.current = utilization, headroom_gb, current
        self.nominal = nominal
        self.usable = {name: (usable or {}).get(name) or usable_slice_gb(gb) for name, gb in nominal.items()}

    def __call__(self, need_gb: float, *, for_what: str = "the model") -> str:
        fitting = [
            (self.usable[name], _variant_rank(name), name)
            for name in self.nominal
            if name != self.current and self.usable[name] * self.utilization - self.headroom_gb >= need_gb
        ]
        if not fitting:
            return (
                f"None of this GPU's MIG profiles ({', '.join(self.nominal) or 'none given'}) fits "
                f"{for_what}; choose a smaller model, a quantized checkpoint (with weightsGb) or a "
                "GPU with more memory."
            )
        usable, _, name = min(fitting)
        return (
            f"A profile that would fit {for_what}: {name} ({self.nominal[name]:g} GB nominal, "
            f"{usable:.2f} GB usable)."
        )


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
        raise MemoryFitError(f"the architecture of {model} needs positive {', '.join(bad)}", "architecture")
    sizes = {
        "hiddenSize": arch.hidden_size,
        "intermediateSize": arch.intermediate_size,
        "vocabSize": arch.vocab_size,
    }
    negative = [f"{key} ({value})" for key, value in sizes.items() if value < 0]
    if negative:
        raise MemoryFitError(
            f"the architecture of {model} has negative {', '.join(negative)}; leave a size unset "
            "(0) when config.json does not give it",
            "architecture",
        )


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


# Time budgets. Point 7 of issue 9 splits a model server's start in two: an init container
# downloads the weights into the replica's cache volume, then vLLM starts offline and the startup
# probe covers loading only. The assumptions (no Exoscale or Hugging Face figure guarantees them):

# Download: the init container's start and Hugging Face's file listing for the pinned revision,
# then the files at a sustained 80 MB/s from Hugging Face's CDN (12.5 s/GB).
DOWNLOAD_BASE_SECONDS = 60
DOWNLOAD_SECONDS_PER_GB = 12.5
# Load: Python imports and CUDA initialisation, vLLM's profiling pass, torch.compile on a cold
# compile cache (a public V1 log: "init engine took 70.62 s (compilation: 42.18 s)"), CUDA-graph
# capture (vLLM: "This usually takes 5~20 seconds") and the API server; then reading the weights
# from the block-storage cache volume into the slice at an assumed 200 MB/s (5 s/GB).
LOAD_BASE_SECONDS = 180
LOAD_SECONDS_PER_GB = 5
# Before any of that on a first deploy: the GPU instance is created and boots, joins the cluster,
# the node image's NVIDIA driver partitions the GPU and the device plugin advertises the slices
# (assumed 15 minutes); then the kubelet pulls the multi-GB vLLM image (assumed 10 minutes).
NODE_PROVISIONING_SECONDS = 900
IMAGE_PULL_SECONDS = 600
# pulumi-kubernetes waits 10 minutes for a StatefulSet by default; issue 9 point 6 asks at least 30.
MIN_AWAIT_SECONDS = 1800


def _check_weights(weights_gb: float) -> None:
    if isinstance(weights_gb, bool) or not isinstance(weights_gb, int | float):
        raise ValueError(f"weights_gb must be a size in GB, not {weights_gb!r}")
    if weights_gb < 0 or not math.isfinite(weights_gb):
        raise ValueError(f"weights_gb must be a finite size >= 0, not {weights_gb!r}")


def download_budget_seconds(weights_gb: float) -> int:
    """Seconds the init container needs to download `weights_gb` GB of weights."""
    _check_weights(weights_gb)
    return math.ceil(DOWNLOAD_BASE_SECONDS + weights_gb * DOWNLOAD_SECONDS_PER_GB)


def load_budget_seconds(weights_gb: float) -> int:
    """Seconds vLLM needs to start offline and load `weights_gb` GB: what the startup probe allows."""
    _check_weights(weights_gb)
    return math.ceil(LOAD_BASE_SECONDS + weights_gb * LOAD_SECONDS_PER_GB)


def startup_budget_seconds(weights_gb: float) -> int:
    """Seconds for one container that both downloads and loads `weights_gb` GB (download + load).

    Kept for callers from before the split; a server with a download init container gives its
    startup probe `load_budget_seconds` instead.
    """
    return download_budget_seconds(weights_gb) + load_budget_seconds(weights_gb)


def await_timeout_seconds(
    weights_gb: float,
    *,
    replicas: int = 1,
    node_provisioning_seconds: float = NODE_PROVISIONING_SECONDS,
    image_pull_seconds: float = IMAGE_PULL_SECONDS,
    minimum_seconds: float = MIN_AWAIT_SECONDS,
) -> int:
    """Seconds Pulumi should wait for a model server's StatefulSet to become ready.

    Node provisioning, then per replica the image pull, the download and the load: a rolling
    update replaces replicas one after another, so each replica's start counts (a first create
    starts them in parallel and takes less). Never below `minimum_seconds`.
    """
    _check_weights(weights_gb)
    numbers = {
        "replicas": replicas,
        "node_provisioning_seconds": node_provisioning_seconds,
        "image_pull_seconds": image_pull_seconds,
        "minimum_seconds": minimum_seconds,
    }
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    per_replica = image_pull_seconds + download_budget_seconds(weights_gb) + load_budget_seconds(weights_gb)
    total = node_provisioning_seconds + max(1, replicas) * per_replica
    return math.ceil(max(minimum_seconds, total))

