"""The local stack listens on loopback only, and no credentials live in the repository or its logs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of sockets listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def test_the_local_stack_binds_127_0_0_1_only(stack):
    port = int(stack.outputs.endpoint_url.rsplit(":", 1)[1])
    assert stack.outputs.endpoint_url.startswith("http://127.0.0.1:")
    assert _listening(port) == ["0100007F"]  # 127.0.0.1, nothing on 0.0.0.0 or other interfaces


def test_no_credentials_in_code_config_examples_or_logs(stack):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = {name: (ROOT / name).read_text(errors="ignore") for name in tracked if (ROOT / name).is_file()}
    texts |= {str(p): p.read_text(errors="ignore") for p in stack.log_dir.glob("*.log")}
    for name, text in texts.items():
        assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), f"an AWS access key id in {name}"
        assert not re.search(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}", text), name
