"""`sks-mig:models[]`: one vLLM server each — the model, how vLLM runs it, and what it may add."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from config.errors import echo
from config.field_types import DNS_LABEL, DnsLabel, PlainText, Section, VolumeSize
from config.images import image_problem
from config.limits import (
    MAX_CONTEXT_TOKENS,
    MAX_ENV_VALUE_LENGTH,
    MAX_HEAD_DIM,
    MAX_KV_HEADS,
    MAX_LAYERS,
    MAX_LIST_ITEMS,
    MAX_MEMORY_HEADROOM_GB,
    MAX_NUM_BATCHED_TOKENS,
    MAX_NUM_SEQS,
    MAX_PARAMETERS_BILLION,
    MAX_REPLICAS,
    MAX_WEIGHTS_GB,
    READY_TIMEOUT_MAX_MINUTES,
    READY_TIMEOUT_MIN_MINUTES,
)
from config.model_catalogue import KNOWN_MODELS, ModelArchitecture
from config.owned_settings import arg_problem, env_name_problem, extra_args_problem

DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.22.1-cu129-ubuntu2404"

# Hugging Face repository ids (huggingface_hub utils/_validators.py, validate_repo_id): letters,
# digits, '-', '_', '.', at most 96 characters per part, starting and ending with a letter or
# digit, no '--' or '..'. The server needs the organisation part.
_HF_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?"
_HF_ID = re.compile(rf"{_HF_PART}/{_HF_PART}")
# A pinned revision is a full commit hash: branches and tags move.
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")


def _hugging_face_id(model: str) -> str:
    if not _HF_ID.fullmatch(model) or "--" in model or ".." in model or model.endswith(".git"):
        raise ValueError(
            f"{echo(model)} is not accepted: it must be a Hugging Face model id, organisation/name "
            "(letters, digits, '-', '_' and '.', at most 96 characters each, no '--' or '..')"
        )
    return model


def _extra_arg(arg: str) -> str:
    problem = arg_problem(arg)
    if problem is not None:
        raise ValueError(problem)
    return arg


def _env_name(name: str) -> str:
    problem = env_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def _env_value(value: str) -> str:
    # Never echoed: env values are where secrets go.
    for position, char in enumerate(value):
        if (ord(char) < 0x20 and char not in "\t\n") or ord(char) == 0x7F:
            raise ValueError(
                f"the value contains a control character (U+{ord(char):04X} at position {position}); "
                "a process environment cannot carry it"
            )
    if len(value) > MAX_ENV_VALUE_LENGTH:
        raise ValueError(f"the value is longer than {MAX_ENV_VALUE_LENGTH} characters")
    return value


HuggingFaceId = Annotated[str, AfterValidator(_hugging_face_id)]
ExtraArg = Annotated[PlainText, AfterValidator(_extra_arg)]
EnvName = Annotated[str, AfterValidator(_env_name)]
EnvValue = Annotated[str, AfterValidator(_env_value)]
# 52, not 63: a StatefulSet's pods carry the label controller-revision-hash=<name>-<10 chars>.
ServerName = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=52)]


class ArchitectureConfig(Section):
    """The numbers of a model the catalogue does not know, from its config.json."""

    parameters_billion: float = Field(gt=0, le=MAX_PARAMETERS_BILLION, allow_inf_nan=False)
    layers: int = Field(gt=0, le=MAX_LAYERS)
    kv_heads: int = Field(gt=0, le=MAX_KV_HEADS)
    head_dim: int = Field(gt=0, le=MAX_HEAD_DIM)
    context_length: int = Field(gt=0, le=MAX_CONTEXT_TOKENS)


class ModelServerConfig(Section):
    name: ServerName = Field(description="a DNS label of at most 52 characters")
    model: HuggingFaceId = Field(description="a Hugging Face model id, organisation/name")
    served_model_name: PlainText | None = Field(None, description="the model name clients send")
    revision: str | None = Field(None, description="a Hugging Face commit hash (40 lower-case hex digits)")
    replicas: int = Field(1, ge=0, le=MAX_REPLICAS, description=f"a number from 0 to {MAX_REPLICAS}")
    max_model_len: int | None = Field(None, gt=0, le=MAX_CONTEXT_TOKENS, description="a number of tokens")
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=0.98, allow_inf_nan=False, description="a share of the slice above 0, at most 0.98"
    )
    max_num_seqs: int = Field(16, gt=0, le=MAX_NUM_SEQS, description=f"a number from 1 to {MAX_NUM_SEQS}")
    max_num_batched_tokens: int | None = Field(
        None, gt=0, le=MAX_NUM_BATCHED_TOKENS, description=f"a number of tokens from 1 to {MAX_NUM_BATCHED_TOKENS}"
    )
    memory_headroom_gb: float = Field(
        1.0, ge=0, le=MAX_MEMORY_HEADROOM_GB, allow_inf_nan=False, description="GB kept free on the slice, 0 or more"
    )
    ready_timeout_minutes: int | None = Field(
        None,
        ge=READY_TIMEOUT_MIN_MINUTES,
        le=READY_TIMEOUT_MAX_MINUTES,
        description=f"minutes from {READY_TIMEOUT_MIN_MINUTES} to {READY_TIMEOUT_MAX_MINUTES}",
    )
    dtype: Literal["auto", "bfloat16", "float16", "half", "float32"] = "auto"
    image: str = Field(DEFAULT_VLLM_IMAGE, description="a pinned image reference")
    extra_args: list[ExtraArg] = Field(
        [], max_length=MAX_LIST_ITEMS, description="a list of `vllm serve` arguments"
    )
    env: dict[EnvName, EnvValue] = Field({}, max_length=MAX_LIST_ITEMS, description="a mapping of names to text")
    cache_size: VolumeSize = "50Gi"
    expose: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    allowed_namespaces: list[DnsLabel] = Field([], max_length=MAX_LIST_ITEMS, description="a list of DNS labels")
    weights_gb: float | None = Field(None, gt=0, le=MAX_WEIGHTS_GB, allow_inf_nan=False, description="GB above 0")
    architecture: ArchitectureConfig | None = None

    @field_validator("served_model_name")
    @classmethod
    def _not_a_flag(cls, name: str | None) -> str | None:
        if name is not None and name.startswith("-"):
            raise ValueError(f"{echo(name)} starts with '-', which vLLM would read as a flag")
        return name

    @field_validator("revision")
    @classmethod
    def _commit_hash(cls, revision: str | None) -> str | None:
        if revision is not None and not _COMMIT_HASH.fullmatch(revision):
            raise ValueError(
                f"{echo(revision)} is not a commit hash: the full 40 lower-case hex digits of a "
                "commit of the model's repository (a branch or tag would move)"
            )
        return revision

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, image: str) -> str:
        problem = image_problem(image)
        if problem is not None:
            raise ValueError(f"{echo(image)} is not accepted: {problem}")
        return image

    @field_validator("extra_args")
    @classmethod
    def _starts_with_a_flag(cls, args: list[str]) -> list[str]:
        problem = extra_args_problem(args)
        if problem is not None:
            raise ValueError(problem[1])
        return args

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model

    @property
    def model_architecture(self) -> ModelArchitecture | None:
        if self.architecture is not None:
            return ModelArchitecture(**self.architecture.model_dump())
        return KNOWN_MODELS.get(self.model)
