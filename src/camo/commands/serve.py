"""``camo serve``: the local web app (cloak photos, try attacks) on http://127.0.0.1:8000/."""

from __future__ import annotations

import argparse
import contextlib
import socket

from camo.commands import console

EPILOG = """examples:
  camo serve --open
  camo serve --port 8080
  curl -F photos=@me.jpg -F preset=mid http://127.0.0.1:8000/api/cloak/jobs

The page and its JSON API (listed at /docs) run on this machine only: by default the server binds 127.0.0.1 and
answers only requests addressed to it (a guard against DNS rebinding); pages of other sites cannot post to it.
Uploads and results live in one private temporary folder, are deleted an hour after their job ends (--keep) and
all of them when the server stops. Photos are checked by content (JPEG, PNG, WebP), size and pixel count before
any work; downloads carry no metadata. One cloak job runs at a time; when the queue is full the server answers
"busy, retry" (HTTP 429).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "serve", parents=[common], help="a local web page to cloak photos and try attacks (127.0.0.1 only)",
        description="Start the local web app: the Cloak tab (many photos, live progress, before/after, a verdict "
                    "per recognizer, downloads) and the Attack lab (model, method, ε, target, figure and sweep).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1, this machine only; anything else exposes your "
                             "photos to the network and needs --allow-host too)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free port)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer requests addressed to this host name (repeatable)")
    parser.add_argument("--keep", type=float, default=60.0, metavar="MINUTES",
                        help="delete a finished job's files this long after it ended (default: 60)")
    parser.add_argument("--queue", type=int, default=4, help="cloak jobs that may wait (default: 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default: 1; on a shared 2-core machine more threads are far slower)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import webbrowser

    import torch
    import uvicorn

    from camo.errors import InputError
    from camo.serve import ServeSettings, create_app

    if args.threads < 1:
        raise InputError(f"--threads must be >= 1; got {args.threads}")
    if not ServeSettings(host=args.host, port=args.port).loopback and not args.allow_host:
        raise InputError(f"--host {args.host} lets other machines reach this server, which has no login: add "
                         "--allow-host NAME (the name they will use) to do that on purpose")
    torch.set_num_threads(args.threads)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # Bind first: the real port is known before the app is built (its Host check needs it; --port 0 picks one).
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as err:
        sock.close()
        raise InputError(f"cannot listen on {args.host}:{args.port} ({err.strerror}); try another --port") from None
    sock.listen(128)
    port = sock.getsockname()[1]
    settings = ServeSettings(host=args.host, port=port, allowed_hosts=tuple(args.allow_host),
                             keep_seconds=args.keep * 60, queue_size=args.queue)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else shown_host}:{port}/"
    screen = console()
    if not settings.loopback:
        screen.print(f"warning: listening on {args.host}: other machines can reach this server")
    screen.print(f"camo serve: {url}  (API: {url}docs; Ctrl-C stops and deletes all uploads and results)")
    if args.open:
        webbrowser.open(url)  # the socket already listens: the browser's request waits for the server
    # Ctrl-C waits at most 3 s for open connections (a page following a job) before the lifespan deletes all.
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning" if args.quiet else "info",
                                           access_log=not args.quiet, lifespan="on", timeout_graceful_shutdown=3))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn shut down (the lifespan deleted every job), re-raised
        server.run(sockets=[sock])
    screen.print("camo serve: stopped; every upload and result was deleted")
    return 0
