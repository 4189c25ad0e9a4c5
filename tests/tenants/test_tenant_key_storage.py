"""Provider keys stored on a tenant: bound to their slot, never silently lost."""

import pytest
from cryptography.fernet import Fernet

from tenants import crypto, services
from tenants.models import Tenant
from tests.tenants.helpers import make_key

pytestmark = pytest.mark.django_db


def test_a_ciphertext_copied_into_another_tenant_fails_with_a_clear_error(tenant_a, tenant_b):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    tenant_a.refresh_from_db()
    Tenant.objects.filter(pk=tenant_b.pk).update(llm_tokens=dict(tenant_a.llm_tokens))
    tenant_b.refresh_from_db()
    with pytest.raises(crypto.TokenDecryptionError, match="another tenant or provider"):
        services.tenant_provider_key(tenant=tenant_b, provider="groq")


def test_a_ciphertext_moved_to_another_providers_slot_fails(tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"llm7": make_key("llm7")})
    tenant_a.refresh_from_db()
    Tenant.objects.filter(pk=tenant_a.pk).update(llm_tokens={"groq": tenant_a.llm_tokens["llm7"]})
    tenant_a.refresh_from_db()
    with pytest.raises(crypto.TokenDecryptionError):
        services.tenant_provider_key(tenant=tenant_a, provider="groq")


def test_a_missing_key_is_none_but_an_unreadable_one_raises(tenant_a, settings):
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") is None
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.TokenDecryptionError, match="cannot be decrypted"):
        services.tenant_provider_key(tenant=tenant_a, provider="groq")


def test_status_shows_fingerprint_and_test_results_never_the_key(tenant_a):
    key = make_key("groq")
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": key})
    services.tenant_mark_token_failing(tenant=tenant_a, provider="groq", reason="401 from groq")
    status = services.tenant_token_status(tenant=tenant_a)["groq"]
    assert status["configured"] and status["failing"]
    assert status["failing_reason"] == "401 from groq"
    assert key[4:16] not in str(status)
    services.tenant_record_token_test(tenant=tenant_a, provider="groq", valid=True, message="ok")
    status = services.tenant_token_status(tenant=tenant_a)["groq"]
    assert status["test_valid"] is True and status["failing"] is False


def test_a_new_key_gets_a_new_fingerprint_and_clears_old_test_results(tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    services.tenant_record_token_test(tenant=tenant_a, provider="groq", valid=False, message="bad")
    first = services.tenant_token_status(tenant=tenant_a)["groq"]
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    second = services.tenant_token_status(tenant=tenant_a)["groq"]
    assert second["fingerprint"] != first["fingerprint"]
    assert second["tested_at"] is None


def test_recording_a_test_for_a_provider_without_key_does_nothing(tenant_a):
    services.tenant_record_token_test(tenant=tenant_a, provider="llm7", valid=True, message="ok")
    tenant_a.refresh_from_db()
    assert tenant_a.llm_token_status == {}
