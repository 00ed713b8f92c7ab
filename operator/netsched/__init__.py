"""netsched: network-aware gang scheduling of distributed AI training on Kubernetes."""

__version__ = "0.1.0"
