"""The berth CLI as a demanding user meets it: --help everywhere (and never acting), one clear line
and a non-zero status for bad input, docker's exit codes and listing options. Each test drives the
real binary and checks what a user would see."""
import json
import os

from conftest import berth


def one_line_error(p, status, *words):
    assert p.returncode == status, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_container_prune_help_does_not_prune(busybox_env):
    env = busybox_env
    cid = berth(env, "create", "--name", "keepme", "busybox", "true").stdout.strip()
    for args in (["container", "prune", "--help"], ["container", "prune", "-h"]):
        p = berth(env, *args)
        assert p.stdout.startswith("Usage: berth container prune"), p.stdout
    p = berth(env, "container", "prune", "--bogus", check=False)
    one_line_error(p, 125, "berth container prune", "'--bogus'")
    p = berth(env, "container", check=False)
    one_line_error(p, 125, "berth container", "prune")
    assert berth(env, "inspect", "keepme").stdout  # still there
    # docker's `container prune -f` is accepted, and prunes.
    assert berth(env, "container", "prune", "-f").stdout.split() == [cid]
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []
