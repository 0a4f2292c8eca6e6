/**
 * The Python driver, run as `python3 -u -c PYTHON_DRIVER TOKEN` (unbuffered: output reaches the
 * pipes as it is printed). Protocol with the agent (see code-context.ts):
 * - in: one JSON line per run on stdin, `{"code": "..."}`; the driver reads them from a private
 *   copy of stdin, and the code's own stdin is /dev/null (so `input()` cannot eat the next run).
 * - out: the code's output passes through stdout and stderr as is. At the end of a run the
 *   driver writes `\0TOKEN` + the result as JSON + `\n` on stdout, then `\0TOKEN\n` on stderr:
 *   once both are seen, every byte the run printed on either pipe has arrived.
 * The code runs in `__main__`'s namespace (pickle finds its classes), as files named
 * `<code-N>` whose source tracebacks show. SIGINT is KeyboardInterrupt during a run (how a
 * timeout interrupts) and ignored between runs. Kept to Python 3.6 syntax.
 */
export const PYTHON_DRIVER = String.raw`
def _paddock_main():
    import ast, builtins, json, linecache, os, signal, sys, traceback

    token = ("\0" + sys.argv.pop(1)).encode()
    sys.argv[0] = ""
    requests = open(os.dup(0), "rb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    ns = sys.modules["__main__"].__dict__
    me = sys._getframe().f_code.co_filename
    top_level_await = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    limit = int(sys.argv.pop(1)) if len(sys.argv) > 1 else 1 << 20
    loop = []

    def awaited(value):
        import inspect
        if not inspect.iscoroutine(value):
            return value
        import asyncio
        if not loop:
            loop.append(asyncio.new_event_loop())
        return loop[0].run_until_complete(value)

    def describe(exc):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == me:
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            tb = None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        return {"name": type(exc).__name__, "message": str(exc), "traceback": text}

    def run(code, n):
        name = "<code-%d>" % n
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        awaited(eval(compile(tree, name, "exec", top_level_await), ns))
        if last is None:
            return None
        value = awaited(eval(compile(last, name, "eval", top_level_await), ns))
        if value is None:
            return None
        text = repr(value)
        if len(text) > limit:
            text = text[:limit] + "... (cut at %d characters)" % limit
        return text

    def flush():
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass

    def write_all(fd, data):
        while data:
            data = data[os.write(fd, data):]

    n = 0
    while True:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        line = requests.readline()
        if not line:
            return
        n += 1
        result = {"value": None, "error": None}
        try:
            code = json.loads(line.decode("utf-8"))["code"]
            signal.signal(signal.SIGINT, signal.default_int_handler)
            result["value"] = run(code, n)
        except BaseException as exc:
            try:
                result["error"] = describe(exc)
            except BaseException:
                result["error"] = {"name": "Error", "message": "(an error that cannot be shown)", "traceback": ""}
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        flush()
        write_all(1, token + json.dumps(result).encode() + b"\n")
        write_all(2, token + b"\n")


globals().pop("_paddock_main")()
`;
