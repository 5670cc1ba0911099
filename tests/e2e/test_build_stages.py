"""berth build beyond one stage: multi-stage builds (FROM ... AS, COPY --from a stage by name or
index or an image, --target), .dockerignore (patterns with ** and ! exceptions) and wildcard
sources, each checked by running the built image; and the cache keys these depend on."""
import json
import os

import pytest

from test_build import berth, build, no_leftovers, write


@pytest.fixture
def env(berth_env, busybox_rootfs):
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox")
    yield berth_env
    for c in json.loads(berth(berth_env, "ps", "-a", "--format", "json").stdout):
        berth(berth_env, "rm", "-f", c["id"], check=False)
    no_leftovers(berth_env)


def run(env, image, script):
    return berth(env, "run", "--rm", image, "sh", "-c", script).stdout


MULTI = """\
FROM busybox AS builder
RUN mkdir -p /out && echo built-by-stage-0 > /out/artifact && echo junk > /junk
COPY src/ /src/

FROM scratch AS tools
COPY tool.sh /tool.sh

FROM busybox
COPY --from=builder /out/artifact /app/artifact
COPY --from=0 /src /app/src
COPY --from=tools /tool.sh /app/
COPY --from=busybox /etc/passwd /app/passwd-from-image
RUN test ! -e /junk && cat /app/artifact
"""


