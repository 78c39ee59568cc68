"""Tokens taken on trust, for a view whose one statement confirms the token itself (the
next task on PostgreSQL: labeling.queue_lease).

A web process remembers the tokens it checked in the last few minutes. A request whose
token is among them is authenticated without a query and carries a TokenCheck; its
statement confirms the token exists and has not expired and that its user is active with
the same roles, and does nothing else when they do not hold. The request then checks the
token afresh (token_recheck) and answers as any request would. A token is never trusted
from here by anything that does not confirm it, so a revoked token, a deactivated user or
a role taken away is never served.
"""

import copy
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from accounts.models import ApiToken
from accounts.tokens import HashedTokenAuthentication, token_hash, token_user_for_api

# Bounds on memory, and on how long a token's user and roles are carried in a process
# before a plain check again (the statement confirms them meanwhile).
CHECKED_MAX = 4096
CHECKED_FOR_SECONDS = 300.0


@dataclass(frozen=True)
class TokenCheck:
    """What a request took on trust, for its statement to confirm."""

    key_hash: str
    is_superuser: bool
    role_groups: tuple[str, ...]  # the user's groups that are roles, when it was checked


class TokenCheckFailed(Exception):
    """The token, its user or their roles changed since this process checked them."""


# key hash -> (when checked, user, token, its check)
_checked: OrderedDict[str, tuple[float, AbstractBaseUser, ApiToken, TokenCheck]] = OrderedDict()
_lock = threading.Lock()


def _copies(user: AbstractBaseUser, token: ApiToken) -> tuple[AbstractBaseUser, ApiToken]:
    """Requests run on threads of one process: none may share another's instances."""
    user, token = copy.copy(user), copy.copy(token)
    token.user = user
    return user, token


def _remember(key_hash: str, user: AbstractBaseUser, token: ApiToken) -> None:
    check = TokenCheck(
        key_hash=key_hash,
        is_superuser=user.is_superuser,
        role_groups=tuple(getattr(token, "role_groups", ())),
    )
    with _lock:
        _checked[key_hash] = (time.monotonic(), *_copies(user, token), check)
        while len(_checked) > CHECKED_MAX:
            _checked.popitem(last=False)


def token_check_of(auth: object) -> TokenCheck | None:
    """The check a request's statement must make, when its token was taken on trust."""
    return getattr(auth, "check_in_statement", None)


def token_recheck(check: TokenCheck) -> tuple[AbstractBaseUser, ApiToken]:
    """Check a token taken on trust afresh, as any request's token is checked
    (AuthenticationFailed, PermissionDenied), and remember it as it is now."""
    with _lock:
        _checked.pop(check.key_hash, None)
    user, token = token_user_for_api(check.key_hash)
    _remember(check.key_hash, user, token)
    return user, token


class StatementCheckedTokenAuthentication(HashedTokenAuthentication):
    """HashedTokenAuthentication, except that on PostgreSQL a token this process checked
    lately is taken without a query, with a TokenCheck on `request.auth` that the view
    must hand to its statement."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, ApiToken]:
        if connection.vendor != "postgresql":
            return super().authenticate_credentials(key)
        key_hash = token_hash(key)
        with _lock:
            seen = _checked.get(key_hash)
            if seen is not None and time.monotonic() - seen[0] < CHECKED_FOR_SECONDS:
                _checked.move_to_end(key_hash)
            else:
                seen = None
        if seen is None:
            user, token = token_user_for_api(key_hash)
            _remember(key_hash, user, token)
            return user, token
        user, token = _copies(seen[1], seen[2])
        token.check_in_statement = seen[3]
        return user, token
