"""Password hashing with bcrypt; the cost comes from settings (12 unless a test lowers it)."""

from __future__ import annotations

import bcrypt

# bcrypt ignores everything after 72 bytes; longer passwords are refused rather than cut.
MAX_PASSWORD_BYTES = 72


class PasswordHasher:
    def __init__(self, cost: int) -> None:
        self.cost = cost
        # Compared against when the email is unknown, so both paths take the same time.
        self._dummy = bcrypt.hashpw(b"promkit-timing-equaliser", bcrypt.gensalt(cost))

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.cost)).decode()

    def verify(self, password: str, password_hash: str | None) -> bool:
        candidate = password_hash.encode() if password_hash else self._dummy
        try:
            ok = bcrypt.checkpw(password.encode()[:MAX_PASSWORD_BYTES], candidate)
        except ValueError:
            return False
        return ok and password_hash is not None


__all__ = ["MAX_PASSWORD_BYTES", "PasswordHasher"]