def test_multi_stage_copy_from_stages_and_images(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", MULTI)
    write(ctx / "src" / "main.c", "int main;\n")
    write(ctx / "tool.sh", "echo tool\n")
    out = json.loads(build(env, ctx, "-t", "multi").stdout)
    assert out["steps"] == 11
    got = run(env, "multi", "cat /app/artifact /app/src/main.c /app/tool.sh; head -1 /app/passwd-from-image; "
                            "ls /junk /out /src 2>&1 | grep -c 'No such file'")
    assert got.split("\n")[:5] == ["built-by-stage-0", "int main;", "echo tool", "root:x:0:0:root:/root:/bin/sh", "3"]
    # the final image holds the last stage's layers only: busybox + 4 COPY + 1 RUN
    assert len(json.loads(berth(env, "image", "inspect", "multi").stdout)[0]["RootFS"]["Layers"]) == 1 + 5

    # cache: a rebuild hits every step; changing a file only the first stage copies re-runs the
    # COPY --from that reads it, even though the final stage's own instructions did not change
    again = json.loads(build(env, ctx, "-t", "multi").stdout)
    assert again["cached"] == again["steps"] - 3  # the three FROMs are not cache steps
    write(ctx / "src" / "main.c", "int main2;\n")
    third = json.loads(build(env, ctx, "-t", "multi").stdout)
    assert third["cached"] < again["cached"]
    assert "int main2;" in run(env, "multi", "cat /app/src/main.c")

    # --target builds the named stage and what it needs: here nothing else (builder is skipped)
    out = json.loads(build(env, ctx, "--target", "tools", "-t", "onlytools").stdout)
    assert out["steps"] == 2
    tools = json.loads(berth(env, "image", "inspect", "onlytools").stdout)[0]
    assert len(tools["RootFS"]["Layers"]) == 1  # scratch + COPY tool.sh, nothing of the last stage
    p = build(env, ctx, "--target", "nope", check=False)
    assert p.returncode == 1 and "--target nope" in p.stderr


def test_copy_chmod(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", "FROM busybox\nCOPY --chmod=750 run.sh tree /opt/\n"
                                 "COPY --from=busybox --chmod=700 /etc/group /opt/g\n")
    write(ctx / "run.sh", "echo hi\n")
    write(ctx / "tree" / "f", "f\n")
    os.chmod(ctx / "run.sh", 0o644)
    build(env, ctx, "-t", "modes")
    out = run(env, "modes", "stat -c '%a %n' /opt/run.sh /opt/f /opt/g")
    assert out.split("\n")[:3] == ["750 /opt/run.sh", "750 /opt/f", "700 /opt/g"]
    write(ctx / "Containerfile", "FROM busybox\nCOPY --chmod=u+x run.sh /opt/\n")
    p = build(env, ctx, check=False)
    assert p.returncode == 1 and "--chmod=u+x: expected an octal mode" in p.stderr


def test_unneeded_stages_are_skipped(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", """\
FROM busybox AS broken
RUN echo never-runs; exit 3
FROM busybox AS base
RUN echo base > /base
FROM base AS mid
RUN echo mid > /mid
FROM busybox
COPY --from=2 /mid /base /out/
""")
    p = build(env, ctx, "-t", "skipper")
    assert "never-runs" not in p.stdout + p.stderr
    assert json.loads(p.stdout)["steps"] == 6  # all but the broken stage's two
    assert run(env, "skipper", "cat /out/base /out/mid").split() == ["base", "mid"]
    # the broken stage runs (and fails) when it is the target
    p = build(env, ctx, "--target", "broken", check=False)
    assert p.returncode == 1 and "exited with code 3" in p.stderr


@pytest.mark.parametrize("containerfile,message", [
    ("FROM busybox\nCOPY --from=nostage /a /b\n", "COPY: --from=nostage: no earlier stage and no image"),
    ("FROM busybox AS me\nCOPY --from=me /a /b\n", "a stage cannot copy from itself"),
    ("FROM busybox AS a\nFROM busybox AS A\n", "Containerfile:2: FROM: the stage name 'A' is used twice"),
    ("FROM busybox AS 1bad\n", "Containerfile:1: FROM: '1bad': a stage name"),
    ("FROM busybox AS\n", "Containerfile:1: FROM: expected IMAGE [AS NAME]"),
    ("FROM busybox AS b\nFROM busybox\nCOPY --from=b /no/such /x\n", "source 'no/such' not found in stage 'b'"),
    ("FROM busybox\nADD --from=busybox /etc/passwd /x\n", "ADD: unsupported option '--from=busybox'"),
])
def test_stage_errors(env, tmp_path, containerfile, message):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", containerfile)
    p = build(env, ctx, check=False)
    assert p.returncode == 1
    assert message in p.stderr.strip().splitlines()[-1], p.stderr


IGNORE = """\
# comments and blank lines are skipped

*.log
/secret.txt
**/node_modules
build/
!build/keep.txt
docs/**/*.md
!docs/README.md
"""


def test_dockerignore_and_wildcards(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / ".dockerignore", IGNORE)
    write(ctx / "Containerfile", "FROM busybox\nCOPY . /ctx/\nCOPY *.txt /txt/\nCOPY sub/*/f?.dat /dat/\n")
    for name in ["a.txt", "b.txt", "secret.txt", "app.log", "keep.c", "sub/x/f1.dat", "sub/y/f2.dat",
                 "sub/y/g1.dat", "lib/node_modules/m.js", "node_modules/n.js", "build/out.o", "build/keep.txt",
                 "docs/README.md", "docs/guide/a.md", "docs/guide/a.txt", "deep/er/trace.log"]:
        write(ctx / name, name + "\n")
    build(env, ctx, "-t", "ignored")
    listing = run(env, "ignored", "cd /ctx && find . -type f | sort; echo --; ls /txt; echo --; ls /dat").split("--\n")
    files = listing[0].split()
    assert files == sorted(["./.dockerignore", "./Containerfile", "./a.txt", "./b.txt", "./keep.c",
                            "./sub/x/f1.dat", "./sub/y/f2.dat", "./sub/y/g1.dat", "./build/keep.txt",
                            "./docs/README.md", "./docs/guide/a.txt", "./deep/er/trace.log"]), files
    assert listing[1].split() == ["a.txt", "b.txt"]  # secret.txt is ignored, wildcard or not
    assert listing[2].split() == ["f1.dat", "f2.dat"]

    # an ignored file changing does not bust the cache; a kept one does
    write(ctx / "app.log", "changed\n")
    assert json.loads(build(env, ctx, "-t", "ignored").stdout)["cached"] == 3
    write(ctx / "a.txt", "changed\n")
    assert json.loads(build(env, ctx, "-t", "ignored").stdout)["cached"] == 0

    # naming an ignored file, a wildcard without matches, several sources into a file path
    for cf, msg in [("COPY secret.txt /x", "source 'secret.txt' not found"),
                    ("COPY *.nothing /x/", "source '*.nothing': no file matches"),
                    ("COPY *.txt /onefile", "the destination '/onefile' must end with '/'")]:
        write(ctx / "Containerfile", "FROM busybox\n" + cf + "\n")
        p = build(env, ctx, check=False)
        assert p.returncode == 1 and msg in p.stderr, p.stderr
