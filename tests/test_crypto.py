"""shared.crypto: what the cloud stores can only be opened by a key holder, for the guest
and the id it was sealed for, and a demo key never reaches production."""

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.crypto import (
    NONCE_BYTES,
    TAG_BYTES,
    AuthenticationFailed,
    ChainKeyring,
    CryptoError,
    DataKey,
    DemoKeyRefused,
    KeyFileError,
    UnknownKeyVersion,
    open_identity,
    open_keyring,
    open_observation,
    pseudonym,
    require_production_keys,
    rewrap,
    seal_identity,
    seal_observation,
    unwrap,
    wrap,
)
from shared.sync import SealedIdentity, SealedObservation, WrappedKey

PSEUDONYM = re.compile(r"[A-Za-z0-9_-]{43}")
PAYLOAD = b'{"key":"room.temperature_c","value":22.5,"kind":"observed"}'
IDENTITY = b'{"name":"Ada Lovelace","email":"ada@example.org"}'


@pytest.fixture
def keyring() -> ChainKeyring:
    return ChainKeyring.generate("chain-test")


@pytest.fixture
def guest(keyring: ChainKeyring) -> str:
    return keyring.pseudonym("LOY-0001")


@pytest.fixture
def data_key() -> DataKey:
    return DataKey.generate()


@pytest.fixture
def sealed(guest: str, data_key: DataKey) -> SealedObservation:
    return seal_observation(
        PAYLOAD,
        observation_id=uuid.uuid4(),
        pseudonym=guest,
        property_id="hotel-lisbon",
        data_key=data_key,
    )


def flip(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]


def relabel(sealed: SealedObservation, **fields: object) -> SealedObservation:
    """The record with some fields changed, as the cloud would send it: through the wire."""
    return SealedObservation.model_validate({**sealed.model_dump(mode="json"), **fields})


# --- pseudonyms --------------------------------------------------------------------------


def test_pseudonym_is_43_chars_of_base64url_hmac() -> None:
    secret = bytes(range(32))
    expected = hmac.new(secret, b"loy-0001", hashlib.sha256).digest()
    name = pseudonym("LOY-0001", secret)
    assert PSEUDONYM.fullmatch(name)
    assert base64.urlsafe_b64decode(name + "=") == expected


def test_pseudonym_is_deterministic_normalised_and_secret_dependent() -> None:
    secret, other = bytes(32), bytes([1]) * 32
    name = pseudonym("LOY-0001", secret)
    assert pseudonym("  loy-0001\n", secret) == name  # stripped and case-folded
    assert pseudonym("\uff2c\uff2f\uff39-0001", secret) == name  # full-width letters: NFKC
    assert pseudonym("LOY-0002", secret) != name
    assert pseudonym("LOY-0001", other) != name
    assert pseudonym("LOY 0001", secret) != name  # inside the id nothing is touched


