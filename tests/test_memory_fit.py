"""The memory-fit estimate: each term, the headroom, refusals and what they suggest, the shipped stacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.memory_fit import (
    CONTEXT_STEP,
    DEFAULT_HEADROOM_GB,
    DEFAULT_MAX_NUM_BATCHED_TOKENS,
    DEFAULT_MAX_NUM_SEQS,
    MIN_AWAIT_SECONDS,
    RUNTIME_OVERHEAD_GB,
    MemoryFit,
    MemoryFitError,
    activation_peak_gb,
    await_timeout_seconds,
    cuda_graph_gb,
    cudagraph_capture_sizes,
    download_budget_seconds,
    fit_model,
    kv_bytes_per_token,
    load_budget_seconds,
    startup_budget_seconds,
    usable_slice_gb,
)
from config.mig_catalogue import FAMILIES, GpuFamily, family_of
from config.model_catalogue import KNOWN_MODELS, ModelArchitecture, resolve_dtype

PHI = "microsoft/Phi-4-mini-instruct"
QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"
QWEN_1_5B = "Qwen/Qwen2.5-1.5B-Instruct"
REPO = Path(__file__).resolve().parent.parent

RTX = FAMILIES["gpurtx6000pro"]
A30 = FAMILIES["gpua30"]


def on(family: GpuFamily, profile: str) -> dict[str, Any]:
    """fit_model's slice arguments for `profile` of `family`, as the config layer passes them."""
    profiles = family.profiles
    return {
        "slice_name": profile,
        "slice_memory_gb": profiles[profile].memory_gb,
        "slice_usable_gb": profiles[profile].usable_memory_gb,
        "other_profiles": {p.name: p.memory_gb for p in profiles.values()},
        "other_profiles_usable_gb": {p.name: p.usable_memory_gb for p in profiles.values()},
    }


def fit(model: str = QWEN_7B, **overrides: Any) -> MemoryFit:
    """fit_model on the article's setup (RTX PRO 6000, 1g.24gb, utilization 0.9) unless overridden."""
    arguments: dict[str, Any] = {
        "model": model,
        "architecture": None,
        "weights_gb": None,
        "dtype": None,
        "max_model_len": None,
        "gpu_memory_utilization": 0.9,
        **on(RTX, "1g.24gb"),
    }
    arguments.update(overrides)
    return fit_model(**arguments)


# --- the terms ---------------------------------------------------------------------------------


def test_the_budget_is_the_slices_real_memory_times_the_utilization() -> None:
    plan = fit(QWEN_7B)

    # NVIDIA's listing for an RTX PRO 6000 1g.24gb slice: 24192 MiB, not 24 x 0.95 GiB.
    assert plan.usable_gb == pytest.approx(24192 * 2**20 / 1e9)
    assert plan.budget_gb == pytest.approx(24192 * 2**20 / 1e9 * 0.9)


def test_the_total_is_the_sum_of_every_term() -> None:
    plan = fit(QWEN_7B)

    assert plan.total_gb == pytest.approx(
        plan.weights_gb + plan.kv_cache_gb + plan.activation_gb + plan.cuda_graph_gb + plan.overhead_gb
    )
    assert plan.overhead_gb == RUNTIME_OVERHEAD_GB
    assert plan.headroom_gb == pytest.approx(plan.budget_gb - plan.total_gb)


def test_weights_and_kv_cache_of_qwen_7b() -> None:
    plan = fit(QWEN_7B)

    assert plan.weights_gb == pytest.approx(7.61 * 2)  # ~15.2 GB in bfloat16
    # 2 x 28 layers x 4 KV heads x 128 x 2 bytes = 57,344 bytes per token.
    assert plan.kv_cache_gb == pytest.approx(57_344 * 32768 / 1e9)


