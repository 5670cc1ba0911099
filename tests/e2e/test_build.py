"""berth build, driven as a user would: every instruction of the Containerfile subset, the build
cache, failure paths (which must leave nothing behind), the built image exported and read by
skopeo, and the README's web-server example served from a container."""
import json
import os
import subprocess
import time

import pytest

from conftest import binary


def berth(env, *args, check=True, timeout=120):
    p = subprocess.run([binary("berth"), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p


def no_leftovers(env):
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []
    cdir = os.path.join(env["BERTH_ROOT"], "containers")
    assert not os.path.isdir(cdir) or os.listdir(cdir) == []
    staging = os.path.join(env["BERTH_ROOT"], "blobs", ".staging")
    assert not os.path.isdir(staging) or os.listdir(staging) == []
    with open("/proc/self/mountinfo") as f:
        assert env["BERTH_ROOT"] not in f.read()


@pytest.fixture
def env(berth_env, busybox_rootfs):
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox")
    yield berth_env
    for c in json.loads(berth(berth_env, "ps", "-a", "--format", "json").stdout):
        berth(berth_env, "rm", "-f", c["id"], check=False)
    no_leftovers(berth_env)


def build(env, ctx, *args, check=True):
    return berth(env, "build", "--format", "json", *args, str(ctx), check=check)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


ALL = """\
# every instruction berth build knows
ARG BASE=busybox
FROM $BASE
ARG GREETING=hello
LABEL org.example.title="the test" version=1
ENV FOO=bar \\
    SPACED="a b"
ENV OLD form with spaces
WORKDIR /app
WORKDIR sub
COPY --chown=1000:1000 index.html /srv/www/
COPY tree ./tree/
ADD one.txt two.txt /multi/
RUN echo "$GREETING $FOO" > /app/greet && rm /etc/hostname && mkdir /made && pwd > /made/cwd
RUN ["/bin/sh", "-c", "echo exec-form > /made/exec"]
USER nobody
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo from-cmd"]
"""


def make_all_context(tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", ALL)
    write(ctx / "index.html", "<h1>hi</h1>\n")
    write(ctx / "tree" / "a.txt", "A\n")
    write(ctx / "tree" / "deep" / "b.txt", "B\n")
    os.symlink("a.txt", ctx / "tree" / "link")
    write(ctx / "one.txt", "1\n")
    write(ctx / "two.txt", "2\n")
    return ctx


def test_every_instruction(env, tmp_path):
    ctx = make_all_context(tmp_path)
    p = build(env, ctx, "-t", "every:1", "--build-arg", "GREETING=howdy")
    res = json.loads(p.stdout)
    assert res["names"] == ["every:1"] and res["id"].startswith("sha256:")
    assert "STEP 1/17: ARG BASE=busybox" in p.stderr and "STEP 2/17: FROM busybox" in p.stderr
    assert "STEP 13/17: RUN" in p.stderr and "Using cache" not in p.stderr

    cfg = json.loads(berth(env, "image", "inspect", "every:1").stdout)[0]
    out = tmp_path / "every.tar"
    berth(env, "image", "export", "every:1", "-o", str(out))
    skopeo = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{out}"],
                                       check=True, capture_output=True, text=True).stdout)
    c = skopeo["config"]
    assert c["Labels"] == {"org.example.title": "the test", "version": "1"}
    assert "FOO=bar" in c["Env"] and "SPACED=a b" in c["Env"] and "OLD=form with spaces" in c["Env"]
    assert c["WorkingDir"] == "/app/sub"
    assert c["User"] == "nobody"
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["echo from-cmd"]
    # base layer + 3 COPY/ADD + 2 RUN
    assert len(skopeo["rootfs"]["diff_ids"]) == 6
    assert any(h.get("created_by", "").startswith("RUN") for h in skopeo["history"])
    assert cfg  # inspect works on the built image
    man = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{out}"],
                                    check=True, capture_output=True, text=True).stdout)
    assert all(l["mediaType"].endswith("tar+gzip") for l in man["layers"][1:])

    # The image runs with its CMD, as nobody, in its WORKDIR.
    p = berth(env, "run", "--rm", "every:1")
    assert p.stdout == "from-cmd\n"
    script = ("cat /app/greet /made/cwd /made/exec; id -u; pwd; "
              "ls -ln /srv/www/index.html | awk '{print $3\":\"$4}'; cat /app/sub/tree/a.txt /app/sub/tree/deep/b.txt; "
              "readlink /app/sub/tree/link; cat /multi/one.txt /multi/two.txt; "
              "test -e /etc/hostname && echo hostname-still-there || echo hostname-gone")
    p = berth(env, "run", "--rm", "--user", "root", "every:1", script)
    assert p.stdout.split("\n") == ["howdy bar", "/app/sub", "exec-form", "0", "/app/sub", "1000:1000", "A", "B",
                                    "a.txt", "1", "2", "hostname-gone", ""]
    p = berth(env, "run", "--rm", "every:1", "id -u")
    assert p.stdout == "65534\n"


