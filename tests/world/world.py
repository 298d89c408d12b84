# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The FleetPulse test world: offline images and the real servers tests talk to.

This machine has no container registry and no Internet apart from the package
mirrors, so every image is built here (Debian 12 by debootstrap, then Dockerfiles
under tests/images/) and every outside service a scenario needs (container
registry, offsite S3, DNS, ACME CA, ...) runs as a container on one Docker network.

    python3 tests/world/world.py images              # build missing or stale images
    python3 tests/world/world.py up registry s3      # start services (idempotent)
    python3 tests/world/world.py status              # what runs, with endpoints
    python3 tests/world/world.py down                # remove everything of this namespace

Several worlds can coexist: FP_TEST_NS (default ``fp``) prefixes every container,
network and volume, and state lives in .world/<ns>/ (FP_WORLD_DIR overrides).
Endpoints and credentials of running services are in .world/<ns>/world.json.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO / "tests" / "images"
IMAGE_PREFIX = "fleetpulse-test/"
DOMAIN = "fleetpulse.test"
LABEL = "io.fleetpulse.test"

# What a freshly provisioned Debian 12 VPS looks like: systemd, sshd, Python, sudo.
BARE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "sudo", "openssh-server",
    "ca-certificates", "iproute2", "iputils-ping", "procps", "curl", "gnupg", "less", "cron",
    "kmod", "netbase", "ifupdown", "locales",
]
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
DEBIAN_MIRROR = os.environ.get("FP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SOURCES = """\
Types: deb
URIs: {mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {security}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on ``path`` (created if missing) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Images are shared by every checkout on the machine; services by every run in a namespace.
# Concurrent runs (parallel scenarios) serialise on these locks: namespace lock first, then images.
IMAGES_LOCK = Path(os.environ.get("FP_IMAGES_LOCK", "/var/tmp/fleetpulse-test-images.lock"))


def log(msg: str) -> None:
    print(f"[world] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, capture: bool = False, input: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, check=False, capture_output=capture, input=input,
                         env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        detail = ""
        if capture:
            detail = (res.stderr or b"").decode(errors="replace").strip()[-2000:]
        raise SystemExit(f"[world] command failed ({res.returncode}): {' '.join(cmd)}\n{detail}")
    return res


def docker(*args: str, check: bool = True, capture: bool = True, input: bytes | None = None) -> str:
    res = run(["docker", *args], check=check, capture=capture, input=input)
    return (res.stdout or b"").decode().strip() if capture else ""


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 90.0, interval: float = 0.5) -> None:
    """Poll ``probe`` until it returns True; fail loudly with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise SystemExit(f"[world] {what} not ready after {timeout:.0f}s (last error: {last_error})")


# --------------------------------------------------------------------------- images
#
# Every image is tagged by a hash of what it is built from (its directory, and its
# parents' hashes), e.g. fleetpulse-test/world:3f2a...; `:latest` follows the newest
# build for humans. Two checkouts with different Dockerfiles therefore never overwrite
# each other's images, and an unchanged image is never rebuilt.

BARE = "debian12-bare"


def _file_hash(path: Path, extra: Iterable[str] = ()) -> str:
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _local_cas() -> list[Path]:
    return sorted(LOCAL_CA_DIR.glob("*.crt"))


def _parents(name: str) -> list[str]:
    """Names of the fleetpulse-test images that tests/images/<name>/Dockerfile builds FROM."""
    parents = []
    for line in (IMAGES_DIR / name / "Dockerfile").read_text().splitlines():
        m = re.match(r"^\s*FROM\s+(\S+)", line, re.IGNORECASE)
        if m and m.group(1).startswith(IMAGE_PREFIX):
            parents.append(m.group(1).removeprefix(IMAGE_PREFIX).split(":")[0])
    return parents


def image_hash(name: str, _stack: tuple[str, ...] = ()) -> str:
    if name == BARE:
        return hashlib.sha256(" ".join([*BARE_PACKAGES, DEBIAN_MIRROR, "v3"]).encode()
                              + b"".join(ca.read_bytes() for ca in _local_cas())).hexdigest()[:16]
    if name in _stack:
        raise SystemExit(f"[world] image dependency cycle: {' -> '.join((*_stack, name))}")
    if not (IMAGES_DIR / name / "Dockerfile").is_file():
        raise SystemExit(f"[world] no such image: {name} (expected {IMAGES_DIR / name}/Dockerfile)")
    return _file_hash(IMAGES_DIR / name, extra=[image_hash(p, (*_stack, name)) for p in _parents(name)])


def image_ref(name: str) -> str:
    """The exact tag of image ``name`` as this checkout defines it."""
    name = name.removeprefix(IMAGE_PREFIX).split(":")[0]
    return f"{IMAGE_PREFIX}{name}:{image_hash(name)}"


def image_exists(ref: str) -> bool:
    return run(["docker", "image", "inspect", ref], check=False, capture=True).returncode == 0


def build_bare(force: bool = False) -> None:
    """Debian 12 minbase by debootstrap, imported as the bare test-host image."""
    ref = image_ref(BARE)
    if not force and image_exists(ref):
        log(f"{ref} is up to date")
        return
    if shutil.which("debootstrap") is None:
        raise SystemExit("[world] debootstrap is missing: apt-get install -y debootstrap")
    rootfs = Path(os.environ.get("FP_ROOTFS_DIR", f"/var/tmp/fleetpulse-rootfs-{os.getpid()}"))
    if rootfs.exists():
        shutil.rmtree(rootfs)
    log(f"debootstrap Debian 12 into {rootfs} (about a minute)")
    started = time.monotonic()
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BARE_PACKAGES), "bookworm",
         str(rootfs), DEBIAN_MIRROR], capture=True)
    security = DEBIAN_MIRROR.replace("/debian", "/debian-security")
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
        DEBIAN_SOURCES.format(mirror=DEBIAN_MIRROR, security=security))
    # A container has no console to log in on.
    for unit in ("getty@tty1.service", "console-getty.service"):
        (rootfs / "etc/systemd/system" / unit).unlink(missing_ok=True)
        os.symlink("/dev/null", rootfs / "etc/systemd/system" / unit)
    # Trust what this machine trusts: an egress proxy that re-signs TLS (PyPI, npm)
    # installs its CA here, and containers need it to reach the same registries.
    for ca in _local_cas():
        shutil.copy(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
    if _local_cas():
        run(["chroot", str(rootfs), "update-ca-certificates"], capture=True)
    (rootfs / "etc/hostname").write_text("localhost\n")
    (rootfs / "etc/machine-id").write_text("")
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    res = subprocess.run(["docker", "import", "-c", 'CMD ["/lib/systemd/systemd"]', "-", ref],
                         stdin=tar.stdout, capture_output=True, check=False)
    tar.stdout.close()  # so tar gets SIGPIPE instead of blocking if the import stopped early
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    if res.returncode != 0 or tar.returncode != 0:
        raise SystemExit(f"[world] docker import failed: {res.stderr.decode(errors='replace')}")
    docker("tag", ref, f"{IMAGE_PREFIX}{BARE}:latest")
    log(f"built {ref} in {time.monotonic() - started:.0f}s")


def image_names() -> list[str]:
    return sorted(p.parent.name for p in IMAGES_DIR.glob("*/Dockerfile"))


def build_images(names: list[str] | None = None, force: bool = False) -> None:
    """Build the bare image, then tests/images/<name>/ in dependency order, each only when missing."""
    build_bare(force=False)
    done: set[str] = {BARE}

    def build(name: str) -> None:
        if name in done:
            return
        for parent in _parents(name):
            build(parent)
        ref = image_ref(name)
        if not force and image_exists(ref):
            log(f"{ref} is up to date")
        else:
            log(f"building {ref}")
            started = time.monotonic()
            # FROM lines name parents by :latest for readability; build from their exact tags.
            dockerfile = (IMAGES_DIR / name / "Dockerfile").read_text()
            for parent in _parents(name):
                dockerfile = re.sub(rf"(?im)^(\s*FROM\s+){re.escape(IMAGE_PREFIX + parent)}(:\S+)?",
                                    rf"\g<1>{image_ref(parent)}", dockerfile)
            res = run(["docker", "build", "-q", "-t", ref, "-t", f"{IMAGE_PREFIX}{name}:latest",
                       "-f", "-", str(IMAGES_DIR / name)], check=False, capture=True, input=dockerfile.encode())
            if res.returncode != 0:
                out = (res.stdout + res.stderr).decode(errors="replace")[-4000:]
                raise SystemExit(f"[world] building {ref} failed:\n{out}")
            log(f"built {ref} in {time.monotonic() - started:.0f}s")
        done.add(name)

    for name in names or image_names():
        build(name.removeprefix(IMAGE_PREFIX).split(":")[0])


def prune_images() -> None:
    """Remove fleetpulse-test images that no checkout here defines any more (old hashes)."""
    keep = {image_ref(n) for n in [BARE, *image_names()]}
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={IMAGE_PREFIX}*").split()
    stale = [r for r in refs if r not in keep and not r.endswith(":latest")]
    if stale:
        docker("rmi", *stale, check=False)
    log(f"removed {len(stale)} stale image tag(s)")


# --------------------------------------------------------------------------- services

@dataclass
class World:
    """Names and paths of one namespace's world; handed to every service hook."""

    ns: str
    state: Path

    @property
    def network(self) -> str:
        return f"{self.ns}-world"

    def container(self, service: str) -> str:
        return f"{self.ns}-{service}"

    def service_dir(self, service: str) -> Path:
        path = self.state / service
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def ca_cert(self) -> Path:
        return self.state / "ca" / "ca.crt"

    def ip(self, service: str) -> str:
        return container_ip(self.container(service), self.network)

    def load(self) -> dict:
        path = self.state / "world.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save(self, data: dict) -> None:
        path = self.state / "world.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)

    def secret(self, name: str, length: int = 24) -> str:
        """A random credential, created once per world and kept in its state directory."""
        path = self.state / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(os.urandom(length).hex()[:length])
            path.chmod(0o600)
        return path.read_text()

    def issue_cert(self, name: str, dns_names: list[str], ips: list[str] = ()) -> tuple[Path, Path]:
        """A TLS key and certificate for ``dns_names`` signed by the world's test CA."""
        ensure_ca(self)
        out = self.service_dir("certs")
        key, crt = out / f"{name}.key", out / f"{name}.crt"
        if key.exists() and crt.exists():
            return key, crt
        san = ",".join([*(f"DNS:{d}" for d in dns_names), *(f"IP:{i}" for i in ips)])
        csr = out / f"{name}.csr"
        run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/CN={dns_names[0]}", "-addext", f"subjectAltName={san}"], capture=True)
        ext = out / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert),
             "-CAkey", str(self.state / "ca" / "ca.key"), "-CAcreateserial", "-days", "365",
             "-out", str(crt), "-extfile", str(ext)], capture=True)
        key.chmod(0o644)  # read by unprivileged server processes inside containers; test-only key
        return key, crt


