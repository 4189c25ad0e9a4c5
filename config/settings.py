"""Settings for the whole monolith, read from the environment (see .env.example).

Every value that differs between a laptop and production comes from an environment
variable with a validated type. Problems that must stop a production start are reported
by system checks (``tenants.checks``) rather than by exceptions here, so that
``manage.py check --deploy`` can name them. A value that cannot be read as its type is an
ImproperlyConfigured naming the variable (never echoing the value, which may be a secret).
"""

import ipaddress
import json
import os
import shlex
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(environ.Env):
    def __init__(self, **scheme):
        super().__init__(**scheme)
        self.names_read: set[str] = set()  # what `crontab add` compares (usage/cron.py)

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        self.names_read.add(var)
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            kind = getattr(cast, "__name__", None) or type(cast).__name__
            raise ImproperlyConfigured(
                f"Environment variable {var} cannot be read as {kind} "
                f"({exc.__class__.__name__}); see .env.example for its format."
            ) from None


env = _Env()
# Settings come from the environment, then from this file for what the environment does not
# set. Cron jobs see no environment but the path of this file (CRONTAB_COMMAND_PREFIX), so
# production settings that cron must see live here (README, "Scheduled jobs").
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env"))).resolve()
if "ENV_FILE" in os.environ and not ENV_FILE.is_file():
    raise ImproperlyConfigured(f"ENV_FILE names {ENV_FILE}, which is not a readable file.")
environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

# The insecure fallback exists so the first README command needs no setup; with DEBUG off
# system check tenants.E002 refuses to start with it.
DEV_SECRET_KEY = "django-insecure-local-development-only-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tenants",
    "usage",
    "llm_routing",
    # After the project's apps: usage's `crontab` command (which checks the environment
    # before installing) takes precedence over django-crontab's own.
    "django_crontab",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the usage writer thread and request threads work side by side;
    # IMMEDIATE transactions turn lock upgrades into waits instead of errors.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    # A server that accepts the TCP connection and never answers must not hold a request
    # for minutes (psycopg's own default is 130 s); libpq's minimum is 2 s.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
    )
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # psycopg prepares a statement after this many runs, but only on server-bound cursors:
    # the router's per-request state UPDATE (llm_routing/state.py) uses one; Django's own
    # client-side cursors never prepare. Django turns this off by default for connection
    # poolers; set DB_PREPARE_THRESHOLD=off behind a transaction-mode PgBouncer (< 1.21).
    _prepare = env.str("DB_PREPARE_THRESHOLD", default="5").strip().lower()
    if _prepare not in ("", "off", "none") and not _prepare.isdigit():
        raise ImproperlyConfigured("DB_PREPARE_THRESHOLD must be a whole number or 'off'.")
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "prepare_threshold", None if _prepare in ("", "off", "none") else int(_prepare)
    )
# Tests that start real processes need a test database those processes can open, so the
# SQLite test database is a file rather than Django's in-memory default; the pid keeps two
# test runs on one checkout apart.
_default_test_name = (
    str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    else None
)
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=_default_test_name)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")

LOGIN_URL = "admin:login"

# --- Security (production values whenever DEBUG is off) -------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Provider keys at rest --------------------------------------------------------------
# Comma-separated Fernet keys, newest first: the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Only with DEBUG on, and only when FIELD_ENCRYPTION_KEYS is empty: a dev key kept in this
# git-ignored file, created on first use.
FIELD_ENCRYPTION_DEV_KEY_FILE = BASE_DIR / "var" / "dev-encryption-key" if DEBUG else None

# --- Providers ------------------------------------------------------------------------
# Base URLs come from here only, never from tenant input.
GROQ_BASE_URL = env.str("GROQ_BASE_URL", default="https://api.groq.com/openai/v1")
OPENROUTER_BASE_URL = env.str("OPENROUTER_BASE_URL", default="https://openrouter.ai/api/v1")
LLM7_BASE_URL = env.str("LLM7_BASE_URL", default="https://api.llm7.io/v1")
# Extra OpenAI-compatible providers, as JSON: [{"name": "vllm", "label": "Local vLLM",
# "base_url": "http://10.0.0.5:8000/v1", "key_pattern": "^.{8,}$"}]. Text that is not JSON
# is kept as its JSONDecodeError (which says where, not what): system check tenants.E003
# then stops the start with that position, like any other unusable list.
try:
    LLM_EXTRA_PROVIDERS = json.loads(env.str("LLM_EXTRA_PROVIDERS", default="[]"))
