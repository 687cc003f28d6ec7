"""The server-side family: pgcrypto in PostgreSQL, the key only ever a bind parameter.

``PGPText``, ``PGPBytes``: ``pgp_sym_encrypt_bytea`` / ``pgp_sym_decrypt_bytea`` run in
PostgreSQL with ``cipher-algo=aes256, s2k-mode=1`` (one hash of a random 256-bit password:
the iterated S2K default exists to slow down guessing of human passwords and costs ~30x more
per row). The password is a per-column key derived from the keyring key and is only ever a
bind parameter: a compile that would inline it (``literal_binds``, Alembic ``--sql``, a
driver that interpolates parameters client-side such as psycopg2) raises ``InlineKeyError``,
and so does a statement on psycopg's ``ClientCursor`` (``hardening.crypto.hooks``). The
stored value is ``0x02 | len | key id | OpenPGP message``; the SELECT picks the key by id from
an array parameter, so rows under old keys still read during a rotation. Keep
``log_parameter_max_length = 0`` on the database (the kit's migration sets it): the server
would otherwise log the password and plaintext parameters with ``log_statement``.

pgcrypto's failures in a SELECT become ``DecryptionError`` / ``KeyNotFoundError`` naming the
columns (``translate_error``, called by the engine hooks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy import Integer, LargeBinary, Text, func, literal_column, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.schema import Column

from hardening.crypto.base import EncryptedBase
from hardening.crypto.cipher import ColumnCipher
from hardening.crypto.codecs import BytesValues, TextValues
from hardening.crypto.envelope import MAX_KEY_ID, PGP_V1
from hardening.crypto.redacted import Secret, SecretText
from hardening.errors import DecryptionError, InlineKeyError, KeyNotFoundError

__all__ = ["PGPBytes", "PGPText", "PGPType", "SecretBind", "translate_error"]

T = TypeVar("T")

PGP_OPTIONS = "cipher-algo=aes256, s2k-mode=1"
UNKNOWN_KEY_MARK = "pg-hardening: unknown key id "
NOT_ENVELOPE_MARK = "pg-hardening: not an envelope"
_ESCAPE: ColumnElement[str] = literal_column("'escape'")
SAFE_PGP_DRIVERS = frozenset({"psycopg", "psycopg_async", "asyncpg", "pg8000"})


class SecretBind(BindParameter[Any]):
    """A bind parameter that refuses to be rendered into the SQL text: ``literal_binds``,
    offline ``--sql`` and drivers that interpolate parameters raise ``InlineKeyError``. The
    pgcrypto types bind their passwords with it.

    Args:
        key, value, callable_, type_, unique: as ``sqlalchemy.bindparam``.

    Example::

        password = SecretBind(None, callable_=lambda: cipher.pgp_material().password,
                              type_=Text(), unique=True)
    """

    __visit_name__ = "hardening_secret_bind"
    inherit_cache = True


@compiles(SecretBind)
def _compile_secret_bind(element: SecretBind, compiler: SQLCompiler, **kw: Any) -> str:
    dialect = compiler.dialect
    if kw.get("literal_binds") or kw.get("literal_execute") or element.literal_execute:
        raise InlineKeyError(
            "a pgcrypto key would be written into the SQL text (literal_binds, or Alembic "
            "offline --sql); pgcrypto columns need online execution with bind parameters"
        )
    if dialect.name == "postgresql" and dialect.driver not in SAFE_PGP_DRIVERS:
        raise InlineKeyError(
            f"the {dialect.driver} driver interpolates parameters into the SQL text, so a "
            "pgcrypto key would reach the server log; use postgresql+psycopg:// (psycopg 3)"
        )
    rendered: str = compiler.visit_bindparam(element, **kw)  # type: ignore[no-untyped-call]
    return rendered


def _secret(value: Callable[[], Any], type_: Any) -> SecretBind:
    return SecretBind(None, callable_=value, type_=type_, unique=True)


class PGPType(EncryptedBase[T]):
    """pgcrypto in PostgreSQL (see the module docstring). Needs the pgcrypto extension.

    ``PGPText`` uses pgcrypto's text functions (``pgp_sym_encrypt``/``pgp_sym_decrypt``), so
    the SELECT returns text and psycopg hands over a str with no bytea decoding;
    ``PGPBytes`` uses the ``_bytea`` variants. In the SELECT, a value whose key id the
    keyring lacks makes a cast fail with a message naming that id, which becomes
    ``KeyNotFoundError`` instead of a silent NULL.

    Args:
        context: as for every encrypted type (``EncryptedBase``): ``table.column`` by default.
        keys: the column's own keys; None uses the process-wide keyring.

    Example::

        notes: Mapped[str | None] = mapped_column(PGPText())   # CREATE EXTENSION pgcrypto
    """

    sql_text: ClassVar[bool] = False
    decrypted_in_sql = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        encode = self._encode
        text = self.sql_text

        def process(value: Any) -> Any:
            if value is None:
                return None
            if text:
                if not isinstance(value, str):
                    encode(value)  # raises the error that names the column
                return SecretText(value)
            return Secret(encode(value))

        return process

    def bind_expression(self, bindvalue: BindParameter[T]) -> ColumnElement[T]:
        cipher = self.cipher
        head = _secret(lambda: cipher.pgp_material().header, LargeBinary())
        password = _secret(lambda: cipher.pgp_material().password, Text())
        encrypt = func.pgp_sym_encrypt if self.sql_text else func.pgp_sym_encrypt_bytea
        encrypted = encrypt(
            bindvalue, password, literal_column(f"'{PGP_OPTIONS}'"), type_=LargeBinary()
        )
        return type_coerce(head.op("||", return_type=LargeBinary())(encrypted), self)

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[T]:
        # pgp_sym_decrypt(substr(v, 3 + n), coalesce(passwords[array_position(kids, kid)],
        #                 <error naming the key id>)) with n = get_byte(v, 1), kid = substr(v, 3, n)
        # One decrypt per row and nothing else: the result needs no processing in Python.
        # A key id missing from the keyring makes the cast fail with a message naming it,
        # which translate_error turns into KeyNotFoundError.
        cipher = self.cipher
        kids = _secret(lambda: cipher.pgp_material().key_ids, ARRAY(LargeBinary))
        passwords = _secret(lambda: cipher.pgp_material().passwords, ARRAY(Text))
        n = func.get_byte(colexpr, 1)
        kid = func.substr(colexpr, 3, n)
        # The message quotes the key id only when the value is a pgcrypto envelope whose key
        # id is a key id (0x02, length 1..64, the envelope's alphabet); anything else (raw
        # plaintext written by hand, another format) gets a fixed text, so no stored byte
        # reaches the server log or the exception. The CASE depends on the row, so the
        # planner cannot fold the failing cast into a constant.
        kid_text = func.encode(kid, _ESCAPE)
        is_envelope = sa.and_(
            func.get_byte(colexpr, 0) == literal_column(str(PGP_V1)),
            n.between(literal_column("1"), literal_column(str(MAX_KEY_ID))),
            func.length(colexpr) >= n + 2,
            kid_text.op("~")(literal_column("'^[A-Za-z0-9_.-]+$'")),
        )
        named = sa.case(
            (colexpr.is_(None), sa.null()),
            (is_envelope, literal_column(f"'{UNKNOWN_KEY_MARK}'").op("||")(kid_text)),
            else_=literal_column(f"'{NOT_ENVELOPE_MARK}'"),
        )
        missing = sa.cast(sa.cast(named, Integer), Text)
        password = func.coalesce(_Subscript(passwords, func.array_position(kids, kid)), missing)
        decrypt = func.pgp_sym_decrypt if self.sql_text else func.pgp_sym_decrypt_bytea
        return decrypt(func.substr(colexpr, n + 3), password, type_=self)

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class _Subscript(ColumnElement[Any]):
    """``(array)[index]``."""

    __visit_name__ = "hardening_subscript"
    inherit_cache = True

    def __init__(self, array: ColumnElement[Any], index: ColumnElement[Any]) -> None:
        self.array = array
        self.index = index
        self.type = Text()


@compiles(_Subscript)
def _compile_subscript(element: _Subscript, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.array, **kw)})[{compiler.process(element.index, **kw)}]"


class PGPText(TextValues, PGPType[str]):
    """A ``str``, encrypted by pgcrypto's text functions. Arguments: ``PGPType``.

    Example::

        notes: Mapped[str | None] = mapped_column(PGPText())
    """

    cache_ok = True
    sql_text = True


class PGPBytes(BytesValues, PGPType[bytes]):
    """``bytes``, encrypted by pgcrypto's bytea functions. Arguments: ``PGPType``.

    Example::

        scan: Mapped[bytes | None] = mapped_column(PGPBytes())
    """

    cache_ok = True


# ------------------------------------------------------------------ pgcrypto's errors, named
_PGP_ERRORS = ("Wrong key or corrupt data", "Corrupt data", "Not text data", "out of valid range")
# Only a key id (the SQL quotes nothing else; see PGPType.column_expression).
_UNKNOWN_KEY = re.compile(re.escape(UNKNOWN_KEY_MARK) + r'([A-Za-z0-9_.-]{1,64})"')


def translate_error(ctx: ExceptionContext) -> None:
    """Turn pgcrypto's failure in a SELECT of pgcrypto columns into ``DecryptionError`` or
    ``KeyNotFoundError`` naming the statement's pgcrypto columns and the key ids (never a
    key); any other error is left alone. pgcrypto fails the whole statement and does not
    say which key it tried, so the error names the columns, not a row, and the key id when
    the keyring holds one key (otherwise the candidates).

    Args:
        ctx: SQLAlchemy's ``ExceptionContext`` (the engine hooks' ``handle_error``).

    Example::

        event.listen(engine.dialect, "handle_error", translate_error)
    """
    statement = ctx.statement or ""
    if ctx.execution_context is None or "pgp_sym_decrypt" not in statement:
        return
    message = str(ctx.original_exception)
    unknown = _UNKNOWN_KEY.search(message)
    if (
        unknown is None
        and NOT_ENVELOPE_MARK not in message
        and not any(m in message for m in _PGP_ERRORS)
    ):
        return
    ciphers: list[ColumnCipher] = []
    compiled = ctx.execution_context.compiled
    if compiled is not None:
        for element in visitors.iterate(compiled.statement):
            col_type = getattr(element, "type", None)
            if (
                isinstance(element, Column)
                and isinstance(col_type, PGPType)
                and col_type.cipher.context
                and col_type.cipher not in ciphers
            ):
                ciphers.append(col_type.cipher)
    columns = ", ".join(c.name for c in ciphers) or "a pgcrypto column"
    key_ids: list[str] = []
    for cipher in ciphers:
        key_ids.extend(k for k in cipher.keyring().ids if k not in key_ids)
    if unknown is not None:
        raise KeyNotFoundError(unknown.group(1), columns, key_ids)
    if NOT_ENVELOPE_MARK in message:
        raise DecryptionError(
            columns,
            None,
            "the stored value is not a pgcrypto envelope (written without the column's type, "
            "e.g. plaintext stored by plain SQL); re-write it through the column's type",
        )
    # pgcrypto's error does not say which key it tried: with one key in the keyring it is
    # that one, otherwise the value's key id is one of the keyring's (an unknown one would
    # have been a KeyNotFoundError above).
    raise DecryptionError(
        columns,
        key_ids[0] if len(key_ids) == 1 else None,
        "pgcrypto could not decrypt it: wrong key, or the value was altered, truncated or "
        "copied from another column",
        candidates=key_ids if len(key_ids) > 1 else (),
    )
