"""Nodes on one machine: Linux network + UTS namespaces, each with its own
hostname (node1, node2, ...) and address (10.77.0.K/24) on a bridge that
lives in a namespace of its own, sharing the file system as cluster nodes
share a parallel file system. Nothing touches the host's network: every
interface and address is inside the harness's namespaces, and they are
removed when the `Nodes` block ends, on SIGTERM/SIGINT, and (left by a
killed earlier run) when the next run starts.

Open MPI reaches the nodes through an `plm_rsh_agent` script that runs the
remote command with `nsenter --net=/run/netns/NS unshare --uts` (setting the
hostname)
instead of ssh; mpirun itself runs on node1, as on a login node that is also
a compute node.

    with Nodes(2) as nodes:
        nodes.run(1, ["mpirun", *nodes.mpi_options(), "--hostfile",
                      nodes.hostfile(slots=2), "-np", "4", "hostname"])

`Nodes.unavailable()` says why namespaces cannot be made here (not root, no
`ip`, no permission), for a test to skip with that reason.
"""
import os
import shlex
import shutil
import signal
import subprocess
import tempfile

PREFIX = "hrt"
SUBNET = "10.77.0"



# Run first in every node's namespaces (its own UTS and mount namespace):
# $1 hostname, $2 the node's scratch folder, mounted at $3 (Nodes.local);
# all three shifted off.
NODE_INIT = 'hostname "$1" && mount --bind "$2" "$3" && shift 3 &&'


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _remove_stale():
    """Namespaces of earlier runs whose process is gone (a test killed hard)."""
    listing = _ip("netns", "list", check=False).stdout.split()
    for name in listing:
        if not name.startswith(PREFIX) or "-" not in name:
            continue
        pid = name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _ip("netns", "del", name, check=False)


class Nodes:
    def __init__(self, n):
        assert 1 <= n <= 9
        self.n = n
        self.tag = f"{PREFIX}{os.getpid()}"
        self.dir = tempfile.mkdtemp(prefix="halorec-nodes-")
        # A folder every node has its own copy of at the same path (as nodes
        # have their own /tmp), for per-node scratch such as Slurm's TmpFS.
        self.local = os.path.join(self.dir, "node-local")
        self.created = []
        self._old_handlers = {}

    @staticmethod
    def unavailable():
        if os.geteuid() != 0:
            return "needs root (ip netns)"
        for tool in ("ip", "unshare", "nsenter"):
            if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
                return f"needs `{tool}`"
        probe = f"{PREFIX}{os.getpid()}-probe"
        p = _ip("netns", "add", probe, check=False)
        if p.returncode != 0:
            return f"cannot create a network namespace: {p.stderr.strip()}"
        _ip("netns", "del", probe, check=False)
        return None

    def ns(self, k):
        return f"{self.tag}-n{k}"

    def name(self, k):
        return f"node{k}"

    def address(self, k):
        return f"{SUBNET}.{k}"

    def __enter__(self):
        _remove_stale()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self._create()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()
        shutil.rmtree(self.dir, ignore_errors=True)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        return False

    def _on_signal(self, signum, frame):
        self.remove()
        raise SystemExit(128 + signum)

    def _create(self):
        sw = f"{self.tag}-sw"
        _ip("netns", "add", sw)
        self.created.append(sw)
        _ip("-n", sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", sw, "link", "set", "br0", "up")
        for k in range(1, self.n + 1):
            ns = self.ns(k)
            _ip("netns", "add", ns)
            self.created.append(ns)
            # The veth pair is made inside the switch namespace: the host's
            # interface list never sees it.
            _ip("-n", sw, "link", "add", f"p{k}", "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            _ip("-n", sw, "link", "set", f"p{k}", "master", "br0")
            _ip("-n", sw, "link", "set", f"p{k}", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(k)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        os.makedirs(self.local)
        for k in range(1, self.n + 1):
            os.makedirs(self.tmp(k))
            os.chmod(self.tmp(k), 0o1777)
        self.agent = os.path.join(self.dir, "rsh-agent")
        cases = "\n".join(
            f"  {self.address(k)}|{self.name(k)}) ns={self.ns(k)}; host={self.name(k)}; "
            f"tmp={self.tmp(k)};;" for k in range(1, self.n + 1))
        with open(self.agent, "w") as f:
            f.write(f"""#!/bin/bash
# Open MPI's plm_rsh_agent for the harness's nodes: AGENT [OPTIONS] HOST COMMAND
NODE_INIT='{NODE_INIT}'
while [[ "$1" == -* ]]; do shift; done
target=$1; shift
case "$target" in
{cases}
  *) echo "rsh-agent: no node '$target'" >&2; exit 255;;
esac
exec nsenter --net=/run/netns/"$ns" unshare --uts --mount /bin/sh -c "$NODE_INIT"' exec /bin/sh -c "$*"' sh "$host" "$tmp" "{self.local}" "$*"
""")
        os.chmod(self.agent, 0o755)

    def remove(self):
        while self.created:
            ns = self.created.pop()
            # Whatever still runs in a node (a stopped rank) goes with it.
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", ns, check=False)

    def hostfile(self, slots, nodes=None):
        path = os.path.join(self.dir, f"hosts-{slots}")
        with open(path, "w") as f:
            for k in nodes or range(1, self.n + 1):
                f.write(f"{self.name(k)} slots={slots}\n")
        return path

    def mpi_options(self):
        """mpirun options for these nodes: the agent, TCP between nodes on the
        harness's subnet, shared memory within a node."""
        return ["--mca", "plm_rsh_agent", self.agent,
                "--mca", "btl", "tcp,self,vader",
                "--mca", "btl_tcp_if_include", f"{SUBNET}.0/24",
                "--mca", "oob_tcp_if_include", f"{SUBNET}.0/24"]

    def command(self, k, argv):
        """argv run on node k (its network namespace and hostname)."""
        # nsenter, not `ip netns exec`: that one remounts /sys, which hides the
        # cgroup file systems (slurmd needs them) as a node would not.
        return ["nsenter", f"--net=/run/netns/{self.ns(k)}", "unshare", "--uts", "--mount",
                "/bin/sh", "-c", NODE_INIT + ' exec "$@"', "sh", self.name(k), self.tmp(k),
                self.local, *argv]

    def tmp(self, k):
        """What node k sees at `self.local` (its own scratch folder)."""
        return os.path.join(self.dir, f"local-{self.name(k)}")

    def run(self, k, argv, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.command(k, argv), **kw)

    def popen(self, k, argv, **kw):
        return subprocess.Popen(self.command(k, argv), **kw)

    def pids(self, k, comm=None):
        """Processes running in node k (only those named `comm`, when given)."""
        out = []
        for pid in _ip("netns", "pids", self.ns(k), check=False).stdout.split():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                continue
            if comm is None or name == comm:
                out.append(int(pid))
        return out


def quote(argv):
    return " ".join(shlex.quote(a) for a in argv)
