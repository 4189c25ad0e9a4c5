"""argparse types shared by the llm_routing commands: bad values become clear errors."""

import argparse
import socket


def _whole_number(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} must be from {low} to {high}")
    return value


def port_number(text: str) -> int:
    """A TCP port; 0 means any free port."""
    return _whole_number(text, 0, 65535, "the port")


def positive_tokens(text: str) -> int:
    return _whole_number(text, 1, 1_000_000, "--max-tokens")


def temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--temperature must be a number, not {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError("--temperature must be from 0 to 2")
    return value


def address_and_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or a bare PORT, on 127.0.0.1) that is free to listen on right now."""
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    port = _whole_number(port_text, 1, 65535, "the port in --addrport")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"cannot listen on {text}: {exc.strerror or exc}"
            ) from None
    return host, port
