"""Tools the tests and the benchmarks share, kept out of the product (`auditor/` never imports
this package and the wheel does not carry it).

- `aws_proxy`: the one loopback HTTP proxy in front of moto (fault rules, optional latency,
  request counts); moto itself is started by the product's `auditor.demo.moto`.
- `asset_service`: a local gRPC Cloud Asset `AssetService` for the real `AssetServiceClient`.
- `certs`: self-signed keys and certificates for signing tests.
- `factories`: builders of the model types (`EvidenceDoc`, `Finding`, manifests, snapshots...).

The repo root is on `sys.path` for pytest (`pythonpath` in pyproject.toml); bench scripts put it
there themselves.
"""
