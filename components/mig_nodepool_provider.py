"""The old import path of the MIG nodepool (now the package `components.mig_nodepool`). Keep it.

Every state written before the package existed holds, in the nodepool's `__provider` property, a
dill pickle naming the provider's class as `components.mig_nodepool_provider.MigNodepoolProvider`:
`pulumi.dynamic.Resource` pickles the provider with `dill.dumps(provider, recurse=True)`, which
refers to a class importable under its `__module__` by module and name (pulumi 3.272.0,
pulumi/dynamic/dynamic.py, `serialize_provider`). The dynamic provider host (`python -u -m
pulumi.dynamic`) unpickles the string of each call (pulumi/dynamic/__main__.py, `get_provider`);
Read (refresh) and Delete take it from the state's recorded outputs, and an unchanged nodepool keeps
its old outputs on every `pulumi up` (the engine's SameStep retains them: pulumi/pulumi,
pkg/resource/deploy/step.go). So this path must resolve for as long as such state may exist. The
pickle carries no state (`MigNodepoolProvider.__getstate__` is empty): re-exporting the class is
all it takes; `tests/test_mig_nodepool_pickle.py` loads that exact string.
"""

from components.mig_nodepool import MigNodepool, MigNodepoolArgs, MigNodepoolError, MigNodepoolProvider

__all__ = ["MigNodepool", "MigNodepoolArgs", "MigNodepoolError", "MigNodepoolProvider"]