@dataclass
class Service:
    """One real server of the test world, run as a container on the world network.

    ``prepare`` writes configuration into the world's state directory (mounted at
    /world in the container); ``ready`` probes the running server for real;
    ``info`` returns endpoints and credentials recorded in world.json.
    """

    name: str
    image: str
    command: list[str]
    aliases: list[str] = field(default_factory=list)
    doc: str = ""
    publish: list[int] = field(default_factory=list)  # container ports published on 127.0.0.1 (random host port)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    prepare: Callable[[World], None] | None = None
    ready: Callable[[World], bool] | None = None
    info: Callable[[World], dict] | None = None
    ready_timeout: float = 90.0


SERVICES: dict[str, Service] = {}


def register(service: Service) -> Service:
    SERVICES[service.name] = service
    return service


def load_services() -> None:
    # Service modules do `from world import ...`: make that this very module, also when run as a script.
    sys.modules.setdefault("world", sys.modules[__name__])
    services_pkg = Path(__file__).resolve().parent / "services"
    sys.path.insert(0, str(services_pkg.parent))
    for mod in pkgutil.iter_modules([str(services_pkg)]):
        importlib.import_module(f"services.{mod.name}")


def ensure_ca(world: World) -> None:
    ca = world.state / "ca"
    if (ca / "ca.crt").exists():
        return
    ca.mkdir(parents=True, exist_ok=True)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
         "-keyout", str(ca / "ca.key"), "-out", str(ca / "ca.crt"),
         "-subj", f"/CN=FleetPulse test world CA ({world.ns})",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        capture=True)
    (ca / "ca.key").chmod(0o600)


