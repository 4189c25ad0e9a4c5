import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

# Checks that manage.py runs for itself but a WSGI/ASGI server would skip.
from config.startup import refuse_to_start_misconfigured  # noqa: E402

refuse_to_start_misconfigured()
