"""What the harness measures outside the clients: process memory and CPU from /proc,
machine CPU, Redis command counts; and the latency histogram the clients fill."""

import math
import os
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# Processes and machine ---------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """Resident memory of a process in KB (VmRSS), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces: fields are counted after its ")".
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every core summed."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class Snapshot:
    """CPU of named groups of processes, the machine's CPU, the time, and Redis counters,
    taken together so that two of them give rates over the interval between them."""

    def __init__(self, groups: dict[str, list[int]], redis_client=None):
        self.wall = time.monotonic()
        # By pid: a process started since the previous snapshot (a server restarted by the
        # reconnect storm) counts from zero, one that is gone counts no more.
        self.cpu = {name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}
        self.machine_busy, self.machine_total = machine_cpu()
        self.redis = redis_counters(redis_client) if redis_client is not None else None

    def since(self, before: "Snapshot") -> dict:
        wall = max(self.wall - before.wall, 1e-9)
        result = {
            "seconds": round(wall, 3),
            # In % of one core: 200 means two cores busy.
            "cpu_percent": {
                name: round(100 * self._used(before, name) / wall, 1) for name in self.cpu
            },
            "cpu_seconds": {name: round(self._used(before, name), 3) for name in self.cpu},
            "machine_cpu_percent": round(
                100
                * (self.machine_busy - before.machine_busy)
                / max(self.machine_total - before.machine_total, 1e-9)
                * (os.cpu_count() or 1),
                1,
            ),
        }
        # What no group accounts for: PostgreSQL above all (its backends come and go with
        # the server's connections), and anything else running on the machine.
        result["cpu_percent"]["rest_of_machine"] = round(
            max(0.0, result["machine_cpu_percent"] - sum(result["cpu_percent"].values())), 1
        )
        if self.redis is not None and before.redis is not None:
            commands = {
                name: count - before.redis["commands"].get(name, 0)
                for name, count in self.redis["commands"].items()
            }
            result["redis_commands"] = self.redis["total"] - before.redis["total"]
            result["redis_by_command"] = dict(
                sorted(((n, c) for n, c in commands.items() if c), key=lambda nc: -nc[1])[:8]
            )
        return result

    def _used(self, before: "Snapshot", name: str) -> float:
        earlier = before.cpu.get(name, {})
        return sum(
            max(0.0, seconds - earlier.get(pid, 0.0)) for pid, seconds in self.cpu[name].items()
        )


def redis_counters(client) -> dict:
    """Commands processed so far (each INFO call counts one)."""
    stats = client.info("stats")
    by_command = client.info("commandstats")
    return {
        "total": int(stats["total_commands_processed"]),
        "commands": {
            name.removeprefix("cmdstat_"): int(values["calls"])
            for name, values in by_command.items()
        },
    }


# TCP connections on loopback -------------------------------------------------------------

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}
_LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def tcp_connections(ports: set[int]) -> dict[tuple[int, int], dict]:
    """The kernel's view of IPv4 loopback connections with a local port in `ports`, by
    (local port, remote port): state, and the bytes in the send queue (not yet acknowledged
    by the peer) and the receive queue (not yet read by the process). Read from
    /proc/net/tcp, so a socket is observed without being read from."""
    found = {}
    try:
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
                address, port = local.split(":")
                if address != _LOOPBACK or int(port, 16) not in ports:
                    continue
                send_q, receive_q = queues.split(":")
                found[(int(port, 16), int(remote.split(":")[1], 16))] = {
                    "state": TCP_STATES.get(state, state),
                    "send_queue": int(send_q, 16),
                    "receive_queue": int(receive_q, 16),
                }
    except OSError:
        pass
    return found


# Latency ---------------------------------------------------------------------------------

# Buckets 1 % wide on a log scale from 1 µs: percentiles within 1 %, at a fixed small size
# however many samples, and histograms from several processes add up exactly.
_BUCKETS_PER_E = 100


class Histogram:
    def __init__(self, counts: dict | None = None, maximum: float = 0.0, total: int = 0):
        self.counts: dict[int, int] = {int(k): v for k, v in (counts or {}).items()}
        self.maximum = maximum  # ms, exact
        self.total = total

    def add(self, ms: float) -> None:
        bucket = int(math.log(ms * 1000.0) * _BUCKETS_PER_E) if ms > 0.001 else 0
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1
        if ms > self.maximum:
            self.maximum = ms

    def merge(self, other: "Histogram") -> None:
        for bucket, count in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + count
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, fraction: float) -> float | None:
        """The latency in ms under which `fraction` of the samples fall (bucket's upper
        edge), None without samples."""
        if not self.total:
            return None
        rank = math.ceil(fraction * self.total)
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(math.exp((bucket + 1) / _BUCKETS_PER_E) / 1000.0, self.maximum)
        return self.maximum

    def summary(self) -> dict:
        def ms(value):
            return None if value is None else round(value, 2)

        return {
            "samples": self.total,
            "p50_ms": ms(self.percentile(0.50)),
            "p95_ms": ms(self.percentile(0.95)),
            "p99_ms": ms(self.percentile(0.99)),
            "max_ms": ms(self.maximum) if self.total else None,
        }

    def to_json(self) -> dict:
        return {"counts": self.counts, "maximum": self.maximum, "total": self.total}

    @classmethod
    def from_json(cls, data: dict) -> "Histogram":
        return cls(data["counts"], data["maximum"], data["total"])
