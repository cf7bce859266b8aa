using System.Buffers.Binary;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// A command to run on a pseudo-terminal in a sandbox: the leader of a new session whose
/// controlling terminal it is, as the sandbox's user, with the sandbox's environment and
/// <see cref="Env"/> over it, in <see cref="Cwd"/> (default <c>/workspace</c>).
/// </summary>
public sealed record TerminalRequest(IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string> Env, int Cols, int Rows, string? Cwd = null)
{
    /// <summary>Largest column or row count a terminal accepts (the kernel keeps them as 16 bits).</summary>
    public const int MaxSize = 0xFFFF;

    /// <summary>What a person gets: a login shell (<c>/bin/bash -l</c>, else <c>/bin/sh -l</c>) with <c>TERM=xterm-256color</c>.</summary>
    public static TerminalRequest LoginShell(int cols, int rows) =>
        new(File.Exists("/bin/bash") ? ["/bin/bash", "-l"] : ["/bin/sh", "-l"], new Dictionary<string, string> { ["TERM"] = "xterm-256color" }, cols, rows);
}

/// <summary>What a terminal said: output bytes (valid until the next read), or that its command exited.</summary>
public readonly record struct TerminalOutput(ReadOnlyMemory<byte> Data, int? ExitCode)
{
    public bool Exited => ExitCode is not null;
}

/// <summary>
/// One terminal in a sandbox, over its own agent connection. Reads and writes may run
/// concurrently (one reader); disposing closes the connection, and the agent then kills every
/// process of the terminal's session.
/// </summary>
public sealed class SandboxTerminalSession : IAsyncDisposable
{
    /// <summary>Input frames carry at most this much (the agent accepts 64 KiB).</summary>
    private const int InputChunk = 16 * 1024;

    private readonly SandboxAgentConnection _connection;
    private readonly SemaphoreSlim _sending = new(1, 1);
    private int? _exitCode;

    internal SandboxTerminalSession(SandboxAgentConnection connection, int pid)
    {
        _connection = connection;
        Pid = pid;
    }

    /// <summary>The terminal's command, as the sandbox numbers its processes.</summary>
    public int Pid { get; }

    /// <summary>The next output, or the exit code once the command exited and its output is drained.</summary>
    public async ValueTask<TerminalOutput> ReadAsync(CancellationToken ct)
    {
        if (_exitCode is { } done)
        {
            return new TerminalOutput(ReadOnlyMemory<byte>.Empty, done);
        }

        var frame = await _connection.ReadFrameAsync(ct).ConfigureAwait(false);
        switch (frame.Type)
        {
            case SandboxAgentProtocol.ReplyStdout:
                return new TerminalOutput(frame.Payload, null);
            case SandboxAgentProtocol.ReplyExit:
                _exitCode = (int)new SandboxAgentReader(frame.Payload.Span).UInt32();
                return new TerminalOutput(ReadOnlyMemory<byte>.Empty, _exitCode);
            default:
                throw SandboxAgentConnection.Unexpected(frame);
        }
    }

    /// <summary>Bytes typed into the terminal (keys, pastes, escape sequences).</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> input, CancellationToken ct)
    {
        await _sending.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            while (!input.IsEmpty)
            {
                var chunk = input[..Math.Min(input.Length, InputChunk)];
                await _connection.SendAsync(SandboxAgentProtocol.TerminalInput, chunk, ct).ConfigureAwait(false);
                input = input[chunk.Length..];
            }
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>The terminal's new size; its foreground program gets SIGWINCH.</summary>
    public async ValueTask ResizeAsync(int cols, int rows, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cols, TerminalRequest.MaxSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, TerminalRequest.MaxSize);
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)cols);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), (uint)rows);
        await _sending.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _connection.SendAsync(SandboxAgentProtocol.TerminalResize, payload, ct).ConfigureAwait(false);
        }
        finally
        {
            _sending.Release();
        }
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}

public static class SandboxTerminals
{
    /// <summary>
    /// Starts <paramref name="request"/> on a new pseudo-terminal in the sandbox and returns once it
    /// runs. Throws <see cref="SandboxAgentException"/> when the agent cannot (e.g. at the pids limit).
    /// </summary>
    public static async Task<SandboxTerminalSession> OpenTerminalAsync(this SandboxAgentClient client, TerminalRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Cols, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.Cols, TerminalRequest.MaxSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.Rows, TerminalRequest.MaxSize);
        var exec = SandboxAgentProtocol.ExecPayload(new ExecRequest(request.Argv, request.Cwd, request.Env, TimeSpan.Zero, null));
        var payload = new byte[8 + exec.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)request.Cols);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), (uint)request.Rows);
        exec.CopyTo(payload.AsSpan(8));

        var connection = await SandboxAgentConnection.OpenAsync(client.AgentSocket, ct).ConfigureAwait(false);
        try
        {
            await connection.SendAsync(SandboxAgentProtocol.Terminal, payload, ct).ConfigureAwait(false);
            var reply = await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);
            return new SandboxTerminalSession(connection, (int)new SandboxAgentReader(reply.Span).UInt32());
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
