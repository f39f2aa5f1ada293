"""The memory-fit estimate: the seed article's models, refusals and what they suggest."""

from __future__ import annotations

from typing import Any

import pytest

from config.memory_fit import (
    CONTEXT_STEP,
    RUNTIME_OVERHEAD_GB,
    MemoryFit,
    MemoryFitError,
    fit_model,
    kv_bytes_per_token,
    startup_budget_seconds,
    usable_slice_gb,
)
from config.model_catalogue import KNOWN_MODELS, ModelArchitecture, resolve_dtype

PHI = "microsoft/Phi-4-mini-instruct"
QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"

RTX_PRO_6000 = {
    "1g.24gb": 24,
    "1g.24gb+me": 24,
    "1g.24gb+gfx": 24,
    "2g.48gb": 48,
    "2g.48gb+gfx": 48,
    "4g.96gb": 96,
}
A30 = {"1g.6gb": 6, "1g.6gb+me": 6, "2g.12gb": 12, "2g.12gb+me": 12, "4g.24gb": 24}


def fit(model: str = QWEN_7B, **overrides: Any) -> MemoryFit:
    """fit_model on the article's setup (RTX PRO 6000, 1g.24gb, utilization 0.9) unless overridden."""
    arguments: dict[str, Any] = {
        "model": model,
        "architecture": None,
        "weights_gb": None,
        "dtype": None,
        "max_model_len": None,
        "gpu_memory_utilization": 0.9,
        "slice_name": "1g.24gb",
        "slice_memory_gb": 24,
        "other_profiles": RTX_PRO_6000,
    }
    arguments.update(overrides)
    return fit_model(**arguments)


@pytest.mark.parametrize("model", [PHI, QWEN_7B])
def test_the_articles_models_fit_a_1g_24gb_slice(model: str) -> None:
    plan = fit(model)

    assert plan.total_gb <= plan.budget_gb
    assert plan.budget_gb == pytest.approx(usable_slice_gb(24) * 0.9)
    assert plan.overhead_gb == RUNTIME_OVERHEAD_GB
    assert plan.total_gb == pytest.approx(plan.weights_gb + plan.kv_cache_gb + plan.overhead_gb)
    assert plan.max_model_len >= 8192


def test_qwen_7b_keeps_its_native_context_on_1g_24gb() -> None:
    plan = fit(QWEN_7B)

    assert plan.max_model_len == 32768 and plan.reduced_from is None
    assert plan.weights_gb == pytest.approx(7.61 * 2)  # ~15.2 GB in bfloat16
    # 2 x 28 layers x 4 KV heads x 128 x 2 bytes = 57,344 bytes per token.
    assert plan.kv_cache_gb == pytest.approx(57_344 * 32768 / 1e9)


def test_phi_4_mini_is_reduced_from_its_131072_context_and_says_so() -> None:
    plan = fit(PHI)

    assert plan.reduced_from == 131072
    assert plan.max_model_len < 131072
    assert plan.max_model_len % CONTEXT_STEP == 0
    assert plan.total_gb <= plan.budget_gb


def test_qwen_7b_on_an_a30_1g_6gb_slice_is_refused_with_both_sizes_and_a_profile() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit(QWEN_7B, slice_name="1g.6gb", slice_memory_gb=6, other_profiles=A30)

    message = str(caught.value)
    assert QWEN_7B in message
    assert "15.22 GB" in message  # the weights estimate
    assert "1g.6gb" in message and "6 GB" in message  # the slice
    assert "4g.24gb" in message  # the smallest A30 profile that holds it
    assert "sks-mig:" not in message  # the caller adds the key


def test_a_model_no_profile_of_the_gpu_holds_is_told_so() -> None:
    with pytest.raises(MemoryFitError, match="None of this GPU's MIG profiles"):
        fit("Qwen/Qwen2.5-14B-Instruct", slice_name="1g.6gb", slice_memory_gb=6, other_profiles=A30)


def test_the_suggestion_is_the_smallest_plain_profile_that_fits() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit("Qwen/Qwen2.5-14B-Instruct")  # 29.4 GB of weights on a 24 GB slice

    assert "2g.48gb (48 GB)" in str(caught.value)
    assert "4g.96gb" not in str(caught.value)


def test_an_oversized_max_model_len_is_refused_with_the_largest_that_fits() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit(PHI, max_model_len=131072)

    message = str(caught.value)
    largest = fit(PHI).max_model_len
    assert f"largest maxModelLen that fits is {largest}" in message
    assert f"multiple of {CONTEXT_STEP}" in message
    # The largest really fits, one step more does not.
    assert fit(PHI, max_model_len=largest).total_gb <= fit(PHI).budget_gb
    with pytest.raises(MemoryFitError):
        fit(PHI, max_model_len=largest + CONTEXT_STEP)


