"""The course on one machine: JupyterHub with real Linux users, nbgrader's exchange, this course directory.

The shape of The Littlest JupyterHub: one machine, local users who log in with
their own password (PAM), each user's JupyterLab started as that user, and one
Python environment for everyone (``/opt/inn-course/hub-env``: JupyterHub,
JupyterLab, nbgrader, torch; readable by every user, unlike a pyenv under
``/root``). nbgrader's exchange is a folder every user can write into
(``Exchange.root``, mode 1777 as nbgrader's docs ask); the instructor's course
directory is a copy of this repository's course files in their home.

``Site.setup()`` does it all as root (the test does, and so would an
instructor's admin); ``Site.start()`` runs the hub on 127.0.0.1.

Every user's server has an origin of its own (``http://<user>.localhost:<port>``,
``JupyterHub.subdomain_host``): the instructor's server holds the solutions, the
hidden tests and the gradebook, and on a single origin any page a student gets
served there could read it. Host routing needs JupyterHub's Node proxy
(``configurable-http-proxy``, pinned in ``hub-proxy/package-lock.json``, installed
with ``npm ci`` into ``/opt/inn-course/proxy``); its Python port has no host routing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import safe_files
from .paths import COURSE_FILES, REPO_ROOT, copy_course

HUB_ENV = Path("/opt/inn-course/hub-env")
HUB_DATA = Path("/opt/inn-course/data")
HUB_PROXY = Path("/opt/inn-course/proxy")
EXCHANGE = Path("/srv/nbgrader/exchange")
COURSE_ID = "invertible-networks"
REQUIREMENTS = REPO_ROOT / "requirements-hub.txt"
GiB = 1024 ** 3
# A kernel training the lab's networks peaks near 2 GB (classroom.MEMORY_PER_WORKER); JupyterLab and a
# second notebook fit in the rest.
MEMORY_PER_USER = 4 * GiB
IDLE_TIMEOUT = 3600  # an hour, as The Littlest JupyterHub's culler; the work is saved, the server restarts at login
PROXY_PACKAGE = REPO_ROOT / "hub-proxy"  # package.json and package-lock.json of the Node proxy


@dataclass
class Site:
    state: Path  # the hub's own files: config, database, cookie secret, log
    instructor: str
    students: list[str]
    port: int = 18000
    env: Path = HUB_ENV
    proxy: Path = HUB_PROXY
    exchange: Path = EXCHANGE
    course_id: str = COURSE_ID
    data: Path = HUB_DATA  # MNIST for every user: a read-only copy of the grader's, in a place of its own
    memory_per_user: int = MEMORY_PER_USER  # bytes: a user's server and every kernel it runs, together
    idle_timeout: int = IDLE_TIMEOUT  # seconds without activity before the idle culler stops a user's server
    passwords: dict[str, str] = field(default_factory=dict)  # users created by this setup: their new passwords
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The hub's address (``*.localhost`` is the loopback, in browsers without DNS)."""
        return f"http://localhost:{self.port}"

    @property
    def proxy_command(self) -> Path:
        return self.proxy / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def users(self) -> list[str]:
        return [self.instructor, *self.students]

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    @property
    def course(self) -> Path:
        """The instructor's course directory."""
        return self.home(self.instructor) / "course"

    # ------------------------------------------------------------------ setup, as root
    def reset(self) -> None:
        """Remove what an earlier run left: these users (and their homes), the course's exchange folder.

        For tests and demos only: it deletes the users' work. A hub and proxy that an earlier run left
        (a run stopped before it could stop them) are stopped first.
        """
        for program in (self.env / "bin" / "jupyterhub", self.proxy):
            subprocess.run(["pkill", "-f", str(program)], check=False, capture_output=True)
        for user in self.users:
            subprocess.run(["pkill", "-u", user], check=False, capture_output=True)
            if subprocess.run(["id", user], capture_output=True).returncode == 0:
                subprocess.run(["userdel", "--remove", user], check=False, capture_output=True)
        shutil.rmtree(self.exchange / self.course_id, ignore_errors=True)

    def setup(self, refresh_course: bool = False) -> list[str]:
        """Make what is missing; keep what is there (users and their passwords, homes, the course with its
        gradebook and students' folders, the hub's database). Returns what it changed, in words.

        ``refresh_course`` replaces the course's own files (lab/, source/, nbgrader_config.py) with this
        repository's, and touches nothing else in the course.
        """
        changed = []
        install_environment(self.env)
        install_proxy(self.proxy)
        provision_data(Path(data_root()), self.data)
        for user in self.users:
            password = create_user(user)
            if password is not None:
                self.passwords[user] = password
                changed.append(f"created user {user}")
        make_exchange(self.exchange)
        entry = pwd.getpwnam(self.instructor)
        moved = make_course_exchange(self.exchange, self.course_id, entry.pw_uid, entry.pw_gid)
        if moved is not None:
            print(f"{self.exchange / self.course_id} was not the instructor's: moved to {moved} for a human to read",
                  file=sys.stderr)
        self._nbgrader_configs()
        changed += self._course_directory(refresh_course)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "jupyterhub_config.py").write_text(self.hub_config())
        self._check_data_as(self.students[0] if self.students else self.instructor)
        return changed

    def _check_data_as(self, user: str) -> None:
        """Load MNIST as a user does, before the hub says it is ready."""
        check = "import sys; from torchvision.datasets import MNIST; MNIST(sys.argv[1], train=False, download=False)"
        done = self.run_as(user, [str(self.env / "bin" / "python"), "-c", check, str(self.data)], check=False)
        if done.returncode:
            raise RuntimeError(f"{user} cannot load MNIST from {self.data}: {done.stderr.strip()[-500:]}")

    def _nbgrader_configs(self) -> None:
        """Every user's nbgrader: the course and the exchange (in the environment's etc/jupyter);
        the instructor's: where the course directory is."""
        site_config = self.env / "etc" / "jupyter"
        site_config.mkdir(parents=True, exist_ok=True)
        # JupyterHub's single-user servers forbid every frame (frame-ancestors 'none'); JupyterLab shows
        # nbgrader's formgrader in a frame of its own origin, so that must be allowed, or the
        # formgrader stays blank ("refused to connect": nbgrader issue 1870). 'self' is safe only
        # because each user's server has an origin of its own (subdomain_host in hub_config).
        (site_config / "jupyter_server_config.py").write_text(
            "c = get_config()  # noqa: F821\n"
            "c.ServerApp.tornado_settings = {\"headers\": {\"Content-Security-Policy\": \"frame-ancestors 'self'\"}}\n")
        (site_config / "nbgrader_config.py").write_text(
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {self.course_id!r}\n"
            f"c.Exchange.root = {str(self.exchange)!r}\n")
        # In the instructor's home, as the instructor: root never writes through a name its owner controls.
        write_config = 'mkdir -p "$HOME/.jupyter" && cat > "$HOME/.jupyter/nbgrader_config.py"'
        self.run_as(self.instructor, ["sh", "-c", write_config],
                    input=f"c = get_config()  # noqa: F821\nc.CourseDirectory.root = {str(self.course)!r}\n")

    def _course_directory(self, refresh: bool) -> list[str]:
        """The course files, copied into the instructor's home by the instructor (from a copy root made
        readable to them). A course already there is kept as it is; with ``refresh``, only its own files
        (lab/, source/, nbgrader_config.py) are replaced, each kept beside as <name>.previous-<time>."""
        exists = os.path.lexists(self.course)
        if exists and not refresh:
            return []
        with tempfile.TemporaryDirectory(prefix="inn-course-setup-") as stage:
            os.chmod(stage, 0o755)
            copy = Path(stage) / "course"
            copy.mkdir()
            copy_course(copy)
            subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True)
            if not exists:
                self.run_as(self.instructor, ["cp", "-R", str(copy), str(self.course)])
                return [f"made the course in {self.course}"]
            self.run_as(self.instructor, ["sh", "-c", 'set -e; now=$(date +%Y%m%dT%H%M%S); for name in "$@"; do '
                        'if [ -e "$COURSE/$name" ] || [ -L "$COURSE/$name" ]; then mv "$COURSE/$name" '
                        '"$COURSE/$name.previous-$now"; fi; cp -R "$STAGE/$name" "$COURSE/$name"; done',
                        "sh", *COURSE_FILES], extra_env={"COURSE": str(self.course), "STAGE": str(copy)})
            return [f"replaced {self.course / name} (the old one kept beside it)" for name in COURSE_FILES]

    def hub_config(self) -> str:
        allowed = ", ".join(repr(u) for u in self.users)
        return f'''# JupyterHub for the course, on one machine (written by inn_course.hub).
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = "sqlite:///{self.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = "{self.state / 'jupyterhub_cookie_secret'}"
# Each user's server on an origin of its own (<user>.localhost): a page served from a student's server
# cannot frame, fetch or script the instructor's (the solutions, the hidden tests, the gradebook).
c.JupyterHub.subdomain_host = "http://localhost:{self.port}"
# The course's server settings hold: nothing in a user's home configures their server.
c.Spawner.disable_user_config = True
# nbgrader's Validate runs the whole notebook in one request (about a minute): the proxy must wait for it.
c.ConfigurableHTTPProxy.command = ["{self.proxy_command}", "--timeout=900000", "--proxy-timeout=900000"]
c.ConfigurableHTTPProxy.pid_file = "{self.state / 'proxy.pid'}"
# Real local users, with their own passwords (PAM), each server started as its user.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {{{allowed}}}
c.Authenticator.admin_users = {{{self.instructor!r}}}
# Each server as its user, in a control group of its own: its memory limit holds for the server and
# every kernel it starts (inn_course/hub_spawner.py; JupyterHub's local spawner does not enforce it).
c.JupyterHub.spawner_class = "inn_course.hub_spawner.CourseSpawner"
c.Spawner.mem_limit = {self.memory_per_user}
c.Spawner.cmd = ["{self.env / 'bin' / 'jupyterhub-singleuser'}"]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {{"PATH": "{self.env / 'bin'}:/usr/bin:/bin", "INN_DATA_ROOT": "{self.data}"}}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
# Servers idle for {self.idle_timeout} s are stopped (jupyterhub-idle-culler, with only the rights it needs).
c.JupyterHub.services = [{{"name": "idle-culler", "command": [
    "{self.env / 'bin' / 'python'}", "-m", "jupyterhub_idle_culler", "--timeout={self.idle_timeout}",
    "--cull-every={min(600, max(5, self.idle_timeout // 4))}"]}}]
c.JupyterHub.load_roles = [{{"name": "idle-culler", "services": ["idle-culler"],
                            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}}]
'''

    # ------------------------------------------------------------------ running
    def start(self, timeout: float = 60) -> None:
        log = open(self.state / "jupyterhub.log", "ab")
        self.process = subprocess.Popen([str(self.env / "bin" / "jupyterhub"), "-f",
                                         str(self.state / "jupyterhub_config.py")],
                                        cwd=self.state, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PATH": f"{self.env / 'bin'}:/usr/bin:/bin"},
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited ({self.process.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"JupyterHub did not answer in {timeout:g} s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the hub, the proxy and every user's server (all in the hub's process group or as users)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        for user in self.users:
            subprocess.run(["pkill", "-u", user], check=False)

    def log_tail(self, lines: int = 30) -> str:
        path = self.state / "jupyterhub.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def run_as(self, user: str, command: list[str], cwd: Path | None = None, check: bool = True,
               input: str | None = None, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``command`` as ``user`` (their home, the course environment), as the instructor types it."""
        home = self.home(user)
        env = {"HOME": str(home), "USER": user, "PATH": f"{self.env / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8",
               "INN_DATA_ROOT": str(self.data), **(extra_env or {})}
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        result = subprocess.run([runuser, "-u", user, "--", *command], cwd=cwd or home, env=env, input=input,
                                capture_output=True, text=True)
        if check and result.returncode:
            raise RuntimeError(f"{' '.join(command)} as {user} failed ({result.returncode}):\n"
                               f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result


def data_root() -> str:
    return os.environ.get("INN_DATA_ROOT", str(Path("~/data").expanduser()))


def install_environment(env: Path) -> None:
    """The users' environment: a venv of the system Python (readable by all), with requirements.txt and
    requirements-hub.txt (installed again whenever either changed)."""
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    wanted = _requirements_digest()
    marker = env / ".installed"
    if not (env / "bin" / "jupyterhub").exists() or not marker.exists():
        _create_environment(env, pip)
    if not marker.exists() or marker.read_text() != wanted:
        subprocess.run([*pip, "-r", str(REPO_ROOT / "requirements.txt"), "-r", str(REQUIREMENTS)], check=True)
        marker.write_text(wanted)
    # This package itself, copied (not linked to the checkout, which other users may not be able to read),
    # fresh every time: the instructor's nbgrader loads its preprocessors and late policy from it.
    subprocess.run([*pip, "--no-deps", "--force-reinstall", str(REPO_ROOT)], check=True)


def _requirements_digest() -> str:
    import hashlib

    both = (REPO_ROOT / "requirements.txt").read_bytes() + REQUIREMENTS.read_bytes()
    return hashlib.sha256(both).hexdigest()


def install_proxy(prefix: Path) -> None:
    """JupyterHub's Node proxy, exactly as ``hub-proxy/package-lock.json`` pins it (``npm ci``, no install
    scripts), into ``prefix``; again only when the lock file changed."""
    lock = (PROXY_PACKAGE / "package-lock.json").read_bytes()
    if (prefix / "package-lock.json").is_file() and (prefix / "package-lock.json").read_bytes() == lock \
            and (prefix / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("no npm on this machine: apt-get install nodejs npm (the hub's proxy is Node's)")
    prefix.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PROXY_PACKAGE / name, prefix / name)
    subprocess.run([npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=prefix, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(prefix)], check=True)


def _create_environment(env: Path, pip: list[str]) -> None:
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        raise RuntimeError("no system python3 in /usr/bin: apt-get install python3 python3-venv")
    subprocess.run([system_python, "-m", "venv", str(env)], check=True)
    subprocess.run([*pip, "--upgrade", "pip"], check=True)


def create_user(user: str) -> str | None:
    """A local Linux user with a home (0700) and a fresh random password, returned; None (and nothing
    changed: password, home) when the user exists already."""
    import secrets

    if subprocess.run(["id", user], capture_output=True).returncode == 0:
        return None
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
    password = secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    os.chmod(pwd.getpwnam(user).pw_dir, 0o700)  # students must not read each other's work
    return password


def provision_data(source: Path, target: Path) -> None:
    """MNIST's four files, copied to ``target/MNIST/raw`` (readable by all, written by root only).

    The grader's data root is often not readable by other users (``~/data`` of root, a checkout in a
    private folder); every student's notebook reads this copy instead.
    """
    raw = target / "MNIST" / "raw"
    if all((raw / name).is_file() for name in MNIST_FILES):
        return
    found = source / "MNIST" / "raw"
    missing = [n for n in MNIST_FILES if not (found / n).is_file()]
    if missing:
        raise RuntimeError(f"no MNIST for the students: {found} lacks {', '.join(missing)}; put the four files "
                           f"of MNIST there (or set INN_DATA_ROOT to the folder holding MNIST/raw/)")
    raw.mkdir(parents=True, exist_ok=True)
    for folder in (target, target / "MNIST", raw):
        os.chmod(folder, 0o755)
    for name in MNIST_FILES:
        shutil.copyfile(found / name, raw / name)
        os.chmod(raw / name, 0o644)


# What torchvision's MNIST reads (the .gz files beside them are not needed once these exist).
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def make_exchange(root: Path) -> None:
    """nbgrader's exchange: world-writable with the sticky bit (users cannot remove each other's files)."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o1777)


