"""Issue 8: one permission model, checked everywhere.

Every URL and action of the admin (tenants, their members, API keys, usage rows, tenants'
own prices), the
operator screens and the JSON API is tried by every kind of caller, on a tenant of their
own and on another tenant, and must answer exactly as written here: the allowed callers
get their 200/302 *and* the change happens; everyone else gets their refusal (a login
redirect, 401, 403 or 404) and nothing changes: no row, no key, no provider call.

The table is written out, not derived from ``tenants.permissions``, so a change to the role
table shows up here. The URL list is checked against the URL resolver: a new screen, API
endpoint, API method or tenant admin page without a row here fails
``test_the_matrix_covers_every_url_and_api_method``.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve, reverse

from llm_routing.models import RateCounter
from tenants import services
from tenants.models import AlertWebhook, Tenant, TenantAPIKey, TenantMembership
from tenants.permissions import Role
from tests.tenants.helpers import form_data, make_key
from usage import writer
from usage.models import Budget, BudgetAlert, BudgetWindow, ModelUsageStat, TenantPrice
from usage.records import build

pytestmark = pytest.mark.django_db

# Callers. "stranger" is staff with no membership; viewer, operator and owner are members of
# the "own" tenant only; "own_key" is an API key of the own tenant, "foreign_key" one of a
# third tenant. Targets: "own" (the tenant above) and "other" (nobody's here but root's).
PRINCIPALS = (
    "anonymous",
    "stranger",
    "viewer",
    "operator",
    "owner",
    "superuser",
    "own_key",
    "foreign_key",
)
ROLES = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "owner": Role.OWNER}
SEE = frozenset({"viewer", "operator", "owner", "superuser"})
CHANGE = frozenset({"operator", "owner", "superuser"})
OWNERS = frozenset({"owner", "superuser"})
ROOT = frozenset({"superuser"})
STAFF = SEE | {"stranger"}
NOBODY: frozenset[str] = frozenset()
KEY = frozenset({"own_key"})
NO_SESSION = {"anonymous", "own_key", "foreign_key"}


class World:
    """The tenants, people, keys and rows the steps act on, one fresh set per caller."""

    def __init__(self, stub, django_user_model):
        self.stub = stub
        self.counter = itertools.count(1)
        users = django_user_model.objects
        self.users = {
            name: users.create_user(name, password="x", is_staff=True)
            for name in ("stranger", "viewer", "operator", "owner")
        }
        self.users["superuser"] = users.create_superuser("root", password="x")
        self.tenants = {
            "own": self._tenant("Own Co", "own", members=True),
            "other": self._tenant("Other Co", "other", members=False),
        }
        home = self._tenant("Home Co", "home", members=False)
        _, own_raw = services.api_key_create(tenant=self.tenants["own"], name="own key")
        _, foreign_raw = services.api_key_create(tenant=home, name="foreign key")
        self.bearer = {"own_key": own_raw, "foreign_key": foreign_raw}
        self.root = self.client("superuser")

    def _tenant(self, name, slug, *, members) -> Tenant:
        tenant = Tenant.objects.create(name=name, slug=slug)
        services.tenant_set_tokens(tenant=tenant, tokens={"groq": self.stub.good_key("groq")})
        if members:
            for who, role in ROLES.items():
                TenantMembership.objects.create(tenant=tenant, user=self.users[who], role=role)
        return tenant

    def unique(self, stem: str) -> str:
        return f"{stem}-{next(self.counter)}"

    def client(self, principal: str) -> Client:
        if principal in self.bearer:
            return Client(HTTP_AUTHORIZATION=f"Bearer {self.bearer[principal]}")
        client = Client()
        if principal != "anonymous":
            client.force_login(self.users[principal])
        return client

    def fresh_tenant(self, target: str) -> Tenant:
        """A tenant to delete, with the same members as the target."""
        return self._tenant(self.unique("Doomed"), self.unique("doomed"), members=target == "own")

    def api_key(self, target: str, stem: str) -> TenantAPIKey:
        key, _ = services.api_key_create(tenant=self.tenants[target], name=self.unique(stem))
        return key

    def usage_row(self, target: str) -> ModelUsageStat:
        tenant = self.tenants[target]
        at = datetime(2025, 6, 1, 10, tzinfo=UTC)
        request_id = uuid.uuid4()
        writer.write_records([
            build(tenant_id=tenant.pk, provider="groq", model="llama-3.3-70b-versatile",
                  status="success", request_id=request_id, attempt=1, prompt_tokens=3,
                  completion_tokens=4, latency_ms=5, created_at=at)
        ])
        return ModelUsageStat.objects.get(request_id=request_id)

    def tenant_price(self, target: str) -> TenantPrice:
        return TenantPrice.objects.create(
            tenant=self.tenants[target], provider="groq", model=self.unique("priced"),
            input_per_million=Decimal("1"), output_per_million=Decimal("2"),
            effective_from=datetime(2025, 6, 1, tzinfo=UTC),
        )

    def budget(self, target: str) -> Budget:
        tenant = self.tenants[target]
        Budget.objects.filter(tenant=tenant).delete()
        return Budget.objects.create(tenant=tenant, period="day", limit_usd=5)

    def webhook(self, target: str) -> AlertWebhook:
        tenant = self.tenants[target]
        AlertWebhook.objects.filter(tenant=tenant).delete()
        hook = AlertWebhook(tenant=tenant, url="https://93.184.215.14/hook")
        hook.set_secret("s" * 40)
        hook.save()
        return hook

    def alert(self, target: str) -> BudgetAlert:
        tenant = self.tenants[target]
        at = datetime(2025, 6, 1, tzinfo=UTC)
        window, _ = BudgetWindow.objects.get_or_create(
            tenant=tenant, period="day", starts_at=at, defaults={"ends_at": at}
        )
        BudgetAlert.objects.filter(window=window).delete()
        return BudgetAlert.objects.create(
            window=window, tenant=tenant, threshold=50, fired_at=at, spent_pusd=1,
            limit_pusd=2, mode="hard",
        )

    def member(self, target: str, role: str) -> TenantMembership:
        user = type(self.users["viewer"]).objects.create_user(
            self.unique("bystander"), password="x", is_staff=True
        )
        return TenantMembership.objects.create(tenant=self.tenants[target], user=user, role=role)

    def tenant_form(self, tenant: Tenant) -> dict:
        """What a superuser's browser would post back from the tenant's change page."""
        page = self.root.get(reverse("admin:tenants_tenant_change", args=[tenant.pk]))
        return form_data(page.content.decode())

    def snapshot(self) -> tuple:
        return (
            list(Tenant.objects.order_by("pk").values()),
            list(TenantMembership.objects.order_by("pk").values()),
            list(TenantAPIKey.objects.order_by("pk").values("id", "tenant", "name", "revoked_at")),
            list(ModelUsageStat.objects.order_by("pk").values_list("pk", flat=True)),
            list(TenantPrice.objects.order_by("pk").values()),
            list(RateCounter.objects.order_by("key").values_list("key", "count")),
            list(Budget.objects.order_by("pk").values()),
            list(AlertWebhook.objects.order_by("pk").values()),
            list(BudgetAlert.objects.order_by("pk").values_list("pk", flat=True)),
            self.stub.stats(),
        )


@dataclass
class Request:
    """One request of a step, built for a target before it is sent."""

    args: list
    body: Any = None
    state: dict = field(default_factory=dict)  # what ``done`` needs to know


@dataclass(frozen=True)
class Step:
    name: str  # the URL's name, "namespace:name"
    method: str
    allowed: frozenset[str]  # who may, on their own tenant
    kind: str = "html"  # "html": admin and screens (session); "api": the JSON API
    scope: str = "url"  # "url": tenant id in the URL; "body": in the body; "global": none
    build: Callable[[World, str], Request] | None = None
    json: bool = False
    done: Callable[[World, str, Request, Any], bool] | None = None
    refused: dict = field(default_factory=dict)  # principal or (principal, target) -> status

    def label(self) -> str:
        return f"{self.method} {self.name}"


def _on_tenant(world: World, target: str) -> Request:
    return Request(args=[world.tenants[target].pk])


def _build(step: Step, world: World, target: str) -> Request:
    if step.build is not None:
        return step.build(world, target)
    if step.scope == "global":
        return Request(args=[])
    return _on_tenant(world, target)


def _reload(world, target) -> Tenant:
    return Tenant.objects.get(pk=world.tenants[target].pk)


# --- builders and checks for the writes -----------------------------------------------------


def _screen_keys_save(world, target):
    key = make_key("openrouter")
    return Request([world.tenants[target].pk], {"key_openrouter": key}, {"key": key})


def _key_saved(provider):
    def done(world, target, request, response):
        stored = services.tenant_provider_key(tenant=_reload(world, target), provider=provider)
        return stored == request.state["key"]

    return done


def _screen_key_test(typed: bool):
    def build(world, target):
        body = {"provider": "groq"}
        if typed:
            body["key"] = world.stub.good_key("groq")
        return Request([world.tenants[target].pk], body)

    return build


def _json(response) -> dict:
    if response.get("Content-Type", "").startswith("application/json"):
        return response.json()
    return {}


def _tested(source: str):
    def done(world, target, request, response):
        answer = _json(response)
        return answer.get("tested") == source and answer.get("valid") is True

    return done


def _providers_save(world, target):
    tenant = world.tenants[target]
    page = world.root.get(reverse("screens:providers", args=[tenant.pk]))
    data = form_data(page.content.decode())
    quota = 1000 + next(world.counter)
    data["quota_requests_llm7"] = str(quota)
    return Request([tenant.pk], data, {"quota": quota})


def _llm7_quota_is(world, target, request, response):
    quota = _reload(world, target).config.daily_quotas.get("llm7")
    return quota is not None and quota.requests == request.state["quota"]


def _api_put_key(world, target):
    key = make_key("llm7")
    return Request([world.tenants[target].pk], {"llm7": key}, {"key": key})


def _api_put_config(world, target):
    threshold = round(0.1 + next(world.counter) / 100, 2)
    return Request([world.tenants[target].pk], {"quota_threshold": threshold}, {"t": threshold})


def _threshold_is(world, target, request, response):
    return _reload(world, target).config.quota_threshold == request.state["t"]


def _api_key_test(world, target):
    return Request([world.tenants[target].pk], {"provider": "groq"})


def _api_tested(world, target, request, response):
    return _json(response).get("valid") is True


def _tenant_rename(world, target):
    tenant = world.tenants[target]
    data = world.tenant_form(tenant)
    name = world.unique("Renamed")
    data["name"] = name
    return Request([tenant.pk], data, {"name": name})


def _renamed(world, target, request, response):
    return _reload(world, target).name == request.state["name"]


def _membership_rows(data: dict) -> dict[str, int]:
    """membership id -> its form index on the page."""
    total = int(data["memberships-TOTAL_FORMS"])
    return {data.get(f"memberships-{i}-id", ""): i for i in range(total)}


def _add_member(world, target):
    tenant = world.tenants[target]
    newcomer = type(world.users["viewer"]).objects.create_user(
        world.unique("newcomer"), password="x", is_staff=True
    )
    data = world.tenant_form(tenant)
    total = int(data["memberships-TOTAL_FORMS"])
    data.update({
        "memberships-TOTAL_FORMS": str(total + 1),
        f"memberships-{total}-user": newcomer.username,
        f"memberships-{total}-role": Role.OWNER,
        f"memberships-{total}-tenant": str(tenant.pk),
    })
    return Request([tenant.pk], data, {"user": newcomer})


def _member_added(world, target, request, response):
    return TenantMembership.objects.filter(
        tenant=world.tenants[target], user=request.state["user"], role=Role.OWNER
    ).exists()


def _change_member_role(world, target):
    membership = world.member(target, Role.VIEWER)
    data = world.tenant_form(world.tenants[target])
    data[f"memberships-{_membership_rows(data)[str(membership.pk)]}-role"] = Role.OWNER
    return Request([world.tenants[target].pk], data, {"membership": membership})


def _role_changed(world, target, request, response):
    membership = TenantMembership.objects.get(pk=request.state["membership"].pk)
    return membership.role == Role.OWNER


def _remove_member(world, target):
    membership = world.member(target, Role.OPERATOR)
    data = world.tenant_form(world.tenants[target])
    data[f"memberships-{_membership_rows(data)[str(membership.pk)]}-DELETE"] = "on"
    return Request([world.tenants[target].pk], data, {"membership": membership})


def _member_removed(world, target, request, response):
    return not TenantMembership.objects.filter(pk=request.state["membership"].pk).exists()


def _add_tenant(world, target):
    page = world.root.get(reverse("admin:tenants_tenant_add"))
    data = form_data(page.content.decode())
    slug = world.unique("added")
    data.update({"name": slug, "slug": slug, "timezone": "UTC"})
    return Request([], data, {"slug": slug})


def _tenant_added(world, target, request, response):
    return Tenant.objects.filter(slug=request.state["slug"]).exists()


def _doomed_tenant(world, target):
    tenant = world.fresh_tenant(target)
    return Request([tenant.pk], {"post": "yes"}, {"pk": tenant.pk})


def _doomed_tenant_in_list(world, target):
    tenant = world.fresh_tenant(target)
    body = {"action": "delete_selected", "index": "0", "_selected_action": [str(tenant.pk)],
            "post": "yes"}
    return Request([], body, {"pk": tenant.pk})


def _tenant_gone(world, target, request, response):
    return not Tenant.objects.filter(pk=request.state["pk"]).exists()


def _on_key(stem: str, body: Callable[[World], dict] | None = None):
    def build(world, target):
        key = world.api_key(target, stem)
        return Request([key.pk], body(world) if body else None, {"key": key})

    return build


def _key_renamed(world, target, request, response):
    return TenantAPIKey.objects.get(pk=request.state["key"].pk).name == "renamed by the step"


def _key_gone(world, target, request, response):
    return not TenantAPIKey.objects.filter(pk=request.state["key"].pk).exists()


def _create_api_key(world, target):
    name = world.unique("created")
    return Request([], {"tenant": str(world.tenants[target].pk), "name": name}, {"name": name})


def _api_key_created(world, target, request, response):
    return TenantAPIKey.objects.filter(
        tenant=world.tenants[target], name=request.state["name"]
    ).exists()


def _key_list_action(action: str):
    def build(world, target):
        key = world.api_key(target, action)
        body = {"action": action, "index": "0", "_selected_action": [str(key.pk)], "post": "yes"}
        return Request([], body, {"key": key})

    return build


def _key_revoked(world, target, request, response):
    return TenantAPIKey.objects.get(pk=request.state["key"].pk).revoked_at is not None


def _on_usage_row(post: dict | None = None):
    def build(world, target):
        row = world.usage_row(target)
        return Request([row.pk], post, {"row": row})

    return build


def _usage_rows_in_list(world, target):
    row = world.usage_row(target)
    body = {"action": "delete_selected", "index": "0", "_selected_action": [str(row.pk)],
            "post": "yes"}
    return Request([], body, {"row": row})


def _row_gone(world, target, request, response):
    return not ModelUsageStat.objects.filter(pk=request.state["row"].pk).exists()


def _remove_groq(world, target):
    return Request([world.tenants[target].pk, "groq"], {})


def _groq_removed(world, target, request, response):
    return "groq" not in _reload(world, target).configured_providers()


def _on(kind: str, body: Callable[[World], dict] | None = None):
    """A budget, webhook or alert of the target (made afresh), its id in the URL."""

    def build(world, target):
        row = getattr(world, kind)(target)
        return Request([row.pk], body(world) if body else None, {"row": row})

    return build


def _budget_form(world, target):
    tenant = world.tenants[target]
    Budget.objects.filter(tenant=tenant).delete()
    body = {"tenant": str(tenant.pk), "period": "month", "limit_usd": "12", "mode": "soft",
            "alert_thresholds": "50,100"}
    return Request([], body, {"tenant": tenant})


def _budget_added(world, target, request, response):
    return Budget.objects.filter(tenant=request.state["tenant"], limit_usd=12).exists()


def _budget_changed(world, target, request, response):
    return Budget.objects.get(pk=request.state["row"].pk).limit_usd == 7


def _row_deleted(model):
    def done(world, target, request, response):
        return not model.objects.filter(pk=request.state["row"].pk).exists()

    return done


def _webhook_form(world, target):
    tenant = world.tenants[target]
    AlertWebhook.objects.filter(tenant=tenant).delete()
    body = {"tenant": str(tenant.pk), "url": "https://93.184.215.14/added", "is_active": "on",
            "new_secret": "n" * 40}
    return Request([], body, {"tenant": tenant})


def _webhook_added(world, target, request, response):
    return AlertWebhook.objects.filter(
        tenant=request.state["tenant"], url="https://93.184.215.14/added"
    ).exists()


def _webhook_changed(world, target, request, response):
    return AlertWebhook.objects.get(pk=request.state["row"].pk).url.endswith("/moved")


def _alert_email(world, target):
    return Request([world.tenants[target].pk], {"budget_alerts": "on"})


# A list page a member cannot act from renders again (200) with nothing done; a member acting
# on another tenant's rows from a list that has actions is sent back to it (302).
def _price_form(tenant, model: str, input_per_million: str) -> dict:
    return {
        "tenant": str(tenant.pk), "provider": "groq", "model": model,
        "input_per_million": input_per_million, "output_per_million": "2",
        "cached_input_per_million": "", "reasoning_per_million": "",
        "effective_from_0": "2025-06-01", "effective_from_1": "00:00:00", "note": "",
    }


def _add_tenant_price(world, target):
    model = world.unique("added")
    return Request([], _price_form(world.tenants[target], model, "1"), {"model": model})


def _tenant_price_added(world, target, request, response):
    return TenantPrice.objects.filter(
        tenant=world.tenants[target], model=request.state["model"]
    ).exists()


def _on_tenant_price(body: Callable[[TenantPrice], dict] | dict | None = None):
    def build(world, target):
        price = world.tenant_price(target)
        data = body(price) if callable(body) else body
        return Request([price.pk], data, {"price": price})

    return build


def _tenant_price_cut(world, target, request, response):
    price = TenantPrice.objects.get(pk=request.state["price"].pk)
    return price.input_per_million == Decimal("0.5")


def _tenant_price_gone(world, target, request, response):
    return not TenantPrice.objects.filter(pk=request.state["price"].pk).exists()


def _tenant_prices_in_list(world, target):
    price = world.tenant_price(target)
    body = {"action": "delete_selected", "index": "0", "_selected_action": [str(price.pk)],
            "post": "yes"}
    return Request([], body, {"price": price})


LIST_ACTION_OF_MEMBERS = {"viewer": 200, "operator": 200, "owner": 200, "stranger": 403}
# The tenant page of an operator saves (302) without the member rows they may not touch.
MEMBERS_INLINE = {("operator", "own"): 302}

STEPS: list[Step] = [
    # --- operator screens ---------------------------------------------------------------
    Step("screens:index", "GET", STAFF, scope="global"),
    Step("screens:usage_all", "GET", ROOT, scope="global",
         refused={p: 404 for p in ("stranger", "viewer", "operator", "owner")}),
    Step("screens:operations", "GET", ROOT, scope="global",
         refused={p: 403 for p in ("stranger", "viewer", "operator", "owner")}),
    Step("screens:keys", "GET", SEE),
    Step("screens:usage", "GET", SEE),
    Step("screens:providers", "GET", SEE),
    Step("screens:keys", "POST", CHANGE, build=_screen_keys_save, done=_key_saved("openrouter")),
    Step("screens:key_test", "POST", CHANGE, build=_screen_key_test(typed=True), json=True,
         done=_tested("typed")),
    Step("screens:key_test", "POST", CHANGE, build=_screen_key_test(typed=False), json=True,
         done=_tested("stored")),
    Step("screens:providers", "POST", CHANGE, build=_providers_save, done=_llm7_quota_is),
    Step("screens:key_remove", "GET", CHANGE, build=_remove_groq),
    # --- JSON API -------------------------------------------------------------------------
    Step("tenants_api:llm-tokens", "GET", SEE | KEY, kind="api"),
    Step("tenants_api:llm-tokens", "HEAD", SEE | KEY, kind="api"),
    Step("tenants_api:llm-tokens", "PUT", CHANGE | KEY, kind="api", build=_api_put_key,
         json=True, done=_key_saved("llm7")),
    Step("tenants_api:inference-config", "GET", SEE | KEY, kind="api"),
    Step("tenants_api:inference-config", "HEAD", SEE | KEY, kind="api"),
    Step("tenants_api:inference-config", "PUT", CHANGE | KEY, kind="api",
         build=_api_put_config, json=True, done=_threshold_is),
    Step("llm_routing_api:llm-token-test", "POST", CHANGE | KEY, kind="api",
         build=_api_key_test, json=True, done=_api_tested),
    Step("llm_routing_api:available-models", "GET", SEE | KEY, kind="api"),
    Step("llm_routing_api:available-models", "HEAD", SEE | KEY, kind="api"),
    # --- admin: tenants and their members -------------------------------------------------
    Step("admin:app_list", "GET", SEE, scope="global",
         build=lambda world, target: Request(["tenants"]), refused={"stranger": 404}),
    Step("admin:tenants_tenant_changelist", "GET", SEE, scope="global"),
    Step("admin:tenants_tenant_add", "GET", ROOT, scope="global"),
    Step("admin:tenants_tenant_add", "POST", ROOT, scope="global", build=_add_tenant,
         done=_tenant_added),
    Step("admin:tenants_tenant_change", "GET", SEE),
    Step("admin:tenants_tenant_change", "POST", CHANGE, build=_tenant_rename, done=_renamed),
    Step("admin:tenants_tenant_change", "POST", OWNERS, build=_add_member, done=_member_added,
         refused=MEMBERS_INLINE),
    Step("admin:tenants_tenant_change", "POST", OWNERS, build=_change_member_role,
         done=_role_changed, refused=MEMBERS_INLINE),
    Step("admin:tenants_tenant_change", "POST", OWNERS, build=_remove_member,
         done=_member_removed, refused=MEMBERS_INLINE),
    Step("admin:tenants_tenant_history", "GET", SEE),
    Step("admin:tenants_tenant_delete", "GET", ROOT),
    # --- admin: API keys ------------------------------------------------------------------
    Step("admin:tenants_tenantapikey_changelist", "GET", SEE, scope="global"),
    Step("admin:tenants_tenantapikey_changelist", "POST", CHANGE, scope="body",
         build=_key_list_action("revoke_selected"), done=_key_revoked,
         refused={**LIST_ACTION_OF_MEMBERS, ("operator", "other"): 302,
                  ("owner", "other"): 302}),
    Step("admin:tenants_tenantapikey_changelist", "POST", ROOT, scope="body",
         build=_key_list_action("delete_selected"), done=_key_gone,
         refused={**LIST_ACTION_OF_MEMBERS, "operator": 302, "owner": 302}),
    Step("admin:tenants_tenantapikey_add", "GET", CHANGE, scope="global"),
    Step("admin:tenants_tenantapikey_add", "POST", CHANGE, scope="body", build=_create_api_key,
         done=_api_key_created, refused={("operator", "other"): 200, ("owner", "other"): 200}),
    Step("admin:tenants_tenantapikey_created", "GET", CHANGE, scope="global"),
    Step("admin:tenants_tenantapikey_change", "GET", SEE, build=_on_key("viewed")),
    Step("admin:tenants_tenantapikey_change", "POST", CHANGE,
         build=_on_key("renamed", lambda world: {"name": "renamed by the step"}),
         done=_key_renamed),
    Step("admin:tenants_tenantapikey_history", "GET", SEE, build=_on_key("history")),
    Step("admin:tenants_tenantapikey_delete", "GET", ROOT, build=_on_key("delete page")),
    Step("admin:tenants_tenantapikey_delete", "POST", ROOT,
         build=_on_key("deleted", lambda world: {"post": "yes"}), done=_key_gone),
    # --- admin: usage rows (read-only for everyone; retention prunes them) ----------------
    Step("admin:usage_modelusagestat_changelist", "GET", SEE, scope="global"),
    Step("admin:usage_modelusagestat_changelist", "POST", NOBODY, scope="body",
         build=_usage_rows_in_list, done=_row_gone,
         refused={**LIST_ACTION_OF_MEMBERS, "superuser": 200}),
    Step("admin:usage_modelusagestat_add", "GET", NOBODY, scope="global",
         refused={"superuser": 403}),
    Step("admin:usage_modelusagestat_change", "GET", SEE, build=_on_usage_row()),
    Step("admin:usage_modelusagestat_change", "POST", NOBODY, build=_on_usage_row({"x": "1"}),
         refused={"superuser": 403}),
    Step("admin:usage_modelusagestat_history", "GET", SEE, build=_on_usage_row()),
    Step("admin:usage_modelusagestat_delete", "GET", NOBODY, build=_on_usage_row(),
         refused={"superuser": 403}),
    Step("admin:usage_modelusagestat_delete", "POST", NOBODY,
         build=_on_usage_row({"post": "yes"}), done=_row_gone, refused={"superuser": 403}),
    # --- admin: tenants' own prices (set by those who may change the provider settings) ---
    Step("admin:usage_tenantprice_changelist", "GET", SEE, scope="global"),
    Step("admin:usage_tenantprice_changelist", "POST", ROOT, scope="body",
         build=_tenant_prices_in_list, done=_tenant_price_gone,
         refused=LIST_ACTION_OF_MEMBERS),
    Step("admin:usage_tenantprice_add", "GET", CHANGE, scope="global"),
    Step("admin:usage_tenantprice_add", "POST", CHANGE, scope="body", build=_add_tenant_price,
         done=_tenant_price_added,
         refused={("operator", "other"): 200, ("owner", "other"): 200}),
    Step("admin:usage_tenantprice_change", "GET", SEE, build=_on_tenant_price()),
    Step("admin:usage_tenantprice_change", "POST", CHANGE,
         build=_on_tenant_price(lambda price: _price_form(price.tenant, price.model, "0.5")),
         done=_tenant_price_cut),
    Step("admin:usage_tenantprice_history", "GET", SEE, build=_on_tenant_price()),
    Step("admin:usage_tenantprice_delete", "GET", ROOT, build=_on_tenant_price()),
    Step("admin:usage_tenantprice_delete", "POST", ROOT,
         build=_on_tenant_price({"post": "yes"}), done=_tenant_price_gone),
    # --- budgets, their alerts and the alert webhook (issue 12) -----------------------------
    Step("screens:budget_alert_email", "POST", SEE, build=_alert_email),
    Step("admin:usage_budget_changelist", "GET", SEE, scope="global"),
    Step("admin:usage_budget_add", "GET", CHANGE, scope="global"),
    Step("admin:usage_budget_add", "POST", CHANGE, scope="body", build=_budget_form,
         done=_budget_added, refused={("operator", "other"): 200, ("owner", "other"): 200}),
    Step("admin:usage_budget_change", "GET", SEE, build=_on("budget")),
    Step("admin:usage_budget_change", "POST", CHANGE, done=_budget_changed,
         build=_on("budget", lambda world: {"period": "day", "limit_usd": "7", "mode": "hard",
                                            "alert_thresholds": "80"})),
    Step("admin:usage_budget_history", "GET", SEE, build=_on("budget")),
    Step("admin:usage_budget_delete", "GET", CHANGE, build=_on("budget")),
    Step("admin:usage_budget_delete", "POST", CHANGE, done=_row_deleted(Budget),
         build=_on("budget", lambda world: {"post": "yes"})),
    Step("admin:usage_budgetalert_changelist", "GET", SEE, scope="global"),
    Step("admin:usage_budgetalert_add", "GET", NOBODY, scope="global",
         refused={"superuser": 403}),
    Step("admin:usage_budgetalert_change", "GET", SEE, build=_on("alert")),
    Step("admin:usage_budgetalert_change", "POST", NOBODY, build=_on("alert", lambda w: {}),
         refused={"superuser": 403}),
    Step("admin:usage_budgetalert_history", "GET", SEE, build=_on("alert")),
    Step("admin:usage_budgetalert_delete", "POST", NOBODY, done=_row_deleted(BudgetAlert),
         build=_on("alert", lambda world: {"post": "yes"}), refused={"superuser": 403}),
    Step("admin:tenants_alertwebhook_changelist", "GET", SEE, scope="global"),
    Step("admin:tenants_alertwebhook_add", "GET", OWNERS, scope="global"),
    Step("admin:tenants_alertwebhook_add", "POST", OWNERS, scope="body", build=_webhook_form,
         done=_webhook_added, refused={("owner", "other"): 200}),
    Step("admin:tenants_alertwebhook_change", "GET", SEE, build=_on("webhook")),
    Step("admin:tenants_alertwebhook_change", "POST", OWNERS, done=_webhook_changed,
         build=_on("webhook", lambda world: {"url": "https://93.184.215.14/moved",
                                             "is_active": "on", "new_secret": ""})),
    Step("admin:tenants_alertwebhook_history", "GET", SEE, build=_on("webhook")),
    Step("admin:tenants_alertwebhook_delete", "GET", OWNERS, build=_on("webhook")),
    Step("admin:tenants_alertwebhook_delete", "POST", OWNERS, done=_row_deleted(AlertWebhook),
         build=_on("webhook", lambda world: {"post": "yes"})),
    # --- last: the writes that remove what the steps above use ----------------------------
    Step("screens:key_remove", "POST", CHANGE, build=_remove_groq, done=_groq_removed),
    Step("admin:tenants_tenant_delete", "POST", ROOT, build=_doomed_tenant, done=_tenant_gone),
    Step("admin:tenants_tenant_changelist", "POST", ROOT, scope="body",
         build=_doomed_tenant_in_list, done=_tenant_gone, refused=LIST_ACTION_OF_MEMBERS),
]


def _expected_refusal(step: Step, principal: str, target: str) -> int:
    for key in ((principal, target), principal):
        if key in step.refused:
            return step.refused[key]
    if step.kind == "api":
        if principal == "anonymous":
            return 401
        if principal in ("stranger", "foreign_key") or target == "other":
            return 404
        return 403
    if principal in NO_SESSION:
        return 302  # to the admin's login page
    if step.scope == "url" and (principal == "stranger" or target == "other"):
        return 404
    return 403


def _allowed(step: Step, principal: str, target: str) -> bool:
    # On another tenant only a superuser may act.
    return principal in step.allowed and (target == "own" or principal == "superuser")


def _send(client: Client, step: Step, path: str, body):
    method = getattr(client, step.method.lower())
    if step.json:
        return method(path, json.dumps(body), content_type="application/json")
    if body is None:
        return method(path)
    return method(path, body)


@pytest.fixture
def world(db, stub_provider, settings, django_user_model):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 1000
    settings.LLM_KEY_TEST_TENANT_RATE_PER_MINUTE = 1000
    writer.forget_model_ids()
    yield World(stub_provider, django_user_model)
    writer.forget_model_ids()


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_every_url_and_action_answers_each_caller_exactly_as_their_role_allows(
    world, principal
):
    client = world.client(principal)
    wrong = []
    for step in STEPS:
        targets = ("own",) if step.scope == "global" else ("own", "other")
        for target in targets:
            request = _build(step, world, target)
            path = reverse(step.name, args=request.args)
            before = world.snapshot()
            response = _send(client, step, path, request.body)
            allowed = _allowed(step, principal, target)
            done = step.done(world, target, request, response) if step.done else None
            where = f"{step.label()} on {target} as {principal}"
            if allowed:
                if response.status_code not in (200, 302) or done is False:
                    wrong.append(f"{where}: allowed, got {response.status_code}, done={done}")
                elif response.status_code == 302 and "/login/" in response["Location"]:
                    wrong.append(f"{where}: allowed, sent to the login page")
                continue
            expected = _expected_refusal(step, principal, target)
            problems = []
            if response.status_code != expected:
                problems.append(f"got {response.status_code}, expected {expected}")
            if expected == 302 and principal in NO_SESSION and "/login/" not in response.get(
                "Location", ""
            ):
                problems.append("not sent to the login page")
            if done:
                problems.append("the change happened")
            if world.snapshot() != before:
                problems.append("something changed")
            if problems:
                wrong.append(f"{where}: refused, but " + "; ".join(problems))
    assert not wrong, "\n".join(wrong)


def _named_urls() -> set[tuple[str, str]]:
    """(namespace, name) of every named URL pattern, walking the whole resolver."""
    found = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif pattern.name:
                found.add((namespace, pattern.name))

    walk(get_resolver().url_patterns, "")
    return found


def test_the_matrix_covers_every_url_and_api_method():
    named = _named_urls()
    namespaces = {namespace for namespace, _ in named}
    # A new namespace (a new API, a new set of screens) must come into the matrix first.
    assert namespaces == {"", "admin", "screens", "tenants_api", "llm_routing_api"}
    # Outside any namespace only the probes, public by design and holding no tenant's data
    # (tests/config/test_health_and_readiness_answer_without_secrets.py).
    assert {name for namespace, name in named if not namespace} == {"healthz", "readyz"}
    named = {(namespace, name) for namespace, name in named if namespace}
    tenant_admin = ("tenants_", "usage_modelusagestat_", "usage_tenantprice_", "usage_budget")
    required = {
        f"{namespace}:{name}"
        for namespace, name in named
        if namespace != "admin" or name.startswith(tenant_admin)
    }
    covered = {step.name for step in STEPS}
    assert required - covered == set(), "URLs without a row in the matrix"
    for name in {step.name for step in STEPS if step.kind == "api"}:
        view = resolve(reverse(name, args=[uuid.uuid4()])).func
        methods = {step.method for step in STEPS if step.name == name}
        assert methods == set(view.actions), name
