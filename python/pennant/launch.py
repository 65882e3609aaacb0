"""Starting the C aggregator from Python (the example's local mode, the torch bench):
pennant-train prints "listening on ADDR" once it has bound its port; read it from stderr."""
import re
import subprocess
import threading


class Aggregator:
    """pennant-train started with `cmd` (stdout discarded, stderr collected in .log);
    .addr is the address it listens on, once start() returned."""

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.log, self.addr = [], None
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"listening on (\S+)", line)
            if m and self.addr is None:
                self.addr = m.group(1)
                self._listening.set()
        self._listening.set()  # it exited without listening: start() says so

    def start(self, timeout=60):
        """Waits until it listens; raises SystemExit with its log if it does not."""
        if not self._listening.wait(timeout) or self.addr is None:
            raise SystemExit("the aggregator did not start:\n" + "".join(self.log))
        return self.addr

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self._reader.join(5)
