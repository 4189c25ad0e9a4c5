"""The tenant_endpoint decorator itself, called with hand-built requests."""

import json
import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from tenants.api.base import ApiError, tenant_endpoint
from tenants.permissions import Action
from tests.tenants.helpers import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(tenant_a, api_key_for):
    return api_key_for(tenant_a)


def test_the_principal_of_an_api_key_request_is_the_key(rf: RequestFactory, tenant_a, bearer):
    seen = {}

    @tenant_endpoint({"GET": Action.VIEW_TENANT})
    def view(request, *, tenant, payload):
        seen.update(principal=request.api_principal, tenant=tenant, payload=payload)
        return ["a", "list"]

    response = view(rf.get("/", **bearer), tenant_id=tenant_a.pk)
    assert response.status_code == 200
    assert response.content == b'["a", "list"]'
    assert seen["principal"].startswith("apikey:")
    assert seen["tenant"] == tenant_a and seen["payload"] is None


def test_the_principal_of_a_session_request_is_the_user(rf, tenant_a, staff_a):
    seen = {}

    @tenant_endpoint({"GET": Action.VIEW_TENANT})
    def view(request, *, tenant, payload):
        seen["principal"] = request.api_principal
        return {}

    request = rf.get("/")
    request.user = staff_a
    assert view(request, tenant_id=tenant_a.pk).status_code == 200
    assert seen["principal"] == f"user:{staff_a.pk}"


def test_an_api_error_becomes_the_error_shape_with_fields(rf, tenant_a, bearer):
    @tenant_endpoint({"POST": Action.CHANGE_CONFIG}, json_body=True)
    def view(request, *, tenant, payload):
        raise ApiError(422, "nope", "Cannot do that.", {"provider": "unknown"})

    request = rf.post("/", {"a": 1}, content_type="application/json", **bearer)
    response = view(request, tenant_id=tenant_a.pk)
    assert response.status_code == 422
    assert json.loads(response.content) == {
        "error": {"code": "nope", "message": "Cannot do that.", "fields": {"provider": "unknown"}}
    }


def test_a_view_may_return_its_own_response(rf, tenant_a, bearer):
    @tenant_endpoint({"GET": Action.VIEW_TENANT})
    def view(request, *, tenant, payload):
        return HttpResponse("plain", status=202)

    assert view(rf.get("/", **bearer), tenant_id=tenant_a.pk).status_code == 202


def test_the_payload_is_the_parsed_json_object(rf, tenant_a, bearer):
    @tenant_endpoint({"POST": Action.CHANGE_CONFIG}, json_body=True)
    def view(request, *, tenant, payload):
        return {"echo": payload}

    request = rf.post("/", {"x": [1, "é"]}, content_type="application/json", **bearer)
    assert json.loads(view(request, tenant_id=tenant_a.pk).content) == {"echo": {"x": [1, "é"]}}


def test_an_unexpected_error_is_a_json_500_logged_without_its_message(rf, tenant_a, bearer, caplog):
    secret = make_key("groq")

    @tenant_endpoint({"GET": Action.VIEW_TENANT})
    def view(request, *, tenant, payload):
        raise RuntimeError(f"boom {secret}")

    caplog.set_level(logging.DEBUG)
    response = view(rf.get("/", **bearer), tenant_id=tenant_a.pk)
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "internal_error"
    assert secret not in response.content.decode()
    assert "RuntimeError" in caplog.text
    assert secret not in caplog.text


def test_head_is_allowed_wherever_get_is(rf, tenant_a, bearer):
    @tenant_endpoint({"GET": Action.VIEW_TENANT})
    def view(request, *, tenant, payload):
        return {}

    assert view(rf.head("/", **bearer), tenant_id=tenant_a.pk).status_code == 200
    response = view(rf.delete("/", **bearer), tenant_id=tenant_a.pk)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