def test_cache_hits_and_invalidation(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", "FROM busybox\nENV A=1\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g.txt\n"
          "COPY other.txt /o.txt\nCMD [\"cat\", \"/g.txt\"]\n")
    write(ctx / "f.txt", "one\n")
    write(ctx / "other.txt", "other\n")
    first = build(env, ctx, "-t", "cached")
    r1 = json.loads(first.stdout)
    assert r1["cached"] == 0 and r1["steps"] == 6
    # Touching a file without changing its content keeps the cache: keys are content hashes.
    os.utime(ctx / "f.txt", (1, 1))
    second = build(env, ctx, "-t", "cached")
    r2 = json.loads(second.stdout)
    assert r2["digest"] == r1["digest"] and r2["id"] == r1["id"]
    assert r2["cached"] == 5 and second.stderr.count("--> Using cache") == 5
    # Changing a COPY source invalidates that step and every one after it.
    write(ctx / "f.txt", "two\n")
    third = build(env, ctx, "-t", "cached")
    r3 = json.loads(third.stdout)
    assert r3["cached"] == 1 and r3["digest"] != r1["digest"]
    lines = third.stderr.splitlines()
    env_at = lines.index("STEP 2/6: ENV A=1")
    assert lines[env_at + 1].startswith("--> Using cache")
    assert "Using cache" not in "\n".join(lines[env_at + 2:])
    assert berth(env, "run", "--rm", "cached").stdout == "two\n"
    # --no-cache runs everything again.
    r4 = json.loads(build(env, ctx, "--no-cache").stdout)
    assert r4["cached"] == 0
    # A build arg a RUN sees is part of its key.
    write(ctx / "Containerfile", "FROM busybox\nARG V=a\nRUN echo $V > /v\n")
    a = json.loads(build(env, ctx).stdout)
    b = json.loads(build(env, ctx, "--build-arg", "V=b").stdout)
    assert a["cached"] == 0 and b["cached"] == 0 and a["digest"] != b["digest"]
    assert json.loads(build(env, ctx, "--build-arg", "V=b").stdout)["cached"] == 1


def test_from_scratch_exports(env, tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", "FROM scratch\nCOPY hello.txt /\nLABEL kind=scratch\n")
    write(ctx / "hello.txt", "from scratch\n")
    build(env, ctx, "-t", "scratchy:v1")
    out = tmp_path / "s.tar"
    berth(env, "image", "export", "scratchy:v1", "-o", str(out))
    inspect = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{out}"], check=True,
                                        capture_output=True, text=True).stdout)
    assert len(inspect["Layers"]) == 1 and inspect["Labels"] == {"kind": "scratch"}
    # The layer holds exactly the file.
    blob = tmp_path / "blob"
    subprocess.run(["skopeo", "copy", f"oci-archive:{out}", f"dir:{blob}"], check=True, capture_output=True)
    layer = os.path.join(blob, inspect["Layers"][0].split(":")[1])
    names = subprocess.run(["tar", "tzf", layer], check=True, capture_output=True, text=True).stdout.split()
    assert names == ["hello.txt"]


