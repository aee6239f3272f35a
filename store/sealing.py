"""Faces on a database server, erasable: each face's embedding copy and chip are sealed
(AES-256-GCM) with a key of its own, kept in the small ``face_keys`` table.

Why: PostgreSQL never overwrites a row in place. Measured with PostgreSQL 15: after ``DELETE``,
``VACUUM`` and ``CHECKPOINT`` a deleted row's bytes can stay in the table's file (VACUUM marks
the space free; it is overwritten only if a later page compaction or insert happens to reuse
it), a TOASTed value such as a chip PNG stays whole, and the write-ahead log keeps every insert
until its segment is removed. Only ``VACUUM FULL`` rewrites a table without the dead rows, and
at a million faces that is gigabytes of chips for every deletion. So what is large is stored as
ciphertext from the start, and deleting a face erases its 32-byte key: ``VACUUM FULL`` of
``face_keys`` (and of ``people``, for names and notes) is all a deletion rewrites
(``Database.erase_old_versions``). The ciphertext left in freed space opens with no key that
exists any more.

A SQLite gallery keeps its embeddings in clear and its chips as files: SQLite zeroes what it
frees (``secure_delete``), so it needs none of this.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.errors import CorruptStore

KEY_BYTES = 32
NONCE_BYTES = 12


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)


def seal(key: bytes, data: bytes, face_id: str) -> bytes:
    """``nonce ‖ ciphertext ‖ tag``; the face id is bound in, so a sealed value copied onto
    another face's row does not open."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, face_id.encode())


def unseal(key: bytes, sealed: bytes, face_id: str) -> bytes:
    """What ``seal`` sealed; ``CorruptStore`` when it was altered or belongs to another face."""
    try:
        return AESGCM(bytes(key)).decrypt(
            bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:]), face_id.encode()
        )
    except (InvalidTag, ValueError):
        raise CorruptStore(
            f"the stored data of face {face_id} does not match its key: the gallery database "
            "was altered outside Vision Lab"
        ) from None
