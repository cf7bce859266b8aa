using System.Buffers;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Miosa.Actors.Terminals;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Ingress;

/// <summary>
/// <c>GET /node/v1/sandboxes/{id}/terminal?cols=&amp;rows=</c> (WebSocket, node token): a login shell
/// on a pseudo-terminal in the sandbox, through its agent. The protocol is docs/terminal.md: binary
/// messages are terminal bytes both ways, text messages JSON control (<c>resize</c> in,
/// <c>exit</c> out, then a normal close). Closing the WebSocket ends the shell and everything it started.
/// </summary>
public static class SandboxTerminalEndpoint
{
    /// <summary>How often the socket shows it is alive, so proxies and browsers keep an idle terminal open.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(20);

    private const int MaxControlMessage = 4096;
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);

    public static RouteHandlerBuilder MapSandboxTerminal(this IEndpointRouteBuilder sandboxes) =>
        sandboxes.MapGet("/{id}/terminal", ServeAsync);

    private static async Task<IResult> ServeAsync(string id, HttpContext http, ISandboxDriver driver)
    {
        var cols = Size(http, "cols", TerminalTokenKeys.DefaultCols);
        var rows = Size(http, "rows", TerminalTokenKeys.DefaultRows);
        if (cols is null) return Problems.Invalid("cols", $"cols must be an integer between 1 and {TerminalTokenKeys.MaxSize}.");
        if (rows is null) return Problems.Invalid("rows", $"rows must be an integer between 1 and {TerminalTokenKeys.MaxSize}.");
        if (driver.Find(id) is not { } running)
            return Problems.Of(409, "sandbox_not_running", $"Sandbox {id} is not running on this host.");
        if (!http.WebSockets.IsWebSocketRequest)
            return Problems.Of(400, "websocket_required", "The terminal is a WebSocket: connect with an Upgrade: websocket request.");

        SandboxTerminalSession session;
        try
        {
            session = await new SandboxAgentClient(running.AgentSocket)
                .OpenTerminalAsync(TerminalRequest.LoginShell(cols.Value, rows.Value), http.RequestAborted);
        }
        catch (SandboxAgentException e)
        {
            return e.AtProcessLimit
                ? Problems.Of(429, "process_limit_reached", "The sandbox is at its process limit; kill some of its processes and retry.")
                : Problems.Of(503, "sandbox_unavailable", $"The sandbox did not answer: {e.Message}");
        }

        await using (session)
        {
            using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = KeepAlive });
            await BridgeAsync(socket, session, http.RequestAborted);
        }
        return Results.Empty;
    }

    /// <summary>A size from the query: its default when absent, null when not 1 to <see cref="TerminalTokenKeys.MaxSize"/>.</summary>
    private static int? Size(HttpContext http, string name, int fallback)
    {
        var text = http.Request.Query[name].ToString();
        if (text.Length == 0) return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= TerminalTokenKeys.MaxSize
            ? value
            : null;
    }

    /// <summary>
    /// Carries the terminal over the WebSocket until one side ends it: the shell exits (exit message
    /// and a normal close), the client closes or goes away (the session is disposed, which kills the
    /// shell), or the agent fails (close 1011).
    /// </summary>
    internal static async Task BridgeAsync(WebSocket socket, SandboxTerminalSession session, CancellationToken aborted)
    {
        using var stopOutput = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var sending = new SemaphoreSlim(1, 1);
        var output = PumpOutputAsync(socket, session, sending, stopOutput.Token);
        var input = PumpInputAsync(socket, session, sending, aborted);
        if (await Task.WhenAny(output, input) == input)
        {
            // The client closed (or broke) the socket: stop reading the terminal, answer its close.
            await stopOutput.CancelAsync();
            if (!await FinishesAsync(output, aborted)) socket.Abort(); // a send to a client that no longer reads
            await output.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var reason = input.IsCompletedSuccessfully ? input.Result : null;
            await CloseAsync(socket, sending, reason ?? (WebSocketCloseStatus.NormalClosure, "closed"));
        }
        else if (!await FinishesAsync(input, aborted))
        {
            // The shell exited (exit message and close sent) or the agent failed, and the client
            // did not answer the close in time.
            socket.Abort();
        }
    }

    private static async Task<bool> FinishesAsync(Task task, CancellationToken aborted)
    {
        await task.WaitAsync(CloseGrace, aborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return task.IsCompleted;
    }

    /// <summary>Terminal output as binary messages; the exit as a text message and a normal close.</summary>
    private static async Task PumpOutputAsync(WebSocket socket, SandboxTerminalSession session, SemaphoreSlim sending, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                var next = await session.ReadAsync(ct);
                if (next.ExitCode is { } code)
                {
                    var exit = JsonSerializer.SerializeToUtf8Bytes(new { type = "exit", code });
                    await SendAsync(socket, sending, exit, WebSocketMessageType.Text);
                    await CloseAsync(socket, sending, (WebSocketCloseStatus.NormalClosure, "exited"));
                    return;
                }
                await SendAsync(socket, sending, next.Data, WebSocketMessageType.Binary);
            }
        }
        catch (SandboxAgentException)
        {
            await CloseAsync(socket, sending, (WebSocketCloseStatus.InternalServerError, "the sandbox ended the terminal"));
        }
    }

    /// <summary>
    /// Client messages until it closes: binary ones are typed into the terminal, text ones are
    /// control messages. Returns how to answer the client's close (null: a plain one), or a close
    /// of its own for a broken control message.
    /// </summary>
    private static async Task<(WebSocketCloseStatus, string)?> PumpInputAsync(WebSocket socket, SandboxTerminalSession session, SemaphoreSlim sending, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var control = new ArrayBufferWriter<byte>(256);
        try
        {
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer.AsMemory(), ct);
                switch (received.MessageType)
                {
                    case WebSocketMessageType.Close:
                        return null;
                    case WebSocketMessageType.Binary:
                        await session.WriteAsync(buffer.AsMemory(0, received.Count), ct);
                        break;
                    default:
                        if (control.WrittenCount + received.Count > MaxControlMessage)
                            return (WebSocketCloseStatus.MessageTooBig, $"control messages are at most {MaxControlMessage} bytes");
                        control.Write(buffer.AsSpan(0, received.Count));
                        if (!received.EndOfMessage) break;
                        var error = await ApplyControlAsync(control.WrittenMemory, session, ct);
                        control.Clear();
                        if (error is not null) return (WebSocketCloseStatus.InvalidPayloadData, error);
                        break;
                }
            }
        }
        catch (SandboxAgentException)
        {
            // The terminal is gone; the output side reports how it ended.
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Applies one control message; an error text for a malformed one. Unknown types are ignored (newer clients).</summary>
    private static async ValueTask<string?> ApplyControlAsync(ReadOnlyMemory<byte> message, SandboxTerminalSession session, CancellationToken ct)
    {
        int cols, rows;
        try
        {
            using var document = JsonDocument.Parse(message);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                return "a control message is a JSON object with a string \"type\"";
            if (type.GetString() != "resize") return null;
            if (!TryGetSize(root, "cols", out cols) || !TryGetSize(root, "rows", out rows))
                return $"resize needs integer cols and rows between 1 and {TerminalTokenKeys.MaxSize}";
        }
        catch (JsonException)
        {
            return "a control message must be JSON";
        }
        await session.ResizeAsync(cols, rows, ct);
        return null;
    }

    private static bool TryGetSize(JsonElement root, string name, out int value)
    {
        value = 0;
        return root.TryGetProperty(name, out var element) && element.ValueKind == JsonValueKind.Number
            && element.TryGetInt32(out value) && value is >= 1 and <= TerminalTokenKeys.MaxSize;
    }

    private static async Task SendAsync(WebSocket socket, SemaphoreSlim sending, ReadOnlyMemory<byte> message, WebSocketMessageType type)
    {
        await sending.WaitAsync();
        try
        {
            // Not cancelled from outside: cancelling a send aborts the whole WebSocket.
            await socket.SendAsync(message, type, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            sending.Release();
        }
    }

    private static async Task CloseAsync(WebSocket socket, SemaphoreSlim sending, (WebSocketCloseStatus Status, string Reason) close)
    {
        await sending.WaitAsync();
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseOutputAsync(close.Status, close.Reason, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client is already gone.
        }
        finally
        {
            sending.Release();
        }
    }
}
