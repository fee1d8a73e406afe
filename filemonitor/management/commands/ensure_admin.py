"""Make sure an admin account exists, and show its API key."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from tastypie.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create or update the admin account from DJANGO_SUPERUSER_USERNAME/PASSWORD; "
        "with no password, generate one the first time and print it once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-key",
            action="store_true",
            help="do not print the API key (e.g. in container logs)",
        )

    def handle(self, *args, no_key=False, **options):
        User = get_user_model()
        username = settings.FILEMONITOR_ADMIN_USERNAME
        password = settings.FILEMONITOR_ADMIN_PASSWORD
        user = User.objects.filter(username=username).first()
        if user is None:
            generated = password is None
            password = password or secrets.token_urlsafe(18)
            user = User.objects.create_superuser(username=username, password=password, email="")
            self.stdout.write(f"Created admin account {username!r}.")
            if generated:
                self.stdout.write(f"Generated password (shown only now): {password}")
        elif password is not None and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Updated the password of {username!r} from the environment.")
        key, _ = ApiKey.objects.get_or_create(user=user)
        if not no_key:
            self.stdout.write(f"Admin API key: Authorization: ApiKey {username}:{key.key}")
