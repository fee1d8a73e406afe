"""The resource schema as Torrent Suite published it (tastypie 0.11's keys only)."""

LEGACY_FIELD_KEYS = ("blank", "default", "help_text", "nullable", "readonly", "type", "unique")


def legacy_schema(schema):
    """Strip what newer tastypie adds to each field (``primary_key``, ``verbose_name``)."""
    schema["fields"] = {
        name: {key: entry[key] for key in LEGACY_FIELD_KEYS}
        for name, entry in schema["fields"].items()
    }
    return schema
