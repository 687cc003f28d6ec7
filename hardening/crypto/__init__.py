"""Encrypted columns: the kit's encryption, one module per concern.

Applications import the public face, ``hardening.types``; the modules here are where each
part lives:

    keys           the keyring: named keys from HARDENING_KEYS, a file or a hook
    reloads        how often a value under an unknown key id reads the keys again
    envelope       the bytes stored in a column (format version, key id, body)
    nonces         96-bit AES-GCM nonces from a per-thread buffer of OS randomness
    redacted       values that print as [REDACTED] (keys and plaintexts in bind parameters,
                   key sources while they are parsed)
    cipher         ColumnCipher: one column's keys, AEAD, blind-index HMACs, pgcrypto passwords
    index_format   the bytes a blind-index column holds (format 2 names its key), its keys
    canonical      one form for equal values, which the blind index hashes
    comparator     what SQL operators an encrypted column allows (``blind_eq``, ``IS NULL``)
    base           EncryptedBase: what both families of column types share
    kit_column     KitColumn: a column of the kit puts the engine hooks on when rendered
    context        a column's place (schema, table, column), length-prefixed: the one context
                   that the AEAD, pgcrypto and blind-index keys and associated data derive from
    codecs         Python values to bytes and back: the text form and the fixed-width forms
    payload        what the AEAD types encrypt: a codec byte, the value, optional padding
    rows           row binding (bind_row=True): a value bound to its row's primary key
    aead_base      EncryptedType: payloads, the processors, row binding, encrypt/decrypt
    aead           the client-side AES-256-GCM types (EncryptedText, ...)
    pgcrypto       the server-side pgcrypto types (PGPText, PGPBytes)
    guard          refusing SQL that would compare, group or sort ciphertext
    hooks          what the kit adds to an engine that uses its types, and ``install``
    row_log        SQLAlchemy's row log shows the kit's columns as [REDACTED]
    blind_index    HMAC columns for equality lookups, kept in step on insert and update
    plan           what a column rewrite needs to know about its table (inspect_column)
    rewriter       one column rewritten in primary-key batches (rotation, encrypt_column)
    batches        a batch's one UPDATE, written while the next batch is read
    shadow         encrypt_column's online change of a plaintext column to bytea
    rotation       ``rotate()``: every value of a column moved to the active key
    encrypt_column ``op.encrypt_column`` / ``op.decrypt_column`` (Alembic)

Importing any of them changes nothing outside the kit: the hooks go on an engine's dialect
when one of the kit's types or columns is first compiled for it (``hooks``).
"""
