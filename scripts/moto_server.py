"""Start moto in server mode on 127.0.0.1 and print the bound port on the first stdout line.

Usage: python scripts/moto_server.py [--port N] [--single-thread]

--port 0 (the default) lets the kernel pick a free port, so parallel test runs never collide.
--single-thread serialises requests: moto's DynamoDB model is not locked, so concurrency tests
must run against a single-threaded server or they can fail on correct code.
"""
import argparse
import os
import signal
import sys

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--single-thread", action="store_true")
    args = p.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    srv = make_server(
        "127.0.0.1",
        args.port,
        app,
        threaded=not args.single_thread,
        request_handler=MotoRequestHandler,
    )
    port = srv.server_port
    os.environ["MOTO_PORT"] = str(port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(port, flush=True)
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
