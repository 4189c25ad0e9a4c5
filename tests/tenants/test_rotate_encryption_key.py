from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from llm_routing import providers
from tenants import crypto, key_rotation, services
from tenants.models import Tenant
from tests.tenants.helpers import make_key

pytestmark = pytest.mark.django_db


def new_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def keyed_tenants(make_tenant):
    """Five tenants with every provider's key, written under the current key."""
    result = {}
    for _ in range(5):
        tenant = make_tenant()
        keys = {p: make_key(p) for p in providers.provider_names()}
        services.tenant_set_tokens(tenant=tenant, tokens=keys)
        result[tenant.pk] = keys
    return result


def all_keys_readable(expected) -> None:
    for tenant in Tenant.objects.filter(pk__in=expected):
        for provider, key in expected[tenant.pk].items():
            assert services.tenant_provider_key(tenant=tenant, provider=provider) == key


def run(*args) -> str:
    out = StringIO()
    call_command("rotate_encryption_key", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_after_rotating_the_old_key_can_be_removed(settings, keyed_tenants):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), old]
    output = run()
    assert "5 tenants, re-encrypted 15 keys, 0 already current, 0 unreadable" in output
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    all_keys_readable(keyed_tenants)


def test_rotating_twice_changes_nothing_the_second_time(settings, keyed_tenants):
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), *settings.FIELD_ENCRYPTION_KEYS]
    run()
    stored = {t.pk: (t.llm_tokens, t.updated_at) for t in Tenant.objects.all()}
    assert "re-encrypted 0 keys, 15 already current" in run()
    assert {t.pk: (t.llm_tokens, t.updated_at) for t in Tenant.objects.all()} == stored


def test_an_interrupted_rotation_finishes_on_the_next_run(settings, keyed_tenants, monkeypatch):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), old]
    real, calls = key_rotation._rotate_one, []

    def dies_on_the_third_tenant(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(key_rotation, "_rotate_one", dies_on_the_third_tenant)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(key_rotation, "_rotate_one", real)
    assert "re-encrypted 9 keys, 6 already current" in run()
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    all_keys_readable(keyed_tenants)


def test_an_unreadable_key_is_reported_and_kept(settings, keyed_tenants, make_tenant):
    broken = make_tenant(slug="broken")
    stranger = Fernet(new_key().encode()).encrypt(b"written elsewhere").decode()
    Tenant.objects.filter(pk=broken.pk).update(llm_tokens={"groq": stranger})
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), *settings.FIELD_ENCRYPTION_KEYS]
    with pytest.raises(CommandError, match="broken/groq cannot be decrypted"):
        run()
    broken.refresh_from_db()
    assert broken.llm_tokens == {"groq": stranger}
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    all_keys_readable(keyed_tenants)  # the others were still rotated


def test_progress_is_shown_on_large_tables(settings, keyed_tenants):
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), *settings.FIELD_ENCRYPTION_KEYS]
    output = run("--batch-size", "2")
    assert "2/5 tenants (40%)" in output and "5/5 tenants (100%)" in output


def test_a_dry_run_counts_but_changes_nothing(settings, keyed_tenants):
    before = {t.pk: t.llm_tokens for t in Tenant.objects.all()}
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), *settings.FIELD_ENCRYPTION_KEYS]
    assert "would re-encrypt 15 keys" in run("--dry-run")
    assert {t.pk: t.llm_tokens for t in Tenant.objects.all()} == before


def test_a_bad_batch_size_is_a_clear_error(db):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        run("--batch-size", "0")


def test_the_newest_key_is_the_one_that_encrypts(settings, keyed_tenants):
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), *settings.FIELD_ENCRYPTION_KEYS]
    run()
    for tenant in Tenant.objects.all():
        assert all(crypto.is_under_newest_key(c) for c in tenant.llm_tokens.values())


def test_counts_of_one_read_in_the_singular(settings, make_tenant):
    tenant = make_tenant()
    services.tenant_set_tokens(tenant=tenant, tokens={"groq": make_key("groq")})
    settings.FIELD_ENCRYPTION_KEYS = [new_key(), *settings.FIELD_ENCRYPTION_KEYS]
    assert "rotate_encryption_key: 1 tenant, re-encrypted 1 key, 0 already current" in run()


def test_on_a_development_install_the_unreadable_key_message_names_the_dev_key_file(
    settings, keyed_tenants, tmp_path
):
    # Keys written under FIELD_ENCRYPTION_KEYS; then that list is emptied, as on a laptop
    # where it was only set for a while: the development key file is what decrypts now.
    dev_file = tmp_path / "dev-encryption-key"
    dev_file.write_text(new_key() + "\n")
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.FIELD_ENCRYPTION_DEV_KEY_FILE = dev_file
    with pytest.raises(CommandError) as failure:
        run()
    message = str(failure.value)
    assert f"the development key in {dev_file} (FIELD_ENCRYPTION_KEYS is empty)" in message
    assert "any key in FIELD_ENCRYPTION_KEYS" not in message
    tenant = Tenant.objects.get(pk=next(iter(keyed_tenants)))
    with pytest.raises(crypto.TokenDecryptionError, match="development key in"):
        services.tenant_provider_key(tenant=tenant, provider="groq")


def test_the_dev_key_file_is_named_relative_to_the_checkout(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.FIELD_ENCRYPTION_DEV_KEY_FILE = settings.BASE_DIR / "var" / "dev-encryption-key"
    assert crypto.key_source() == (
        "the development key in var/dev-encryption-key (FIELD_ENCRYPTION_KEYS is empty)"
    )
    settings.FIELD_ENCRYPTION_KEYS = [new_key()]
    assert crypto.key_source() == "any key in FIELD_ENCRYPTION_KEYS"
