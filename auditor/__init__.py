"""auditor: audit ML workloads on AWS and GCP against GDPR, HIPAA and PCI DSS 4.0.1."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("auditor")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
