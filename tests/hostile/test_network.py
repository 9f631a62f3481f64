"""No network, really: a cold diagram render, the only stage that starts a browser, opens no
connection off this machine and asks no DNS server anything.

The render runs in a child process under strace (every thread and child: node, the Chromium
wrapper script, every Chromium process), then each connect/send is judged by its address family
and destination. A second case renders in a fresh network namespace, where even loopback is down.
"""
from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import ROOT

# Two diagrams nobody else renders, so the cache folder of the test is all there is.
CODES = [
    "flowchart LR\n    甲[离线构建] --> 乙{需要网络吗?}\n    乙 -->|否| 丙[渲染图表]",
    "sequenceDiagram\n    作者->>流水线: 构建\n    流水线-->>作者: 电子书",
]

RENDER = textwrap.dedent("""\
    import json, socket, sys
    from pathlib import Path
    from pipeline import diagrams
    from pipeline.config import DiagramSettings
    from pipeline.diagnostics import Diagnostics
    from pipeline.diagrams import DiagramBlock, render_diagrams

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("127.0.0.1", 9))   # UDP: picks a route, sends nothing
        loopback_up = True
    except OSError:
        loopback_up = False
    finally:
        probe.close()
    cache, codes = Path(sys.argv[1]), json.loads(sys.argv[2])
    blocks = [DiagramBlock(code=code, file=Path("net.md"), line=i + 1, id=None, caption=None, alt=None,
                           layout=None) for i, code in enumerate(codes)]
    diagnostics = Diagnostics()
    rendered = render_diagrams(blocks, DiagramSettings(), cache, diagnostics=diagnostics)
    print(json.dumps({"loopback_up": loopback_up, "launches": diagrams.renderer_launches,
                      "errors": [r.error for r in rendered], "paths": [str(r.path) for r in rendered],
                      "media_types": [r.media_type for r in rendered],
                      "diagnostics": [str(d) for d in diagnostics.errors]}))
""")

SYSCALL = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<fd>\d+)(?:<(?P<socket>[^>]*)>)?")
SOCKADDR = re.compile(r'sa_family=(?P<family>AF_INET6?), sin6?_port=htons\((?P<port>\d+)\)'
                      r'.*?(?:inet_addr\("(?P<v4>[^"]+)"\)|inet_pton\(AF_INET6, "(?P<v6>[^"]+)")')
# Endpoints as strace -yy prints them in a socket's description: 1.2.3.4:5 or [::1]:5.
ENDPOINT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d+")
SENDS = {"sendto", "sendmsg", "sendmmsg", "write", "writev"}


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.strip("[]")).is_loopback


def render(cache: Path, prefix: Sequence[str] = ()) -> tuple[subprocess.CompletedProcess, dict | None]:
    result = subprocess.run([*prefix, sys.executable, "-c", RENDER, str(cache), json.dumps(CODES)], cwd=ROOT,
                            capture_output=True, text=True, encoding="utf-8", timeout=300)
    lines = result.stdout.strip().splitlines()
    return result, (json.loads(lines[-1]) if result.returncode == 0 and lines else None)


def judge(trace: str) -> tuple[list[str], list[str], dict[str, int]]:
    """(violations, UDP route probes, counts by call and destination) of an strace -f -yy log.

    A violation is DNS (port 53, any address, any call), a TCP connect or an addressed send to
    anything outside 127.0.0.0/8 and ::1, or any data written to an IP socket that is not
    loopback at both ends. A connect() of a UDP socket to a public address only picks a route
    (no packet leaves), so it is counted apart as a probe; sending on such a socket is a violation."""
    violations, probes, counts = [], [], {}
    for line in trace.splitlines():
        match = SYSCALL.match(line)
        if not match:
            continue
        call, description = match["call"], match["socket"] or ""
        kind = description.split(":", 1)[0]
        for address in SOCKADDR.finditer(line):
            host, port = address["v4"] or address["v6"], int(address["port"])
            key = f"{call} {address['family']} {host}:{port}"
            counts[key] = counts.get(key, 0) + 1
            if port == 53:
                violations.append(f"DNS: {line}")
            elif is_loopback(host):
                continue
            elif call == "connect" and kind.startswith("UDP"):
                probes.append(line)
            else:
                violations.append(f"off-host {call}: {line}")
        if call in SENDS and kind.startswith(("TCP", "UDP")):
            endpoints = ENDPOINT.findall(description)
            if not endpoints or not all(is_loopback(host) for host in endpoints):
                violations.append(f"data on a socket that is not loopback: {line}")
        if "sa_family=AF_UNIX" in line:
            counts[f"{call} AF_UNIX"] = counts.get(f"{call} AF_UNIX", 0) + 1
    return violations, probes, counts


