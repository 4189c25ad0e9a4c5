from llm_routing import complete, providers
from tenants import services

HI = [{"role": "user", "content": "hi"}]


def test_an_operator_added_provider_is_routed_like_the_others(
    make_tenant, stub_provider, settings
):
    settings.LLM_EXTRA_PROVIDERS = [
        {"name": "vllm", "label": "Local vLLM", "base_url": stub_provider.base_url("vllm"),
         "default_model": "local-model"}
    ]
    assert providers.is_known("vllm")
    tenant = make_tenant(keys=("groq",))
    services.tenant_set_tokens(tenant=tenant, tokens={"vllm": stub_provider.good_key("vllm")})
    result = complete(tenant=tenant, messages=HI, provider="vllm")
    assert (result.provider, result.model) == ("vllm", "local-model")
    stub_provider.configure("vllm", status=503)
    assert complete(tenant=tenant, messages=HI, provider="vllm").provider == "groq"
