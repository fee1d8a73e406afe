"""Child processes the tests start: one way to stop them, one context manager."""

import os
import signal
import subprocess


def stop_session(process, timeout=30):
    """End ``process``, started with ``start_new_session=True``, and all it left behind.

    SIGTERM first, ``timeout`` seconds to exit on its own (gunicorn finishes its requests
    and flushes its logs, a worker shuts down warm), then SIGKILL to its whole process
    group (pool processes, gunicorn workers, an embedded beat). Nothing to do for None.
    """
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


class StartStop:
    """``with helper as started:`` runs ``start()`` (which returns the helper) on the way
    in and ``stop()`` on the way out; a ``start()`` that fails half-way is stopped too,
    so nothing it had started outlives the test. Subclasses define both methods."""

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info):
        self.stop()
