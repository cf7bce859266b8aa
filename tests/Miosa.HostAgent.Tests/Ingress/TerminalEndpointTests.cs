using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Miosa.HostAgent.Ingress;
using Miosa.HostAgent.Sandboxes;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.HostAgent.Tests.Ingress;

/// <summary>The node ingress's terminal WebSocket, on loopback as a node runs it, into one sandbox.</summary>
public sealed class TerminalEndpointTests(TerminalEndpointTests.Node node) : IClassFixture<TerminalEndpointTests.Node>
{
    private const string Secret = "terminal-test-secret";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public sealed class Node : IAsyncLifetime
    {
        private readonly SandboxFixture _sandboxes = new();

        public NodeIngressServer Ingress { get; private set; } = null!;

        public string SandboxId { get; private set; } = null!;

        public SandboxAgentClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            await _sandboxes.InitializeAsync();
            Ingress = await NodeIngressServer.StartAsync(_sandboxes.Driver, Secret, "127.0.0.1", 0);
            var spec = SandboxFixture.Spec();
            SandboxId = spec.SandboxId;
            Client = await _sandboxes.StartAsync(spec);
        }

        public async Task DisposeAsync()
        {
            if (Ingress is not null)
            {
                await Ingress.DisposeAsync();
            }

            await _sandboxes.DisposeAsync();
        }
    }

    private static Dictionary<string, string> NodeToken => new() { [NodeIngress.TokenHeader] = Secret };

    private Uri Url(string query = "", string? id = null, string scheme = "ws") =>
        new($"{node.Ingress.Url.Replace("http", scheme, StringComparison.Ordinal)}{NodeIngress.PathPrefix}/{id ?? node.SandboxId}/terminal{query}");

    [Fact]
    public async Task A_session_runs_commands_resizes_and_reports_the_exit()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var terminal = await TerminalSocket.ConnectAsync(Url("?cols=90&rows=20"), cts.Token, NodeToken);

        // Type once the shell prompts: input that arrives while bash starts up can be lost on a busy machine.
        await terminal.WaitForAsync("$ ", cts.Token);
        await terminal.TypeAsync("stty size; echo $((6*7))\n", cts.Token);
        await terminal.WaitForAsync("20 90\r\n42\r\n", cts.Token);
        await terminal.ResizeAsync(120, 40, cts.Token);
        // Control messages of newer clients are ignored, not fatal.
        await terminal.SendControlAsync("""{"type":"ping"}""", cts.Token);
        await terminal.TypeAsync("stty size\n", cts.Token);
        await terminal.WaitForAsync("40 120\r\n", cts.Token);
        await terminal.TypeAsync("exit 7\n", cts.Token);

        Assert.Equal(7, await terminal.WaitForCloseAsync(cts.Token));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, terminal.Socket.CloseStatus);
    }

    [Fact]
    public async Task A_client_closing_during_a_flood_of_output_ends_the_program()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var terminal = await TerminalSocket.ConnectAsync(Url(), cts.Token, NodeToken);
        await terminal.TypeAsync("yes miosa-flood\n", cts.Token);
        await terminal.WaitForAsync("miosa-flood\r\nmiosa-flood\r\nmiosa-flood\r\n", cts.Token);

        await terminal.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "enough", cts.Token);

        Assert.Equal(WebSocketState.Closed, terminal.Socket.State);
        var until = DateTime.UtcNow + Patience;
        const string Count = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | grep -c '^yes miosa-flood' || true";
        var left = (await node.Client.RunAsync(Count)).Stdout.Trim();
        while (left != "0" && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
            left = (await node.Client.RunAsync(Count)).Stdout.Trim();
        }

        Assert.Equal("0", left);
    }

    [Fact]
    public async Task A_broken_control_message_closes_the_session_with_1007()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var terminal = await TerminalSocket.ConnectAsync(Url(), cts.Token, NodeToken);

        await terminal.SendControlAsync("""{"type":"resize","cols":0,"rows":24}""", cts.Token);

        Assert.Null(await terminal.WaitForCloseAsync(cts.Token));
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, terminal.Socket.CloseStatus);
        Assert.Contains("cols and rows", terminal.Socket.CloseStatusDescription);
    }

    [Fact]
    public async Task Refusals_come_before_the_upgrade()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(Url()));
        Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(Url(), new Dictionary<string, string> { [NodeIngress.TokenHeader] = "wrong" }));
        Assert.Equal(HttpStatusCode.Conflict, await TerminalSocket.UpgradeStatusAsync(Url(id: SandboxFixture.NewId()), NodeToken));
        Assert.Equal(HttpStatusCode.BadRequest, await TerminalSocket.UpgradeStatusAsync(Url("?cols=0"), NodeToken));

        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(NodeIngress.TokenHeader, Secret);
        await AssertProblemAsync(await http.GetAsync(Url("?rows=1001", scheme: "http")), HttpStatusCode.BadRequest, "invalid_request", "rows");
        await AssertProblemAsync(await http.GetAsync(Url("?cols=x", scheme: "http")), HttpStatusCode.BadRequest, "invalid_request", "cols");
        await AssertProblemAsync(await http.GetAsync(Url(scheme: "http")), HttpStatusCode.BadRequest, "websocket_required", null);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? field)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {text}");
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        if (field is not null)
        {
            Assert.Equal(field, problem.GetProperty("field").GetString());
        }
    }
}
