using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Miosa.HostAgent.Tests.Ingress;

/// <summary>
/// A terminal client over a real WebSocket, speaking docs/terminal.md as xterm.js glue would:
/// keys as binary messages, resize as a JSON text message; it collects the screen's bytes and the
/// exit message. Shared with Miosa.Api.Tests (linked).
/// </summary>
public sealed class TerminalSocket : IAsyncDisposable
{
    private readonly StringBuilder _text = new();
    private readonly byte[] _buffer = new byte[64 * 1024];

    private TerminalSocket(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    /// <summary>Everything the terminal printed so far.</summary>
    public string Text => _text.ToString();

    /// <summary>The code of the exit message, once it came.</summary>
    public int? ExitCode { get; private set; }

    /// <summary>Opens the terminal; <paramref name="headers"/> are sent with the upgrade request.</summary>
    public static async Task<TerminalSocket> ConnectAsync(Uri url, CancellationToken ct, IReadOnlyDictionary<string, string>? headers = null)
    {
        var socket = new ClientWebSocket();
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            socket.Options.SetRequestHeader(name, value);
        }

        try
        {
            await socket.ConnectAsync(url, ct);
            return new TerminalSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The HTTP status the server answers an upgrade with: 101 when it accepts, else why it refuses.</summary>
    public static async Task<HttpStatusCode> UpgradeStatusAsync(Uri url, IReadOnlyDictionary<string, string>? headers = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            socket.Options.SetRequestHeader(name, value);
        }

        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await socket.ConnectAsync(url, cts.Token);
            return socket.HttpStatusCode;
        }
        catch (WebSocketException)
        {
            return socket.HttpStatusCode;
        }
    }

    public async Task TypeAsync(string keys, CancellationToken ct) =>
        await Socket.SendAsync(Encoding.UTF8.GetBytes(keys), WebSocketMessageType.Binary, endOfMessage: true, ct);

    public async Task ResizeAsync(int cols, int rows, CancellationToken ct) =>
        await SendControlAsync(JsonSerializer.Serialize(new { type = "resize", cols, rows }), ct);

    public async Task SendControlAsync(string json, CancellationToken ct) =>
        await Socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, ct);

    /// <summary>Reads until the screen shows <paramref name="expected"/>.</summary>
    public async Task WaitForAsync(string expected, CancellationToken ct)
    {
        while (!Text.Contains(expected, StringComparison.Ordinal))
        {
            if (!await ReceiveAsync(ct)) Assert.Fail($"the terminal closed ({Socket.CloseStatus} {Socket.CloseStatusDescription}) before '{expected}':\n{Text}");
        }
    }

    /// <summary>Reads until the server closes; returns the exit message's code (null if none came).</summary>
    public async Task<int?> WaitForCloseAsync(CancellationToken ct)
    {
        while (await ReceiveAsync(ct))
        {
        }

        return ExitCode;
    }

    /// <summary>One message: screen bytes or a control message. False once the server closed (the close is answered).</summary>
    private async Task<bool> ReceiveAsync(CancellationToken ct)
    {
        using var message = new MemoryStream();
        ValueWebSocketReceiveResult result;
        do
        {
            result = await Socket.ReceiveAsync(_buffer.AsMemory(), ct);
            message.Write(_buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        switch (result.MessageType)
        {
            case WebSocketMessageType.Close:
                if (Socket.State == WebSocketState.CloseReceived)
                {
                    await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct);
                }

                return false;
            case WebSocketMessageType.Binary:
                _text.Append(Encoding.UTF8.GetString(message.ToArray()));
                return true;
            default:
                var control = JsonDocument.Parse(message.ToArray()).RootElement;
                Assert.Equal("exit", control.GetProperty("type").GetString());
                Assert.Null(ExitCode);
                ExitCode = control.GetProperty("code").GetInt32();
                return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Socket.State == WebSocketState.Open)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // Gone already.
            }
        }

        Socket.Dispose();
    }
}