@pytest.mark.parametrize("loyalty_id", ["", "   "])
def test_empty_loyalty_id_is_refused(loyalty_id: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        pseudonym(loyalty_id, bytes(32))


def test_short_pseudonym_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        pseudonym("LOY-0001", bytes(16))


def test_pseudonym_fits_the_wire_model(keyring: ChainKeyring, data_key: DataKey) -> None:
    names = [keyring.pseudonym(f"LOY-{n}") for n in range(200)]
    assert {"-", "_"} <= set("".join(names))  # base64url's own two characters turn up
    for name in names:
        wrap(data_key, keyring, name)


# --- observations --------------------------------------------------------------------------


def test_observation_round_trip_through_the_wire(
    sealed: SealedObservation, data_key: DataKey
) -> None:
    assert len(sealed.nonce) == NONCE_BYTES  # the attribute holds raw bytes, not base64
    assert len(sealed.ciphertext) == len(PAYLOAD) + TAG_BYTES
    wire = json.loads(sealed.model_dump_json())
    assert base64.b64decode(wire["nonce"]) == sealed.nonce
    assert PAYLOAD not in sealed.model_dump_json().encode()
    received = SealedObservation.model_validate_json(sealed.model_dump_json())
    assert open_observation(received, data_key) == PAYLOAD


def test_observation_id_is_the_uuid_hex(guest: str, data_key: DataKey) -> None:
    obs_id = uuid.uuid4()
    by_uuid = seal_observation(
        PAYLOAD, observation_id=obs_id, pseudonym=guest, property_id="h1", data_key=data_key
    )
    by_hex = seal_observation(
        PAYLOAD, observation_id=obs_id.hex, pseudonym=guest, property_id="h1", data_key=data_key
    )
    assert by_uuid.id == by_hex.id == obs_id.hex
    assert open_observation(by_hex, data_key) == PAYLOAD


def test_each_seal_takes_a_fresh_nonce(guest: str, data_key: DataKey) -> None:
    obs_id = uuid.uuid4()
    a, b = (
        seal_observation(
            PAYLOAD, observation_id=obs_id, pseudonym=guest, property_id="h1", data_key=data_key
        )
        for _ in range(2)
    )
    assert a.nonce != b.nonce
    assert a.ciphertext != b.ciphertext


def test_every_byte_of_nonce_and_ciphertext_is_authenticated(
    sealed: SealedObservation, data_key: DataKey
) -> None:
    for field in ("nonce", "ciphertext"):
        raw: bytes = getattr(sealed, field)
        for i in range(len(raw)):
            forged = relabel(sealed, **{field: base64.b64encode(flip(raw, i)).decode()})
            with pytest.raises(AuthenticationFailed):
                open_observation(forged, data_key)


@pytest.mark.parametrize(
    "change",
    [
        {"pseudonym": "B" * 43},  # moved to another guest
        {"id": "0" * 32},  # replayed under another id
        {"property_id": "hotel-porto"},  # re-labelled as recorded elsewhere
    ],
)
def test_every_envelope_field_is_bound(
    sealed: SealedObservation, data_key: DataKey, change: dict[str, str]
) -> None:
    with pytest.raises(AuthenticationFailed):
        open_observation(relabel(sealed, **change), data_key)


def test_the_data_key_version_is_bound(sealed: SealedObservation, data_key: DataKey) -> None:
    same_bytes_v2 = DataKey(data_key.secret, version=2)
    with pytest.raises(AuthenticationFailed):
        open_observation(relabel(sealed, data_key_version=2), same_bytes_v2)


def test_a_key_of_another_version_is_named_not_tried(
    sealed: SealedObservation, data_key: DataKey
) -> None:
    with pytest.raises(UnknownKeyVersion, match="v1"):
        open_observation(sealed, DataKey(data_key.secret, version=2))


def test_another_guests_key_opens_nothing(keyring: ChainKeyring, sealed: SealedObservation) -> None:
    other_guest = keyring.pseudonym("LOY-0002")
    with pytest.raises(AuthenticationFailed):
        open_observation(sealed, DataKey.generate())
    with pytest.raises(AuthenticationFailed):  # moved and opened with the other guest's key
        open_observation(relabel(sealed, pseudonym=other_guest), DataKey.generate())


@pytest.mark.parametrize("nonce", [b"", b"\x00" * 8, b"\x00" * 16])
def test_malformed_nonce_is_refused(
    sealed: SealedObservation, data_key: DataKey, nonce: bytes
) -> None:
    with pytest.raises(AuthenticationFailed, match="malformed"):
        open_observation(relabel(sealed, nonce=base64.b64encode(nonce).decode()), data_key)


def test_ciphertext_shorter_than_a_tag_is_refused(
    sealed: SealedObservation, data_key: DataKey
) -> None:
    short = base64.b64encode(sealed.ciphertext[: TAG_BYTES - 1]).decode()
    with pytest.raises(AuthenticationFailed, match="malformed"):
        open_observation(relabel(sealed, ciphertext=short), data_key)


@settings(max_examples=60)
@given(
    payload=st.binary(max_size=4096),
    obs_id=st.uuids(),
    property_id=st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True),
    version=st.integers(min_value=1, max_value=2**31),
)
def test_any_payload_round_trips(
    payload: bytes, obs_id: uuid.UUID, property_id: str, version: int
) -> None:
    key = DataKey(bytes(32), version)
    sealed = seal_observation(
        payload, observation_id=obs_id, pseudonym="A" * 43, property_id=property_id, data_key=key
    )
    received = SealedObservation.model_validate_json(sealed.model_dump_json())
    assert open_observation(received, key) == payload


