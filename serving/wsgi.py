"""The inference process: `gunicorn serving.wsgi:application --workers 1 --worker-class
gthread --threads 32`. One process, so each model is loaded once and every request for it
shares its batches; threads, so requests wait on the model without holding a process."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Set before the settings load: this process runs the models itself, it forwards nothing.
os.environ["SERVING_IN_PROCESS"] = "1"
application = get_wsgi_application()
