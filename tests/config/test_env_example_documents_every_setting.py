"""`.env.example` documents every environment variable that config/settings.py reads."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _variables_read_by_settings() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        # env("X", ...), env.str("X", ...), env.bool(...), env.db(...): first argument a literal.
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        is_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
        )
        first = node.args[0]
        if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def _variables_in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    # A documented variable is an assignment line, commented out or not: "NAME=" or "# NAME=".
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_settings_reads_the_variables_this_test_knows_how_to_find():
    # Guards the parser above: if settings stopped using env(...) this test would pass vacuously.
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "FIELD_ENCRYPTION_KEYS"} <= (
        _variables_read_by_settings()
    )


def test_every_variable_settings_reads_is_in_env_example():
    missing = _variables_read_by_settings() - _variables_in_env_example()
    assert not missing, f".env.example does not document: {sorted(missing)}"


def test_every_variable_in_env_example_is_read_somewhere():
    # The provider system keys are read by migrate_system_tokens, not by settings.
    read_elsewhere = {"GROQ_API_KEY", "OPENROUTER_API_KEY", "LLM7_API_KEY"}
    stale = _variables_in_env_example() - _variables_read_by_settings() - read_elsewhere
    assert not stale, f".env.example documents variables nothing reads: {sorted(stale)}"
