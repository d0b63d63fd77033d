"""JSON transcodings for values the library does not encode by default."""

from __future__ import annotations

from datetime import date

from eventsourcing.persistence import Transcoding


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