except json.JSONDecodeError as _not_json:
    _not_json.doc = ""  # the position stays; the text need not travel
    LLM_EXTRA_PROVIDERS = _not_json.with_traceback(None)
# Outbound HTTP to providers (llm_routing.http_client), in seconds; the total bounds a
# whole request (pool wait, connect, headers, body) however slowly the provider trickles.
LLM_HTTP_CONNECT_TIMEOUT = env.float("LLM_HTTP_CONNECT_TIMEOUT", default=5.0)
LLM_HTTP_READ_TIMEOUT = env.float("LLM_HTTP_READ_TIMEOUT", default=60.0)
LLM_HTTP_WRITE_TIMEOUT = env.float("LLM_HTTP_WRITE_TIMEOUT", default=10.0)
LLM_HTTP_POOL_TIMEOUT = env.float("LLM_HTTP_POOL_TIMEOUT", default=5.0)
LLM_HTTP_TOTAL_TIMEOUT = env.float("LLM_HTTP_TOTAL_TIMEOUT", default=90.0)
# Connections to providers open at once per process (each held stream keeps one), and how
# many idle ones are kept for reuse.
LLM_HTTP_MAX_CONNECTIONS = env.int("LLM_HTTP_MAX_CONNECTIONS", default=1000)
LLM_HTTP_MAX_KEEPALIVE = env.int("LLM_HTTP_MAX_KEEPALIVE", default=50)
LLM_HTTP_MAX_RESPONSE_BYTES = env.int("LLM_HTTP_MAX_RESPONSE_BYTES", default=8 * 1024 * 1024)
# Routing: how stale a process's cached tenant config may be, the rest after a 429 that
# names no reset, how long live model lists are cached, and the key-test rate per user.
LLM_ROUTING_VIEW_TTL = env.float("LLM_ROUTING_VIEW_TTL", default=2.0)
# The OpenAI-compatible endpoint remembers valid bearer keys per process while PostgreSQL
# reports no key or tenant change (LISTEN/NOTIFY, tenants/key_cache.py); an entry is read
# again after API_KEY_CACHE_SECONDS whatever happens. Turn it off behind a
# transaction-mode pooler (PgBouncer), where a session cannot keep listening.
API_KEY_CACHE = env.bool("API_KEY_CACHE", default=True)
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=30.0)
LLM_DEFAULT_COOLDOWN_SECONDS = env.int("LLM_DEFAULT_COOLDOWN_SECONDS", default=30)
# Quota leases (llm_routing/leases.py): requests a process may count ahead, and how long it
# may spend them without looking at the shared row again. A size of 0 turns them off.
LLM_ROUTING_LEASE_SIZE = env.int("LLM_ROUTING_LEASE_SIZE", default=64)
LLM_ROUTING_LEASE_SECONDS = env.float("LLM_ROUTING_LEASE_SECONDS", default=0.5)
# When the shared quota/cooldown state is out of reach (llm_routing/fallback.py): each of
# routing's statements gets LLM_ROUTING_DB_TIMEOUT seconds before its connection is cut,
# and routing goes on with this process's own view for LLM_ROUTING_FAIL_OPEN_SECONDS, then
# fails closed (RoutingError) until the database is back.
LLM_ROUTING_DB_TIMEOUT = env.float("LLM_ROUTING_DB_TIMEOUT", default=2.0)
LLM_ROUTING_FAIL_OPEN_SECONDS = env.float("LLM_ROUTING_FAIL_OPEN_SECONDS", default=30.0)
# Circuit breaker: after this many timeouts/5xx/connection errors in a row a provider rests
# for the base interval, doubling with each further failure up to the maximum (0: off).
LLM_BREAKER_FAILURES = env.int("LLM_BREAKER_FAILURES", default=3)
LLM_BREAKER_BASE_SECONDS = env.float("LLM_BREAKER_BASE_SECONDS", default=5.0)
LLM_BREAKER_MAX_SECONDS = env.float("LLM_BREAKER_MAX_SECONDS", default=300.0)
# Streams: the longest wait for the first content, and the longest silence on the
# connection (the head included), in seconds; LLM_STREAM_TIMEOUTS overrides them per
# provider as JSON: {"groq": {"first_token": 10, "gap": 5}}.
LLM_STREAM_FIRST_TOKEN_TIMEOUT = env.float("LLM_STREAM_FIRST_TOKEN_TIMEOUT", default=30.0)
LLM_STREAM_GAP_TIMEOUT = env.float("LLM_STREAM_GAP_TIMEOUT", default=20.0)
LLM_STREAM_TIMEOUTS = env.json("LLM_STREAM_TIMEOUTS", default={})
# Retry once on the same provider (when it is the last candidate left) after a 429 whose
# rest is at most this many seconds, or after a single 5xx or dropped connection.
LLM_RETRY_AFTER_MAX_SECONDS = env.float("LLM_RETRY_AFTER_MAX_SECONDS", default=2.0)
LLM_MODELS_CACHE_SECONDS = env.int("LLM_MODELS_CACHE_SECONDS", default=600)
LLM_KEY_TEST_RATE_PER_MINUTE = env.int("LLM_KEY_TEST_RATE_PER_MINUTE", default=10)
# ... and per tenant, whoever tests (users and API keys together): llm_routing/throttle.py.
LLM_KEY_TEST_TENANT_RATE_PER_MINUTE = env.int("LLM_KEY_TEST_TENANT_RATE_PER_MINUTE", default=30)

