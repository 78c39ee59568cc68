"""Form errors as the pages show them: one message per field, beside the field."""

from collections.abc import Mapping


def field_errors(errors: Mapping) -> dict[str, str]:
    """DRF's nested errors as one message per form field.

    The pages validate their forms with the API's serializers but name their fields flat
    (the export form's `min_agreement`, not `filters.min_agreement`); the names of nested
    fields never collide, so the nesting can be dropped.
    """
    flat: dict[str, str] = {}
    for field, detail in errors.items():
        if isinstance(detail, Mapping) and all(isinstance(key, int) for key in detail):
            # A list field reports its bad items by position.
            flat[field] = " ".join(
                f"Item {index + 1}: {_item_text(item)}" for index, item in detail.items()
            )
        elif isinstance(detail, Mapping):
            flat.update(field_errors(detail))
        else:
            flat[field] = " ".join(map(str, detail))
    return flat


def _item_text(item: object) -> str:
    # A list of objects (the generation form's sources) reports each bad item's fields.
    if isinstance(item, Mapping):
        return " ".join(f"{name}: {_item_text(detail)}" for name, detail in item.items())
    if isinstance(item, list):
        return " ".join(map(str, item))
    return str(item)