def container_ip(name: str, network: str) -> str:
    fmt = "{{ (index .NetworkSettings.Networks \"" + network + "\").IPAddress }}"
    return docker("inspect", "--format", fmt, name)


def container_running(name: str) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", name, check=False) == "true"


def host_port(name: str, port: int) -> int:
    out = docker("port", name, f"{port}/tcp")
    return int(out.splitlines()[0].rsplit(":", 1)[1])


def ensure_network(world: World) -> None:
    if run(["docker", "network", "inspect", world.network], check=False, capture=True).returncode == 0:
        return
    docker("network", "create", "--label", f"{LABEL}.ns={world.ns}", world.network)


def start_service(world: World, svc: Service) -> None:
    name = world.container(svc.name)
    if container_running(name):
        log(f"{svc.name}: already running ({name})")
    else:
        docker("rm", "-f", "-v", name, check=False)
        if svc.prepare:
            svc.prepare(world)
        args = ["run", "-d", "--name", name, "--hostname", svc.aliases[0] if svc.aliases else name,
                "--network", world.network, "--init", "--restart", "no",
                "--label", f"{LABEL}.ns={world.ns}", "--label", f"{LABEL}.service={svc.name}",
                "-v", f"{world.state}:/world"]
        for alias in svc.aliases:
            args += ["--network-alias", alias]
        for port in svc.publish:
            args += ["-p", f"127.0.0.1::{port}"]
        for key, value in svc.env.items():
            args += ["-e", f"{key}={value}"]
        if svc.user:
            args += ["--user", svc.user]
        docker(*args, image_ref(svc.image), *svc.command)
        log(f"{svc.name}: started {name}")
    if svc.ready:

        def probe() -> bool:
            if not container_running(name):
                tail = docker("logs", "--tail", "20", name, check=False)
                raise SystemExit(f"[world] service {svc.name} exited:\n{tail}")
            return svc.ready(world)

        try:
            wait_for(f"service {svc.name}", probe, timeout=svc.ready_timeout)
        except SystemExit:
            sys.stderr.write(docker("logs", "--tail", "40", name, check=False) + "\n")
            raise
    data = world.load()
    data.setdefault("services", {})[svc.name] = {
        "container": name,
        "ip": world.ip(svc.name),
        "aliases": svc.aliases,
        **(svc.info(world) if svc.info else {}),
    }
    world.save(data)