# --- OpenAI-compatible endpoint (/v1/, llm_routing/gateway) ------------------------------
LLM_GATEWAY_MAX_BODY_BYTES = env.int("LLM_GATEWAY_MAX_BODY_BYTES", default=1024 * 1024)
LLM_GATEWAY_BODY_TIMEOUT = env.float("LLM_GATEWAY_BODY_TIMEOUT", default=30.0)
# Non-streamed answers in flight at once per server process (each holds a thread and a
# database connection while its provider answers); streams hold no thread.
LLM_GATEWAY_THREADS = env.int("LLM_GATEWAY_THREADS", default=32)

# --- Health (/healthz, /readyz: config/health.py) -----------------------------------------
# How long /readyz waits for its checks before it answers not ready (seconds).
READINESS_TIMEOUT = env.float("READINESS_TIMEOUT", default=0.8)
if not 0.05 <= READINESS_TIMEOUT <= 30:
    raise ImproperlyConfigured("READINESS_TIMEOUT must be between 0.05 and 30 seconds.")

# --- JSON API -----------------------------------------------------------------------------
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)

# --- Usage ledger ---------------------------------------------------------------------------
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=90)
USAGE_SPILL_DIR = env.path("USAGE_SPILL_DIR", default=BASE_DIR / "var" / "usage-spill")

# Operations snapshots (usage/operations.py, the Operations screen): one every
# OPS_SNAPSHOT_MINUTES (a divisor of 60) by cron, kept OPS_SNAPSHOT_RETENTION_DAYS days.
OPS_SNAPSHOT_MINUTES = env.int("OPS_SNAPSHOT_MINUTES", default=15)
if OPS_SNAPSHOT_MINUTES < 1 or 60 % OPS_SNAPSHOT_MINUTES:
    raise ImproperlyConfigured(
        "OPS_SNAPSHOT_MINUTES must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)."
    )
OPS_SNAPSHOT_RETENTION_DAYS = env.int("OPS_SNAPSHOT_RETENTION_DAYS", default=90)
if not 1 <= OPS_SNAPSHOT_RETENTION_DAYS <= 3660:
    raise ImproperlyConfigured("OPS_SNAPSHOT_RETENTION_DAYS must be between 1 and 3660.")

