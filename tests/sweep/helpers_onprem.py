"""A throw-away SSH node on this machine for the on-prem cluster test: a system user with a
temporary home and key, and an ``sshd`` of ours bound to 127.0.0.1, all undone on exit.

Why a user of its own rather than the current one: the cluster launcher runs a bare ``ray
stop`` on the node in ``ray down`` (``teardown_cluster``, Ray 2.60) and in
``head_start_ray_commands``, and ``ray stop`` kills every Ray process the calling user may
signal. Run as the user of the test, it would stop every other Ray on this shared machine
(other tests, other people's clusters). Run as a user that owns nothing else, it can only
stop the cluster of this test: the kernel refuses it the rest. The same user keeps the
current user's ``~/.ssh``, ``~/.bashrc`` and home untouched, and its own Ray temp folder
(``RAY_TMPDIR`` in its ``~/.bashrc``) keeps it out of ``/tmp/ray``, whose
``ray_current_cluster`` file ``--address auto`` reads.

The launcher has no SSH-port setting: ``sshd`` listens on 127.0.0.1:22 when that port is
free, else on a free port that a ``Host 127.0.0.1`` entry in the current user's
``~/.ssh/config`` names (ssh reads it; the launcher passes no ``-p``), restored on exit.

Needs root (``useradd``, an ``sshd`` that logs users in); installs openssh-server and rsync
with apt-get where missing. Callers skip with the reason `ssh_node_unavailable` gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.sweep.helpers_e2e import cmdline, kill_session

SSHD = Path("/usr/sbin/sshd")
TOOLS = ("sshd", "ssh", "ssh-keygen", "rsync", "useradd", "userdel")
PACKAGES = ("openssh-server", "openssh-client", "rsync")
POLICY_RC = Path("/usr/sbin/policy-rc.d")  # exit 101: apt-get starts no service (no sshd on 0.0.0.0:22)
PRIVSEP_DIR = Path("/run/sshd")
SHARED_TEMP = [Path(p) for p in ("/tmp", "/var/tmp", "/dev/shm")]
HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
SSH_CONFIG = HOME / ".ssh" / "config"
# What the test must leave as it found it; the first four change under useradd/userdel
# (their "-" backups and the lock file too, which we restore).
WATCHED_SYSTEM = [
    Path(p) for p in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid")
]
RESTORED_SYSTEM = [Path(p) for p in ("/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/.pwd.lock")]


def _tool(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _missing_tools() -> list[str]:
    return [t for t in TOOLS if _tool(t) is None]


def ssh_node_unavailable() -> str | None:
    """Why this machine cannot host the node (then the test skips), or None. Installs the
    missing packages with apt-get first, without letting it start any service."""
    if os.name != "posix" or not Path("/proc").is_dir():
        return "needs Linux (/proc)"
    if os.geteuid() != 0:
        return "needs root: creates a throw-away user and runs an sshd that logs it in"
    if not _missing_tools():
        return None
    if _tool("apt-get") is None:
        return f"{', '.join(_missing_tools())} missing and no apt-get to install {', '.join(PACKAGES)}"
    made_policy = not POLICY_RC.exists()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if made_policy:
            POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
            POLICY_RC.chmod(0o755)
        steps = (
            ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"],
            ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
        )
        for step in steps:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                return f"`{' '.join(step)}` failed: {(done.stderr or done.stdout).strip()[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"could not install {', '.join(PACKAGES)}: {e}"
    finally:
        if made_policy:
            POLICY_RC.unlink(missing_ok=True)
    missing = _missing_tools()
    return f"still missing after apt-get install: {', '.join(missing)}" if missing else None


# ------------------------------------------------------------------ snapshots
def _state(path: Path) -> tuple[bytes, int, int, int] | None:
    """A file's bytes, mode and owner, or None when absent."""
    try:
        st = path.lstat()
        return path.read_bytes(), st.st_mode, st.st_uid, st.st_gid
    except FileNotFoundError:
        return None


def user_files_snapshot() -> dict[str, Any]:
    """The current user's SSH folder (every file) and shell start-up files."""
    found: dict[str, Any] = {}
    ssh = HOME / ".ssh"
    if ssh.is_dir():
        found[str(ssh)] = ssh.stat().st_mode
        for entry in sorted(ssh.rglob("*")):
            found[str(entry)] = _state(entry) if entry.is_file() else entry.stat().st_mode
    else:
        found[str(ssh)] = None
    for name in (".bashrc", ".profile", ".bash_profile"):
        found[str(HOME / name)] = _state(HOME / name)
    return found


def system_snapshot() -> dict[str, Any]:
    return {str(p): _state(p) for p in (*WATCHED_SYSTEM, *RESTORED_SYSTEM, PRIVSEP_DIR)}


