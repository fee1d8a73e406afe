"""The wire format of the API: JSON and JSONP, datetimes aware in UTC."""

from datetime import UTC

from tastypie.serializers import Serializer


class FileMonitorSerializer(Serializer):
    """JSON and JSONP only, as the Torrent Suite server enabled no other format."""

    formats = ["json", "jsonp"]
    content_types = {"json": "application/json", "jsonp": "text/javascript"}

    def format_datetime(self, data):
        # Tastypie 0.15 makes datetimes naive; clients parse the original's "+00:00".
        if data.tzinfo is not None:
            data = data.astimezone(UTC)
        else:
            data = data.replace(tzinfo=UTC)
        return data.isoformat()