def test_the_activation_peak_counts_the_batched_tokens_and_the_sampled_logits() -> None:
    qwen = KNOWN_MODELS[QWEN_7B]
    # 2048 tokens x 2 bytes x (4 x 3584 + 3 x 18944) plus 16 requests x 152064 logits x (2 + 3 x 4)
    # bytes, doubled for what vLLM's compiled graphs hold on top.
    expected = 2 * (2048 * 2 * (4 * 3584 + 3 * 18944) + 16 * 152064 * 14) / 1e9

    assert activation_peak_gb(qwen, 2048, 16, 2) == pytest.approx(expected)
    assert fit(QWEN_7B).activation_gb == pytest.approx(expected)
    # Each batched token more adds its activations, doubled; the sampled logits stay the same.
    more = activation_peak_gb(qwen, 8192, 16, 2) - activation_peak_gb(qwen, 2048, 16, 2)
    assert more == pytest.approx(2 * 6144 * 2 * (4 * 3584 + 3 * 18944) / 1e9)


def test_a_model_without_activation_sizes_is_estimated_larger_not_smaller() -> None:
    known = KNOWN_MODELS[QWEN_7B]
    unknown = ModelArchitecture(
        parameters_billion=known.parameters_billion,
        layers=known.layers,
        kv_heads=known.kv_heads,
        head_dim=known.head_dim,
        context_length=known.context_length,
    )

    assert activation_peak_gb(unknown, 2048, 16, 2) > activation_peak_gb(known, 2048, 16, 2)


def test_cuda_graphs_are_sized_by_vllms_capture_sizes() -> None:
    # vLLM captures up to min(2 x max_num_seqs, 512, max_num_batched_tokens) tokens.
    assert cudagraph_capture_sizes(16, 2048) == [1, 2, 4, 8, 16, 24, 32]
    assert len(cudagraph_capture_sizes(256, 2048)) == 3 + 31 + 17  # its default: 51 graphs
    assert cudagraph_capture_sizes(256, 16) == [1, 2, 4, 8, 16]
    assert cuda_graph_gb(16, 2048) == pytest.approx(0.3 + 7 * 0.01)
    # The 0.68 GiB vLLM logged for an 8B model at 256 sequences stays below the estimate.
    assert cuda_graph_gb(256, 2048) >= 0.68 * 2**30 / 1e9
    assert fit(QWEN_7B).cuda_graph_gb == pytest.approx(cuda_graph_gb(DEFAULT_MAX_NUM_SEQS, 2048))


def test_the_batch_sizes_the_server_gets_are_recorded() -> None:
    plan = fit(QWEN_7B)
    pinned = fit(QWEN_7B, max_num_batched_tokens=4096, max_num_seqs=32)

    assert (plan.max_num_batched_tokens, plan.max_num_seqs) == (DEFAULT_MAX_NUM_BATCHED_TOKENS, DEFAULT_MAX_NUM_SEQS)
    assert DEFAULT_MAX_NUM_BATCHED_TOKENS == 2048  # vLLM's API-server default below 70 GiB
    assert (pinned.max_num_batched_tokens, pinned.max_num_seqs) == (4096, 32)
    assert pinned.activation_gb > plan.activation_gb
    assert pinned.cuda_graph_gb > plan.cuda_graph_gb


def test_more_batched_tokens_leave_less_context() -> None:
    small = fit(PHI)
    large = fit(PHI, max_num_batched_tokens=16384)

    assert large.max_model_len < small.max_model_len
    assert large.headroom_gb >= DEFAULT_HEADROOM_GB


# --- the headroom ------------------------------------------------------------------------------


def test_a_reduced_context_keeps_the_headroom_and_not_a_step_more() -> None:
    plan = fit(PHI)

    assert plan.reduced_from == 131072
    assert plan.min_headroom_gb == DEFAULT_HEADROOM_GB == 1.0
    assert plan.headroom_gb >= 1.0
    per_step_gb = kv_bytes_per_token(KNOWN_MODELS[PHI], 2) * CONTEXT_STEP / 1e9
    assert plan.headroom_gb < 1.0 + per_step_gb