def _restore(path: Path, state: tuple[bytes, int, int, int] | None) -> None:
    if state is None:
        path.unlink(missing_ok=True)
        return
    data, mode, uid, gid = state
    if _state(path) == state:
        return
    tmp = path.with_name(path.name + ".paylab-restore")
    tmp.write_bytes(data)
    os.chown(tmp, uid, gid)
    tmp.chmod(mode & 0o7777)
    tmp.replace(path)


# ------------------------------------------------------------------ processes
def uid_pids(uid: int) -> set[int]:
    """Live processes whose real user is ``uid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            status = (entry / "status").read_text()
            state = next(line for line in status.splitlines() if line.startswith("State:")).split()[1]
            real = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
            if real == uid and state != "Z":
                found.add(int(entry.name))
    return found


def marked_pids(marker: str) -> set[int]:
    """Live processes (not this one) whose command line names ``marker``."""
    return {
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and int(e.name) != os.getpid() and marker in cmdline(int(e.name))
    }


def kill_all(find: Any, what: str, timeout: float = 30.0) -> None:
    """SIGKILL what ``find()`` returns until it returns nothing."""
    deadline = time.monotonic() + timeout
    while pids := find():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} survive SIGKILL: {sorted(pids)}")
        time.sleep(0.2)


def owned_temp_files(uid: int, since: float) -> list[Path]:
    """What ``uid`` made (changed) since ``since`` at the top of the machine's shared temp folders."""
    found = []
    for folder in SHARED_TEMP:
        with contextlib.suppress(OSError):
            found += [p for p in folder.iterdir() if p.lstat().st_uid == uid and p.lstat().st_mtime >= since]
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------ the node
def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssh_control_dir(cluster_name: str) -> Path:
    """Where the launcher keeps its SSH control sockets for ``cluster_name`` (Ray 2.60's
    ``SSHCommandRunner``: hashes of the local user and of the cluster name, 10 characters)."""
    user = hashlib.sha256(pwd.getpwuid(os.getuid()).pw_name.encode()).hexdigest()[:10]
    return Path(f"/tmp/ray_ssh_{user}") / hashlib.sha256(cluster_name.encode()).hexdigest()[:10]