# nbgrader's own modes (exchange/default/release_assignment.py, release_feedback.py): students may list and
# read the outbound folder, write into inbound without listing it, and reach feedback only by its hashed names.
COURSE_EXCHANGE_MODES = {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}


def make_course_exchange(root: Path, course_id: str, uid: int, gid: int) -> Path | None:
    """The course's folder in the exchange (and its inbound, outbound, feedback), the instructor's own.

    Made by root when the hub is set up, before any student can make it: in a world-writable exchange,
    the first user to make ``<exchange>/<course>`` owns it, and a student who did would own the parent
    of every submission (nbgrader's release then fails, and the instructor cannot remove it). An entry
    of that name that is not the instructor's folder is moved aside, kept for a human, and returned.
    Nothing here follows a link: entries are checked with lstat, renamed (which moves a link, not its
    target), and changed through descriptors opened with O_NOFOLLOW.
    """
    course = root / course_id
    moved = None
    for _ in range(3):
        try:
            os.mkdir(course, 0o700)
            break
        except FileExistsError:
            info = os.lstat(course)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == uid:
                break
            moved = root / f".not-the-course-{course_id}-{time.strftime('%Y%m%dT%H%M%S')}"
            os.rename(course, moved)
    else:
        raise RuntimeError(f"{course}: someone keeps making it; not set up")
    fd = os.open(course, safe_files.DIRECTORY)
    try:
        for name, mode in COURSE_EXCHANGE_MODES.items():
            if name:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=fd)
            sub = os.open(name, safe_files.DIRECTORY, dir_fd=fd) if name else os.dup(fd)
            try:
                os.fchown(sub, uid, gid)
                os.fchmod(sub, mode)
            finally:
                os.close(sub)
    finally:
        os.close(fd)
    return moved


