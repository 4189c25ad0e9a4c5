# The routing tests' tenant factory and per-test defaults serve the budget tests too.
from tests.llm_routing.conftest import _routing_test_defaults, make_tenant  # noqa: F401