@pytest.mark.parametrize("containerfile,files,message", [
    ("FROM busybox\nFROOB x\n", {}, "Containerfile:2: unknown or unsupported instruction 'FROOB'"),
    ("FROM busybox\n\nCOPY missing.txt /x\n", {}, "Containerfile:3: COPY: source 'missing.txt' not found"),
    ("FROM busybox\nCOPY ../../etc/passwd /x\n", {}, "outside the build context"),
    ("FROM busybox\nCOPY link/passwd /x\n", {"link": "->/etc"}, "not found in the build context"),
    ("FROM busybox\nCOPY http://example.com/x /x\n", {}, "URLs are not supported"),
    ("FROM busybox\nRUN echo boom-output; exit 7\n", {}, "Containerfile:2: RUN: 'echo boom-output; exit 7' exited "
                                                         "with code 7 (last output: \"boom-output\")"),
    ("FROM busybox\nRUN no-such-binary\n", {}, "exited with code 127"),
    ("FROM no-such-image\n", {}, "Containerfile:1: FROM: image 'no-such-image' not found"),
    ("RUN true\n", {}, "Containerfile:1: the first instruction must be FROM"),
    ("FROM busybox\nEXPOSE http\n", {}, "Containerfile:2: EXPOSE: 'http': expected PORT"),
    ("FROM busybox\nCOPY --from=x a b\n", {"a": "a"}, "Containerfile:2: COPY: --from=x: no earlier stage"),
    ("FROM busybox\nCOPY --link a b\n", {"a": "a"}, "Containerfile:2: COPY: unsupported option '--link'"),
    ("FROM busybox\nENV\n", {}, "Containerfile:2: ENV needs arguments"),
])
def test_failures_name_the_line_and_leave_nothing(env, tmp_path, containerfile, files, message):
    ctx = tmp_path / "ctx"
    write(ctx / "Containerfile", containerfile)
    for name, content in files.items():
        if content.startswith("->"):
            os.symlink(content[2:], ctx / name)
        else:
            write(ctx / name, content)
    images_before = berth(env, "image", "ls", "--format", "json").stdout
    p = build(env, ctx, "-t", "broken", check=False)
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()[-1]
    assert err.startswith("berth build: ") and message in err, err
    if "RUN: 'echo" in message:
        assert "boom-output" in p.stderr.splitlines()  # the output is shown as it ran
    no_leftovers(env)
    assert "broken" not in berth(env, "image", "ls").stdout
    assert images_before  # the store still lists


def test_cli_errors(env, tmp_path):
    p = berth(env, "build", "--help")
    assert p.returncode == 0 and "Usage: berth build" in p.stdout and "--build-arg" in p.stdout
    p = berth(env, "build", str(tmp_path / "nope"), check=False)
    assert p.returncode == 125 and "not a directory" in p.stderr
    p = berth(env, "build", str(tmp_path), check=False)
    assert p.returncode == 1 and "Dockerfile" in p.stderr
    write(tmp_path / "Containerfile", "FROM busybox\n")
    p = berth(env, "build", "--build-arg", "=novalue", str(tmp_path), check=False)
    assert p.returncode == 1 and "--build-arg '=novalue'" in p.stderr
    p = berth(env, "build", "-t", "Bad Name", str(tmp_path), check=False)
    assert p.returncode == 1


def test_readme_web_server(env, tmp_path):
    """The README example: an index.html served by busybox httpd from a built image."""
    ctx = tmp_path / "site"
    write(ctx / "index.html", "<h1>Hello from berth build</h1>\n")
    write(ctx / "Containerfile", 'FROM busybox\nCOPY index.html /var/www/index.html\nEXPOSE 80\n'
          'CMD ["httpd", "-f", "-p", "80", "-h", "/var/www"]\n')
    berth(env, "build", "-t", "web:1", "-f", str(ctx / "Containerfile"), str(ctx))
    name = f"web-{os.getpid()}"
    berth(env, "run", "-d", "--name", name, "--network", "none", "web:1")
    try:
        page = None
        for _ in range(50):
            p = berth(env, "exec", name, "wget", "-qO-", "http://127.0.0.1/", check=False)
            if p.returncode == 0:
                page = p.stdout
                break
            time.sleep(0.1)
        assert page == "<h1>Hello from berth build</h1>\n"
    finally:
        berth(env, "rm", "-f", name)
