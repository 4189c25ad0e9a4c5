import pytest
from cryptography.fernet import Fernet


@pytest.fixture(autouse=True)
def _encryption_keys(settings):
    """Every test runs with a fresh Fernet key of its own, never the developer's."""
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.FIELD_ENCRYPTION_DEV_KEY_FILE = None