def test_the_headroom_is_configurable() -> None:
    tight = fit(PHI, headroom_gb=0.5)
    roomy = fit(PHI, headroom_gb=3.0)

    assert roomy.max_model_len < fit(PHI).max_model_len < tight.max_model_len
    assert roomy.headroom_gb >= 3.0 and roomy.min_headroom_gb == 3.0
    assert tight.headroom_gb >= 0.5


def test_an_explicit_max_model_len_must_leave_the_headroom() -> None:
    largest = fit(PHI).max_model_len

    assert fit(PHI, max_model_len=largest).headroom_gb >= 1.0
    with pytest.raises(MemoryFitError) as caught:
        fit(PHI, max_model_len=largest + CONTEXT_STEP)
    assert "1 GB must stay free" in str(caught.value)


@pytest.mark.parametrize(
    ("setting", "value", "key"),
    [
        ("headroom_gb", -1.0, "memoryHeadroomGb"),
        ("headroom_gb", float("nan"), "memoryHeadroomGb"),
        ("max_num_batched_tokens", 8, "maxNumBatchedTokens"),  # fewer than the 16 sequences
        ("max_num_batched_tokens", 0, "maxNumBatchedTokens"),
        ("max_num_seqs", 0, "maxNumSeqs"),
    ],
)
def test_bad_runtime_settings_are_refused_with_their_key(setting: str, value: Any, key: str) -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit(QWEN_7B, **{setting: value})

    assert caught.value.key == key
    assert key in str(caught.value)
    assert repr(value) in str(caught.value)


# --- max_model_len -----------------------------------------------------------------------------


def test_qwen_7b_keeps_its_native_context_on_1g_24gb() -> None:
    plan = fit(QWEN_7B)

    assert plan.max_model_len == 32768 and plan.reduced_from is None
    assert plan.headroom_gb > 4


def test_an_oversized_max_model_len_is_refused_with_the_largest_that_fits() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit(PHI, max_model_len=131072)

    message = str(caught.value)
    largest = fit(PHI).max_model_len
    assert caught.value.key == "maxModelLen"
    assert f"largest maxModelLen that fits is {largest}" in message
    assert f"multiple of {CONTEXT_STEP}" in message
    assert "activation peak of 2048 batched tokens" in message
    # The largest really fits, one step more does not.
    assert fit(PHI, max_model_len=largest).total_gb + 1.0 <= fit(PHI).budget_gb
    with pytest.raises(MemoryFitError):
        fit(PHI, max_model_len=largest + CONTEXT_STEP)


def test_the_largest_fitting_length_is_exact_on_a_tight_slice() -> None:
    # Llama-3.2-1B on an A30 1g.6gb: only part of its 131072 context fits.
    model = "meta-llama/Llama-3.2-1B-Instruct"
    small = on(A30, "1g.6gb")
    plan = fit(model, **small)

    assert plan.reduced_from == 131072
    per_token_gb = kv_bytes_per_token(KNOWN_MODELS[model], 2) / 1e9
    room = plan.budget_gb - (plan.total_gb - plan.kv_cache_gb) - plan.min_headroom_gb
    assert plan.max_model_len * per_token_gb <= room
    assert (plan.max_model_len + CONTEXT_STEP) * per_token_gb > room
    assert fit(model, max_model_len=plan.max_model_len, **small).reduced_from is None
    with pytest.raises(MemoryFitError, match=f"largest maxModelLen that fits is {plan.max_model_len}"):
        fit(model, max_model_len=plan.max_model_len + CONTEXT_STEP, **small)


def test_an_explicit_max_model_len_that_fits_is_kept() -> None:
    plan = fit(QWEN_7B, max_model_len=8192)

    assert plan.max_model_len == 8192 and plan.reduced_from is None
    assert plan.kv_cache_gb == pytest.approx(57_344 * 8192 / 1e9)


def test_a_max_model_len_beyond_the_native_context_is_refused() -> None:
    with pytest.raises(MemoryFitError, match="native context") as caught:
        fit(QWEN_7B, max_model_len=65536)
    assert caught.value.key == "maxModelLen"


