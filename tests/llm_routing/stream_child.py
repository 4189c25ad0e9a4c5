"""Run by tests in a child process: stream one answer for a tenant and print, on one line
each, the provider that answered, each skipped provider, and the text.

    python stream_child.py <tenant slug>
"""

import sys

import django

django.setup()

from llm_routing import stream  # noqa: E402


def main() -> None:
    with stream(tenant=sys.argv[1], messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(chunk.text for chunk in s)
    print(f"answered by {s.result.provider}")
    for skipped in s.result.skipped:
        print(f"skipped: {skipped.provider}: {skipped.reason}")
    print(f"text: {text}")


if __name__ == "__main__":
    main()
