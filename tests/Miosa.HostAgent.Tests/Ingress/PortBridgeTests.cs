using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Miosa.HostAgent.Ingress;
using Miosa.HostAgent.Sandboxes;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.HostAgent.Tests.Ingress;

/// <summary>The port bridge: the host reaches TCP ports inside a sandbox through its agent, and the node ingress proxies HTTP to them.</summary>
public sealed class PortBridgeTests(PortBridgeFixture fixture) : IClassFixture<PortBridgeFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_raw_connection_carries_bytes_both_ways_and_half_closes()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var stream = await fixture.Client.ConnectPortAsync(PortBridgeFixture.RawPort, cts.Token);

        // The app speaks first: its greeting must not be lost to the agent's framing.
        var greeting = await ReadLineAsync(stream, cts.Token);
        await stream.WriteAsync(Encoding.UTF8.GetBytes("ping pong"), cts.Token);
        ((NetworkStream)stream).Socket.Shutdown(SocketShutdown.Send);
        var echoed = await ReadToEndAsync(stream, cts.Token);

        Assert.Equal("hello from the sandbox", greeting);
        Assert.Equal("ping pong", echoed);
    }

    [Fact]
    public async Task Closing_the_stream_closes_the_apps_connection()
    {
        using var cts = new CancellationTokenSource(Patience);
        var stream = await fixture.Client.ConnectPortAsync(PortBridgeFixture.RawPort, cts.Token);
        Assert.Equal("hello from the sandbox", await ReadLineAsync(stream, cts.Token));
        Assert.NotEqual("0", await EstablishedOnRawPortAsync());

        await stream.DisposeAsync();

        var until = DateTime.UtcNow.AddSeconds(10);
        while (await EstablishedOnRawPortAsync() != "0" && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        Assert.Equal("0", await EstablishedOnRawPortAsync());
    }

    /// <summary>TCP connections in state ESTABLISHED to or from port 4000 (0FA0) inside the sandbox.</summary>
    private async Task<string> EstablishedOnRawPortAsync() =>
        (await fixture.Client.RunAsync("awk '$4 == \"01\" && ($2 ~ /:0FA0$/ || $3 ~ /:0FA0$/)' /proc/net/tcp | wc -l")).Stdout.Trim();

    [Fact]
    public async Task Connecting_to_a_closed_port_says_nothing_listens()
    {
        var e = await Assert.ThrowsAsync<SandboxPortClosedException>(() => fixture.Client.ConnectPortAsync(3999, CancellationToken.None));

        Assert.Equal(111, e.Errno); // ECONNREFUSED
        Assert.Contains("3999", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => fixture.Client.ConnectPortAsync(0, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => fixture.Client.ConnectPortAsync(65536, CancellationToken.None));
    }

    [Fact]
    public async Task A_file_is_served_through_the_ingress()
    {
        var response = await fixture.Http.GetAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + "/site/hello.txt");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello through the bridge\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_app_sees_the_public_host_the_path_and_query_but_never_the_node_token()
    {
        var plain = await fixture.Http.GetStringAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + "/host?a=1&b=x%20y");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.PortPath(PortBridgeFixture.HttpPort) + "/host");
        request.Headers.Add(SandboxPortProxy.OriginalHostHeader, "3000-sbx.preview.example.com");
        var forwarded = await (await fixture.Http.SendAsync(request)).Content.ReadAsStringAsync();

        Assert.Equal("localhost:3000|<none>|/host?a=1&b=x%20y", plain);
        Assert.Equal("3000-sbx.preview.example.com|<none>|/host", forwarded);
    }

    [Fact]
    public async Task Server_sent_events_arrive_before_the_response_ends()
    {
        using var cts = new CancellationTokenSource(Patience);
        var name = Guid.NewGuid().ToString("N");
        using var response = await fixture.Http.GetAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + $"/events?name={name}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        await using var body = await response.Content.ReadAsStreamAsync(cts.Token);

        // The server holds the second event until told: the first one must already be here.
        var first = await ReadUntilAsync(body, "\n\n", cts.Token);
        var release = await fixture.Http.GetStringAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + $"/release?name={name}", cts.Token);
        var rest = await ReadToEndAsync(body, cts.Token);

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("data: first\n\n", first);
        Assert.Equal("released", release);
        Assert.Equal("data: second\n\n", rest);
    }

    [Fact]
    public async Task Large_bodies_stream_both_ways_intact()
    {
        const int size = 50 * 1024 * 1024;
        var upload = new byte[size];
        new Random(42).NextBytes(upload);
        using var content = new ByteArrayContent(upload);

        var posted = await fixture.Http.PostAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + "/upload", content);
        using var download = await fixture.Http.GetAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + $"/download?size={size}", HttpCompletionOption.ResponseHeadersRead);
        await using var body = await download.Content.ReadAsStreamAsync();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long received = 0;
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            received += read;
        }

        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        Assert.Equal($"{size} {Convert.ToHexStringLower(SHA256.HashData(upload))}", await posted.Content.ReadAsStringAsync());
        Assert.Equal(size, received);
        Assert.Equal(download.Headers.GetValues("X-Sha256").Single(), Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    [Fact]
    public async Task A_websocket_upgrade_passes_through_and_echoes()
    {
        using var cts = new CancellationTokenSource(Patience);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader(NodeIngress.TokenHeader, PortBridgeFixture.Secret);
        var url = new Uri(new Uri(fixture.Ingress.Url.Replace("http://", "ws://", StringComparison.Ordinal)), fixture.PortPath(PortBridgeFixture.HttpPort) + "/ws");
        await socket.ConnectAsync(url, cts.Token);

        var big = new string('x', 70_000);
        var replies = new List<string>();
        foreach (var message in new[] { "hello over the bridge", big })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, endOfMessage: true, cts.Token);
            replies.Add(await ReceiveTextAsync(socket, cts.Token));
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);

        Assert.Equal("hello over the bridge", replies[0]);
        Assert.Equal(big, replies[1]);
        Assert.Equal(WebSocketState.Closed, socket.State);
    }

    [Fact]
    public async Task Nothing_listening_answers_502_app_not_listening()
    {
        var response = await fixture.Http.GetAsync(fixture.PortPath(3999) + "/");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("app_not_listening", await CodeAsync(response));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("70000")]
    [InlineData("http")]
    public async Task A_bad_port_answers_400(string port)
    {
        var response = await fixture.Http.GetAsync($"{NodeIngress.PathPrefix}/{fixture.SandboxId}/ports/{port}/");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", await CodeAsync(response));
    }

    [Fact]
    public async Task A_wrong_node_token_answers_401_and_reaches_nothing()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.PortPath(PortBridgeFixture.HttpPort) + "/site/hello.txt");
        request.Headers.Remove(NodeIngress.TokenHeader);
        request.Headers.Add(NodeIngress.TokenHeader, "not-the-secret");
        using var anonymous = new HttpClient { BaseAddress = fixture.Http.BaseAddress };

        var wrong = await fixture.Http.SendAsync(request);
        var missing = await anonymous.GetAsync(fixture.PortPath(PortBridgeFixture.HttpPort) + "/site/hello.txt");

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
    }

    [Fact]
    public async Task A_sandbox_not_running_here_answers_409()
    {
        var response = await fixture.Http.GetAsync(fixture.PortPath(PortBridgeFixture.HttpPort, SandboxFixture.NewId()) + "/");

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("sandbox_not_running", await CodeAsync(response));
    }

    [Fact]
    public async Task The_sandbox_still_cannot_reach_the_host_or_its_ingress()
    {
        var ingressPort = new Uri(fixture.Ingress.Url).Port;

        var run = await fixture.Client.RunAsync($"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {ingressPort}), timeout=2)\"");
        var interfaces = await fixture.Client.RunAsync("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("ConnectionRefusedError", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("lo", interfaces.Stdout.Trim());
    }

    [Fact]
    public async Task Exec_and_files_still_work_while_connections_are_open()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var held = await fixture.Client.ConnectPortAsync(PortBridgeFixture.RawPort, cts.Token);

        var run = await fixture.Client.RunAsync("echo still here", ct: cts.Token);
        var list = await fixture.Client.ListAsync("site", cts.Token);

        Assert.Equal("still here\n", run.Stdout);
        Assert.Contains(list, e => e.Name == "hello.txt");
        Assert.Equal("hello from the sandbox", await ReadLineAsync(held, cts.Token));
    }

    private static async Task<string> CodeAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("code").GetString()!;
    }

    private static async Task<string> ReadLineAsync(Stream stream, CancellationToken ct) =>
        (await ReadUntilAsync(stream, "\n", ct)).TrimEnd('\n');

    /// <summary>Reads byte by byte up to and including <paramref name="end"/>: nothing past it is consumed.</summary>
    private static async Task<string> ReadUntilAsync(Stream stream, string end, CancellationToken ct)
    {
        var text = new StringBuilder();
        var one = new byte[1];
        while (!text.ToString().EndsWith(end, StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, ct) == 0)
            {
                throw new EndOfStreamException($"Stream ended after '{text}'.");
            }

            text.Append((char)one[0]);
        }

        return text.ToString();
    }

    private static async Task<string> ReadToEndAsync(Stream stream, CancellationToken ct)
    {
        using var all = new MemoryStream();
        await stream.CopyToAsync(all, ct);
        return Encoding.UTF8.GetString(all.ToArray());
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket, CancellationToken ct)
    {
        using var message = new MemoryStream();
        var buffer = new byte[8192];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, ct);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        Assert.Equal(WebSocketMessageType.Text, result.MessageType);
        return Encoding.UTF8.GetString(message.ToArray());
    }
}
