using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Miosa.Edge.Tests.Browser;

public class HeadlessChromiumTests
{
    [Fact]
    public async Task A_page_on_a_sandbox_localhost_name_reaches_a_loopback_server()
    {
        await using var site = await Site.StartAsync();
        await using var browser = await HeadlessChromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();

        // No --host-resolver-rules: Chromium resolves every *.localhost name to loopback itself.
        var status = await page.GotoAsync($"http://3000-abc.sandbox.localhost:{site.Port}/");

        Assert.Equal(200, status);
        Assert.Equal("Hello from the preview", await page.EvaluateAsync<string>("document.querySelector('#title').textContent"));
        Assert.Contains("<h1 id=\"title\">", await page.ContentAsync());
        Assert.Contains(site.Seen, r => r.Path == "/" && r.Host == $"3000-abc.sandbox.localhost:{site.Port}");
    }

    [Fact]
    public async Task An_HttpOnly_cookie_is_hidden_from_scripts_and_sent_only_to_its_own_host()
    {
        await using var site = await Site.StartAsync();
        await using var browser = await HeadlessChromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();
        var host = $"3000-abc.sandbox.localhost:{site.Port}";

        Assert.Equal(200, await page.GotoAsync($"http://{host}/set-cookie"));

        var cookie = Assert.Single(await page.CookiesAsync(), c => c.Name == "c");
        Assert.Equal(("v", "3000-abc.sandbox.localhost", "/", true), (cookie.Value, cookie.Domain, cookie.Path, cookie.HttpOnly));
        Assert.DoesNotContain("c=v", await page.EvaluateAsync<string>("document.cookie"));

        await page.GotoAsync($"http://{host}/echo");
        Assert.Contains(site.Seen, r => r.Path == "/echo" && r.Host == host && r.Cookie == "c=v");

        var otherHost = $"3001-xyz.sandbox.localhost:{site.Port}";
        await page.GotoAsync($"http://{otherHost}/echo");
        var other = Assert.Single(site.Seen, r => r.Path == "/echo" && r.Host == otherHost);
        Assert.Null(other.Cookie);
    }

    [Fact]
    public async Task A_page_script_talks_to_the_server_over_a_WebSocket()
    {
        await using var site = await Site.StartAsync();
        await using var browser = await HeadlessChromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();

        Assert.Equal(200, await page.GotoAsync($"http://3000-abc.sandbox.localhost:{site.Port}/socket"));

        await page.WaitForAsync("document.getElementById('out').textContent === 'pong:ping'", TimeSpan.FromSeconds(5));
        Assert.Contains(site.Seen, r => r.Path == "/ws" && r.Host == $"3000-abc.sandbox.localhost:{site.Port}");
    }

    [Fact]
    public async Task Failures_are_reported_with_what_was_awaited_instead_of_hanging()
    {
        await using var site = await Site.StartAsync();
        await using var browser = await HeadlessChromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();

        Assert.Equal(404, await page.GotoAsync($"http://3000-abc.sandbox.localhost:{site.Port}/missing"));
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => page.WaitForAsync("window.never === true", TimeSpan.FromMilliseconds(300)));
        Assert.Contains("window.never === true", timeout.Message);
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => page.EvaluateAsync<int>("missingFunction()"));
        Assert.Contains("missingFunction is not defined", thrown.Message);
        Assert.Equal(42, await page.EvaluateAsync<int>("new Promise(r => setTimeout(() => r(42), 10))"));
    }

    [Fact]
    public async Task Disposing_the_browser_ends_its_processes_and_deletes_its_profile()
    {
        // Disposing twice is harmless; `using` still cleans up if an assertion fails first.
        await using var browser = await HeadlessChromium.LaunchAsync();
        await using (var page = await browser.NewPageAsync())
            await page.GotoAsync("data:text/html,<p>hi</p>");
        var pid = browser.ProcessId;
        var descendants = DescendantsOf(pid);
        Assert.NotEmpty(descendants); // zygotes, renderers, network service
        var profile = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').Single(a => a.StartsWith("--user-data-dir=", StringComparison.Ordinal))["--user-data-dir=".Length..];
        Assert.True(Directory.Exists(profile));

        await browser.DisposeAsync();

        Assert.All(descendants.Append(pid), p => Assert.False(IsRunning(p), $"process {p} survived"));
        Assert.False(Directory.Exists(profile));
    }

    static List<int> DescendantsOf(int pid)
    {
        var found = new List<int>();
        var queue = new Queue<int>([pid]);
        while (queue.TryDequeue(out var parent))
        {
            foreach (var task in Directory.GetDirectories($"/proc/{parent}/task"))
            {
                foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    found.Add(int.Parse(child));
                    queue.Enqueue(int.Parse(child));
                }
            }
        }
        return found;
    }

    // A killed child stays a zombie until reaped; only a live one ("R", "S", "D"...) counts.
    static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }

    /// <summary>A real Kestrel on 127.0.0.1 that records the Host and Cookie of every request.</summary>
    sealed class Site(WebApplication app, int port, ConcurrentQueue<SeenRequest> seen) : IAsyncDisposable
    {
        public int Port { get; } = port;
        public IReadOnlyCollection<SeenRequest> Seen { get; } = seen;

        public static async Task<Site> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            // Port 0: the kernel picks a free port, so parallel test runs never collide.
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var seen = new ConcurrentQueue<SeenRequest>();
            app.Use((http, next) =>
            {
                var cookie = http.Request.Headers.Cookie.ToString();
                seen.Enqueue(new SeenRequest(http.Request.Path, http.Request.Host.Value ?? "", cookie.Length == 0 ? null : cookie));
                return next(http);
            });
            app.UseWebSockets();
            app.MapGet("/", () => Html("<h1 id=\"title\">Hello from the preview</h1>"));
            app.MapGet("/set-cookie", (HttpResponse response) =>
            {
                response.Headers.SetCookie = "c=v; HttpOnly; Path=/";
                return Html("<p>cookie set</p>");
            });
            app.MapGet("/echo", () => Html("<p>echo</p>"));
            app.MapGet("/socket", () => Html("""
                <p id="out">waiting</p>
                <script>
                  const ws = new WebSocket(`ws://${location.host}/ws`);
                  ws.onopen = () => ws.send('ping');
                  ws.onmessage = e => document.getElementById('out').textContent = e.data;
                </script>
                """));
            app.Map("/ws", EchoAsync);
            await app.StartAsync();
            return new Site(app, new Uri(app.Urls.First()).Port, seen);
        }

        public ValueTask DisposeAsync() => app.DisposeAsync();

        static IResult Html(string body) =>
            Results.Content($"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>", "text/html; charset=utf-8");

        static async Task EchoAsync(HttpContext http)
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            var received = await socket.ReceiveAsync(buffer, http.RequestAborted);
            var reply = Encoding.UTF8.GetBytes("pong:" + Encoding.UTF8.GetString(buffer, 0, received.Count));
            await socket.SendAsync(reply, WebSocketMessageType.Text, endOfMessage: true, http.RequestAborted);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", http.RequestAborted);
        }
    }

    sealed record SeenRequest(string Path, string Host, string? Cookie);
}
