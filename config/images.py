"""Container image references: valid by the OCI distribution grammar, and pinned.

The grammar is distribution/reference's (reference.go and regexp.go): a lower-case repository
path with an optional registry host, then `:tag` and/or `@digest`. Pinned means the reference says
which build runs: a digest, or a tag that names a version. A moving tag (`latest`, `nightly`,
`main`, ...) or no tag at all (which means `latest`) would let replicas and restarts run a vLLM
other than the one the memory estimate and the probes were sized for.
"""

from __future__ import annotations

import re

# distribution/reference regexp.go, with \w spelled out as ASCII as Go's regexp reads it.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"{_NAME}(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?")
# A repository path is at most 255 characters (reference.go, RepositoryNameTotalLengthMax).
_MAX_PATH = 255

# Digests the container runtimes verify: the OCI image spec's registered algorithms with their
# lower-case hex lengths (image-spec descriptor.md).
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}

# Tags that are moved to each new build. A tag made of one of these and build details
# (latest-cu129, nightly-ubuntu) moves as well; one carrying a commit (nightly-<sha>) does not.
MOVING_TAGS = frozenset(
    {"latest", "nightly", "main", "master", "stable", "edge", "dev", "develop", "head",
     "canary", "current", "rolling", "release", "preview", "next", "unstable", "testing"}
)
_COMMIT = re.compile(r"(?:^|[-_.])[0-9a-f]{7,40}(?:$|[-_.])")
_VERSION = re.compile(r"\d")


def _domain_or_path(first: str | None) -> bool:
    """Whether the first part of a name is valid: a registry (with a dot, a port or "localhost"),
    or else a path component, which is lower-case (distribution/reference normalize.go,
    splitDockerDomain)."""
    if first is None or "." in first or ":" in first or first == "localhost":
        return True
    return re.fullmatch(_PATH_COMPONENT, first) is not None


def image_problem(image: str) -> str | None:
    """Why `image` cannot be used as a model server's image, or None when it can."""
    if image.endswith(":") or ":@" in image:
        return "its tag is empty, which means :latest; add a version tag or a digest"
    match = _REFERENCE.fullmatch(image)
    if match is None or not _domain_or_path(match["domain"]):
        if _REFERENCE.fullmatch(image.lower()) is not None:
            return "the repository must be lower-case"
        return (
            "it is not an image reference: [registry/]repository[:tag][@digest], a lower-case "
            "repository without spaces, e.g. vllm/vllm-openai:v0.22.1-cu129-ubuntu2404"
        )
    if len(match["path"]) > _MAX_PATH:
        return f"its repository is longer than {_MAX_PATH} characters"
    digest, tag = match["digest"], match["tag"]
    if digest is not None:
        algorithm, _, hex_digits = digest.partition(":")
        if _DIGEST_HEX_LENGTH.get(algorithm) != len(hex_digits) or hex_digits != hex_digits.lower():
            return (
                f"its digest {digest!r} is not sha256:<64 lower-case hex digits> "
                "(or sha384/sha512 with 96/128)"
            )
        return None
    if tag is None:
        return "it has no tag, which means :latest; add a version tag or a digest"
    lowered = tag.lower()
    if lowered in MOVING_TAGS:
        return f"its tag {tag!r} moves to a new build whenever one is pushed; use a version tag or a digest"
    if re.split(r"[-_.]", lowered)[0] in MOVING_TAGS and not _COMMIT.search(lowered):
        # nightly-<sha> names one build; nightly-cu129 follows the branch.
        return f"its tag {tag!r} moves to a new build whenever one is pushed; use a version tag or a digest"
    if not _VERSION.search(tag):
        # The policy pack asks the same: a tag without a digit names no version.
        return f"its tag {tag!r} names no version; use a version tag or a digest"
    return None
