import uuid

import pytest
from cryptography.fernet import Fernet

from tenants import crypto


def test_token_round_trips_in_its_own_slot():
    tenant_id = uuid.uuid4()
    ciphertext = crypto.encrypt_token(tenant_id=tenant_id, provider="groq", token="secret-value")
    assert "secret-value" not in ciphertext
    assert crypto.decrypt_token(tenant_id=tenant_id, provider="groq", ciphertext=ciphertext) == (
        "secret-value"
    )


def test_ciphertext_copied_to_another_tenant_is_refused():
    ciphertext = crypto.encrypt_token(tenant_id=uuid.uuid4(), provider="groq", token="x" * 20)
    with pytest.raises(crypto.TokenDecryptionError, match="another tenant or provider"):
        crypto.decrypt_token(tenant_id=uuid.uuid4(), provider="groq", ciphertext=ciphertext)


def test_ciphertext_copied_to_another_provider_is_refused():
    tenant_id = uuid.uuid4()
    ciphertext = crypto.encrypt_token(tenant_id=tenant_id, provider="groq", token="x" * 20)
    with pytest.raises(crypto.TokenDecryptionError):
        crypto.decrypt_token(tenant_id=tenant_id, provider="llm7", ciphertext=ciphertext)


def test_unknown_key_is_an_error_not_an_empty_token(settings):
    tenant_id = uuid.uuid4()
    ciphertext = crypto.encrypt_token(tenant_id=tenant_id, provider="groq", token="x" * 20)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.TokenDecryptionError, match="cannot be decrypted"):
        crypto.decrypt_token(tenant_id=tenant_id, provider="groq", ciphertext=ciphertext)


def test_fingerprint_is_short_stable_and_not_the_key():
    key = "gsk_" + "a1" * 26
    assert crypto.fingerprint(key) == crypto.fingerprint(key)
    assert crypto.fingerprint(key) != crypto.fingerprint(key[:-1] + "b")
    assert key[4:14] not in crypto.fingerprint(key)
    assert len(crypto.fingerprint(key)) <= 13
