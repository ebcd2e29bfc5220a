"""ID numbers at rest and in messages: sealed at the edge, keys without a public default,
masked in rejection reasons, dead letters, ClickHouse rows and logs (issue #13)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import stat

import pytest

from creditsync.log_privacy import PersonalIdLogFilter
from creditsync.pii_keys import (
    ENCRYPTION_KEYS_FILE,
    HASH_KEY_FILE,
    PiiKeysRefused,
    check_configured,
    load_pii_keys,
    shared_services,
)
from creditsync.settings import ClickHouseSettings, KafkaSettings, PrivacySettings
from producers.events import RecordRejection, build_intake_event
from producers.publisher import rejection_record
from schemas.dead_letters import Rejection, dead_letter_headers
from schemas.identifiers import InvalidCode, identify_code
from schemas.personal_ids import check_character, contains_resident_id
from schemas.pii_crypto import (
    PiiKeyError,
    PiiKeyring,
    decrypt_personal_id,
    encrypt_personal_id,
    is_envelope,
)
from sinks.clickhouse.operations import rejection_row
from streams.rules.privacy import hash_personal_id, published_payload
from tests.intake_factory import enterprise_codes

pytestmark = pytest.mark.security

DEPT = {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"}
AT = dt.datetime(2024, 3, 8, 9, 0, tzinfo=dt.UTC)


def id18(region: str, born: dt.date, seq: str) -> str:
    head = f"{region}{born:%Y%m%d}{seq}"
    return head + check_character(head)


PERSON = id18("640422", dt.date(1980, 5, 17), "123")
PERMIT = id18("810000", dt.date(1985, 6, 1), "021")  # Hong Kong resident's permit
OLD = "640422650801042"  # 15-digit legacy number, born 1965-08-01
USCC = "91640422MA76Y5XX1D"


def restriction_fields(**extra):
    return {
        "subject_code": enterprise_codes(1)["uscc"],
        "subject_name": "测试企业",
        "legal_basis": "《企业信息公示暂行条例》第十八条",
        "restricted_from": "2024-03-01",
        "restricted_to": "2027-02-28",
        "sending_department": "市场监管局",
        "receiving_departments": "税务局、住建局",
        "information_type": "严重违法失信企业名单",
        "person_category": "法定代表人",
        "person_name": "马某",
        "id_document_type": "身份证",
        "id_document_number": PERSON,
        **extra,
    }


# --- the keyring -------------------------------------------------------------------------


def test_an_envelope_names_its_key_and_opens_only_with_it():
    ring = PiiKeyring({"k1": bytes(32)})
    sealed = ring.encrypt(PERSON)
    assert sealed.startswith("enc:v1:k1:") and PERSON not in sealed
    assert ring.decrypt(sealed) == PERSON
    assert ring.encrypt(PERSON) != sealed  # a fresh nonce every time
    with pytest.raises(PiiKeyError, match="key id 'k1'"):
        PiiKeyring({"k2": bytes(32)}).decrypt(sealed)
    with pytest.raises(PiiKeyError, match="does not open"):
        PiiKeyring({"k1": bytes([1]) * 32}).decrypt(sealed)


def test_rotation_encrypts_with_the_newest_and_decrypts_with_an_old_key_id():
    old_entry = PiiKeyring.new_entry("2024")
    sealed_before = PiiKeyring.parse(old_entry).encrypt(PERSON)
    # The deployment appends a key: the newest encrypts, the old one still decrypts.
    rotated = PiiKeyring.parse(f"{old_entry},{PiiKeyring.new_entry('2025')}")
    assert rotated.current == "2025" and rotated.key_ids == ("2024", "2025")
    assert rotated.encrypt(PERSON).startswith("enc:v1:2025:")
    assert rotated.decrypt(sealed_before) == PERSON


def test_malformed_keyring_settings_are_refused():
    for spec in ("k1", "k1:not-base64!", "k1:" + "QUFB", "bad id:" + "A" * 44):
        with pytest.raises(PiiKeyError):
            PiiKeyring.parse(spec)


def test_published_payload_opens_the_envelope_to_mask_and_hash(pii_keyring):
    sealed = encrypt_personal_id(PERSON)
    assert encrypt_personal_id(sealed) == sealed  # a re-driven record is not sealed twice
    published = published_payload("restriction", {"id_document_number": sealed}, b"k")
    assert published["id_document_number_masked"] == f"640422********{PERSON[-4:]}"
    assert published["id_document_number_hash"] == hash_personal_id(PERSON, b"k")
    assert decrypt_personal_id(sealed) == PERSON and decrypt_personal_id(PERSON) == PERSON


# --- keys without a public default ----------------------------------------------------------


def test_unset_keys_are_made_once_in_the_data_dir_owner_only(tmp_path, caplog):
    unset = PrivacySettings(pii_hash_key=None, pii_encryption_keys=None)
    with caplog.at_level(logging.WARNING, logger="creditsync"):
        first = load_pii_keys(tmp_path, unset)
    again = load_pii_keys(tmp_path, unset)
    for name in (HASH_KEY_FILE, ENCRYPTION_KEYS_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert first.hash_key == again.hash_key and len(first.hash_key) >= 32
    assert again.keyring.decrypt(first.keyring.encrypt(PERSON)) == PERSON
    assert first.hash_key != b"creditsync-local-development-key"
    warned = caplog.text
    assert "CREDITSYNC_PII_HASH_KEY is not set" in warned
    assert "CREDITSYNC_PII_ENCRYPTION_KEYS is not set" in warned


def test_configured_keys_are_used_and_no_file_is_made(tmp_path):
    spec = PiiKeyring.new_entry("k9")
    keys = load_pii_keys(tmp_path, PrivacySettings(pii_hash_key="s3cret", pii_encryption_keys=spec))
    assert keys.hash_key == b"s3cret" and keys.keyring.current == "k9" and keys.local == ()
    assert not list(tmp_path.iterdir())


def test_shared_services_without_keys_refuse_to_start():
    unset = PrivacySettings(pii_hash_key=None, pii_encryption_keys=None)
    local = (KafkaSettings(kafka_bootstrap="127.0.0.1:9092,localhost:9093"), ClickHouseSettings())
    check_configured(unset, *local)  # one machine: fine
    assert shared_services(*local) == []
    for kafka, clickhouse in (
        (KafkaSettings(kafka_bootstrap="kafka-1.gov.internal:9092"), ClickHouseSettings()),
        (local[0], ClickHouseSettings(clickhouse_dsn="http://ch.gov.internal:8123/creditsync")),
    ):
        with pytest.raises(PiiKeysRefused, match="CREDITSYNC_PII_HASH_KEY and CREDITSYNC_PII_"):
            check_configured(unset, kafka, clickhouse)
    half = PrivacySettings(pii_hash_key="s3cret", pii_encryption_keys=None)
    with pytest.raises(PiiKeysRefused, match="CREDITSYNC_PII_ENCRYPTION_KEYS is not set"):
        check_configured(half, KafkaSettings(kafka_bootstrap="10.0.0.5:9092"), local[1])
    both = PrivacySettings(pii_hash_key="s3cret", pii_encryption_keys=PiiKeyring.new_entry("a"))
    check_configured(both, KafkaSettings(kafka_bootstrap="10.0.0.5:9092"), local[1])
    chdb = ClickHouseSettings(clickhouse_dsn="chdb:///srv/creditsync/clickhouse")
    assert shared_services(local[0], chdb) == []


# --- the edge ------------------------------------------------------------------------------


def test_the_producer_seals_the_id_number_and_the_event_id_is_the_clear_ones(pii_keyring):
    event = build_intake_event("restriction", restriction_fields(), DEPT, "http/1", 1, AT)
    assert isinstance(event, dict)
    sealed = event["payload"]["id_document_number"]
    assert is_envelope(sealed) and pii_keyring.decrypt(sealed) == PERSON
    assert not contains_resident_id(json.dumps(event, ensure_ascii=False, default=str))
    redriven = build_intake_event(
        "restriction", restriction_fields(id_document_number=sealed), DEPT, "http/1", 2, AT
    )
    assert redriven["event_id"] == event["event_id"]  # type: ignore[index]


@pytest.mark.parametrize(
    "form",
    [
        PERSON,
        f"{PERSON[:6]} {PERSON[6:14]} {PERSON[14:]}",
        OLD,
        PERMIT,
        PERSON[:8] + "\u200b" + PERSON[8:],
    ],
)
def test_a_full_id_number_in_free_text_is_refused_at_the_edge_and_kept_masked(form):
    fields = restriction_fields(legal_description=f"当事人身份证号{form}")
    refused = build_intake_event("restriction", fields, DEPT, "http/1", 1, AT)
    assert isinstance(refused, RecordRejection)
    assert ("legal_description" in refused.message and "640422" in refused.message) or PERMIT
    assert not contains_resident_id(refused.message), refused.message
    record = rejection_record(
        refused, category="restriction", department_code=DEPT["code"], adapter="http/1",
        fields=fields,
    )  # fmt: skip
    body = json.loads(record.value)
    assert not contains_resident_id(record.value.decode())
    assert is_envelope(body["fields"]["id_document_number"])
    assert not contains_resident_id("".join(v.decode() for _, v in record.headers))


# --- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [PERMIT, OLD, PERSON.lower(), f"{PERSON[:6]}-{PERSON[6:]}"])
def test_invalid_code_reasons_mask_every_id_number(number):
    with pytest.raises(InvalidCode) as caught:
        identify_code(number)
    assert not contains_resident_id(str(caught.value)), str(caught.value)
    assert "*****" in str(caught.value)


def test_dead_letter_reasons_and_clickhouse_rejections_are_masked():
    rejection = Rejection("unpublishable", "remarks", f"备注 {OLD} 与 {PERMIT}", "enrich")
    assert not contains_resident_id(rejection.message)
    headers = dead_letter_headers(rejection, topic="t", partition=0, offset=1)
    assert not contains_resident_id(" ".join(v.decode() for _, v in headers))
    row = rejection_row(
        {
            "rejection_id": "r1",
            "department_code": "d",
            "reason_code": "x",
            "reason": f"old reason with {PERSON[:6]} {PERSON[6:]}",
            "emitted_at": AT,
            "rejected_at": AT,
        }  # type: ignore[typeddict-item]
    )
    assert not contains_resident_id(row["reason"]) and "640422********" in row["reason"]


def test_log_records_are_masked_message_and_traceback():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "leaked %s", (OLD,), None)
    assert PersonalIdLogFilter().filter(record)
    assert record.getMessage() == f"leaked 640422*****{OLD[-4:]}"
    try:
        raise ValueError(f"bad {PERMIT}")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    PersonalIdLogFilter().filter(failed)
    formatted = logging.Formatter().format(failed)
    assert "boom" in formatted and "ValueError" in formatted
    assert not contains_resident_id(formatted)


def test_the_cli_refuses_shared_services_without_keys(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from creditsync.cli import app

    monkeypatch.delenv("CREDITSYNC_PII_HASH_KEY", raising=False)
    monkeypatch.delenv("CREDITSYNC_PII_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setenv("CREDITSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDITSYNC_KAFKA_BOOTSTRAP", "kafka-1.gov.internal:9092")
    result = CliRunner().invoke(app, ["down"])
    assert result.exit_code == 1
    assert "CREDITSYNC_PII_HASH_KEY" in result.output and "shared services" in result.output
    assert not list(tmp_path.iterdir())  # no key was made for a deployment that must set them


def test_a_forged_envelope_from_a_department_is_refused_at_the_edge_per_record(pii_keyring):
    fields = restriction_fields(id_document_number="enc:v1:" + pii_keyring.current + ":QUJD")
    refused = build_intake_event("restriction", fields, DEPT, "http/1", 1, AT)
    assert isinstance(refused, RecordRejection)
    assert "证件号码" in refused.message and "无法解密" in refused.message