def test_the_largest_fitting_length_is_exact_on_a_tight_slice() -> None:
    # Llama-3.2-1B on an A30 1g.6gb: only part of its 131072 context fits.
    model = "meta-llama/Llama-3.2-1B-Instruct"
    small = {"slice_name": "1g.6gb", "slice_memory_gb": 6, "other_profiles": A30}
    plan = fit(model, **small)

    assert plan.reduced_from == 131072
    per_token_gb = kv_bytes_per_token(KNOWN_MODELS[model], 2) / 1e9
    room = plan.budget_gb - plan.weights_gb - plan.overhead_gb
    assert plan.max_model_len * per_token_gb <= room
    assert (plan.max_model_len + CONTEXT_STEP) * per_token_gb > room
    assert fit(model, max_model_len=plan.max_model_len, **small).reduced_from is None
    with pytest.raises(
        MemoryFitError, match=f"largest maxModelLen that fits is {plan.max_model_len}"
    ):
        fit(model, max_model_len=plan.max_model_len + CONTEXT_STEP, **small)


def test_an_explicit_max_model_len_that_fits_is_kept() -> None:
    plan = fit(QWEN_7B, max_model_len=8192)

    assert plan.max_model_len == 8192 and plan.reduced_from is None
    assert plan.kv_cache_gb == pytest.approx(57_344 * 8192 / 1e9)


def test_a_max_model_len_beyond_the_native_context_is_refused() -> None:
    with pytest.raises(MemoryFitError, match="native context"):
        fit(QWEN_7B, max_model_len=65536)


def test_an_unknown_model_without_weights_gb_is_asked_for_it() -> None:
    with pytest.raises(MemoryFitError) as caught:
        fit("acme/unknown-7b")

    message = str(caught.value)
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


def test_declared_weights_gb_is_honoured() -> None:
    plan = fit(QWEN_7B, weights_gb=5.5)  # e.g. an AWQ 4-bit checkpoint

    assert plan.weights_gb == 5.5
    assert plan.total_gb == pytest.approx(5.5 + plan.kv_cache_gb + RUNTIME_OVERHEAD_GB)
    # The declared size also decides whether it fits: the A30 slice now holds it.
    small = fit(QWEN_7B, weights_gb=3.0, slice_name="1g.6gb", slice_memory_gb=6, other_profiles=A30)
    assert small.weights_gb == 3.0


def test_the_dtype_changes_the_estimate() -> None:
    bf16 = fit(QWEN_7B, max_model_len=4096)
    fp32 = fit(
        QWEN_7B, max_model_len=4096, dtype="float32", slice_name="2g.48gb", slice_memory_gb=48
    )
    fp8 = fit(QWEN_7B, max_model_len=4096, dtype="fp8")

    assert fp32.weights_gb == pytest.approx(2 * bf16.weights_gb)
    assert fp32.kv_cache_gb == pytest.approx(2 * bf16.kv_cache_gb)
    assert fp8.weights_gb == pytest.approx(bf16.weights_gb / 2)
    assert fp8.kv_cache_gb == pytest.approx(bf16.kv_cache_gb)  # KV cache stays 16-bit
    assert fit(QWEN_7B, dtype="half", max_model_len=4096).weights_gb == bf16.weights_gb
    with pytest.raises(MemoryFitError, match="does not fit"):
        fit(QWEN_7B, dtype="float32")  # 30.4 GB of weights on a 24 GB slice


def test_an_unknown_dtype_is_refused() -> None:
    with pytest.raises(MemoryFitError, match="dtype 'int3'"):
        fit(QWEN_7B, dtype="int3")


def test_auto_dtype_follows_vllm() -> None:
    assert resolve_dtype(None, "bfloat16") == "bfloat16"
    assert resolve_dtype("auto", "float32") == "float16"
    assert resolve_dtype("Float16", "bfloat16") == "float16"


def test_usable_slice_memory_is_below_the_binary_nominal_size() -> None:
    # An A30 1g.6gb slice reports about 5.75 GiB to CUDA; the estimate stays at or below it.
    assert usable_slice_gb(6) * 1e9 / 2**30 <= 5.75
    assert usable_slice_gb(24) == pytest.approx(24 * 2**30 * 0.95 / 1e9)


@pytest.mark.parametrize("model", sorted(KNOWN_MODELS))
def test_every_catalogued_model_has_sources_and_sane_numbers(model: str) -> None:
    entry = KNOWN_MODELS[model]

    assert entry.source == f"https://huggingface.co/{model}/blob/main/config.json"
    assert entry.parameters_source.startswith(f"https://huggingface.co/{model}")
    assert 1 <= entry.parameters_billion <= 15
    assert entry.layers > 0 and entry.kv_heads > 0 and entry.head_dim in (64, 128)
    assert entry.context_length in (32768, 131072)
    assert entry.dtype == "bfloat16"


def test_startup_budget_grows_with_the_weights() -> None:
    assert startup_budget_seconds(0) == 120
    assert startup_budget_seconds(15.22) == 349  # 120 + 15.22 x 15, rounded up
    assert startup_budget_seconds(30) > startup_budget_seconds(8)
    with pytest.raises(ValueError):
        startup_budget_seconds(-1)
