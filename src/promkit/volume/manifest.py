"""The JSON manifest stored beside each backup object (written last: it makes a version exist)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promkit.core.errors import DataError

MANIFEST_FORMAT = 1


class EncryptionInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    scheme: Literal["promkit-crypt-v1"] = "promkit-crypt-v1"
    kdf: Literal["scrypt"] = "scrypt"
    chunk_size: int


class Manifest(BaseModel):
    """Everything needed to list, verify and restore one version without reading its data."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: int = MANIFEST_FORMAT
    name: str
    version: str
    volume: str
    created_at: datetime
    tool_version: str
    compression: Literal["zstd", "gzip"]
    encryption: EncryptionInfo | None = None
    data_key: str
    tar_size: int = Field(ge=0)
    tar_sha256: str
    stored_size: int = Field(ge=0)
    stored_sha256: str
    volume_driver: str | None = None
    volume_labels: dict[str, str] = Field(default_factory=dict)
    hostname: str | None = None
    stopped_containers: list[str] = Field(default_factory=list)

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, key: str) -> Manifest:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise DataError(
                f"backup manifest {key} is not valid: {exc.errors()[0]['msg']}",
                hint="It was damaged or written by a newer promkit.",
            ) from None
