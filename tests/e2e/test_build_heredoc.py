"""berth build heredocs (RUN <<EOF, COPY <<EOF), driven as a user would: the image is built from
a busybox layout offline, then a container of it shows the files the heredocs made."""
import json
import os

import pytest

from test_build import berth, build, no_leftovers, write


@pytest.fixture
def env(berth_env, busybox_rootfs, tmp_path):
    # A private TMPDIR: the directories COPY writes heredoc files into must all be gone after.
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    berth_env = dict(berth_env, TMPDIR=str(tmpdir))
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox")
    yield berth_env
    for c in json.loads(berth(berth_env, "ps", "-a", "--format", "json").stdout):
        berth(berth_env, "rm", "-f", c["id"], check=False)
    no_leftovers(berth_env)
    assert os.listdir(tmpdir) == []


HEREDOCS = """\
FROM busybox
ARG WHO=builder
ENV GREETING=hello
RUN <<EOF
mkdir -p /out
echo one > /out/lines
echo two >> /out/lines
echo "three $WHO" >> /out/lines
EOF
RUN <<EOF
#!/bin/sh -e
echo "shebang $0" > /out/shebang
EOF
RUN <<-EOF
\t\techo tabs > /out/tabs
\tEOF
RUN cat <<'EOF' > /out/literal
keep $WHO and ${GREETING}
EOF
RUN <<EOF sh
echo stdin-fed > /out/stdin
EOF
RUN sh <<EOF && echo after >> /out/stdin
echo stdin-fed-too >> /out/stdin
EOF
COPY --chmod=755 <<EOF /out/script.sh
#!/bin/sh
echo "$GREETING from $WHO"
EOF
COPY --chown=1000:1000 <<first <<'second' /out/dir/
first file
first
second $GREETING
second
ADD <<EOF /out/added
added
EOF
WORKDIR /out
COPY <<inline.txt from-context.txt mixed/
inline
inline.txt
"""


def test_heredocs(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", HEREDOCS.replace("\\t", "\t"))
    write(ctx / "from-context.txt", "context\n")
    out = json.loads(build(env, ctx, "-t", "heredoc:1").stdout)
    assert out["steps"] == 14
    script = (
        "cat /out/lines; echo --; cat /out/shebang; echo --; cat /out/tabs; echo --; cat /out/literal;"
        " echo --; cat /out/stdin; echo --; /out/script.sh; echo --; cat /out/dir/first /out/dir/second;"
        " echo --; cat /out/added; echo --; cat /out/mixed/inline.txt /out/mixed/from-context.txt; echo --;"
        " stat -c '%a %u:%g %n' /out/script.sh /out/dir/first /out/dir/second /out/added"
    )
    p = berth(env, "run", "--rm", "--network", "none", "heredoc:1", "/bin/sh", "-c", script)
    assert p.stdout.split("--\n") == [
        "one\ntwo\nthree builder\n",
        "shebang /dev/fd/3\n",
        "tabs\n",
        "keep $WHO and ${GREETING}\n",
        "stdin-fed\nstdin-fed-too\nafter\n",
        "hello from builder\n",
        "first file\nsecond $GREETING\n",
        "added\n",
        "inline\ncontext\n",
        "755 0:0 /out/script.sh\n644 1000:1000 /out/dir/first\n644 1000:1000 /out/dir/second\n644 0:0 /out/added\n",
    ]
    # A rebuild hits the cache at every step; a changed heredoc body misses from that step on.
    again = json.loads(build(env, ctx, "-t", "heredoc:1").stdout)
    assert again["cached"] == 12
    write(ctx / "Containerfile", HEREDOCS.replace("\\t", "\t").replace("echo two", "echo TWO"))
    changed = json.loads(build(env, ctx, "-t", "heredoc:2").stdout)
    assert changed["cached"] == 1  # the ENV before the first RUN
    p = berth(env, "run", "--rm", "--network", "none", "heredoc:2", "cat", "/out/lines")
    assert p.stdout == "one\nTWO\nthree builder\n"


@pytest.mark.parametrize("containerfile,message", [
    ("FROM busybox\nRUN true\nRUN <<EOF\necho never ends\n",
     "Containerfile:3: RUN: unterminated heredoc '<<EOF': no line 'EOF' ends it"),
    ("FROM busybox\nCOPY <<-END /x\n\tbody\n",
     "Containerfile:2: COPY: unterminated heredoc '<<-END'"),
    ("FROM busybox\nCMD <<EOF\necho\nEOF\n",
     "Containerfile:2: CMD does not take a heredoc"),
    ("FROM busybox\nCOPY <<A <<A /d/\na\nA\nb\nA\n",
     "Containerfile:2: COPY: heredoc 'A' used twice"),
    ("FROM busybox\nCOPY --from=busybox <<A /d/\na\nA\n",
     "Containerfile:2: COPY: --from cannot copy heredocs"),
    ("FROM busybox\nRUN <<EOF\necho failing\nexit 3\nEOF\n",
     "Containerfile:2: RUN: '<<EOF' exited with code 3 (last output: \"failing\")"),
])
def test_heredoc_errors(env, tmp_path, containerfile, message):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", containerfile)
    p = build(env, ctx, "-t", "broken:1", check=False)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert json.loads(berth(env, "image", "ls", "--format", "json").stdout).__len__() == 1
