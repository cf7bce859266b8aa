using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>
/// A small dev server (python3, stdlib only) started inside a real sandbox through the API: a page
/// that talks WebSocket back to its server, <c>/echo</c> answering what reached the app, and <c>/ws</c>
/// echoing messages with a "pong:" prefix.
/// </summary>
public static class PreviewApp
{
    private const string Server = """
        import base64, hashlib, http.server, json, struct, sys

        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith('/echo'):
                    body = json.dumps({'path': self.path, 'host': self.headers.get('Host'), 'cookie': self.headers.get('Cookie', ''),
                        'authorization': self.headers.get('Authorization', ''), 'token': self.headers.get('X-Miosa-Node-Token', '')}).encode()
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == '/ws':
                    self.websocket()
                else:
                    super().do_GET()

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
                    mask = r.read(4) if head[1] & 128 else b'\0\0\0\0'
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(r.read(n)))
                    if op == 8:
                        return
                    reply = b'pong:' + data
                    self.wfile.write(bytes([0x81, len(reply)]) + reply)
                    self.wfile.flush()

        http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
        """;

    public const string Page = """
        <!doctype html><html><head><title>dev app</title></head><body>
        <h1 id="title">Hello from the sandbox</h1><p id="ws">waiting</p>
        <script>
          const ws = new WebSocket(`ws://${location.host}/ws`);
          ws.onopen = () => ws.send('ping');
          ws.onmessage = e => { document.getElementById('ws').textContent = e.data; ws.close(); };
          ws.onerror = () => { document.getElementById('ws').textContent = 'error'; };
        </script></body></html>
        """;

    /// <summary>Writes the app into the sandbox's workspace and starts it on <paramref name="port"/>; returns once it answers.</summary>
    public static async Task StartAsync(HttpClient api, string sandboxId, int port)
    {
        Assert.Equal(HttpStatusCode.NoContent, (await api.PutAsync($"/v1/sandboxes/{sandboxId}/files?path=server.py", new StringContent(Server))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await api.PutAsync($"/v1/sandboxes/{sandboxId}/files?path=index.html", new StringContent(Page))).StatusCode);
        await api.PostJsonAsync($"/v1/sandboxes/{sandboxId}/exec", new { command = $"exec python3 server.py {port}", background = true }, HttpStatusCode.Accepted);
        var ready = await api.ExecAsync(sandboxId, new
        {
            command = $"for i in $(seq 100); do curl -sf http://127.0.0.1:{port}/echo >/dev/null && exit 0; sleep 0.05; done; exit 1",
        });
        Assert.Equal(0, ready.GetProperty("exit_code").GetInt32());
    }
}

/// <summary>
/// A browser-like HTTP client for preview URLs: it keeps cookies per host like a browser and
/// follows no redirects by itself; every connection goes to the edge on loopback whatever the host.
/// </summary>
public sealed class PreviewVisitor : IDisposable
{
    private readonly HttpClient _client;

    public PreviewVisitor(int edgePort)
    {
        Cookies = new CookieContainer();
        _client = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            CookieContainer = Cookies,
            UseProxy = false,
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(IPAddress.Loopback, edgePort, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        });
    }

    public CookieContainer Cookies { get; }

    public Task<HttpResponseMessage> GetAsync(string url, string? bearer = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (bearer is not null) request.Headers.Authorization = new("Bearer", bearer);
        return _client.SendAsync(request);
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request) => _client.SendAsync(request);

    /// <summary>Follows the token exchange's redirect like a browser would, then returns the page.</summary>
    public async Task<HttpResponseMessage> OpenAsync(string url)
    {
        var response = await GetAsync(url);
        return response.StatusCode == HttpStatusCode.Found ? await GetAsync(new Uri(new Uri(url), response.Headers.Location!).ToString()) : response;
    }

    public static async Task<JsonElement> EchoAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200 from the app, got {response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls until <paramref name="url"/> answers <paramref name="status"/> (routes reach the edge asynchronously).</summary>
    public async Task<HttpResponseMessage> WaitForAsync(string url, HttpStatusCode status, string? bearer = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var response = await GetAsync(url, bearer);
            if (response.StatusCode == status || DateTime.UtcNow > deadline)
            {
                Assert.True(response.StatusCode == status, $"{url}: expected {status}, still {response.StatusCode}");
                return response;
            }
            await Task.Delay(20);
        }
    }

    public void Dispose() => _client.Dispose();
}
