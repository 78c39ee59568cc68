"""How the token checks appear in the OpenAPI schema.

drf-spectacular names every subclass of DRF's TokenAuthentication "tokenAuth"; with several
of ours in use (the API's check, and the one that also lets an inference-only account
revoke its own token) the schema had different components under one name, which the
deploy check reports. Each gets its own name here. (The next task's check,
accounts.token_trust, is the same token to a client: that view names tokenAuth itself.)
Imported by AccountsConfig.ready."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class _TokenScheme(OpenApiAuthenticationExtension):
    # Above drf-spectacular's own TokenAuthentication extension (priority -1).
    priority = 1

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=self.target.keyword
        )


class ApiTokenScheme(_TokenScheme):
    target_class = "accounts.tokens.HashedTokenAuthentication"
    name = "tokenAuth"


class AnyTokenScheme(_TokenScheme):
    target_class = "accounts.tokens.AnyTokenAuthentication"
    name = "anyTokenAuth"