# --- refusals and suggestions ------------------------------------------------------------------


def test_qwen_7b_on_an_a30_1g_6gb_slice_is_refused_with_every_term_and_a_profile() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit(QWEN_7B, **on(A30, "1g.6gb"))

    message = str(caught.value)
    assert caught.value.key == "model"
    assert QWEN_7B in message
    assert "15.22 GB" in message  # the weights estimate
    assert "1g.6gb" in message and "6 GB nominal" in message and "6.24 GB usable" in message
    for term in ("activation peak", "CUDA graphs", "runtime overhead", "must stay free"):
        assert term in message
    assert "4g.24gb (24 GB nominal, 25.17 GB usable)" in message  # the smallest A30 profile that holds it
    assert "sks-mig:" not in message  # the caller adds the key


def test_a_model_no_profile_of_the_gpu_holds_is_told_so() -> None:
    with pytest.raises(MemoryFitError, match="None of this GPU's MIG profiles"):
        fit("Qwen/Qwen2.5-14B-Instruct", **on(A30, "1g.6gb"))


def test_the_suggestion_is_the_smallest_plain_profile_that_fits() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit("Qwen/Qwen2.5-14B-Instruct")  # 29.4 GB of weights on a 24 GB slice

    assert "2g.48gb (48 GB nominal, 50.87 GB usable)" in str(caught.value)
    assert "4g.96gb" not in str(caught.value)


def test_the_suggestion_counts_the_headroom() -> None:
    # Qwen 7B needs ~11.4 GB of a 4g.24gb A30 slice's 22.6 GB budget: no suggestion can hold it
    # if 12 GB must stay free.
    with pytest.raises(MemoryFitError, match="None of this GPU's MIG profiles"):
        fit(QWEN_7B, headroom_gb=12.0, **on(A30, "1g.6gb"))


def test_without_usable_memory_the_nominal_size_is_derived_low() -> None:
    # What a caller from before the usable-memory tables passes: nominal sizes only.
    derived = fit(PHI, slice_usable_gb=None, other_profiles_usable_gb=None)

    assert derived.usable_gb == pytest.approx(usable_slice_gb(24)) == pytest.approx(24 * 2**30 * 0.95 / 1e9)
    assert derived.usable_gb < fit(PHI).usable_gb
    assert derived.max_model_len < fit(PHI).max_model_len


def test_an_unknown_model_without_weights_gb_is_asked_for_it() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit("acme/unknown-7b")

    message = str(caught.value)
    assert caught.value.key == "model"
    assert "acme/unknown-7b" in message
    assert "weightsGb" in message
    for key in ("layers", "kvHeads", "headDim", "contextLength"):
        assert key in message


def test_an_unknown_model_with_only_weights_gb_is_asked_for_its_architecture() -> None:
    with pytest.raises(MemoryFitError, match="kvHeads"):
        fit("acme/unknown-7b", weights_gb=5.0, max_model_len=4096)


def test_an_unknown_model_with_its_architecture_is_estimated() -> None:
    architecture = ModelArchitecture(
        parameters_billion=4.0, layers=24, kv_heads=8, head_dim=128, context_length=16384
    )
    plan = fit("acme/unknown-4b", architecture=architecture)

    assert plan.weights_gb == pytest.approx(8.0)
    assert plan.max_model_len == 16384
    assert plan.activation_gb > 0


def test_declared_weights_gb_is_honoured() -> None:
    plan = fit(QWEN_7B, weights_gb=5.5)  # e.g. an AWQ 4-bit checkpoint

    assert plan.weights_gb == 5.5
    assert plan.total_gb == pytest.approx(
        5.5 + plan.kv_cache_gb + plan.activation_gb + plan.cuda_graph_gb + RUNTIME_OVERHEAD_GB
    )
    # The declared size also decides whether it fits: the A30 slice now holds it.
    small = fit(QWEN_7B, weights_gb=2.0, max_model_len=4096, **on(A30, "1g.6gb"))
    assert small.weights_gb == 2.0 and small.headroom_gb >= 1.0