# --- identity ------------------------------------------------------------------------------


def test_identity_round_trip(guest: str, data_key: DataKey) -> None:
    sealed = seal_identity(IDENTITY, guest, data_key)
    received = SealedIdentity.model_validate_json(sealed.model_dump_json())
    assert IDENTITY not in sealed.model_dump_json().encode()
    assert open_identity(received, data_key) == IDENTITY


def test_identity_of_another_guest_fails(guest: str, data_key: DataKey) -> None:
    sealed = seal_identity(IDENTITY, guest, data_key)
    moved = SealedIdentity.model_validate({**sealed.model_dump(mode="json"), "pseudonym": "B" * 43})
    with pytest.raises(AuthenticationFailed):
        open_identity(moved, data_key)


def test_identity_and_observation_cannot_stand_in_for_each_other(
    guest: str, data_key: DataKey, sealed: SealedObservation
) -> None:
    identity = seal_identity(IDENTITY, guest, data_key)
    as_observation = relabel(
        sealed, **{k: v for k, v in identity.model_dump(mode="json").items() if k != "pseudonym"}
    )
    with pytest.raises(AuthenticationFailed):
        open_observation(as_observation, data_key)
    as_identity = SealedIdentity.model_validate(
        {
            k: v
            for k, v in sealed.model_dump(mode="json").items()
            if k in SealedIdentity.model_fields
        }
    )
    with pytest.raises(AuthenticationFailed):
        open_identity(as_identity, data_key)


# --- wrapped data keys ---------------------------------------------------------------------


def relabel_key(key: WrappedKey, **fields: object) -> WrappedKey:
    return WrappedKey.model_validate({**key.model_dump(mode="json"), **fields})


def test_wrap_round_trip(keyring: ChainKeyring, guest: str, data_key: DataKey) -> None:
    wrapped = wrap(data_key, keyring, guest)
    assert (wrapped.chain_key_id, wrapped.chain_key_version) == ("chain-test", 1)
    assert wrapped.data_key_version == data_key.version
    assert len(wrapped.wrapped) == NONCE_BYTES + 32 + TAG_BYTES
    assert data_key.secret not in wrapped.wrapped
    received = WrappedKey.model_validate_json(wrapped.model_dump_json())
    unwrapped = unwrap(received, keyring)
    assert unwrapped.secret == data_key.secret
    assert unwrapped.version == data_key.version


def test_every_byte_of_a_wrapped_key_is_authenticated(
    keyring: ChainKeyring, guest: str, data_key: DataKey
) -> None:
    wrapped = wrap(data_key, keyring, guest)
    for i in range(len(wrapped.wrapped)):
        forged = relabel_key(wrapped, wrapped=base64.b64encode(flip(wrapped.wrapped, i)).decode())
        with pytest.raises(AuthenticationFailed):
            unwrap(forged, keyring)


def test_a_wrapped_key_is_bound_to_its_guest_and_versions(
    keyring: ChainKeyring, guest: str, data_key: DataKey
) -> None:
    keyring = keyring.with_new_version()  # so that both KEK versions exist
    wrapped = wrap(data_key, keyring, guest, version=1)
    for change in (
        {"pseudonym": keyring.pseudonym("LOY-0002")},  # copied onto another guest's row
        {"data_key_version": 2},
        {"chain_key_version": 2},
    ):
        with pytest.raises(AuthenticationFailed):
            unwrap(relabel_key(wrapped, **change), keyring)


