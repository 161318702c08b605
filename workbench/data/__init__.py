"""Speech data: manifests, sources (one module each), validation and preparation."""