def test_the_dtype_changes_the_estimate() -> None:
    bf16 = fit(QWEN_7B, max_model_len=4096)
    fp32 = fit(QWEN_7B, max_model_len=4096, dtype="float32", **on(RTX, "2g.48gb"))
    fp8 = fit(QWEN_7B, max_model_len=4096, dtype="fp8")

    assert fp32.weights_gb == pytest.approx(2 * bf16.weights_gb)
    assert fp32.kv_cache_gb == pytest.approx(2 * bf16.kv_cache_gb)
    assert fp32.activation_gb > bf16.activation_gb
    assert fp8.weights_gb == pytest.approx(bf16.weights_gb / 2)
    assert fp8.kv_cache_gb == pytest.approx(bf16.kv_cache_gb)  # KV cache stays 16-bit
    assert fp8.activation_gb == pytest.approx(bf16.activation_gb)  # and so do the activations
    assert fit(QWEN_7B, dtype="half", max_model_len=4096).weights_gb == bf16.weights_gb
    with pytest.raises(MemoryFitError, match="does not fit"):
        fit(QWEN_7B, dtype="float32")  # 30.4 GB of weights on a 24 GB slice


def test_an_unknown_dtype_is_refused() -> None:
    with pytest.raises(MemoryFitError, match="dtype 'int3'") as caught:
        fit(QWEN_7B, dtype="int3")
    assert caught.value.key == "dtype"


def test_auto_dtype_follows_vllm() -> None:
    assert resolve_dtype(None, "bfloat16") == "bfloat16"
    assert resolve_dtype("auto", "float32") == "float16"
    assert resolve_dtype("Float16", "bfloat16") == "float16"


@pytest.mark.parametrize("model", sorted(KNOWN_MODELS))
def test_every_catalogued_model_has_sources_and_sane_numbers(model: str) -> None:
    entry = KNOWN_MODELS[model]

    assert entry.source == f"https://huggingface.co/{model}/blob/main/config.json"
    assert entry.parameters_source.startswith(f"https://huggingface.co/{model}")
    assert 1 <= entry.parameters_billion <= 15
    assert entry.layers > 0 and entry.kv_heads > 0 and entry.head_dim in (64, 128)
    assert entry.context_length in (32768, 131072)
    assert entry.dtype == "bfloat16"
    # The activation sizes of config.json: the MLP is wider than the residual stream, and the
    # vocabulary is one of the tokenizers these families ship.
    assert entry.hidden_size >= 1536 and entry.intermediate_size > entry.hidden_size
    assert entry.vocab_size in (32768, 128256, 151936, 152064, 200064)


def test_the_catalogue_shapes_agree_with_phi_4_minis_parameter_count() -> None:
    # 3,836,021,760 parameters (see model_catalogue): 32 layers of attention (q, k, v, o) and a
    # gated MLP of the catalogued widths, plus the tied embedding and the final norm.
    phi = KNOWN_MODELS[PHI]
    hidden, inter, kv = phi.hidden_size, phi.intermediate_size, phi.kv_heads * phi.head_dim
    per_layer = hidden * (hidden + 2 * kv) + hidden * hidden + 3 * hidden * inter + 2 * hidden
    assert phi.layers * per_layer + phi.vocab_size * hidden + hidden == 3_836_021_760


# --- the shipped stacks ------------------------------------------------------------------------


