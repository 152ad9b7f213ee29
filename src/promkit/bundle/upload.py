"""The import pipeline: bundle lines → rewrite → gzip chunks → ``/api/v1/import``.

The pieces live in their own modules and are re-exported here, where callers import them:

- ``promkit.bundle.chunks``: the producer thread (read, rewrite, gzip, bounded queue);
- ``promkit.bundle.sender``: the sink (POST, retries with backoff, checkpoint, tenant headers);
- ``promkit.bundle.importer``: ``ImportPlan`` and ``import_runner`` (pre-pass, upload, verify).
"""

from __future__ import annotations

from promkit.bundle.importer import ImportPlan, import_runner, scan_range
from promkit.bundle.sender import (
    CHECKPOINT_VERSION,
    ImportContext,
    ImportOptions,
    ImportResult,
    RetryPolicy,
    import_fingerprint,
    run_upload,
    tenant_headers,
)
from promkit.bundle.verify import verify_import

__all__ = [
    "CHECKPOINT_VERSION",
    "ImportContext",
    "ImportOptions",
    "ImportPlan",
    "ImportResult",
    "RetryPolicy",
    "import_fingerprint",
    "import_runner",
    "run_upload",
    "scan_range",
    "tenant_headers",
    "verify_import",
]
