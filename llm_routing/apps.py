from django.apps import AppConfig


class LlmRoutingConfig(AppConfig):
    name = "llm_routing"
    verbose_name = "LLM routing"
