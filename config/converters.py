"""URL converters. `id` is a database key: digits that fit a 64-bit integer, so a huge
number in a URL is a 404, not an overflow inside the database driver."""

from django.urls import register_converter


class DatabaseIdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def register() -> None:
    register_converter(DatabaseIdConverter, "id")
