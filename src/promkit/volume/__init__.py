"""Docker volume backups: streaming, compressed, encrypted, to a directory, S3 or GCS."""