# --- Scheduling (django-crontab: manage.py crontab add|show|remove) ---------------------------
CRONJOBS = [
    ("7 * * * *", "usage.cron.run_command", ["refresh_usage_summary"]),
    ("37 3 * * *", "usage.cron.run_command", ["prune_usage"]),
    (
        "0 * * * *" if OPS_SNAPSHOT_MINUTES == 60 else f"*/{OPS_SNAPSHOT_MINUTES} * * * *",
        "usage.cron.run_command",
        ["snapshot_operations"],
    ),
    # Budget alerts the firing process did not deliver (it died, a receiver failed).
    ("* * * * *", "usage.cron.run_command", ["send_budget_alerts"]),
]
CRONTAB_LOCK_JOBS = True
# Each job's output, stamped line by line, is appended here instead of going to cron mail;
# rotating it is the system's business (logrotate with copytruncate, or the like).
CRON_LOG_FILE = Path(
    env.str("CRON_LOG_FILE", default=str(BASE_DIR / "var" / "log" / "cron.log"))
).resolve()
# The crontab program django-crontab reads and writes (Debian's `cron` package).
CRONTAB_EXECUTABLE = env.str("CRONTAB_EXECUTABLE", default="/usr/bin/crontab")
# A cron line runs with an almost empty environment: it names the env file read above, so a
# job reads the same settings as the `crontab add` that wrote it (usage/cron.py checks that
# they agree before writing anything).
CRONTAB_COMMAND_PREFIX = (
    f"cd {shlex.quote(str(BASE_DIR))} && ENV_FILE={shlex.quote(str(ENV_FILE))}"
)
CRONTAB_COMMAND_SUFFIX = f">> {shlex.quote(str(CRON_LOG_FILE))} 2>&1"

# --- Logging: provider keys are scrubbed from every record as a last line of defence --------
# config.logging.configure applies LOGGING, then redacts every log record any logger makes
# (a LogRecord factory); error pages and mails go through the key-safe reporter and filter.
LOGGING_CONFIG = "config.logging.configure"
DEFAULT_EXCEPTION_REPORTER = "config.error_reports.KeySafeExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.error_reports.KeySafeReporterFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_keys": {"()": "config.logging.RedactProviderKeys"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["redact_keys"],
            "formatter": "plain",
        }
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO; the router's own attempts say more, and say it once.
    "loggers": {
        "httpx": {"level": env.str("HTTPX_LOG_LEVEL", default="WARNING")},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Usage tracker (usage/tracker.py) -----------------------------------------------------
# True: track() writes inline in the caller's thread (tests, management commands).
USAGE_TRACKER_SYNC = env.bool("USAGE_TRACKER_SYNC", default=False)
USAGE_BATCH_SIZE = env.int("USAGE_BATCH_SIZE", default=2000)
USAGE_FLUSH_INTERVAL = env.float("USAGE_FLUSH_INTERVAL", default=0.5)
# Records held in memory while the database is away, before they go to the spill file.
USAGE_MEMORY_LIMIT = env.int("USAGE_MEMORY_LIMIT", default=100_000)
USAGE_EXIT_TIMEOUT = env.float("USAGE_EXIT_TIMEOUT", default=5.0)
# While the database is away, records reach the spill file within about this many seconds
# of track(), so a killed process loses at most that much (usage/tracker.py).
USAGE_OUTAGE_SPILL_SECONDS = env.float("USAGE_OUTAGE_SPILL_SECONDS", default=1.0)
if not 0.05 <= USAGE_OUTAGE_SPILL_SECONDS <= 60:
    raise ImproperlyConfigured("USAGE_OUTAGE_SPILL_SECONDS must be between 0.05 and 60.")

# --- Budgets (usage/budgets.py) -------------------------------------------------------------
# What a request to a model without a price counts against a budget (USD), reserved before
# the call and settled after it (the dashboard shows how much spend is such an estimate).
USAGE_BUDGET_UNPRICED_ESTIMATE_USD = env.float("USAGE_BUDGET_UNPRICED_ESTIMATE_USD", default=0.01)
# Output tokens a request without max_tokens may bill, for a model the catalogue does not
# know: its worst case, reserved before the call.
USAGE_BUDGET_DEFAULT_MAX_TOKENS = env.int("USAGE_BUDGET_DEFAULT_MAX_TOKENS", default=4096)
# A process's reservations count until it has not renewed them for this long (a killed
# process blocks nobody for longer); far from the limit a process reserves a lease it may
# spend from memory for USAGE_BUDGET_LEASE_SECONDS.
USAGE_BUDGET_HOLD_SECONDS = env.float("USAGE_BUDGET_HOLD_SECONDS", default=60.0)
USAGE_BUDGET_LEASE_SECONDS = env.float("USAGE_BUDGET_LEASE_SECONDS", default=0.5)
if USAGE_BUDGET_UNPRICED_ESTIMATE_USD < 0 or USAGE_BUDGET_DEFAULT_MAX_TOKENS < 1:
    raise ImproperlyConfigured(
        "USAGE_BUDGET_UNPRICED_ESTIMATE_USD must be >= 0 and USAGE_BUDGET_DEFAULT_MAX_TOKENS >= 1."
    )
if USAGE_BUDGET_LEASE_SECONDS < 0 or not (
    4 * USAGE_BUDGET_LEASE_SECONDS < USAGE_BUDGET_HOLD_SECONDS <= 3600
):
    raise ImproperlyConfigured(
        "USAGE_BUDGET_LEASE_SECONDS must be >= 0, and USAGE_BUDGET_HOLD_SECONDS above 4 x "
        "USAGE_BUDGET_LEASE_SECONDS and at most 3600."
    )

# --- Budget alerts (usage/budget_alerts.py) --------------------------------------------------
# Alerts are delivered by a background thread of the process that fired them; off, only the
# send_budget_alerts cron job (every minute) delivers them. A failed delivery is retried with
# a growing back-off, at most USAGE_BUDGET_ALERT_MAX_ATTEMPTS times.
USAGE_BUDGET_ALERTS_IN_BACKGROUND = env.bool("USAGE_BUDGET_ALERTS_IN_BACKGROUND", default=True)
USAGE_BUDGET_ALERT_MAX_ATTEMPTS = env.int("USAGE_BUDGET_ALERT_MAX_ATTEMPTS", default=8)
# A webhook POST gets this many seconds in all (connect, send, answer). Its URL must be
# https and resolve to public addresses only, unless these allow http or private addresses
# (a receiver on the platform's own network, loopback tests).
USAGE_BUDGET_WEBHOOK_TIMEOUT = env.float("USAGE_BUDGET_WEBHOOK_TIMEOUT", default=10.0)
USAGE_BUDGET_WEBHOOK_ALLOW_HTTP = env.bool("USAGE_BUDGET_WEBHOOK_ALLOW_HTTP", default=False)
USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE = env.bool("USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE", default=False)
# A PEM file of the certificate authorities a webhook's certificate may chain to (a receiver
# with a private CA); empty: the usual public ones (certifi).
USAGE_BUDGET_WEBHOOK_CA_FILE = env.str("USAGE_BUDGET_WEBHOOK_CA_FILE", default="")
if USAGE_BUDGET_ALERT_MAX_ATTEMPTS < 1 or not 0.1 <= USAGE_BUDGET_WEBHOOK_TIMEOUT <= 60:
    raise ImproperlyConfigured(
        "USAGE_BUDGET_ALERT_MAX_ATTEMPTS must be >= 1 and USAGE_BUDGET_WEBHOOK_TIMEOUT "
        "between 0.1 and 60 seconds."
    )
# Outgoing mail (budget alerts): an EMAIL_URL like smtp+tls://user:password@host:587, or
# consolemail:// to print mails; the sender address; the seconds a mail server gets.
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="llm-platform@localhost")
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)

