"""Run one untrusted Python program inside the sandbox's child process, then report how it ended.

    python -I -S -B sandbox_runner.py ROOT CPU MEMORY FILE PROCESSES   # ROOT holds program.py; ROOT/work is the cwd

Started by sandbox.py, never imported by the package: it uses the standard library only and runs
with -I -S (no environment variables, no site-packages, no script directory on sys.path). Before a
line of the program runs it confines itself, in this order:
  1. resource limits: CPU seconds, address space, file size, open files, processes, no core files;
  2. Landlock (Linux >= 5.13), enforced by the kernel: reads only under the system and standard
     library directories, writes only inside ROOT/work, no exec; on ABI 4+ no TCP bind or connect;
     on ABI 6+ no signals to, or abstract sockets of, processes outside;
  3. seccomp, enforced by the kernel: no fork, vfork, exec or clone other than a thread's;
  4. an audit hook that refuses sockets, process creation (fork, exec, spawn, system), ctypes and
     writes outside ROOT/work: the fallback where the kernel offers none of the above, and a second
     wall where it does. sandbox.py adds a network namespace around the process.
Landlock and seccomp are hand-written over ctypes (a few structures and syscalls): the Python
bindings on PyPI are pre-releases or unmaintained, and a wall here must not depend on them.
The verdict goes to ROOT/result.json (opened before the program runs) as one JSON object.
"""

import json
import os
import resource
import sys

# Set by sandbox.py through argv so both sides agree; these are the defaults.
CPU_SECONDS, MEMORY_BYTES, FILE_BYTES, OPEN_FILES, PROCESSES = 3, 512 << 20, 8 << 20, 64, 16

# Landlock's filesystem rights (linux/landlock.h), by the ABI version that introduced them.
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI1 = (1 << 13) - 1  # execute ... make_sym
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
PR_SET_NO_NEW_PRIVS = 38
READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/etc", "/bin", "/sbin")

_BLOCKED_PREFIXES = ("socket.", "ctypes.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.system", "os.kill",
                     "os.killpg", "subprocess.", "os.forkpty", "pty.", "winreg.", "os.startfile", "webbrowser.")
_WRITE_EVENTS = {"os.remove": 0, "os.rename": 0, "os.rmdir": 0, "os.mkdir": 0, "os.chmod": 0, "os.chown": 0,
                 "os.symlink": 1, "os.link": 1, "os.truncate": 0, "os.utime": 0, "os.mkfifo": 0, "os.mknod": 0,
                 "shutil.rmtree": 0, "shutil.copyfile": 1, "shutil.move": 1}
blocked: list[str] = []


class SandboxBlocked(PermissionError):
    """What the audit hook raises: the program tried something the sandbox does not allow."""


def _limits() -> None:
    limits = [
        (resource.RLIMIT_CPU, CPU_SECONDS), (resource.RLIMIT_AS, MEMORY_BYTES), (resource.RLIMIT_FSIZE, FILE_BYTES),
        (resource.RLIMIT_NOFILE, OPEN_FILES), (resource.RLIMIT_NPROC, PROCESSES), (resource.RLIMIT_CORE, 0),
    ]
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # a limit this system does not let us set (macOS refuses RLIMIT_AS)
            pass


