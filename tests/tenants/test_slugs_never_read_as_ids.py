"""Issue 8: a tenant's slug can never stand in for another tenant's id.

Ids are looked up as ids only, a slug that reads as a UUID is refused wherever a slug is
typed, and migration 0005 renames any such slug already stored.
"""

import importlib
import uuid

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from tenants import selectors
from tenants.models import Tenant, validate_slug_is_not_an_id
from tests.tenants.helpers import form_data, row_of

pytestmark = pytest.mark.django_db


def spellings(pk: uuid.UUID) -> list[str]:
    """Forms of one id that uuid.UUID reads, and so does a slug field's character set."""
    return [str(pk), pk.hex, str(pk).upper(), "-".join(pk.hex[i : i + 4] for i in range(0, 32, 4))]


def plant_slug(tenant: Tenant, slug: str) -> None:
    """What a row saved before the validator existed looks like (no validation on update)."""
    Tenant.objects.filter(pk=tenant.pk).update(slug=slug)


@pytest.mark.parametrize("form", range(4))
def test_an_id_resolves_to_its_tenant_even_when_another_slug_spells_it(
    make_tenant, tenant_a, form
):
    # Named to sort first: a lookup by "slug or id" that takes the first row finds it.
    attacker = make_tenant(name="Aaa Attacker")
    spelled = spellings(tenant_a.pk)[form]
    plant_slug(attacker, spelled)
    assert selectors.resolve_tenant(spelled) == tenant_a
    assert selectors.resolve_tenant(tenant_a.pk) == tenant_a


def test_an_id_of_no_tenant_is_not_found_even_when_a_slug_spells_it(make_tenant):
    attacker = make_tenant()
    missing = uuid.uuid4()
    plant_slug(attacker, str(missing))
    with pytest.raises(Tenant.DoesNotExist):
        selectors.resolve_tenant(str(missing))


@pytest.mark.parametrize(
    "slug",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "0f8fad5bd9cb469fa16570867728950e",
        "0F8FAD5B-D9CB-469F-A165-70867728950E",
        "0f8f-ad5b-d9cb-469f-a165-7086-7728-950e",
    ],
)
def test_a_slug_that_reads_as_an_id_is_refused(slug):
    with pytest.raises(ValidationError) as caught:
        validate_slug_is_not_an_id(slug)
    assert caught.value.code == "slug_is_an_id"


@pytest.mark.parametrize("slug", ["alpha", "0f8fad5b-d9cb-469f-a165-70867728950g", "deadbeef"])
def test_ordinary_slugs_pass(slug):
    validate_slug_is_not_an_id(slug)


def test_a_tenant_admin_cannot_give_their_tenant_another_tenants_id_as_slug(
    client_a, tenant_a, tenant_b
):
    change = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    data = form_data(client_a.get(change).content.decode())
    before = row_of(tenant_a)
    response = client_a.post(change, {**data, "slug": str(tenant_b.pk)})
    assert response.status_code == 200
    assert "cannot read as a tenant id" in response.content.decode()
    assert row_of(tenant_a) == before


def test_the_migration_renames_slugs_that_read_as_ids_and_keeps_the_others(make_tenant):
    migration = importlib.import_module("tenants.migrations.0005_tenant_slug_is_never_an_id")
    victim, attacker, other, plain = (make_tenant() for _ in range(4))
    plant_slug(attacker, str(victim.pk))
    plant_slug(other, f"renamed-{victim.pk}")  # the name the rename would pick is taken
    plant_slug(plain, "plain")

    migration.rename_slugs_that_read_as_ids(apps, None)

    attacker.refresh_from_db()
    assert attacker.slug == f"renamed-{victim.pk}"[:62] + "-2"
    assert selectors.resolve_tenant(str(victim.pk)) == victim
    assert Tenant.objects.get(pk=plain.pk).slug == "plain"
    assert Tenant.objects.get(pk=other.pk).slug == f"renamed-{victim.pk}"
    for tenant in Tenant.objects.all():
        validate_slug_is_not_an_id(tenant.slug)