def shipped_fits(stack: str) -> dict[str, MemoryFit]:
    """Every model server of Pulumi.<stack>.yaml fitted as the stack config fits it."""
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    pool = config["sks-mig:gpuNodepool"]
    family = family_of(pool["instanceType"])
    assert family is not None
    fits = {}
    for server in config["sks-mig:models"]:
        fits[server["model"]] = fit(
            server["model"],
            max_model_len=server.get("maxModelLen"),
            gpu_memory_utilization=server.get("gpuMemoryUtilization", 0.9),
            max_num_batched_tokens=server.get("maxNumBatchedTokens"),
            max_num_seqs=server.get("maxNumSeqs", DEFAULT_MAX_NUM_SEQS),
            headroom_gb=server.get("memoryHeadroomGb"),
            **on(family, pool["migProfile"]),
        )
    return fits


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_rtx_stacks_fitted_contexts(stack: str) -> None:
    fits = shipped_fits(stack)

    # Phi-4-mini: 98,304 of its 131,072 tokens, with 1 GB free (was 98,048 with 0.002 GB free).
    assert (fits[PHI].max_model_len, fits[PHI].reduced_from) == (98304, 131072)
    assert fits[PHI].headroom_gb == pytest.approx(1.004, abs=0.001)
    # Qwen2.5-7B: its whole 32,768 tokens, with 4.2 GB free.
    assert (fits[QWEN_7B].max_model_len, fits[QWEN_7B].reduced_from) == (32768, None)
    assert fits[QWEN_7B].headroom_gb == pytest.approx(4.21, abs=0.01)


def test_the_a30_stacks_models_still_fit_a_2g_12gb_slice() -> None:
    fits = shipped_fits("a30")

    # Phi-4-mini: 10,240 tokens (was 13,824 with 0.025 GB free).
    assert (fits[PHI].max_model_len, fits[PHI].reduced_from) == (10240, 131072)
    assert fits[PHI].headroom_gb >= 1.0
    assert (fits[QWEN_1_5B].max_model_len, fits[QWEN_1_5B].reduced_from) == (32768, None)
    assert fits[QWEN_1_5B].headroom_gb == pytest.approx(6.07, abs=0.01)


# --- time budgets ------------------------------------------------------------------------------


def test_download_and_load_budgets_grow_with_the_weights() -> None:
    # 60 s + 12.5 s/GB (80 MB/s from Hugging Face); 180 s + 5 s/GB (200 MB/s from the volume).
    assert download_budget_seconds(0) == 60
    assert download_budget_seconds(15.22) == 251  # 60 + 190.25, rounded up
    assert load_budget_seconds(0) == 180
    assert load_budget_seconds(15.22) == 257  # 180 + 76.1, rounded up
    assert load_budget_seconds(30) > load_budget_seconds(8)


def test_the_single_container_budget_is_download_plus_load() -> None:
    for weights in (0, 7.68, 15.22, 67.0):
        assert startup_budget_seconds(weights) == download_budget_seconds(weights) + load_budget_seconds(weights)
    # Never below the budget it replaces (120 s + 15 s/GB), so existing checks still pass.
    assert all(startup_budget_seconds(w) >= 120 + 15 * w for w in (0, 7.68, 15.22, 67.0))


def test_the_await_timeout_covers_provisioning_pull_download_and_load() -> None:
    phi = await_timeout_seconds(7.68)
    qwen = await_timeout_seconds(15.22)

    assert phi == 900 + 600 + download_budget_seconds(7.68) + load_budget_seconds(7.68)
    assert qwen > phi >= MIN_AWAIT_SECONDS == 1800
    assert await_timeout_seconds(0, node_provisioning_seconds=0, image_pull_seconds=0) == 1800
    assert await_timeout_seconds(15.22, replicas=2) == qwen + 600 + 251 + 257  # one more pod start
    assert await_timeout_seconds(15.22, node_provisioning_seconds=1800) == qwen + 900
    assert await_timeout_seconds(0, minimum_seconds=3600) == 3600


@pytest.mark.parametrize(
    "call",
    [
        lambda: download_budget_seconds(-1),
        lambda: load_budget_seconds(float("inf")),
        lambda: startup_budget_seconds(-1),
        lambda: await_timeout_seconds(1, replicas=-1),
        lambda: await_timeout_seconds(1, image_pull_seconds=float("nan")),
    ],
)
def test_bad_budget_inputs_are_refused(call: Any) -> None:
    with pytest.raises(ValueError, match="must be"):
        call()
