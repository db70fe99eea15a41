"""Settings of the notification service (environment variables, then var/stack.env)."""

from appariement.common.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    """The shared settings with this service's name, schema and port."""

    service_name: str = "notification"
    http_port: int = 8005