class NotForRoot(Exception):
    """Code that root would run at boot can be changed by someone else."""


def service_unit(instructor: str, students: list[str], port: int, state: Path, memory_per_user: int,
                 idle_timeout: int, python: Path | None = None, package: Path | None = None) -> str:
    """A systemd unit that runs ``inn-course hub`` with these settings at boot and after a crash.

    Root runs this Python and this package at every boot, so both must be root's alone: a checkout in
    someone's home (or any folder another user can write) would let that user run code as root.
    """
    import shlex
    import sysconfig

    python = python or Path(sys.executable)
    _check_root_only(package or Path(__file__).resolve().parent, inside=True)
    for path in (python, python.resolve(), Path(sysconfig.get_paths()["purelib"])):
        _check_root_only(path)
    command = [str(python), "-m", "inn_course", "hub", "--instructor", instructor, "--students", *students,
               "--port", str(port), "--state", str(state), "--memory-per-user", str(memory_per_user),
               "--idle-timeout", str(idle_timeout)]
    return f"""# /etc/systemd/system/inn-course-hub.service (written by `inn-course hub --service-unit`)
# systemctl daemon-reload && systemctl enable --now inn-course-hub
[Unit]
Description=JupyterHub for the invertible-networks course (inn-course hub)
After=network-online.target
Wants=network-online.target

[Service]
# Each start makes only what is missing: users, passwords, courses, grades and submissions are kept.
ExecStart={shlex.join(command)}
WorkingDirectory=/
Restart=on-failure
RestartSec=5
# SIGTERM stops the hub as Ctrl-C does (every user's server with it); what is left is killed after 60 s.
KillMode=mixed
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
"""


