"""The keyring: where keys come from, what is refused, and that no key is ever printed."""

from __future__ import annotations

import base64
import os
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from hardening import cli, keys
from hardening.errors import KeyConfigError, KeyNotFoundError
from hardening.keys import Keyring
from hardening.types import EncryptedText

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER = base64.b64encode(bytes(range(32, 64))).decode()


def test_the_first_entry_is_active_and_every_entry_decrypts() -> None:
    ring = Keyring.from_env({"HARDENING_KEYS": f"new:{OTHER}, old:{KEY}"})
    assert ring.active.id == "new"
    assert ring.ids == ("new", "old")
    assert ring.get("old").id == "old"
    with pytest.raises(KeyNotFoundError) as info:
        ring.get("gone")
    assert str(info.value) == (
        "key id 'gone' needed to decrypt a value is not in the keyring (it holds 'new', 'old'); "
        "add the old key back to HARDENING_KEYS after the active one"
    )
    assert info.value.__context__ is None


def test_keys_come_from_a_file_when_the_variable_is_unset(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2024-05\nk2:{OTHER}\nk1:{KEY}\n")
    ring = Keyring.from_env({"HARDENING_KEYS_FILE": str(path)})
    assert ring.ids == ("k2", "k1")
    with pytest.raises(KeyConfigError, match="cannot read the key file"):
        Keyring.from_env({"HARDENING_KEYS_FILE": str(tmp_path / "missing")})


SIZE_FIX = "keys are 32 random bytes, base64-encoded (`hardening keygen` prints one)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "",
            "no encryption keys: HARDENING_KEYS is set but empty; set "
            "HARDENING_KEYS=key_id:base64key (run `hardening keygen` for one), point "
            "HARDENING_KEYS_FILE at a file holding it, or call "
            "hardening.keys.configure_keys(hook)",
        ),
        ("k1", "HARDENING_KEYS, entry 1 has no ':'; expected key_id:base64(32 bytes)"),
        (f"k1:{KEY[:-8]}", f"HARDENING_KEYS, entry 1: key 'k1' has 27 bytes; {SIZE_FIX}"),
        (
            "k1:not*base64!",
            "HARDENING_KEYS, entry 1: key 'k1' is not valid base64; "
            "expected key_id:base64(32 random bytes)",
        ),
        (
            f"bad id:{KEY}",
            "HARDENING_KEYS, entry 1: a key id is not valid: use 1-64 characters from "
            "A-Z a-z 0-9 _ . - (entries are key_id:base64key, the id first)",
        ),
        (f"k1:{KEY},k1:{OTHER}", "key 'k1' appears twice in HARDENING_KEYS"),
    ],
)
def test_missing_short_or_malformed_keys_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(KeyConfigError) as info:
        Keyring.from_env({"HARDENING_KEYS": spec})
    assert str(info.value) == message
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # binascii's error would describe the key text


def test_there_is_no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDENING_KEYS", raising=False)
    monkeypatch.delenv("HARDENING_KEYS_FILE", raising=False)
    keys.configure_keys(None)
    with pytest.raises(KeyConfigError, match="hardening keygen"):
        keys.reload()


def test_an_application_hook_supplies_the_keys() -> None:
    calls: list[int] = []

    def vault() -> list[tuple[str, bytes]]:
        calls.append(1)
        return [("vault-1", os.urandom(32))]

    try:
        keys.configure_keys(vault)
        assert keys.default_keyring().ids == ("vault-1",)
        assert keys.default_keyring().ids == ("vault-1",)
        assert len(calls) == 1  # read once, cached until reload()
        keys.reload()
        assert len(calls) == 2
        with pytest.raises(KeyConfigError) as info:
            keys.configure_keys(lambda: [("short", b"abc")])
        assert str(info.value) == f"key 'short' has 3 bytes; {SIZE_FIX}"
    finally:
        keys.configure_keys(None)


def test_reprs_name_ids_never_material() -> None:
    ring = Keyring.parse(f"k1:{KEY}")
    for text in (repr(ring), repr(ring.active), str(ring), repr(ring.keys)):
        assert "k1" in text
        assert KEY not in text
        assert bytes(range(32)).hex() not in text
        assert repr(bytes(range(32))) not in text


