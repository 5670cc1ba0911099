import json
import subprocess

from conftest import binary


def test_version_text_and_json(berth_env):
    out = subprocess.run([binary("berth"), "version"], env=berth_env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("berth version ")
    out = subprocess.run([binary("berth"), "version", "--format", "json"], env=berth_env,
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["version"]


def test_unknown_command_is_a_clear_error(berth_env):
    p = subprocess.run([binary("berth"), "frobnicate"], env=berth_env, capture_output=True, text=True)
    assert p.returncode == 125
    assert "unknown command 'frobnicate'" in p.stderr


def test_help_lists_commands(berth_env):
    p = subprocess.run([binary("berth"), "--help"], env=berth_env, capture_output=True, text=True, check=True)
    assert "version" in p.stdout
