"""Settings for every deployment, read from the environment (see README.md).

With no variables set this is the embedded default: SQLite and a file-based Celery broker
under DATA_DIR. DATABASE_URL switches to PostgreSQL and CELERY_BROKER_URL to Redis.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_optional_float,
    env_optional_str,
    env_path,
    env_paths,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

# DATA_DIR holds everything the platform writes: the SQLite database, the embedded
# broker's message files, exported datasets and model weights.
DATA_DIR = env_path("DATA_DIR", BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)
EXPORTS_DIR = DATA_DIR / "exports"


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR.

    Several web hosts must share one key, so a multi-host deployment sets SECRET_KEY;
    a single machine gets a strong key without anyone having to invent one.
    """
    from_env = env_optional_str("SECRET_KEY")
    if from_env is not None:
        if len(from_env) < 32:
            raise ImproperlyConfigured("SECRET_KEY is shorter than 32 characters")
        return from_env
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        _create_private_file(key_file, secrets.token_urlsafe(50))
    return key_file.read_text().strip()


def _create_private_file(path: Path, text: str = "") -> None:
    """Create `path` readable by its owner only, from the first byte on.

    Writing first and chmod-ing after leaves a moment in which anyone on the machine can
    read the file; O_EXCL also keeps two processes starting at once from both writing it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The hosts a model source's base_url may name ("gpu1.lan", or "*.lan" for any under it);
# empty allows any. A source makes the workers send requests, with their network's
# reach, wherever an admin points it: a deployment that exposes internal services sets it.
MODEL_SOURCE_HOSTS = env_list("MODEL_SOURCE_HOSTS", [])

# Off by default only where DEBUG is on: a production deployment is HTTPS-only unless
# someone turns these off on purpose (for instance behind a proxy that redirects itself).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "config.apps.PlatformConfig",
    "jobs",
    "accounts",
    "guidelines",
    "labeling",
    "rankings",
    "sources",
    "dataset_io",
    "trainer",
    "ai_feedback",
    "serving",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside everything that can answer an /api/ request with an HTML error page.
    "config.middleware.ApiJsonErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "accounts.context_processors.roles",
                "guidelines.context_processors.guideline_changes",
                "dashboard.context_processors.dashboard_sections",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------

_database_url = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
try:
    _database = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat write to one file: WAL lets readers go on
    # during a write, IMMEDIATE takes the write lock at BEGIN so two writers queue on the
    # busy timeout instead of failing with "database is locked".
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The database holds password hashes and every label: SQLite would create it with the
    # umask's mode (often world-readable), so it is created empty, 0600, before Django
    # opens it. SQLite keeps the file's mode for its -wal and -shm files.
    if _database["NAME"] != ":memory:" and Path(_database["NAME"]).parent.is_dir():
        _create_private_file(Path(_database["NAME"]))
    # A file, not memory, so that worker processes started by the tests share it.
    _database["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
elif _database["ENGINE"] == "django.db.backends.postgresql":
    # Django's, checking busy connections less often (config/postgresql/base.py).
    _database["ENGINE"] = "config.postgresql"
else:
    raise ImproperlyConfigured(
        f"DATABASE_URL names {_database['ENGINE']}: only PostgreSQL and SQLite are supported"
    )
DATABASES = {"default": _database}
# The queue's statements are prepared on each connection (labeling/queue_lease.py and
# submit_statement.py); turn it off behind a connection pooler in transaction mode that
# cannot keep prepared statements.
DATABASE_PREPARED_QUEUE = env_bool("DATABASE_PREPARED_QUEUE", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username+address is refused before any password is checked.
    "accounts.backends.LoginLockoutBackend",
    "accounts.backends.RoleBackend",
]
# Repeated failed logins lock out one username from one address (the HTML login, the
# admin's login and POST /api/auth/token/ alike). django-axes keeps the attempts in the
# database, so every gunicorn worker and host sees the same count with no cache server;
# DRF's throttles would need a shared cache and cover only the API.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Every successful login would otherwise add an AccessLog row; failures are what matter.
AXES_DISABLE_ACCESS_LOG = True
# Expired tokens answer 401; a token lives this many days after it was issued.
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 30, minimum=1)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation ---------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders when nobody ran collectstatic (tests, DEBUG).
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "uploads"

# --- API --------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # DRF's own three, with every body checked once: nesting, size, text a database refuses.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.CheckedJSONParser",
        "config.parsers.CheckedFormParser",
        "config.parsers.CheckedMultiPartParser",
    ],
    # Token first: its WWW-Authenticate header turns "not logged in" into a 401 for
    # scripts, while browsers keep their session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth-token": env_str("AUTH_TOKEN_RATE", "30/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Feedback platform API",
    "DESCRIPTION": "Prompts, demonstrations, rankings, datasets and training runs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # design.md §2: anonymous visitors see the login page and /healthz only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Several models have a "kind" and a "status": name each choice set in the schema.
    "ENUM_NAME_OVERRIDES": {
        "TaskKindEnum": "labeling.task_kinds.task_kind_choices",
        "SnapshotKindEnum": "dataset_io.models.DatasetSnapshot.Kind",
        "TrainingKindEnum": "trainer.ml.methods.training_method_choices",
        "JobStatusEnum": "jobs.models.JobStatus",
        "DemonstrationStatusEnum": "labeling.models.Demonstration.Status",
        "AIFeedbackKindEnum": "ai_feedback.models.AIFeedbackJob.Kind",
    },
    # The 4xx/5xx answers views do not declare themselves (permissions, 404s, conflicts,
    # a broker that is down), so clients and tests can rely on the documented codes.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.document_error_answers",
        # /v1 is plain Django views in OpenAI's shapes, written in by hand after the rest.
        "serving.schema.document_v1",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -----------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_broker_scheme = urlparse(CELERY_BROKER_URL).scheme
if _broker_scheme not in ("filesystem", "redis", "rediss", "amqp", "amqps"):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL uses {_broker_scheme!r}: use redis://, amqp:// or filesystem://"
    )
if _broker_scheme == "filesystem":
    # The embedded broker: one folder of message files that producer and worker share,
    # written and read by our own transport, which never reads a half-written message
    # (config/broker_files.py says why it is files and not SQLite or a Redis of our own).
    from config.broker_files import embedded_broker_options

    CELERY_BROKER_TRANSPORT_OPTIONS = embedded_broker_options(DATA_DIR / "broker")
    _default_result_backend = f"file://{DATA_DIR / 'celery-results'}"
    (DATA_DIR / "celery-results").mkdir(exist_ok=True)
else:
    # With acks_late, Redis hands an unacknowledged message to another worker after this
    # many seconds; it must outlast the longest task or a healthy one runs twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60),
    }
    _default_result_backend = CELERY_BROKER_URL if _broker_scheme.startswith("redis") else "rpc://"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", _default_result_backend)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Long jobs: a task is acknowledged only when it finished, each worker process holds one
# message at a time, and a task whose worker died is handed out again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 15 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 16 * 60, minimum=1)
# Training tasks carry their own, longer limits (see trainer/tasks.py).
CELERY_TRAINING_TIME_LIMIT = env_int("CELERY_TRAINING_TIME_LIMIT", 24 * 3600, minimum=60)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Training holds a model in memory for hours: it goes to workers on the training queue
# (GPU hosts in a larger deployment). The scoring of open comparisons asks the inference
# process in passes of a minute at most, on the default queue (not routed).
CELERY_TASK_ROUTES = {
    "trainer.tasks.train_*": {"queue": "training"},
    # Drafts, generations, evaluations and AI raters only wait on HTTP: model sources, and
    # the inference process, which samples our model versions' replies and scores them
    # with a reward model. None of them waits behind a training run.
    "trainer.tasks.generate_*": {"queue": "drafts"},
    "trainer.tasks.evaluate_*": {"queue": "drafts"},
    "ai_feedback.tasks.*": {"queue": "drafts"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
# How long runstack waits for the training worker to stop after asking it to, before it
# kills it: long enough for a run to write a checkpoint and hand itself back.
TRAINING_STOP_GRACE_S = env_int("TRAINING_STOP_GRACE_S", 120, minimum=1)

# --- Labeling ---------------------------------------------------------------------------

# A lease is short and renewed by the open page, so a closed tab frees its task quickly
# (Label Studio's 24-hour locks starve other labelers; see design.md §5).
LABELING_LEASE_SECONDS = env_int("LABELING_LEASE_SECONDS", 300, minimum=10)
LABELING_MAX_CHARS = env_int("LABELING_MAX_CHARS", 32_000, minimum=1)
LABELING_APPROVALS_REQUIRED = env_int("LABELING_APPROVALS_REQUIRED", 1, minimum=1)
# Pay per approved demonstration; when set, labelers see their effective pay per hour of
# time on task (OpenAssistant's and vendors' labelers asked to see it).
LABELING_PAY_PER_APPROVED = env_optional_float("LABELING_PAY_PER_APPROVED")
# Pay per review and per ranking submitted, for reviewers' pay per hour (labeling/pay.py).
LABELING_PAY_PER_REVIEW = env_optional_float("LABELING_PAY_PER_REVIEW")
LABELING_PAY_PER_RANKING = env_optional_float("LABELING_PAY_PER_RANKING")
# What a day of waiting adds to a ranking task's priority (rankings/priority.py). One rate
# for every guideline: the queue orders the tasks of several guidelines together, and
# their stored priorities compare only if their age counts alike.
RANKING_PRIORITY_PER_DAY = env_optional_float("RANKING_PRIORITY_PER_DAY")
if RANKING_PRIORITY_PER_DAY is None:
    RANKING_PRIORITY_PER_DAY = 0.05
if not 0 <= RANKING_PRIORITY_PER_DAY <= 100:
    raise ImproperlyConfigured("RANKING_PRIORITY_PER_DAY must be from 0 to 100")

# --- Datasets ---------------------------------------------------------------------------

# Which kinds the periodic export writes when their data changed; its cadence is the
# "Export datasets when the data changed" entry under Periodic tasks in the admin.
EXPORT_SCHEDULED_KINDS = env_list("EXPORT_SCHEDULED_KINDS", ["sft", "preference", "rankings"])
if set(EXPORT_SCHEDULED_KINDS) - {"sft", "preference", "rankings"}:
    raise ImproperlyConfigured(
        f"EXPORT_SCHEDULED_KINDS={EXPORT_SCHEDULED_KINDS}: use sft, preference and/or rankings"
    )

# --- Training ---------------------------------------------------------------------------

# A running job writes a heartbeat this often; one silent for TRAINING_STALE_AFTER_S lost
# its worker, and the next worker to start (or the once-a-minute check) takes it over,
# resuming from its last checkpoint.
TRAINING_HEARTBEAT_S = env_int("TRAINING_HEARTBEAT_S", 10, minimum=1)
TRAINING_STALE_AFTER_S = env_int("TRAINING_STALE_AFTER_S", 120, minimum=2)
if TRAINING_STALE_AFTER_S <= TRAINING_HEARTBEAT_S:
    raise ImproperlyConfigured("TRAINING_STALE_AFTER_S must be longer than TRAINING_HEARTBEAT_S")
# Processes one training run is spread over (DDP): one per GPU of the worker's machine.
# Above 1 the worker starts them (trainer.processes) and follows rank 0's progress.
TRAINING_PROCESSES = env_int("TRAINING_PROCESSES", 1, minimum=1)
# Local model directories (pretrained checkpoints on the training hosts) the run form offers
# as bases, ":"-separated or a JSON array. A run may still name any other directory.
MODEL_DIRS = env_paths("MODEL_DIRS")
# The scheduled retraining starts a run when this many approved demonstrations (SFT) or
# rankings (reward model) arrived since the kind's last run.
TRAINING_RETRAIN_MIN_DEMONSTRATIONS = env_int("TRAINING_RETRAIN_MIN_DEMONSTRATIONS", 200, minimum=1)
TRAINING_RETRAIN_MIN_RANKINGS = env_int("TRAINING_RETRAIN_MIN_RANKINGS", 200, minimum=1)
# The same for DPO, which starts from the promoted policy (no run while none is promoted).
TRAINING_RETRAIN_DPO_MIN_RANKINGS = env_int("TRAINING_RETRAIN_DPO_MIN_RANKINGS", 200, minimum=1)

# --- Serving ----------------------------------------------------------------------------

PORT = env_int("PORT", 8000, minimum=1)
HOST = env_str("HOST", "127.0.0.1")
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 2, minimum=1)
# Threads per web process: a request mostly waits on the database (config.processes).
WEB_THREADS = env_int("WEB_THREADS", 16, minimum=1)
# One line per request, written by a thread of its own (config.web_log).
WEB_ACCESS_LOG = env_bool("WEB_ACCESS_LOG", True)

# The models answer /v1 (OpenAI's chat completions) in an inference process of their own
# (serving.wsgi, one process of many threads), never in a web worker: the web process
# forwards /v1 requests to it. serving.wsgi sets SERVING_IN_PROCESS for itself.
INFERENCE_PORT = env_int("INFERENCE_PORT", PORT + 1, minimum=1)
INFERENCE_URL = env_str("INFERENCE_URL", f"http://127.0.0.1:{INFERENCE_PORT}")
SERVING_IN_PROCESS = env_bool("SERVING_IN_PROCESS", False)
if SERVING_IN_PROCESS:
    # The platform's own processes (drafts and generation jobs, the playground's web
    # request) call this one at INFERENCE_URL, so its host is one this process answers to.
    _inference = urlparse(INFERENCE_URL)
    _inference_host = _inference.hostname or ""
    if ":" in _inference_host:  # an IPv6 address, written as ALLOWED_HOSTS wants it
        _inference_host = f"[{_inference_host}]"
    if _inference_host and _inference_host not in ALLOWED_HOSTS:
        ALLOWED_HOSTS = [*ALLOWED_HOSTS, _inference_host]
    # Reached over plain HTTP on an internal address, as the deployment chose: redirecting
    # the platform's own calls to HTTPS would only break them. No browser comes here, and
    # a token sent over HTTP has gone in the clear before any redirect could answer.
    if _inference.scheme == "http":
        SECURE_SSL_REDIRECT = False
# Loaded models the inference process keeps, least recently used unloaded first.
SERVING_MODELS_KEPT = env_int("SERVING_MODELS_KEPT", 2, minimum=1)
# Sequences decoded together in one step, across requests.
SERVING_MAX_BATCH = env_int("SERVING_MAX_BATCH", 64, minimum=1)
# Seconds a whole (not streamed) chat completion may take before it is cancelled and
# answered 504: its client may have left, and nothing else tells the inference process.
SERVING_DEADLINE_S = env_int("SERVING_DEADLINE_S", 300, minimum=1)

# --- Logging ----------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every successful login at INFO; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}