def test_derived_keys_differ_per_purpose_and_from_the_key() -> None:
    key = Keyring.parse(f"k1:{KEY}").active
    derived = {key.derive("aead/v1"), key.derive("blind-index/v1/t.c"), key.derive("x")}
    assert len(derived) == 3
    assert bytes(range(32)) not in derived


def test_keygen_prints_an_entry_the_keyring_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keygen", "--id", "2024-05"]) == 0
    line = capsys.readouterr().out.strip()
    ring = Keyring.parse(line)
    assert ring.ids == ("2024-05",)
    assert cli.main(["keygen"]) == 0
    other = capsys.readouterr().out.strip()
    assert other.split(":")[1] != line.split(":")[1]
    assert len(base64.b64decode(other.split(":")[1])) == 32


def test_a_bad_key_given_to_a_column_fails_where_the_column_is_declared() -> None:
    from hardening.types import EncryptedText

    with pytest.raises(KeyConfigError) as info:
        EncryptedText(keys=[("k1", b"abc")])
    assert str(info.value) == f"key 'k1' has 3 bytes; {SIZE_FIX}"
    assert (
        repr(EncryptedText(keys=f"k1:{KEY}").keys)
        == "Keyring(ids=['k1'], source='keys= of EncryptedText')"
    )


URLSAFE = base64.urlsafe_b64encode(bytes(range(32, 64))).decode().rstrip("=")


@pytest.mark.parametrize(
    "spec",
    [
        f"{KEY}:k1",  # written the wrong way round
        f"{URLSAFE}:k1",  # the same, with an unpadded urlsafe key (a valid-looking id)
        f"{KEY}:{OTHER}",
        f"k1:{KEY},{OTHER}:k2",
        f"{URLSAFE}:{KEY},{URLSAFE}:{KEY}",
    ],
)
def test_an_entry_written_the_wrong_way_round_is_refused_without_quoting_it(spec: str) -> None:
    with pytest.raises(KeyConfigError, match="HARDENING_KEYS") as info:
        Keyring.from_env({"HARDENING_KEYS": spec})
    for material in (KEY, OTHER, URLSAFE, KEY[:40], OTHER[:40], URLSAFE[:40]):
        assert material not in str(info.value)


def test_a_key_given_in_place_of_its_id_is_refused_without_quoting_it() -> None:
    material = os.urandom(32)
    with pytest.raises(KeyConfigError, match="key id is not valid") as info:
        Keyring.from_pairs([(material, b"k1")])  # type: ignore[list-item]
    assert repr(material)[2:20] not in str(info.value)
    with pytest.raises(KeyConfigError, match="looks like key material") as info:
        Keyring.from_pairs([(URLSAFE, base64.b64decode(KEY)[:16])])
    assert URLSAFE[:40] not in str(info.value)


def test_unset_and_empty_variables_are_told_apart() -> None:
    with pytest.raises(KeyConfigError, match="HARDENING_KEYS and HARDENING_KEYS_FILE are unset"):
        Keyring.from_env({})
    both = {"HARDENING_KEYS": " ", "HARDENING_KEYS_FILE": ""}
    with pytest.raises(KeyConfigError, match="HARDENING_KEYS and HARDENING_KEYS_FILE are set but"):
        Keyring.from_env(both)


def test_url_safe_keys_are_decoded_strictly() -> None:
    raw = bytes(range(200, 232))
    url_safe = base64.urlsafe_b64encode(raw).decode()
    assert "-" in url_safe or "_" in url_safe
    assert Keyring.parse(f"k1:{url_safe}").active._material == raw
    assert Keyring.parse(f"k1:{url_safe.rstrip('=')}").active._material == raw  # unpadded
    for stray in (url_safe[:10] + "!!" + url_safe[10:], url_safe[:10] + " . " + url_safe[10:]):
        with pytest.raises(KeyConfigError, match="is not valid base64"):
            Keyring.parse(f"k1:{stray}")


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (None, "the configure_keys() hook gave a NoneType; expected a Keyring, a 'key_id:"),
        (("k1",), "the configure_keys() hook gave an entry that is not a (key_id, bytes) pair"),
        ([("k1", b"x" * 32, "extra")], "the configure_keys() hook gave an entry that is not"),
        (b"k1:" + KEY.encode(), "the configure_keys() hook gave a bytes; expected"),
    ],
)
def test_a_hook_returning_something_else_is_a_clear_error(result: object, message: str) -> None:
    try:
        with pytest.raises(KeyConfigError) as info:
            keys.configure_keys(lambda: result)  # type: ignore[arg-type,return-value]
        assert str(info.value).startswith(message)
        assert KEY not in str(info.value)
    finally:
        keys.configure_keys(None)


