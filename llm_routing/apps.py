from django.apps import AppConfig


class LlmRoutingConfig(AppConfig):
    name = "llm_routing"
    verbose_name = "LLM routing"

    def ready(self) -> None:
        # Connects the receiver that drops a tenant's cached routing view when it is saved.
        from llm_routing import routing_view  # noqa: F401
