using System.Text;
using Miosa.HostAgent.Ingress;
using Miosa.HostAgent.Sandboxes;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.HostAgent.Tests.Ingress;

/// <summary>
/// One sandbox running a small python3 (stdlib only) app, and the node ingress on loopback port 0
/// as <see cref="NodeIngressServer"/> runs it on a node. The app serves <c>/workspace</c> on port
/// 3000 plus a few test routes (SSE, bulk bodies, a WebSocket echo, the Host it saw), and a raw
/// TCP greeter/echo on port 4000 that speaks first and echoes until EOF.
/// </summary>
public sealed class PortBridgeFixture : IAsyncLifetime
{
    public const string Secret = "port-bridge-test-secret";
    public const int HttpPort = 3000;
    public const int RawPort = 4000;

    private const string App = """
        import base64, hashlib, http.server, os, socket, socketserver, struct, sys, threading
        from urllib.parse import urlparse, parse_qs

        released = {}
        lock = threading.Lock()

        def gate(name):
            with lock:
                return released.setdefault(name, threading.Event())

        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def reply(self, body, status=200, headers=()):
                self.send_response(status)
                self.send_header('Content-Length', str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                q = parse_qs(url.query)
                if url.path == '/host':
                    self.reply(('%s|%s|%s' % (self.headers.get('Host'), self.headers.get('X-Miosa-Node-Token', '<none>'), self.path)).encode())
                elif url.path == '/events':
                    name = q['name'][0]
                    self.send_response(200)
                    self.send_header('Content-Type', 'text/event-stream')
                    self.send_header('Cache-Control', 'no-cache')
                    self.send_header('Connection', 'close')
                    self.end_headers()
                    self.wfile.write(b'data: first\n\n')
                    self.wfile.flush()
                    gate(name).wait(30)
                    self.wfile.write(b'data: second\n\n')
                    self.close_connection = True
                elif url.path == '/release':
                    gate(q['name'][0]).set()
                    self.reply(b'released')
                elif url.path == '/download':
                    size = int(q['size'][0])
                    block = hashlib.sha256(b'miosa').digest() * 32768
                    data = (block * (size // len(block) + 1))[:size]
                    self.reply(data, headers=[('Content-Type', 'application/octet-stream'), ('X-Sha256', hashlib.sha256(data).hexdigest())])
                elif url.path == '/ws':
                    self.websocket()
                else:
                    super().do_GET()

            def do_POST(self):
                left = int(self.headers['Content-Length'])
                digest = hashlib.sha256()
                total = 0
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
                    total += len(chunk)
                self.reply(('%d %s' % (total, digest.hexdigest())).encode())

            def websocket(self):
                accept = base64.b64encode(hashlib.sha1((self.headers['Sec-WebSocket-Key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
                self.send_response(101)
                self.send_header('Upgrade', 'websocket')
                self.send_header('Connection', 'Upgrade')
                self.send_header('Sec-WebSocket-Accept', accept)
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                r = self.rfile
                while True:
                    head = r.read(2)
                    if len(head) < 2:
                        return
                    op, n = head[0] & 15, head[1] & 127
                    if n == 126:
                        n = struct.unpack('>H', r.read(2))[0]
                    elif n == 127:
                        n = struct.unpack('>Q', r.read(8))[0]
                    mask = r.read(4) if head[1] & 128 else b'\0\0\0\0'
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(r.read(n)))
                    if op == 8:
                        self.wfile.write(bytes([0x88, len(data[:125])]) + data[:125])
                        return
                    if op == 9:
                        op = 10
                    header = bytes([0x80 | op])
                    if n < 126:
                        header += bytes([n])
                    elif n < 65536:
                        header += bytes([126]) + struct.pack('>H', n)
                    else:
                        header += bytes([127]) + struct.pack('>Q', n)
                    self.wfile.write(header + data)

        class Greeter(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b'hello from the sandbox\n')
                while True:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        break
                    self.request.sendall(chunk)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        raw = socketserver.ThreadingTCPServer(('127.0.0.1', 4000), Greeter)
        raw.daemon_threads = True
        threading.Thread(target=raw.serve_forever, daemon=True).start()
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 3000), Handler)
        server.daemon_threads = True
        server.serve_forever()
        """;

    private readonly SandboxFixture _sandboxes = new();

    public JailSandboxDriver Driver => _sandboxes.Driver;

    public NodeIngressServer Ingress { get; private set; } = null!;

    public string SandboxId { get; private set; } = null!;

    public SandboxAgentClient Client { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The ingress path of a sandbox port, e.g. <c>/node/v1/sandboxes/{id}/ports/3000/</c>.</summary>
    public string PortPath(int port, string? id = null) => $"{NodeIngress.PathPrefix}/{id ?? SandboxId}/ports/{port}";

    public async Task InitializeAsync()
    {
        await _sandboxes.InitializeAsync();
        Ingress = await NodeIngressServer.StartAsync(_sandboxes.Driver, Secret, "127.0.0.1", 0);
        Http = new HttpClient { BaseAddress = new Uri(Ingress.Url), Timeout = TimeSpan.FromSeconds(60) };
        Http.DefaultRequestHeaders.Add(NodeIngress.TokenHeader, Secret);

        var spec = SandboxFixture.Spec();
        SandboxId = spec.SandboxId;
        Client = await _sandboxes.StartAsync(spec);
        await Client.WriteFileAsync("app.py", new MemoryStream(Encoding.UTF8.GetBytes(App)), CancellationToken.None);
        await Client.WriteFileAsync("site/hello.txt", new MemoryStream(Encoding.UTF8.GetBytes("hello through the bridge\n")), CancellationToken.None);
        await Client.StartBackgroundAsync(ExecRequest.Shell("exec python3 /workspace/app.py", TimeSpan.Zero), CancellationToken.None);
        await WaitListeningAsync(HttpPort);
        await WaitListeningAsync(RawPort);
    }

    private async Task WaitListeningAsync(int port)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                await using var stream = await Client.ConnectPortAsync(port, CancellationToken.None);
                return;
            }
            catch (SandboxPortClosedException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(50);
            }
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Ingress is not null)
        {
            await Ingress.DisposeAsync();
        }

        await _sandboxes.DisposeAsync();
    }
}
