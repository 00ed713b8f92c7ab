"""Pure domain logic: topology, cost model, placement and manifests.

Nothing here performs I/O or imports kopf, the Kubernetes client or aiohttp
(an import-linter contract enforces it), so every function can be tested and
benchmarked on plain data.
"""
