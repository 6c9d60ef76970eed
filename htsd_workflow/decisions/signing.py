"""PAdES signatures on issued decisions with pyHanko: a PKCS#12 file, or a PKCS#11 token
(the USB tokens Vietnamese certificate authorities issue). Without a key: unsigned."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

from flask import current_app


def signing_configured(config=None) -> bool:
    config = config or current_app.config
    return bool(config.get("SIGNING_P12_PATH") or config.get("SIGNING_PKCS11_MODULE"))


def _metadata():
    from pyhanko.sign import fields, signers

    return signers.PdfSignatureMetadata(
        field_name="ChuKySo",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="Ký ban hành quyết định công nhận",
    )


def _sign_with(signer, pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    def sign() -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        return signers.sign_pdf(writer, _metadata(), signer=signer).getvalue()

    # pyHanko's synchronous API runs its own event loop (asyncio.run), which Python refuses in
    # a thread that already runs one (an async server, a process driving a browser): sign in a
    # thread of its own there
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return sign()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(sign).result()


def sign_pdf(pdf: bytes, config=None) -> tuple[bytes, bool]:
    """(the PDF, whether it is signed): signed with the configured key, as it is without one."""
    config = config or current_app.config
    if config.get("SIGNING_P12_PATH"):
        from pyhanko.sign import signers

        password = config.get("SIGNING_P12_PASSWORD")
        signer = signers.SimpleSigner.load_pkcs12(
            pfx_file=config["SIGNING_P12_PATH"],
            passphrase=password.encode("utf-8") if password else None,
        )
        if signer is None:
            raise RuntimeError("SIGNING_P12_PATH: the key could not be read (password?)")
        return _sign_with(signer, pdf), True
    if config.get("SIGNING_PKCS11_MODULE"):
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign import pkcs11

        session = pkcs11.open_pkcs11_session(
            config["SIGNING_PKCS11_MODULE"],
            token_criteria=TokenCriteria(label=config.get("SIGNING_PKCS11_TOKEN_LABEL")),
            user_pin=config.get("SIGNING_PKCS11_PIN"),
        )
        try:
            signer = pkcs11.PKCS11Signer(
                session,
                key_label=config.get("SIGNING_PKCS11_KEY_LABEL") or None,
                cert_label=config.get("SIGNING_PKCS11_CERT_LABEL")
                or config.get("SIGNING_PKCS11_KEY_LABEL"),
            )
            return _sign_with(signer, pdf), True
        finally:
            session.close()
    return pdf, False