# Prometheus metrics (config/metrics.py, GET /metrics): off, nothing is counted (the router
# benchmark compares). The endpoint answers a bearer METRICS_TOKEN or a client address in
# METRICS_ALLOW (comma-separated IPs or networks); neither set: it answers nobody.
# METRICS_TENANT_LABELS: tenant slugs that get their own series (every other tenant none).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW = env.list("METRICS_ALLOW", default=[])
METRICS_TENANT_LABELS = env.list("METRICS_TENANT_LABELS", default=[])
try:
    METRICS_ALLOW_NETWORKS = tuple(ipaddress.ip_network(n, strict=False) for n in METRICS_ALLOW)
except ValueError:
    raise ImproperlyConfigured(
        "METRICS_ALLOW: every entry must be an IP address or network (10.0.0.0/8)."
    ) from None
# Read by prometheus_client itself from the environment (the env file above sets it too):
# every process, cron jobs included, writes its figures there and /metrics adds them up.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR and not os.path.isdir(PROMETHEUS_MULTIPROC_DIR):
    raise ImproperlyConfigured(
        "PROMETHEUS_MULTIPROC_DIR is not a directory: create it (empty) before the server "
        "starts."
    )

# Every variable read above (kept last): `crontab add` checks that cron will see the same.
SETTINGS_ENV_VARIABLES = frozenset(env.names_read)