@dataclass
class SshNode:
    """The node: log in as ``user`` at 127.0.0.1 with ``key`` (ssh finds the port)."""

    root: Path  # our temp folder: the node's home, keys, sshd files, Ray temp
    user: str
    uid: int
    home: Path
    key: Path  # the client's private key (the launcher's auth.ssh_private_key)
    port: int
    ray_tmp: Path  # RAY_TMPDIR of everything the node's user runs
    since: float = field(default_factory=time.time)
    sshd: subprocess.Popen[Any] | None = None
    cleanups: list[str] = field(default_factory=list)  # what was undone, for the report

    def ssh(self, command: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                f"UserKnownHostsFile={os.devnull}",
                f"{self.user}@127.0.0.1",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _run(*args: str) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")


def _sshd_config(node: SshNode) -> str:
    return "\n".join(
        [
            f"Port {node.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {node.root / 'sshd' / 'host_key'}",
            f"PidFile {node.root / 'sshd' / 'sshd.pid'}",
            f"AllowUsers {node.user}",
            "PermitRootLogin no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "X11Forwarding no",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def _add_host_entry(port: int) -> None:
    """``Host 127.0.0.1`` → ``Port port`` first in ~/.ssh/config (first match wins)."""
    SSH_CONFIG.parent.mkdir(mode=0o700, exist_ok=True)
    old = SSH_CONFIG.read_text() if SSH_CONFIG.exists() else ""
    SSH_CONFIG.write_text(f"Host 127.0.0.1\n    Port {port}\n\n{old}")
    SSH_CONFIG.chmod(0o600)


@contextlib.contextmanager
def ssh_node(cluster_name: str) -> Iterator[SshNode]:
    """The node, ready to log in; on exit every process of its user, our sshd and the
    launcher's SSH control connections are killed, the user deleted, the files we changed
    restored and our temp folder removed — whatever happened inside."""
    system_before = system_snapshot()
    ssh_config_before = (SSH_CONFIG.parent.exists(), _state(SSH_CONFIG))
    # Short: Ray's socket paths under RAY_TMPDIR must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="plop", dir="/tmp"))
    root.chmod(0o711)  # the node's user must reach its home inside
    user = f"plop-{secrets.token_hex(4)}"
    port = 22 if port_free(22) else free_port()
    control = ssh_control_dir(cluster_name)
    control_parent_existed = control.parent.exists()
    node = SshNode(root, user, -1, root / "home", root / "client" / "id_ed25519", port, root / "rt")
    try:
        (root / "client").mkdir(mode=0o700)
        (root / "sshd").mkdir(mode=0o700)
        # "*": no password, yet not locked ("!"), which sshd without PAM would refuse.
        _run(
            "useradd",
            "--system",
            "--home-dir",
            str(node.home),
            "--shell",
            "/bin/bash",
            "--password",
            "*",
            "--user-group",
            user,
        )
        node.uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
        node.home.mkdir(mode=0o755)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", user, "-f", str(node.key))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "sshd" / "host_key"))
        ssh_dir = node.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        shutil.copy(node.key.with_suffix(".pub"), ssh_dir / "authorized_keys")
        (ssh_dir / "authorized_keys").chmod(0o600)
        # What the node's administrator set up: the user's own temp folders; no pip cache
        # (a few hundred MB to write, then to delete).
        (node.home / ".bashrc").write_text(
            f"export RAY_TMPDIR={node.ray_tmp} TMPDIR={node.root / 'tmp'} PIP_NO_CACHE_DIR=1\n"
        )
        node.ray_tmp.mkdir()
        (node.root / "tmp").mkdir()
        for path in (
            node.home,
            ssh_dir,
            ssh_dir / "authorized_keys",
            node.home / ".bashrc",
            node.ray_tmp,
            node.root / "tmp",
        ):
            os.chown(path, node.uid, gid)
        if port != 22:
            _add_host_entry(port)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        config = root / "sshd" / "sshd_config"
        config.write_text(_sshd_config(node))
        _run(str(SSHD), "-t", "-f", str(config))
        with open(root / "sshd" / "sshd.log", "w") as log:
            node.sshd = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while (login := node.ssh("echo ok")).stdout.strip() != "ok":
            if time.monotonic() > deadline or node.sshd.poll() is not None:
                raise AssertionError(
                    f"cannot log in to our sshd: {login.stderr}\n{(root / 'sshd' / 'sshd.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield node
    finally:
        _teardown(node, control, control_parent_existed, ssh_config_before, system_before)


def _restore_ssh_config(before: tuple[bool, tuple[bytes, int, int, int] | None]) -> None:
    had_folder, state = before
    _restore(SSH_CONFIG, state)
    if not had_folder:
        SSH_CONFIG.parent.rmdir()


def _teardown(
    node: SshNode,
    control: Path,
    control_parent_existed: bool,
    ssh_config_before: tuple[bool, tuple[bytes, int, int, int] | None],
    system_before: dict[str, Any],
) -> None:
    """Undo everything `ssh_node` did; every step runs even when an earlier one fails."""
    errors: list[str] = []

    def step(what: str, action: Any) -> None:
        started = time.monotonic()
        try:
            action()
            node.cleanups.append(f"{what} ({time.monotonic() - started:.1f} s)")
        except Exception as e:  # noqa: BLE001 — collect, then report them all
            errors.append(f"{what}: {e}")

    if node.uid >= 0:
        step(f"killed every process of {node.user}", lambda: kill_all(lambda: uid_pids(node.uid), node.user))
    if node.sshd is not None:
        sshd = node.sshd
        step("stopped our sshd", lambda: kill_session(sshd))
    # sshd's per-connection processes and the launcher's ssh control masters name our folder.
    step("killed processes naming our temp folder", lambda: kill_all(lambda: marked_pids(str(node.root)), "ours"))
    if node.uid >= 0:
        step(
            f"removed what {node.user} left in the shared temp folders",
            lambda: [_remove(p) for p in owned_temp_files(node.uid, node.since)],
        )
    step("removed the launcher's SSH control folder", lambda: shutil.rmtree(control, ignore_errors=True))
    if not control_parent_existed:
        step("removed its parent", lambda: control.parent.rmdir() if control.parent.exists() else None)
    if node.uid >= 0:
        step(f"deleted user {node.user}", lambda: _run("userdel", node.user))
    for path in RESTORED_SYSTEM:
        state = system_before[str(path)]
        step(f"restored {path}", lambda p=path, s=state: _restore(p, s))
    if system_before[str(PRIVSEP_DIR)] is None:
        step(f"removed {PRIVSEP_DIR}", lambda: PRIVSEP_DIR.rmdir() if PRIVSEP_DIR.exists() else None)
    if node.port != 22:
        step(f"restored {SSH_CONFIG}", lambda: _restore_ssh_config(ssh_config_before))
    # rm rather than shutil.rmtree: the node's venv has tens of thousands of files.
    step(f"removed {node.root}", lambda: _run("rm", "-rf", "--one-file-system", str(node.root)))
    if errors:
        raise AssertionError("cleaning up the SSH node failed:\n" + "\n".join(errors))
