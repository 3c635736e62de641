#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal of a fixed size, as a user at a terminal would.

Presses Ctrl+C (writes 0x03 to the terminal, so the line discipline sends SIGINT to the foreground
process) each time the output shows the next --ctrl-c-after text, writes every byte the terminal
received to --output, and prints the command's exit status on stdout as "exit=N" (128+N for a signal).
Bounded by --timeout: past it, the command is killed and the status is "exit=timeout".

Used by Busbar.Cli.Tests (TerminalTests); standard library only.
"""
import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cols", type=int, default=80)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--output", required=True)
    parser.add_argument("--ctrl-c-after", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command and args.command[0] == "--" else args.command

    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(sys.stdout.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", args.rows, args.cols, 0, 0))
        # A runner started in the background may pass SIGINT down as ignored; a terminal user's Ctrl+C is not.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.environ.setdefault("TERM", "xterm-256color")
        if os.environ.get("TERM") == "dumb":
            os.environ["TERM"] = "xterm-256color"
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
        os.execvp(command[0], command)

    output = bytearray()
    presses = [text.encode() for text in args.ctrl_c_after]
    searched_from = 0
    deadline = time.monotonic() + args.timeout
    status = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout"
            break
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            output.extend(chunk)
        if presses:
            found = output.find(presses[0], searched_from)
            if found >= 0:
                searched_from = found + len(presses[0])
                presses.pop(0)
                os.write(fd, b"\x03")

    if status is None:
        _, raw = os.waitpid(pid, 0)
        status = os.waitstatus_to_exitcode(raw)
        if status < 0:
            status = 128 - status
    with open(args.output, "wb") as f:
        f.write(bytes(output))
    print(f"exit={status}")


if __name__ == "__main__":
    main()
