namespace Miosa.Bench.Edge;

/// <summary>
/// The app the previews show: a small static answer (23 bytes of text) on several ports, from
/// python3's http.server (threads, as tests/Miosa.Api.Tests/PreviewApp.cs) or node's http module,
/// started in the sandbox through the API like a coding agent would start a dev server.
/// </summary>
public static class SandboxApp
{
    public const string Body = "hello from the sandbox\n";

    // One ThreadingHTTPServer per port (a thread per connection), keep-alive; Nagle off so the
    // headers and the body do not wait for a delayed ACK.
    private const string Python = """
        import http.server, sys, threading

        BODY = b'hello from the sandbox\n'

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

        def ports(args):
            for arg in args:
                first, _, last = arg.partition('-')
                yield from range(int(first), int(last or first) + 1)

        servers = [http.server.ThreadingHTTPServer(('127.0.0.1', p), Handler) for p in ports(sys.argv[1:])]
        for server in servers[1:]:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[0].serve_forever()
        """;

    private const string Node = """
        const http = require('http');
        const body = Buffer.from('hello from the sandbox\n');
        const ports = process.argv.slice(2).flatMap(arg => {
          const [first, last] = arg.split('-').map(Number);
          return Array.from({ length: (last || first) - first + 1 }, (_, i) => first + i);
        });
        for (const port of ports) {
          const server = http.createServer((req, res) => {
            res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
            res.end(body);
          });
          server.keepAliveTimeout = 0;
          server.listen(port, '127.0.0.1');
        }
        """;

    public static string Describe(string kind) => kind == "node"
        ? "node's http module (one thread, event loop), 23-byte text answer"
        : "python3 http.server (ThreadingHTTPServer, a thread per connection), 23-byte text answer";

    /// <summary>Writes the app, starts it on the ports ("3000", "4000-4049") and returns once the first port answers.</summary>
    public static async Task StartAsync(EdgeApi api, string sandboxId, string kind, IReadOnlyList<string> ports, CancellationToken ct)
    {
        var (file, script, interpreter) = kind == "node" ? ("edgeapp.js", Node, "node") : ("edgeapp.py", Python, "python3");
        await api.UploadAsync(sandboxId, file, script, ct);
        await api.StartBackgroundAsync(sandboxId, $"exec {interpreter} {file} {string.Join(' ', ports)}", ct);
        var first = ports[0].Split('-')[0];
        var exit = await api.ExecAsync(sandboxId,
            $"for i in $(seq 200); do curl -sf http://127.0.0.1:{first}/ >/dev/null && exit 0; sleep 0.05; done; exit 1", ct);
        if (exit != 0) throw new InvalidOperationException($"the {interpreter} app in {sandboxId} did not answer on port {first} within 10 s");
    }
}