def cmd_up(world: World, names: list[str]) -> None:
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise SystemExit(f"[world] unknown service(s): {', '.join(unknown)}; known: {', '.join(sorted(SERVICES))}")
    ensure_ca(world)
    ensure_network(world)
    needed = sorted({SERVICES[n].image for n in names})
    with locked(IMAGES_LOCK):
        build_images(needed)
    data = world.load()
    data.update({
        "namespace": world.ns,
        "network": world.network,
        "domain": DOMAIN,
        "state_dir": str(world.state),
        "ca_cert": str(world.ca_cert),
        "subnet": docker("network", "inspect", "--format", "{{ (index .IPAM.Config 0).Subnet }}", world.network),
        "gateway": docker("network", "inspect", "--format", "{{ (index .IPAM.Config 0).Gateway }}", world.network),
    })
    world.save(data)
    for name in names:
        start_service(world, SERVICES[name])


def cmd_down(world: World, names: list[str]) -> None:
    """Remove this namespace's services (all, or the named ones), and with ``all`` its network and test hosts."""
    selector = [f"label={LABEL}.ns={world.ns}"]
    if names:
        ids = []
        for name in names:
            ids += docker("ps", "-aq", "--filter", selector[0], "--filter", f"label={LABEL}.service={name}").split()
    else:
        ids = docker("ps", "-aq", "--filter", selector[0]).split()
    if ids:
        docker("rm", "-f", "-v", *ids)
        log(f"removed {len(ids)} container(s)")
    data = world.load()
    for name in names or list(data.get("services", {})):
        data.get("services", {}).pop(name, None)
    if not names:
        for vol in docker("volume", "ls", "-q", "--filter", selector[0]).split():
            docker("volume", "rm", vol, check=False)
        for net in docker("network", "ls", "-q", "--filter", selector[0]).split():
            docker("network", "rm", net, check=False)
    if data:
        world.save(data)