def _landlock(work: str) -> int:
    """Confine file access (and TCP, signals) by the kernel; returns the ABI used, 0 where there is none."""
    import ctypes
    import sysconfig

    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return 0
    fs = FS_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) | (FS_IOCTL_DEV if abi >= 5 else 0)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(fs, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                       (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return 0
    read = FS_READ_FILE | FS_READ_DIR
    stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
    rules = [(p, read) for p in (*READABLE, *stdlib)] + [("/dev/null", FS_READ_FILE | FS_WRITE_FILE), (work, fs & ~FS_EXECUTE)]
    for path, allowed in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        is_dir = os.path.isdir(path)
        rule = PathBeneath(allowed & fs if is_dir else allowed & (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE) & fs, fd)
        libc.syscall(SYS_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0)  # LANDLOCK_RULE_PATH_BENEATH
        os.close(fd)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) != 0:
        os.close(ruleset)
        return 0
    os.close(ruleset)
    return abi


# seccomp (linux/seccomp.h, linux/filter.h): process creation refused by the kernel, for root too, whom
# RLIMIT_NPROC does not bind. Threads (clone with CLONE_THREAD) stay allowed; clone3 answers ENOSYS so
# that the C library falls back to clone, whose flags a filter can read.
PR_SET_SECCOMP, SECCOMP_MODE_FILTER, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 22, 2, 0x7FFF0000, 0x00050000
EPERM, ENOSYS, CLONE_THREAD = 1, 38, 0x00010000
# arch: (AUDIT_ARCH value, clone, clone3, refused outright: fork, vfork, execve, execveat where they exist)
SYSCALLS = {"x86_64": (0xC000003E, 56, 435, (57, 58, 59, 322)), "aarch64": (0xC00000B7, 220, 435, (221, 281))}


def _seccomp() -> bool:
    """Install the filter; False where the architecture or the kernel does not allow it."""
    import ctypes
    import platform

    if not sys.platform.startswith("linux") or platform.machine() not in SYSCALLS:
        return False
    arch, clone, clone3, refused = SYSCALLS[platform.machine()]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|JGE|JSET with K, BPF_RET|K
    deny = (ret, 0, 0, SECCOMP_RET_ERRNO | EPERM)
    # Jumps count the instructions they skip: (code, jump if true, jump if false, k).
    code = [(load, 0, 0, 4), (jeq, 1, 0, arch), deny,  # seccomp_data.arch: another ABI is refused everything
            (load, 0, 0, 0), (jge, 0, 1, 0x40000000), deny,  # seccomp_data.nr: x32 numbers refused
            (jeq, 0, 1, clone3), (ret, 0, 0, SECCOMP_RET_ERRNO | ENOSYS)]
    for number in refused:
        code += [(jeq, 0, 1, number), deny]
    code += [(jeq, 0, 3, clone), (load, 0, 0, 16), (jset, 1, 0, CLONE_THREAD), deny,  # args[0] of clone: its flags
             (ret, 0, 0, SECCOMP_RET_ALLOW)]
    filters = (Filter * len(code))(*[Filter(*c) for c in code])
    program = Program(len(code), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) == 0


def _inside(path: object, work: str) -> bool:
    if isinstance(path, int):
        return True  # an already open descriptor: opened under the rules
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False
    real = os.path.realpath(os.fsdecode(path))
    return real == work or real.startswith(work + os.sep) or real == os.devnull


def _audit_hook(work: str):  # noqa: ANN202 - stdlib-only script, no typing imports
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event: str, args: tuple) -> None:
        refused = event.startswith(_BLOCKED_PREFIXES) or (event == "import" and args and args[0] in ("ctypes", "_ctypes", "cffi"))
        if not refused and event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1] or "", args[2] or 0
            writing = any(c in str(mode) for c in "wax+") or bool(flags & write_flags)
            refused = writing and not _inside(path, work)
        elif not refused and event in _WRITE_EVENTS:
            paths = [a for a in args[: _WRITE_EVENTS[event] + 1]]
            refused = not all(_inside(p, work) for p in paths)
        if refused:
            blocked.append(event)
            raise SandboxBlocked(f"the sandbox does not allow {event}")

    return hook


def main() -> None:
    global CPU_SECONDS, MEMORY_BYTES, FILE_BYTES, PROCESSES
    root = sys.argv[1]
    if len(sys.argv) > 5:
        CPU_SECONDS, MEMORY_BYTES, FILE_BYTES, PROCESSES = (int(a) for a in sys.argv[2:6])
    # Tests of the kernel's walls alone leave the audit hook out; nothing else does.
    audit_hook = sys.argv[6:7] != ["kernel-only"]
    work = os.path.realpath(os.path.join(root, "work"))
    with open(os.path.join(root, "program.py"), encoding="utf-8") as fh:
        source = fh.read()
    result = open(os.path.join(root, "result.json"), "w", encoding="utf-8")  # noqa: SIM115 - written at the very end
    os.chdir(work)
    landlock = _landlock(work)
    seccomp = _seccomp()
    for name in ("ctypes", "_ctypes", "ctypes._endian"):
        sys.modules.pop(name, None)
    _limits()
    if audit_hook:
        sys.addaudithook(_audit_hook(work))
    sys.argv = ["main.py"]
    report = {"status": "ok", "landlock": landlock, "seccomp": seccomp}
    try:
        code = compile(source, "main.py", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102 - running it is the point
    except SystemExit as exc:
        if exc.code not in (None, 0):
            report.update(status="error", type="SystemExit", message=str(exc.code)[:300])
    except BaseException as exc:  # noqa: BLE001 - every way the program can fail is the verdict
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "main.py":
                line = tb.tb_lineno
            tb = tb.tb_next
        report.update(status="error", type=type(exc).__name__, message=str(exc)[:300], line=line,
                      errno=getattr(exc, "errno", None))
    report["blocked"] = sorted(set(blocked))
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001, S110 - a closed or full stdout is the program's business
        pass
    result.write(json.dumps(report))
    result.close()
    os._exit(0)


if __name__ == "__main__":
    main()
