"""Every user gets an API key, as on Torrent Suite."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver
from tastypie.models import create_api_key

receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="filemonitor_api_key")(
    create_api_key
)
