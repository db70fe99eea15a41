"""Free TCP ports for the backing servers: never assumed, since several stacks share a machine."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port nobody listens on right now (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
