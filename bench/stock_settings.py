"""Settings of the stock baseline server: the project's settings, the stock URLconf."""

from settings import *  # noqa: F403

ROOT_URLCONF = "bench.stock_urls"
