"""Run the download engine alone once: ``python -m bench.fetch_once URL DEST_DIR [--md5 HEX]``.

Prints one JSON line: the wall and CPU seconds of fetch() (interpreter start-up
excluded), the seconds spent in its fsync, the size and the md5. ``--no-fsync`` skips
the engine's final fsync (to see what durability costs); ``--buffered`` writes through
the page cache whatever the size (O_DIRECT off); ``--cprofile FILE`` writes a cProfile
of the calling thread.
"""

import argparse
import cProfile
import json
import resource
import sys
import time
from unittest import mock

from filemonitor.engine import fetch
from filemonitor.engine import partfile as engine_partfile


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("dest")
    parser.add_argument("--md5")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--buffered", action="store_true")
    parser.add_argument("--cprofile")
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.cprofile else None
    fsync_times = []
    real_fsync = engine_partfile.os.fsync

    def timed_fsync(fd):
        began = time.perf_counter()
        if not args.no_fsync:
            real_fsync(fd)
        fsync_times.append(time.perf_counter() - began)

    patch = mock.patch.object(engine_partfile.os, "fsync", timed_fsync)
    patch.start()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    direct_write_min_size = 0 if args.buffered else None
    result = fetch(
        args.url, args.dest, expected_md5=args.md5, direct_write_min_size=direct_write_min_size
    )
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    patch.stop()
    summary = {"seconds": seconds, "cpu": cpu, "fsync": sum(fsync_times), "size": result.size}
    print(json.dumps({**summary, "md5": result.md5}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