def test_a_wrapped_key_needs_the_right_chain_key(guest: str, data_key: DataKey) -> None:
    wrapped = wrap(data_key, ChainKeyring.generate("chain-a"), guest)
    with pytest.raises(UnknownKeyVersion, match="chain-a"):
        unwrap(wrapped, ChainKeyring.generate("chain-b"))
    with pytest.raises(AuthenticationFailed):  # same id, other material: a wrong key file
        unwrap(wrapped, ChainKeyring.generate("chain-a"))
    with pytest.raises(UnknownKeyVersion, match="no version 7"):
        unwrap(relabel_key(wrapped, chain_key_version=7), ChainKeyring.generate("chain-a"))


# --- rotation ------------------------------------------------------------------------------


def test_rotation_rewraps_without_touching_sealed_data(
    keyring: ChainKeyring, guest: str, data_key: DataKey, sealed: SealedObservation
) -> None:
    old = wrap(data_key, keyring, guest)
    rotated = keyring.with_new_version()
    assert rotated.versions == (1, 2)
    assert rotated.current_version == 2
    assert unwrap(old, rotated).secret == data_key.secret  # old wraps still open

    new = rewrap(old, rotated)
    assert new.chain_key_version == 2
    assert new.wrapped != old.wrapped
    assert (new.pseudonym, new.data_key_version) == (old.pseudonym, old.data_key_version)
    assert open_observation(sealed, unwrap(new, rotated)) == PAYLOAD
    assert rewrap(new, rotated) is new  # already current: a resumed rotation skips it

    retired = rotated.without_version(1)
    assert retired.versions == (2,)
    with pytest.raises(UnknownKeyVersion):
        unwrap(old, retired)
    assert open_observation(sealed, unwrap(new, retired)) == PAYLOAD


def test_rewrap_to_a_chosen_version(keyring: ChainKeyring, guest: str, data_key: DataKey) -> None:
    rotated = keyring.with_new_version()
    back = rewrap(wrap(data_key, rotated, guest), rotated, to_version=1)
    assert back.chain_key_version == 1
    assert unwrap(back, keyring).secret == data_key.secret


def test_the_current_version_cannot_be_retired(keyring: ChainKeyring) -> None:
    with pytest.raises(ValueError, match="current"):
        keyring.without_version(1)
    with pytest.raises(UnknownKeyVersion):
        keyring.with_new_version().without_version(5)


# --- key file ------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_keyring_file_is_private_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "chain.json"
    keyring = ChainKeyring.generate_demo(path)
    assert keyring.demo
    assert mode(path) == 0o600
    assert json.loads(path.read_text())["demo"] is True
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind

    loaded = ChainKeyring.load(path)
    assert loaded.demo
    assert loaded.pseudonym("LOY-0001") == keyring.pseudonym("LOY-0001")
    data_key = DataKey.generate()
    assert unwrap(wrap(data_key, keyring, "A" * 43), loaded).secret == data_key.secret


