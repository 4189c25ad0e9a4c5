import socket

import llm_routing
from llm_routing import catalogue


def point_at_nothing(settings, provider):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    setattr(settings, f"{provider.upper()}_BASE_URL", f"http://127.0.0.1:{port}/{provider}/v1")


def test_models_are_listed_live_in_one_shape_for_every_provider(make_tenant, stub_provider):
    models = llm_routing.available_models(tenant=make_tenant())
    assert {p: m["source"] for p, m in models.items()} == {
        "groq": "live", "openrouter": "live", "llm7": "live"
    }
    groq = {m["id"]: m for m in models["groq"]["models"]}
    assert groq["llama-3.3-70b-versatile"]["context_length"] == 131_072
    assert groq["llama-3.3-70b-versatile"]["max_output"] == 32_768
    router = {m["id"]: m for m in models["openrouter"]["models"]}
    # OpenRouter's per-token string prices become USD per million tokens.
    assert router["openai/gpt-4o-mini"]["price_in_per_m"] == 0.15
    assert router["openai/gpt-4o-mini"]["price_out_per_m"] == 0.6
    assert {m["id"] for m in models["llm7"]["models"]} >= {"gpt-4o-mini", "deepseek-r1"}
    assert all(set(m) == {"id", "context_length", "max_output", "price_in_per_m",
                          "price_out_per_m", "speed"} for m in models["llm7"]["models"])


def test_live_lists_are_cached_with_their_age(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant()
    llm_routing.available_models(tenant=tenant)
    routing_clock.advance(90)
    again = llm_routing.available_models(tenant=tenant)
    assert stub_provider.stats()["groq"]["requests"] == 1
    assert again["groq"]["age_seconds"] == 90 and again["groq"]["source"] == "live"


def test_an_unreachable_provider_falls_back_to_the_catalogue(make_tenant, stub_provider, settings):
    tenant = make_tenant()
    point_at_nothing(settings, "groq")
    models = llm_routing.available_models(tenant=tenant)["groq"]
    assert models["source"] == "catalogue"
    assert "out of reach" in models["error"]
    assert models["fetched_at"] == catalogue.AS_OF.isoformat() and models["age_seconds"] > 0
    assert models["models"] == catalogue.entries("groq")
    assert llm_routing.available_models(tenant=tenant)["openrouter"]["source"] == "live"


def test_a_provider_that_needs_a_key_uses_the_catalogue_without_one(make_tenant, stub_provider):
    models = llm_routing.available_models(tenant=make_tenant(keys=("openrouter",)))
    assert models["groq"]["source"] == "catalogue" and "error" not in models["groq"]
    assert models["llm7"]["source"] == "live"  # LLM7 lists models without a key
    assert stub_provider.stats().get("groq") is None


def test_a_garbage_models_list_falls_back_to_the_catalogue(make_tenant, stub_provider):
    stub_provider.configure("llm7", down=True)
    models = llm_routing.available_models(tenant=make_tenant())["llm7"]
    assert models["source"] == "catalogue"