def _check_root_only(path: Path, inside: bool = False) -> None:
    """``path``, every folder above it (and with ``inside``, everything in it): owned by root, writable by
    no one else (a sticky folder such as /tmp excepted: no one can replace another's entry there)."""
    checked = [path, *path.parents]
    if inside:
        checked += list(path.rglob("*"))
    for item in checked:
        info = os.lstat(item)
        if info.st_uid != 0 or (info.st_mode & 0o022 and not stat.S_ISLNK(info.st_mode)
                                and not (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX)):
            raise NotForRoot(f"{item} can be changed by someone other than root (owner uid {info.st_uid}, mode "
                             f"{stat.filemode(info.st_mode)}); install the course somewhere only root can write, "
                             f"e.g. a checkout in /opt/inn-course/src with its own .venv")


def can_run_here() -> str | None:
    """Why the hub cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root (to create users and start each user's server as that user)"
    for tool in ("useradd", "chpasswd", "runuser", "node", "npm"):
        if shutil.which(tool) is None:
            return f"no {tool} on this machine"
    if shutil.which("python3", path="/usr/bin:/bin") is None:
        return "no system python3 in /usr/bin"
    return None


if __name__ == "__main__":  # pragma: no cover - a manual check
    print(can_run_here() or "ok", file=sys.stderr)
