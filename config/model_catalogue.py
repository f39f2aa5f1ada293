"""A small catalogue of well-known Hugging Face models: the numbers the memory-fit estimate needs.

Every architecture number comes from the model's `config.json` (the `source` URL): `layers` is
`num_hidden_layers`, `kv_heads` is `num_key_value_heads`, `head_dim` is `head_dim` where the file
has it and `hidden_size / num_attention_heads` otherwise, `context_length` is
`max_position_embeddings`, `dtype` is `torch_dtype`; `hidden_size`, `intermediate_size` and
`vocab_size` (they size vLLM's activation peak, see config/memory_fit.py) are the keys of the same
names. The parameter count comes from the model card (`parameters_source`), or, where the card only
says "7B"/"8B", from the parameter count Hugging Face computes from the safetensors files and shows
on the model page.

How each entry was checked (the stored copies of huggingface.co available while writing this; a
value seen only in a copy of the official file is said so):

- microsoft/Phi-4-mini-instruct: values read in copies of the official config that keep
  `"_name_or_path": "microsoft/Phi-4-mini-instruct"` (onnx-community/Phi-4-mini-instruct-ONNX-MHA
  and -GQA): hidden_size 3072, 24 attention heads (head_dim 3072/24 = 128), 8 KV heads, 32 layers,
  max_position_embeddings 131072, intermediate_size 8192, vocab_size 200064, tied embeddings,
  torch_dtype bfloat16. The card says "3.8B"; 3,836,021,760 is the count of those shapes
  (32 x 100,669,440 per layer + 614,596,608 tied embedding + 3,072 final norm), quoted the same in
  public code.
- Qwen/Qwen2.5-7B-Instruct: copies marked "Duplicate"/`_name_or_path` of the official repo
  (e.g. osllmai-community/Qwen2.5-7B-Instruct): 3584 hidden / 28 heads = 128, 4 KV heads, 28
  layers, 32768, bfloat16, intermediate_size 18944, vocab_size 152064. Card: "Number of
  Parameters: 7.61B". The card's "Full 131,072 tokens" needs YaRN rope scaling switched on;
  config.json's 32768 is what vLLM uses by default.
- Qwen/Qwen2.5-14B-Instruct: jebish7/Qwen2.5-14B-Instruct ("Duplicate from
  Qwen/Qwen2.5-14B-Instruct"): 5120/40 = 128, 8 KV heads, 48 layers, 32768, bfloat16,
  intermediate_size 13824, vocab_size 152064. Card: "Number of Parameters: 14.7B".
- Qwen/Qwen2.5-1.5B-Instruct: onnx-community/Qwen2.5-1.5B-Instruct (`_name_or_path` the official
  repo; its copy drops torch_dtype) and fine-tunes of it: 1536/12 = 128, 2 KV heads, 28 layers,
  32768, intermediate_size 8960, vocab_size 151936 (tied embeddings); bfloat16 as in the other
  Qwen2.5 instruct configs (seen in copies, not in the official file). Card: "Number of
  Parameters: 1.54B".
- meta-llama/Llama-3.2-1B-Instruct: copies keeping `_name_or_path` of the official repo
  (amd/Llama-3.2-1B-Instruct-FP8-KV, julien-c/Llama-3.2-1B-Instruct): head_dim 64, 8 KV heads,
  16 layers, 131072, bfloat16, hidden_size 2048, intermediate_size 8192, vocab_size 128256.
  Meta's card: "1B (1.23B)".
- meta-llama/Llama-3.2-3B-Instruct: a copy of the official file (eos ids 128001/128008/128009,
  transformers 4.45.0.dev0): head_dim 128, 8 KV heads, 28 layers, 131072, bfloat16,
  hidden_size 3072, intermediate_size 8192, vocab_size 128256. Meta's card: "3B (3.21B)".
- meta-llama/Llama-3.1-8B-Instruct: a config from a snapshot of the official repo
  (models--meta-llama--Llama-3.1-8B-Instruct/snapshots/0e9e39f...): head_dim 128, 8 KV heads,
  32 layers, 131072, bfloat16, hidden_size 4096, intermediate_size 14336, vocab_size 128256.
  Meta's card says "8B"; 8.03B is Hugging Face's safetensors count.
- mistralai/Mistral-7B-Instruct-v0.3: the official file itself (revision c170c708): 4096/32 = 128,
  8 KV heads, 32 layers, 32768, bfloat16, intermediate_size 14336, vocab_size 32768. The card
  gives no count; 7.25B is Hugging Face's safetensors count for v0.3 (Mistral-7B v0.1's 7.24B plus
  the 768 tokens v0.3 added to its embedding and output matrices).

The Llama models are gated: the server needs a Hugging Face token whose account accepted the licence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelArchitecture:
    """The numbers of one model that decide how much GPU memory a vLLM server needs."""

    parameters_billion: float
    layers: int  # num_hidden_layers
    kv_heads: int  # num_key_value_heads
    head_dim: int  # head_dim, or hidden_size / num_attention_heads
    # native max context: max_position_embeddings, or the documented native context
    context_length: int
    dtype: str = "bfloat16"  # config.json torch_dtype
    source: str = ""  # config.json URL
    parameters_source: str = ""  # where parameters_billion comes from
    # Sizes of the activations (0 = not known; the estimate then derives them, see memory_fit).
    hidden_size: int = 0  # hidden_size
    intermediate_size: int = 0  # intermediate_size (the MLP's inner width)
    vocab_size: int = 0  # vocab_size (the width of the logits)


def _known(
    model: str,
    *,
    parameters_billion: float,
    parameters_note: str,
    layers: int,
    kv_heads: int,
    head_dim: int,
    context_length: int,
    hidden_size: int,
    intermediate_size: int,
    vocab_size: int,
    dtype: str = "bfloat16",
) -> tuple[str, ModelArchitecture]:
    architecture = ModelArchitecture(
        parameters_billion=parameters_billion,
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        context_length=context_length,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        vocab_size=vocab_size,
        dtype=dtype,
        source=f"https://huggingface.co/{model}/blob/main/config.json",
        parameters_source=f"https://huggingface.co/{model} ({parameters_note})",
    )
    return model, architecture


KNOWN_MODELS: dict[str, ModelArchitecture] = dict(
    (
        # The seed article's two models.
        _known(
            "microsoft/Phi-4-mini-instruct",
            parameters_billion=3.84,
            parameters_note="model card: 3.8B; 3,836,021,760 counted from the config's shapes",
            layers=32,
            kv_heads=8,
            head_dim=128,  # hidden_size 3072 / 24 attention heads
            context_length=131072,
            hidden_size=3072,
            intermediate_size=8192,
            vocab_size=200064,
        ),
        _known(
            "Qwen/Qwen2.5-7B-Instruct",
            parameters_billion=7.61,
            parameters_note="model card: Number of Parameters: 7.61B",
            layers=28,
            kv_heads=4,
            head_dim=128,  # 3584 / 28
            context_length=32768,  # 131072 only with YaRN rope scaling switched on
            hidden_size=3584,
            intermediate_size=18944,
            vocab_size=152064,
        ),
        # Common 1-14B instruct models.
        _known(
            "Qwen/Qwen2.5-1.5B-Instruct",
            parameters_billion=1.54,
            parameters_note="model card: Number of Parameters: 1.54B",
            layers=28,
            kv_heads=2,
            head_dim=128,  # 1536 / 12
            context_length=32768,
            hidden_size=1536,
            intermediate_size=8960,
            vocab_size=151936,
        ),
        _known(
            "Qwen/Qwen2.5-14B-Instruct",
            parameters_billion=14.7,
            parameters_note="model card: Number of Parameters: 14.7B",
            layers=48,
            kv_heads=8,
            head_dim=128,  # 5120 / 40
            context_length=32768,  # 131072 only with YaRN rope scaling switched on
            hidden_size=5120,
            intermediate_size=13824,
            vocab_size=152064,
        ),
        _known(
            "meta-llama/Llama-3.2-1B-Instruct",
            parameters_billion=1.23,
            parameters_note="model card: Params 1B (1.23B)",
            layers=16,
            kv_heads=8,
            head_dim=64,  # config.json head_dim (2048 / 32)
            context_length=131072,
            hidden_size=2048,
            intermediate_size=8192,
            vocab_size=128256,
        ),
        _known(
            "meta-llama/Llama-3.2-3B-Instruct",
            parameters_billion=3.21,
            parameters_note="model card: Params 3B (3.21B)",
            layers=28,
            kv_heads=8,
            head_dim=128,  # config.json head_dim (3072 / 24)
            context_length=131072,
            hidden_size=3072,
            intermediate_size=8192,
            vocab_size=128256,
        ),
        _known(
            "meta-llama/Llama-3.1-8B-Instruct",
            parameters_billion=8.03,
            parameters_note="model card: 8B; 8.03B is the Hub's safetensors parameter count",
            layers=32,
            kv_heads=8,
            head_dim=128,  # config.json head_dim (4096 / 32)
            context_length=131072,
            hidden_size=4096,
            intermediate_size=14336,
            vocab_size=128256,
        ),
        _known(
            "mistralai/Mistral-7B-Instruct-v0.3",
            parameters_billion=7.25,
            parameters_note="the Hub's safetensors parameter count; the card gives none",
            layers=32,
            kv_heads=8,
            head_dim=128,  # 4096 / 32
            context_length=32768,
            hidden_size=4096,
            intermediate_size=14336,
            vocab_size=32768,
        ),
    )
)

# Bytes per weight for each value vLLM's `--dtype` accepts, plus the 8-bit formats of
# `--quantization fp8`. "auto" is not a size: it means the model's own dtype (see resolve_dtype).
DTYPE_BYTES: dict[str, float] = {
    "bfloat16": 2,
    "float16": 2,
    "half": 2,
    "float32": 4,
    "float": 4,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
}

# Weight formats that do not change the activation dtype: the KV cache stays 16-bit with them
# (vLLM's --kv-cache-dtype defaults to "auto", the model's activation dtype).
EIGHT_BIT_WEIGHTS = frozenset({"fp8", "fp8_e4m3", "fp8_e5m2"})


def resolve_dtype(requested: str | None, model_dtype: str) -> str:
    """The dtype vLLM will run with: `requested`, or for None/"auto" what vLLM's "auto" picks.

    vLLM's "auto" uses bfloat16 for bfloat16 models and float16 for float16 and float32 models.
    The result may still be a name outside DTYPE_BYTES; the caller reports that.
    """
    name = (requested or "auto").strip().lower()
    if name != "auto":
        return name
    model = model_dtype.strip().lower()
    return "float16" if model in ("float32", "float") else model