def test_a_hook_may_return_a_mapping_in_order() -> None:
    material = {"new": os.urandom(32), "old": os.urandom(32)}
    try:
        keys.configure_keys(lambda: material)
        assert keys.default_keyring().ids == ("new", "old")
    finally:
        keys.configure_keys(None)


def test_a_failing_hook_or_reload_leaves_the_keys_in_use() -> None:
    working = [("k1", os.urandom(32))]
    state = {"fail": False}

    def vault() -> list[tuple[str, bytes]]:
        if state["fail"]:
            raise ConnectionError("vault unreachable")
        return working

    try:
        keys.configure_keys(vault)
        before = keys.default_keyring()
        state["fail"] = True
        with pytest.raises(KeyConfigError) as info:
            keys.reload()
        assert str(info.value) == (
            "the configure_keys() hook raised ConnectionError (its error is the cause of this "
            "one); the keys in use, if any, are unchanged"
        )
        assert isinstance(info.value.__cause__, ConnectionError)
        assert keys.default_keyring() is before
        with pytest.raises(KeyConfigError, match="raised ValueError"):
            keys.configure_keys(lambda: (_ for _ in ()).throw(ValueError("no")))
        assert keys.default_keyring() is before
    finally:
        keys.configure_keys(None)


# A valid entry, then a malformed one: a traceback recorded with its frames' locals (as Sentry
# and rich record them) must show neither.
VALID = bytes(range(100, 132))
VALID_B64 = base64.b64encode(VALID).decode()
SHORT = os.urandom(20)
SPECS = {
    "short key": f"k1:{VALID_B64},k2:{base64.b64encode(SHORT).decode()}",
    "bad base64": f"k1:{VALID_B64}\nk2:{VALID_B64[:-4]}*!*=",
    "no colon": f"k1:{VALID_B64},{base64.b64encode(SHORT).decode()}",
}
SPEC = SPECS["short key"]


def traceback_text(call: Callable[[], object]) -> str:
    """Everything a traceback of ``call``'s error shows, every frame's locals included."""
    try:
        call()
    except KeyConfigError as exc:
        error = exc
    else:
        raise AssertionError("no KeyConfigError")
    report = traceback.TracebackException.from_exception(error, capture_locals=True)
    return "".join(report.format())


def assert_no_key_material(text: str) -> None:
    for secret in (VALID, SHORT):
        for shown in (base64.b64encode(secret).decode(), repr(secret), secret.hex()):
            assert shown not in text
    assert VALID_B64[:-4] not in text


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_no_frame_of_a_failed_parse_holds_the_key_specification(
    spec: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "keys").write_text(spec)
    monkeypatch.setenv("HARDENING_KEYS", spec)
    calls: dict[str, Callable[[], object]] = {
        "from_env(dict)": lambda: Keyring.from_env(dict(os.environ)),
        "from_env()": Keyring.from_env,
        "reload()": keys.reload,
        "from_file": lambda: Keyring.from_file(tmp_path / "keys"),
        "configure_keys(spec)": lambda: keys.configure_keys(os.environ["HARDENING_KEYS"]),
        "a column's keys=": lambda: EncryptedText(keys=os.environ["HARDENING_KEYS"]),
    }
    try:
        for name, call in calls.items():
            text = traceback_text(call)
            assert "KeyConfigError" in text, name
            assert_no_key_material(text)
    finally:
        keys.configure_keys(None)


PAIRS = [("k1", VALID), ("k2", SHORT)]


def test_no_frame_holds_the_keys_of_a_hook_or_pairs_with_a_bad_entry() -> None:
    calls: list[Callable[[], object]] = [
        lambda: keys.configure_keys(lambda: dict(PAIRS)),
        lambda: keys.configure_keys(lambda: list(PAIRS)),
        lambda: keys.as_keyring(dict(PAIRS)),
        lambda: Keyring.from_pairs(iter(PAIRS)),
    ]
    try:
        for call in calls:
            assert_no_key_material(traceback_text(call))
    finally:
        keys.configure_keys(None)
