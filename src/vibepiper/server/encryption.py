"""The key that encrypts block documents at rest (Fernet), kept out of the database.

Where the key comes from, first match wins:

1. `VIBEPIPER_ENCRYPTION_KEY`: one Fernet key, or several separated by commas (the
   first encrypts, every one decrypts: how a key is rotated when it comes from the
   environment);
2. the key file, `VIBEPIPER_ENCRYPTION_KEY_FILE` (default `$VIBEPIPER_HOME/encryption.key`):
   one key per line, the first encrypting. It is created the first time a key is
   needed, readable by its owner only (mode 0600); two processes creating it at once
   end up with the same key (it is written aside and linked into place).

Each stored document records the fingerprint of the key that encrypted it (`key_id`,
the first 16 hex digits of the key's SHA-256), so a server holding another key says
so in one line instead of failing to decrypt, and rotation knows what to re-encrypt.
The key itself is never written to the database, logged or answered.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibepiper.exceptions import ConfigurationError

if TYPE_CHECKING:
    from vibepiper.server.settings import ServerSettings

__all__ = [
    "KEY_FILE_NAME",
    "EncryptionKeyError",
    "KeyRing",
    "key_id",
    "load_key_ring",
    "write_key_file",
]

KEY_FILE_NAME = "encryption.key"
ENV_KEY = "VIBEPIPER_ENCRYPTION_KEY"


class EncryptionKeyError(ConfigurationError):
    """No usable key: none configured, a malformed one, or a stored document encrypted
    with a key this server does not hold (the server answers 500 with this message)."""


def key_id(key: bytes) -> str:
    """The fingerprint of a key: safe to store and show (it does not reveal the key)."""
    return hashlib.sha256(key.strip()).hexdigest()[:16]


@dataclass
class KeyRing:
    """The keys of a server: the first encrypts, any of them decrypts."""

    keys: list[bytes]
    source: str
    """`environment` or `file`."""
    path: Path | None = None
    _reload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._stamp = _file_stamp(self.path)
        self._build()

    def _build(self) -> None:
        from cryptography.fernet import Fernet

        self._fernets = {key_id(key): Fernet(key) for key in self.keys}
        self.current_id = key_id(self.keys[0])

    @property
    def key_ids(self) -> list[str]:
        return [key_id(key) for key in self.keys]

    def encrypt(self, data: dict[str, Any]) -> tuple[str, str]:
        """`data` as a Fernet token (text) and the fingerprint of the key used.

        A key file replaced since it was read (`vibepiper block rotate-key` from another
        process) is read again first, so nothing is written under a retired key."""
        self.refresh()
        plain = json.dumps(data, separators=(",", ":")).encode()
        return self._fernets[self.current_id].encrypt(plain).decode(), self.current_id

    def decrypt(self, token: str, stored_key_id: str, what: str) -> dict[str, Any]:
        """The data of `token`, encrypted under the key `stored_key_id`.

        Raises:
            EncryptionKeyError: this server holds no such key (`what` names the document).
        """
        fernet = self._fernets.get(stored_key_id)
        if fernet is None and self.source == "file":
            self.reload()  # another process may have rotated the key file
            fernet = self._fernets.get(stored_key_id)
        if fernet is None:
            raise EncryptionKeyError(
                f"{what} was encrypted with key {stored_key_id}, which this server does not "
                f"have (its keys: {', '.join(self.key_ids)}); give every server of this "
                f"database the same {ENV_KEY} (or key file)"
            )
        data: dict[str, Any] = json.loads(fernet.decrypt(token.encode()))
        return data

    def refresh(self) -> None:
        """Read the key file again if it was replaced since (one `stat` otherwise)."""
        if self.path is not None and _file_stamp(self.path) != self._stamp:
            self.reload()

    def reload(self) -> None:
        """Read the key file again (after a rotation by another process)."""
        if self.path is None:
            return
        with self._reload_lock:
            stamp = _file_stamp(self.path)
            keys = _read_keys(self.path)
            if keys:
                self.keys = keys
                self._stamp = stamp
                self._build()


def _file_stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What changes when the key file is replaced or rewritten (None: no file)."""
    if path is None:
        return None
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def load_key_ring(environment_key: str | None, key_file: Path | None) -> KeyRing:
    """The server's keys: from `environment_key` (`VIBEPIPER_ENCRYPTION_KEY`) when set,
    else from `key_file`, created with a new key when it does not exist.

    Raises:
        ConfigurationError: a key that is not a Fernet key, or no key and no file.
    """
    if environment_key:
        keys = [part.strip().encode() for part in environment_key.split(",") if part.strip()]
        _check_keys(keys, ENV_KEY)
        return KeyRing(keys, "environment")
    if key_file is None:
        raise EncryptionKeyError(
            f"no key to encrypt block documents with: set {ENV_KEY} (a Fernet key, e.g. "
            'from python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"), or VIBEPIPER_HOME to a directory'
        )
    keys = _read_keys(key_file)
    if not keys:
        _create_key_file(key_file)
        keys = _read_keys(key_file)
    _check_keys(keys, str(key_file))
    return KeyRing(keys, "file", key_file)


def new_key() -> bytes:
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


def _check_keys(keys: list[bytes], where: str) -> None:
    from cryptography.fernet import Fernet

    if not keys:
        raise EncryptionKeyError(f"{where} holds no encryption key")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise EncryptionKeyError(
                f"{where}: key {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None


def _read_keys(path: Path) -> list[bytes]:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionKeyError(f"cannot read the encryption key file {path}: {exc}") from None
    return [line.strip().encode() for line in text.splitlines() if line.strip()]


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` unless another process did first (then keep theirs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    _write_private(aside, [new_key()])
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink(missing_ok=True)


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file with `keys` (first: the one that encrypts), atomically."""
    aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    _write_private(aside, keys)
    os.replace(aside, path)


def _write_private(path: Path, keys: list[bytes]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(b"".join(key + b"\n" for key in keys))
        file.flush()
        os.fsync(file.fileno())
    os.chmod(path, 0o600)


def server_key_ring(settings: ServerSettings | None) -> KeyRing:
    """The key ring of a server with `settings` (None: read from the environment): their
    key, else their key file, else `$VIBEPIPER_HOME/encryption.key`. The one lookup the
    API's routes and the automations' actions share; kept per (key, file)."""
    from vibepiper.server.settings import default_key_file

    environment = dict(os.environ)
    key = settings.encryption_key if settings else environment.get("VIBEPIPER_ENCRYPTION_KEY")
    key_file = settings.encryption_key_file if settings else ""
    return _cached_ring(key or None, key_file or default_key_file(environment))


@functools.lru_cache(maxsize=4)
def _cached_ring(environment_key: str | None, key_file: str) -> KeyRing:
    return load_key_ring(environment_key, Path(key_file) if key_file else None)