def test_a_demo_keyring_never_overwrites_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    ChainKeyring.generate("chain-prod").save(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        ChainKeyring.generate_demo(path)
    assert path.read_bytes() == before


def test_save_is_0600_whatever_the_umask(tmp_path: Path, keyring: ChainKeyring) -> None:
    path = tmp_path / "chain.json"
    previous = os.umask(0)
    try:
        keyring.save(path)
        path.chmod(0o644)
        rotated = keyring.with_new_version()
        rotated.save(path)  # replaces the file, and its loose mode with it
    finally:
        os.umask(previous)
    assert mode(path) == 0o600
    assert ChainKeyring.load(path).versions == (1, 2)
    assert not ChainKeyring.load(path).demo
    assert list(tmp_path.iterdir()) == [path]


def test_a_loose_key_file_is_reported(
    tmp_path: Path, keyring: ChainKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chain.json"
    keyring.save(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="shared.crypto.keyring"):
        ChainKeyring.load(path)
    assert "0644" in caplog.text


def test_development_generates_a_demo_keyring_once(tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    first = open_keyring(path, "development")
    again = open_keyring(path, "development")
    assert first.demo
    assert again.pseudonym("LOY-0001") == first.pseudonym("LOY-0001")


@pytest.mark.parametrize("environment", ["production", "staging", "Development"])
def test_a_demo_keyring_is_refused_outside_development(tmp_path: Path, environment: str) -> None:
    path = tmp_path / "chain.json"
    ChainKeyring.generate_demo(path)
    with pytest.raises(DemoKeyRefused, match="demo"):
        open_keyring(path, environment)
    with pytest.raises(DemoKeyRefused):
        require_production_keys(ChainKeyring.load(path), environment)


def test_production_needs_a_key_file_and_never_makes_one(tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    with pytest.raises(KeyFileError, match="no chain key file"):
        open_keyring(path, "production")
    assert not path.exists()
    ChainKeyring.generate("chain-prod").save(path)
    assert open_keyring(path, "production").key_id == "chain-prod"


def test_malformed_key_files_are_refused_without_echoing_keys(
    tmp_path: Path, keyring: ChainKeyring
) -> None:
    path = tmp_path / "chain.json"
    keyring.save(path)
    good = json.loads(path.read_text())
    kek_text = good["versions"]["1"]
    short_kek = base64.b64encode(base64.b64decode(kek_text)[:31]).decode()
    cases = {
        "not json": "{",
        "no demo marker": {k: v for k, v in good.items() if k != "demo"},
        "demo as a string": {**good, "demo": "false"},
        "short KEK": {**good, "versions": {"1": short_kek}},
        "bad base64": {**good, "versions": {"1": kek_text + "!"}},
        "no current KEK": {**good, "current_version": 2},
        "unknown field": {**good, "extra": kek_text},
    }
    for name, content in cases.items():
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(KeyFileError) as caught:
            ChainKeyring.load(path)
        message = str(caught.value)
        assert kek_text not in message, name
        assert short_kek not in message, name
        assert caught.value.__cause__ is None, name  # pydantic's error quotes its input


# --- key material stays out of logs --------------------------------------------------------


def test_repr_shows_no_key_material(keyring: ChainKeyring, data_key: DataKey) -> None:
    secrets_ = [data_key.secret, keyring.pseudonym_secret, keyring.kek(1)]
    text = repr(keyring) + str(keyring) + repr(data_key) + str(data_key)
    for secret in secrets_:
        for shown in (secret.hex(), repr(secret), base64.b64encode(secret).decode()):
            assert shown not in text
    assert repr(keyring) == (
        "ChainKeyring(key_id='chain-test', versions=[1], current_version=1, demo=False)"
    )
    assert repr(data_key) == "DataKey(version=1)"


def test_errors_share_one_root() -> None:
    for error in (AuthenticationFailed, UnknownKeyVersion, DemoKeyRefused, KeyFileError):
        assert issubclass(error, CryptoError)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: DataKey(bytes(16)), "32 bytes"),
        (lambda: DataKey(bytes(32), version=0), ">= 1"),
        (lambda: ChainKeyring("bad/id", {1: bytes(32)}, 1, bytes(32)), "key id"),
        (lambda: ChainKeyring("ok", {1: bytes(31)}, 1, bytes(32)), "32 bytes"),
        (lambda: ChainKeyring("ok", {1: bytes(32)}, 2, bytes(32)), "no KEK"),
        (lambda: ChainKeyring("ok", {1: bytes(32)}, 1, bytes(8)), "pseudonym secret"),
    ],
)
def test_malformed_keys_are_refused(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_a_keyring_cannot_be_changed_after_the_checks(keyring: ChainKeyring) -> None:
    with pytest.raises(TypeError):
        keyring.keks[9] = bytes(32)  # type: ignore[index]


def test_an_unwritable_key_file_is_a_key_file_error(tmp_path: Path, keyring: ChainKeyring) -> None:
    with pytest.raises(KeyFileError, match="cannot write"):
        keyring.save(tmp_path / "missing-dir" / "chain.json")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(KeyFileError, match="cannot write"):
        open_keyring(not_a_dir / "chain.json", "development")
