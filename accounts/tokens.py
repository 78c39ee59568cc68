"""API tokens: issued, checked on each request, revoked.

A token is 160 random bits; the database keeps its sha256. A fast hash is enough here
(unlike passwords): the secret is random, so there is nothing to guess from a dictionary.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied

from accounts.models import ApiToken
from accounts.roles import ALL_ROLES, roles_remember, user_is_inference_only
from config.raw_rows import columns_sql, instances_from

# Writing last_used_at on every request would make each API call a write; once a minute
# is enough to tell a token in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def token_issue(*, user: AbstractBaseUser) -> tuple[ApiToken, str]:
    """A new token for `user` (other tokens stay valid); returns the row and the plain token."""
    plain = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user,
        key_hash=token_hash(plain),
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS),
    )
    return token, plain


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).delete()


def tokens_revoke_of_user(*, user: AbstractBaseUser) -> int:
    """Revoke every token of `user`; returns how many there were."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def token_user(key: str) -> tuple[AbstractBaseUser, ApiToken]:
    """The user a plain token belongs to; AuthenticationFailed when it is unknown,
    expired, or its user is deactivated."""
    return token_user_hashed(token_hash(key))


def token_user_hashed(key_hash: str) -> tuple[AbstractBaseUser, ApiToken]:
    if connection.vendor == "postgresql":
        token = _token_with_groups(key_hash)
    else:
        token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
    if token is None:
        raise AuthenticationFailed("Invalid token.")
    now = timezone.now()
    if token.expires_at <= now:
        raise AuthenticationFailed("Token expired: ask for a new one at /api/auth/token/.")
    if not token.user.is_active:
        raise AuthenticationFailed("User inactive or deleted.")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


TOKEN_SQL = """
SELECT {columns},
       ARRAY(SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
             WHERE ug.user_id = t.user_id)
FROM accounts_apitoken t JOIN {users} u ON u.id = t.user_id
WHERE t.key_hash = %s
"""


def _token_with_groups(key_hash: str) -> ApiToken | None:
    """The token, its user and the user's groups in one round trip, every API request's
    first question. Written out: compiling the equivalent queryset (select_related and
    an array subquery) took several times longer than PostgreSQL took to answer it."""
    models = (ApiToken, get_user_model())
    columns = columns_sql(models[0], "t") + columns_sql(models[1], "u")
    sql = TOKEN_SQL.format(columns=", ".join(columns), users=models[1]._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user = instances_from(row, models)
    token.user = user
    roles_remember(user, row[-1])
    token.role_groups = sorted(set(row[-1]) & set(ALL_ROLES))
    return token


class AnyTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <token>`, looked up by its hash; expired tokens are refused."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, ApiToken]:
        return token_user(key)


def token_user_for_api(key_hash: str) -> tuple[AbstractBaseUser, ApiToken]:
    """token_user_hashed, refusing accounts that may only call the models at /v1/."""
    user, token = token_user_hashed(key_hash)
    if user_is_inference_only(user):
        raise PermissionDenied("This account may only call the models at /v1/.")
    return user, token


class HashedTokenAuthentication(AnyTokenAuthentication):
    """The API's token check: also refuses accounts that may only call the models at /v1/
    (revoking their own token, AnyTokenAuthentication, is all else they may do)."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, ApiToken]:
        return token_user_for_api(token_hash(key))
