import uuid

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

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


def test_with_two_keys_the_first_encrypts_and_both_decrypt(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    tenant_id = uuid.uuid4()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    under_old = crypto.encrypt_token(tenant_id=tenant_id, provider="groq", token="k" * 20)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert not crypto.is_under_newest_key(under_old)
    assert crypto.decrypt_token(tenant_id=tenant_id, provider="groq", ciphertext=under_old)
    rotated = crypto.reencrypt_under_newest_key(under_old)
    assert crypto.is_under_newest_key(rotated)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt_token(tenant_id=tenant_id, provider="groq", ciphertext=rotated) == (
        "k" * 20
    )


def test_garbage_in_a_slot_is_a_decryption_error(settings):
    for garbage in ("", "not base64 at all", "é", "gAAAAA" + "A" * 80):
        with pytest.raises(crypto.TokenDecryptionError):
            crypto.decrypt_token(tenant_id=uuid.uuid4(), provider="groq", ciphertext=garbage)


def test_the_error_message_never_contains_the_key():
    tenant_id = uuid.uuid4()
    secret = "s3cr3t-" + uuid.uuid4().hex
    ciphertext = crypto.encrypt_token(tenant_id=tenant_id, provider="groq", token=secret)
    with pytest.raises(crypto.TokenDecryptionError) as caught:
        crypto.decrypt_token(tenant_id=uuid.uuid4(), provider="groq", ciphertext=ciphertext)
    assert secret not in str(caught.value)


def test_a_malformed_key_list_is_refused_at_first_use(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["short"]
    with pytest.raises(ImproperlyConfigured, match="generate_encryption_key"):
        crypto.encrypt_token(tenant_id=uuid.uuid4(), provider="groq", token="x")