def test_judge_reads_strace_lines():
    """The judge itself, on lines as strace 6 prints them: it must not pass a render vacuously."""
    trace = "\n".join([
        '10  connect(18<TCP:[55]>, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("142.250.1.1")}, 16)'
        ' = -1 EINPROGRESS',
        '10  connect(19<UDP:[56]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 0',
        '11  connect(23<UDPv6:[57]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2001:4860:4860::8888", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '11  sendto(20<UDP:[0.0.0.0:29815]>, "\\364B\\1\\0", 37, 0, NULL, 0) = 37',
        '12  connect(7<TCP:[58]>, {sa_family=AF_INET, sin_port=htons(39647), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '12  sendto(7<TCP:[127.0.0.1:5000->127.0.0.1:39647]>, "GET", 3, 0, NULL, 0) = 3',
        '13  connect(5<UNIX-STREAM:[59]>, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0',
    ])
    violations, probes, _ = judge(trace)
    assert [v.split(":")[0] for v in violations] == ["off-host connect", "DNS", "data on a socket that is not loopback"]
    assert len(probes) == 1 and "2001:4860:4860::8888" in probes[0]


@pytest.mark.slow
def test_cold_render_reaches_no_network(tmp_path):
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace is not installed (apt-get install strace): the syscalls cannot be watched")
    log = tmp_path / "strace.log"
    result, outcome = render(tmp_path / "cache", [strace, "-f", "-qq", "-yy", "-o", str(log), "-e",
                                                  "trace=execve,connect,sendto,sendmsg,sendmmsg,write,writev"])
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[-300:]}")
    assert outcome, result.stderr[-3000:]
    assert outcome["errors"] == [None, None] and outcome["diagnostics"] == []
    assert outcome["launches"] == 1, "the cache was cold: one renderer run"
    assert all(Path(path).is_file() for path in outcome["paths"])
    trace = log.read_text(encoding="utf-8", errors="replace")
    # Not vacuous: the browser really ran under strace.
    assert re.search(r'execve\("[^"]*chrom[^"]*"', trace), "Chromium was not traced"
    violations, probes, counts = judge(trace)
    print("connect/send by destination:", json.dumps(counts, indent=1, ensure_ascii=False))
    print(f"UDP route probes (no data sent): {len(probes)}")
    assert not violations, "\n".join(violations[:20])
    if re.search(r'execve\("[^"]*headless[^"]*"', trace):
        # the headless shell has no sign-in or model-download service: not even a route probe
        assert not probes, "\n".join(probes)


@pytest.mark.slow
def test_render_works_with_loopback_down(tmp_path):
    """In a fresh network namespace lo is down: DevTools over a TCP port on 127.0.0.1 cannot
    work there, the pipe transport does, so the render must simply succeed."""
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (unshare -n needs CAP_SYS_ADMIN)")
    result, outcome = render(tmp_path / "cache", [unshare, "-n"])
    assert outcome, result.stderr[-3000:]
    assert outcome["loopback_up"] is False, "the namespace was meant to have no working loopback"
    assert outcome["errors"] == [None, None] and outcome["diagnostics"] == []
    assert outcome["media_types"] == ["image/svg+xml", "image/svg+xml"]
    assert outcome["launches"] == 1
