"""JSON transcodings for values the library does not encode by default."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding, UUIDAsHex


class DateAsISO(Transcoding):
    """Calendar dates as ``YYYY-MM-DD`` text."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        """Encode a date as ISO 8601 text."""
        return obj.isoformat()

    def decode(self, data: str) -> date:
        """Decode ISO 8601 text into a date."""
        return date.fromisoformat(data)


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON format, decoded with orjson.

    Encoding is the library's own, byte for byte. Decoding parses with orjson (C)
    and then revives the ``{"_type_": ..., "_data_": ...}`` objects bottom-up, as the
    library's ``object_hook`` does, at a fraction of the cost: rebuilding views
    decodes every event of the log, so this is their hot path.
    """

    def decode(self, data: bytes) -> Any:  # noqa: ANN401 - any encoded value
        """Decode bytes written by ``encode`` (or by the library's transcoder)."""
        return self._revive(orjson.loads(data))

    def _revive(self, value: Any) -> Any:  # noqa: ANN401 - any decoded value
        if type(value) is list:
            return [
                self._revive(item) if type(item) in _CONTAINERS else item
                for item in value
            ]
        if type(value) is not dict:
            return value
        for key, item in value.items():
            if type(item) in _CONTAINERS:
                value[key] = self._revive(item)
        if len(value) == 2 and "_type_" in value and "_data_" in value:  # noqa: PLR2004
            return self._decode_obj(value)
        return value


class FastUUIDAsHex(UUIDAsHex):
    """UUIDs from hex text without ``UUID.__init__``'s string clean-up."""

    def decode(self, data: str) -> UUID:
        """The UUID whose 32 hex digits are ``data``."""
        return UUID(int=int(data, 16))


_CONTAINERS = (dict, list)
