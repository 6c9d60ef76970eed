"""PAdES signatures with pyHanko: a throw-away CA and key, as a PKCS#12 file and on a SoftHSM2
token (PKCS#11); the signature validates, and one changed byte breaks it."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("pyhanko", reason="pyhanko is in requirements.txt; install it to sign")

from asn1crypto import x509 as asn1_x509  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

from htsd_workflow.decisions.signing import sign_pdf  # noqa: E402
from htsd_workflow.extensions import db  # noqa: E402

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December

PASSWORD = "mat-khau-thu"
SOFTHSM_MODULE = next(
    (
        path
        for path in (
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        )
        if os.path.exists(path)
    ),
    None,
)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


@pytest.fixture(scope="module")
def throwaway_ca():
    """(CA certificate, signer key, signer certificate), valid around the tests' clock."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    later = now + dt.timedelta(days=3650)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("CA thử nghiệm HTSĐ"))
        .issuer_name(_name("CA thử nghiệm HTSĐ"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Ủy ban nhân dân Phường Quang Trung"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca_cert, key, cert


def _context(ca_cert) -> ValidationContext:
    root = asn1_x509.Certificate.load(ca_cert.public_bytes(serialization.Encoding.DER))
    return ValidationContext(trust_roots=[root], allow_fetching=False)


def _status(pdf: bytes, ca_cert):
    reader = PdfFileReader(io.BytesIO(pdf))
    assert len(reader.embedded_signatures) == 1

    def validate():
        return validate_pdf_signature(reader.embedded_signatures[0], _context(ca_cert))

    # pyHanko validates through asyncio.run: in a thread of its own, since a test process that
    # drove a browser may still run an event loop in this one
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(validate).result()


def _one_byte_changed(pdf: bytes) -> bytes:
    """The same file with one byte of its signed content changed (in the header's binary
    comment line, so the file still opens)."""
    second_line = pdf.index(b"\n") + 2
    changed = bytearray(pdf)
    changed[second_line] ^= 0x01
    return bytes(changed)


@pytest.fixture
def p12_file(tmp_path, throwaway_ca):
    ca_cert, key, cert = throwaway_ca
    path = tmp_path / "ky-so.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"ky-so",
            key,
            cert,
            [ca_cert],
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    return path


def _a_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<p>Quyết định công nhận – thử ký số</p>").write_pdf()


def test_a_pkcs12_key_signs_and_the_signature_validates(ctx, p12_file, throwaway_ca):
    signed, is_signed = sign_pdf(
        _a_pdf(), {"SIGNING_P12_PATH": str(p12_file), "SIGNING_P12_PASSWORD": PASSWORD}
    )
    assert is_signed
    status = _status(signed, throwaway_ca[0])
    assert status.intact and status.valid and status.trusted
    broken = _status(_one_byte_changed(signed), throwaway_ca[0])
    assert not broken.intact and not broken.bottom_line


def test_without_a_key_the_pdf_is_unsigned(ctx):
    pdf = _a_pdf()
    assert sign_pdf(pdf, {}) == (pdf, False)


def test_an_issued_decision_is_signed_when_the_province_has_a_key(
    ctx, make, recognised, api, p12_file, throwaway_ca, as_user
):
    from datetime import date

    from htsd_workflow.decisions.models import Decision
    from htsd_workflow.decisions.operations import draft_decision, issue_decision
    from tests.factories import COMMUNE, DISTRICT

    recognised()
    decision = draft_decision("family", 2026, COMMUNE, make.reviewer("commune_reviewer", COMMUNE))
    manager = make.user("manager", DISTRICT)
    issue_decision(decision.id, "3", date(2026, 12, 2), "Nguyễn Văn A", manager)
    db.session.commit()
    ctx.config.update(SIGNING_P12_PATH=str(p12_file), SIGNING_P12_PASSWORD=PASSWORD)
    try:
        answer = api(manager).get(f"/decisions/{decision.id}/pdf")
        page = as_user(manager).get(f"/decisions/{decision.id}").get_data(as_text=True)
    finally:
        ctx.config.update(SIGNING_P12_PATH=None, SIGNING_P12_PASSWORD=None)
    assert answer.status_code == 200
    status = _status(answer.data, throwaway_ca[0])
    assert status.intact and status.valid and status.trusted
    assert db.session.get(Decision, decision.id).is_signed is True
    assert "đã được ký số" in page


@pytest.mark.skipif(
    SOFTHSM_MODULE is None or shutil.which("softhsm2-util") is None,
    reason="SoftHSM2 is not installed (Debian package softhsm2): PKCS#11 signing not tested",
)
def test_a_pkcs11_token_signs_and_the_signature_validates(tmp_path, throwaway_ca, monkeypatch):
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    ca_cert, key, cert = throwaway_ca
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "htsd", "--pin", "1234"]
        + ["--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    subprocess.run(
        ["softhsm2-util", "--import", str(pem), "--token", "htsd", "--label", "signing"]
        + ["--id", "01", "--pin", "1234"],
        check=True,
        capture_output=True,
    )
    lib = pkcs11.lib(SOFTHSM_MODULE)
    token = lib.get_token(token_label="htsd")
    with token.open(rw=True, user_pin="1234") as session:
        for value, label in ((cert, "signing"), (ca_cert, "ca")):
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: b"\x01" if label == "signing" else b"\x02",
                    Attribute.VALUE: value.public_bytes(serialization.Encoding.DER),
                    Attribute.SUBJECT: value.subject.public_bytes(),
                }
            )
    signed, is_signed = sign_pdf(
        _a_pdf(),
        {
            "SIGNING_PKCS11_MODULE": SOFTHSM_MODULE,
            "SIGNING_PKCS11_TOKEN_LABEL": "htsd",
            "SIGNING_PKCS11_PIN": "1234",
            "SIGNING_PKCS11_KEY_LABEL": "signing",
        },
    )
    assert is_signed
    status = _status(signed, ca_cert)
    assert status.intact and status.valid and status.trusted
    assert not _status(_one_byte_changed(signed), ca_cert).intact


def test_a_decision_is_signed_from_a_thread_that_runs_an_event_loop(ctx, p12_file, throwaway_ca):
    """pyHanko runs asyncio.run inside; a caller already in an event loop (an async server, a
    test process driving a browser) still gets a signed PDF, not a RuntimeError."""
    import asyncio

    config = {"SIGNING_P12_PATH": str(p12_file), "SIGNING_P12_PASSWORD": PASSWORD}
    pdf = _a_pdf()

    async def inside_a_loop():
        return sign_pdf(pdf, config)

    # in a thread of its own: this test process may already run a loop in its main thread
    # (Playwright's, when the browser tests ran first on this worker)
    with ThreadPoolExecutor(max_workers=1) as pool:
        signed, is_signed = pool.submit(asyncio.run, inside_a_loop()).result()
    assert is_signed
    status = _status(signed, throwaway_ca[0])
    assert status.intact and status.valid