def cmd_status(world: World) -> None:
    rows = docker("ps", "-a", "--filter", f"label={LABEL}.ns={world.ns}",
                  "--format", "{{.Names}}\t{{.Status}}\t{{.Label \"" + LABEL + ".service\"}}")
    print(rows or f"(nothing runs in namespace {world.ns})")
    print(f"state: {world.state / 'world.json'}")


def push_image(world: World, source: str, repository: str) -> str:
    """Push a local image to the world's registry as ``repository`` (e.g. fleetpulse/backend:1.4.2)."""
    info = world.load().get("services", {}).get("registry")
    if not info:
        raise SystemExit("[world] the registry is not running: world.py up registry")
    local = f"127.0.0.1:{host_port(world.container('registry'), 443)}/{repository}"
    config = world.service_dir("docker-client")
    env = {"DOCKER_CONFIG": str(config)}
    run(["docker", "login", "-u", info["username"], "--password-stdin", local.split("/", maxsplit=1)[0]],
        input=info["password"].encode(), capture=True, env=env)
    docker("tag", source, local)
    run(["docker", "push", local], capture=True, env=env)
    docker("rmi", local, check=False)
    return f"{info['host']}/{repository}"


def main(argv: list[str] | None = None) -> int:
    load_services()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ns", default=os.environ.get("FP_TEST_NS", "fp"), help="namespace (env FP_TEST_NS)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("images", help="build missing or stale images")
    p.add_argument("names", nargs="*", help=f"images to build (default: all of {', '.join(image_names())})")
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("up", help="start services (idempotent)")
    p.add_argument("services", nargs="*", help=f"zero (network only) or more of: {', '.join(sorted(SERVICES))}")
    p = sub.add_parser("down", help="remove services (default: everything of the namespace)")
    p.add_argument("services", nargs="*")
    p = sub.add_parser("ref", help="print the exact tag of an image (building it if missing)")
    p.add_argument("name")
    sub.add_parser("prune", help="remove image tags that no longer match any Dockerfile")
    sub.add_parser("status", help="list containers and the state file")
    sub.add_parser("env", help="print world.json")
    sub.add_parser("list", help="list known services")
    p = sub.add_parser("push", help="push a local image to the world's registry")
    p.add_argument("source")
    p.add_argument("repository")
    args = parser.parse_args(argv)

    state = Path(os.environ.get("FP_WORLD_DIR", REPO / ".world" / args.ns))
    state.mkdir(parents=True, exist_ok=True)
    world = World(ns=args.ns, state=state)
    ns_lock = state / ".lock"
    if args.cmd == "images":
        with locked(IMAGES_LOCK):
            build_images(args.names or None, force=args.force)
    elif args.cmd == "up":
        with locked(ns_lock):
            cmd_up(world, args.services)
    elif args.cmd == "down":
        with locked(ns_lock):
            cmd_down(world, args.services)
    elif args.cmd == "ref":
        with locked(IMAGES_LOCK):
            build_images([args.name])
        print(image_ref(args.name))
    elif args.cmd == "prune":
        prune_images()
    elif args.cmd == "status":
        cmd_status(world)
    elif args.cmd == "env":
        print(json.dumps(world.load(), indent=2, sort_keys=True))
    elif args.cmd == "list":
        for name, svc in sorted(SERVICES.items()):
            print(f"{name:12} {svc.doc}")
    elif args.cmd == "push":
        with locked(ns_lock):
            print(push_image(world, args.source, args.repository))
    return 0


if __name__ == "__main__":
    sys.exit(main())
