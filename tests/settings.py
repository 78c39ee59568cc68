"""The platform's settings, as the test process runs them.

Processes the tests start (workers, runstack) use config.settings itself.
"""

from config.settings import *  # noqa: F403

# Production defaults redirect to HTTPS and mark cookies Secure; the test client and the
# live server speak plain HTTP. tests/config/test_settings.py checks the defaults.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# Hashing a password properly takes a large share of a second; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The /v1 views run the models in the test process, behind the live server, instead of
# forwarding to an inference process (tests/serving/test_forwarding.py checks that path).
SERVING_IN_PROCESS = True
