using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// The host's side of a sandbox's data plane: talks to miosa-init over the sandbox's agent socket
/// (<see cref="RunningSandbox.AgentSocket"/>). Stateless and thread-safe: every call is its own
/// connection, so calls run concurrently (a long exec does not block a file read).
/// </summary>
public sealed class SandboxAgentClient(string agentSocket)
{
    /// <summary>Most entries one list returns: what the sandbox sends is bounded before it reaches the host's memory.</summary>
    public const int MaxListEntries = 100_000;

    public string AgentSocket { get; } = agentSocket;

    /// <summary>Answers once the agent serves requests; throws <see cref="SandboxAgentException"/> if it does not.</summary>
    public async Task PingAsync(CancellationToken ct)
    {
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.Ping, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        var pong = await connection.ExpectAsync(SandboxAgentProtocol.ReplyPong, ct).ConfigureAwait(false);
        var version = new SandboxAgentReader(pong.Span).UInt32();
        if (version != SandboxAgentProtocol.Version)
        {
            throw new SandboxAgentException($"The sandbox agent speaks protocol {version}, expected {SandboxAgentProtocol.Version}.");
        }
    }

    /// <summary>
    /// Runs a process and streams its output to <paramref name="onOutput"/> as it is written; the
    /// process waits while the callback does (backpressure). Like ssh or docker exec, the exec
    /// ends when the process has exited and no child holds its stdout/stderr any more (so
    /// <c>server &amp;</c> holds it until the timeout, <c>server &gt;log 2&gt;&amp;1 &amp;</c> does not; or use
    /// <see cref="StartBackgroundAsync"/>). Cancelling <paramref name="ct"/> kills the process group
    /// and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<ExecResult> ExecAsync(ExecRequest request, Func<ExecOutputChunk, CancellationToken, ValueTask> onOutput, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(onOutput);
        var payload = SandboxAgentProtocol.ExecPayload(request);
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.Exec, payload, ct).ConfigureAwait(false);

        // Stdin goes out while output comes in: a process that writes before it reads must not deadlock.
        using var stdinCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var stdin = request.Stdin is { } input ? SendStdinAsync(connection, input, stdinCancel.Token) : Task.CompletedTask;
        try
        {
            while (true)
            {
                var frame = await connection.ReadFrameAsync(ct).ConfigureAwait(false);
                switch (frame.Type)
                {
                    case SandboxAgentProtocol.ReplyStdout:
                        await onOutput(new ExecOutputChunk(ExecStream.Stdout, frame.Payload), ct).ConfigureAwait(false);
                        break;
                    case SandboxAgentProtocol.ReplyStderr:
                        await onOutput(new ExecOutputChunk(ExecStream.Stderr, frame.Payload), ct).ConfigureAwait(false);
                        break;
                    case SandboxAgentProtocol.ReplyExit:
                        var reader = new SandboxAgentReader(frame.Payload.Span);
                        var exitCode = (int)reader.UInt32();
                        var timedOut = reader.Byte() != 0;
                        var micros = reader.Int64();
                        return new ExecResult(exitCode, timedOut, TimeSpan.FromTicks(Math.Max(0, micros) * 10));
                    default:
                        throw SandboxAgentConnection.Unexpected(frame);
                }
            }
        }
        finally
        {
            await stdinCancel.CancelAsync().ConfigureAwait(false);
            await stdin.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static async Task SendStdinAsync(SandboxAgentConnection connection, ReadOnlyMemory<byte> input, CancellationToken ct)
    {
        try
        {
            while (!input.IsEmpty)
            {
                var chunk = input[..Math.Min(input.Length, SandboxAgentProtocol.UploadChunk)];
                await connection.SendAsync(SandboxAgentProtocol.Stdin, chunk, ct).ConfigureAwait(false);
                input = input[chunk.Length..];
            }

            await connection.SendAsync(SandboxAgentProtocol.StdinEnd, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxAgentException or OperationCanceledException or ObjectDisposedException)
        {
            // The process ended (or the exec was cancelled) before reading all of its stdin.
        }
    }

    /// <summary>Starts a detached process (own process group, output to its log file) and returns its pid.</summary>
    public async Task<int> StartBackgroundAsync(ExecRequest request, CancellationToken ct)
    {
        var payload = SandboxAgentProtocol.ExecPayload(request);
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.Spawn, payload, ct).ConfigureAwait(false);
        var reply = await connection.ExpectAsync(SandboxAgentProtocol.ReplySpawned, ct).ConfigureAwait(false);
        return (int)new SandboxAgentReader(reply.Span).UInt32();
    }

    /// <summary>The background processes the agent started (the most recent 1024), running or not.</summary>
    public async Task<IReadOnlyList<SandboxProcess>> ListProcessesAsync(CancellationToken ct)
    {
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.Processes, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        var processes = new List<SandboxProcess>();
        while (true)
        {
            var frame = await connection.ReadFrameAsync(ct).ConfigureAwait(false);
            if (frame.Type == SandboxAgentProtocol.ReplyEnd)
            {
                return processes;
            }

            if (frame.Type != SandboxAgentProtocol.ReplyProcess)
            {
                throw SandboxAgentConnection.Unexpected(frame);
            }

            if (processes.Count >= MaxListEntries)
            {
                throw new SandboxAgentException("The sandbox agent listed too many processes.");
            }

            processes.Add(ReadProcess(frame.Payload.Span));
        }
    }

    private static SandboxProcess ReadProcess(ReadOnlySpan<byte> payload)
    {
        var reader = new SandboxAgentReader(payload);
        var pid = (int)reader.UInt32();
        var startedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.Int64());
        var running = reader.Byte() != 0;
        var exitCode = (int)reader.UInt32();
        var argc = reader.UInt32();
        var argv = new List<string>();
        for (var i = 0u; i < argc; i++)
        {
            argv.Add(reader.String());
        }

        return new SandboxProcess(pid, argv, startedAt, running, running ? null : exitCode);
    }

    /// <summary>SIGKILLs the process group of a background process; false if the agent never started that pid.</summary>
    public async Task<bool> KillProcessAsync(int pid, CancellationToken ct)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, pid);
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.Kill, payload, ct).ConfigureAwait(false);
        var reply = await connection.ExpectAsync(SandboxAgentProtocol.ReplyKilled, ct).ConfigureAwait(false);
        return new SandboxAgentReader(reply.Span).Byte() != 0;
    }

    /// <summary>
    /// SIGKILLs every process in the sandbox except its agent and returns once they are gone: the
    /// way out when a runaway process (a fork bomb) holds every pid, since the agent answers this
    /// without starting a process.
    /// </summary>
    public async Task KillAllProcessesAsync(CancellationToken ct)
    {
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.KillAll, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams <paramref name="content"/> into a file (parents created). The file appears whole at
    /// the end (written beside it, then renamed); path errors are thrown before any content is read.
    /// </summary>
    public async Task WriteFileAsync(string path, Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var payload = SandboxAgentProtocol.PathPayload(path);
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.WriteFile, payload, ct).ConfigureAwait(false);
        await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);

        // Two buffers: the next chunk is read from the caller while the previous one is being sent.
        const int header = SandboxAgentProtocol.HeaderSize;
        var buffers = new[]
        {
            ArrayPool<byte>.Shared.Rent(header + SandboxAgentProtocol.UploadChunk),
            ArrayPool<byte>.Shared.Rent(header + SandboxAgentProtocol.UploadChunk),
        };
        try
        {
            var sending = ValueTask.CompletedTask;
            var current = 0;
            while (true)
            {
                var buffer = buffers[current];
                var filled = 0;
                while (filled < SandboxAgentProtocol.UploadChunk)
                {
                    var read = await content.ReadAsync(buffer.AsMemory(header + filled, SandboxAgentProtocol.UploadChunk - filled), ct).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    filled += read;
                }

                await sending.ConfigureAwait(false);
                if (filled == 0)
                {
                    break;
                }

                SandboxAgentProtocol.WriteHeader(buffer, SandboxAgentProtocol.Data, filled);
                sending = connection.SendRawAsync(buffer.AsMemory(0, header + filled), ct);
                current ^= 1;
            }

            await connection.SendAsync(SandboxAgentProtocol.End, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        }
        catch (SandboxAgentException)
        {
            // The agent stops reading when the write fails (e.g. the disk is full) and says why.
            var frame = await connection.ReadFrameAsync(ct).ConfigureAwait(false);
            throw SandboxAgentConnection.Unexpected(frame);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
        }

        await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a file for streaming; a missing or unreadable file throws <see cref="SandboxFileException"/>
    /// here, before any byte is returned. Dispose the stream to close the connection.
    /// </summary>
    public async Task<Stream> OpenReadAsync(string path, CancellationToken ct)
    {
        var payload = SandboxAgentProtocol.PathPayload(path);
        var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        try
        {
            await connection.SendAsync(SandboxAgentProtocol.ReadFile, payload, ct).ConfigureAwait(false);
            var reply = await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);
            var size = new SandboxAgentReader(reply.Span).Int64();
            return new SandboxFileStream(connection, size);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The entries of a directory (not recursive), sorted by name; at most <see cref="MaxListEntries"/>.</summary>
    public async Task<IReadOnlyList<SandboxFileEntry>> ListAsync(string path, CancellationToken ct)
    {
        var payload = SandboxAgentProtocol.PathPayload(path);
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.ListDirectory, payload, ct).ConfigureAwait(false);
        await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);
        var entries = new List<SandboxFileEntry>();
        while (true)
        {
            var frame = await connection.ReadFrameAsync(ct).ConfigureAwait(false);
            if (frame.Type == SandboxAgentProtocol.ReplyEnd)
            {
                entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                return entries;
            }

            if (frame.Type != SandboxAgentProtocol.ReplyEntry)
            {
                throw SandboxAgentConnection.Unexpected(frame);
            }

            if (entries.Count >= MaxListEntries)
            {
                throw new SandboxFileException(SandboxFileError.Other, $"{path} has more than {MaxListEntries} entries.");
            }

            entries.Add(ReadEntry(frame.Payload.Span));
        }
    }

    private static SandboxFileEntry ReadEntry(ReadOnlySpan<byte> payload)
    {
        var reader = new SandboxAgentReader(payload);
        var type = reader.Byte() switch
        {
            1 => "dir",
            2 => "symlink",
            _ => "file",
        };
        var size = reader.Int64();
        var mode = (int)reader.UInt32();
        var modified = DateTimeOffset.FromUnixTimeMilliseconds(reader.Int64());
        var name = reader.String();
        var fullPath = reader.String();
        return new SandboxFileEntry(name, fullPath, type, size, mode, modified);
    }

    /// <summary>Deletes a file, a symlink (not its target) or a directory with everything in it.</summary>
    public async Task DeleteAsync(string path, CancellationToken ct)
    {
        var payload = SandboxAgentProtocol.PathPayload(path);
        await using var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        await connection.SendAsync(SandboxAgentProtocol.Delete, payload, ct).ConfigureAwait(false);
        await connection.ExpectAsync(SandboxAgentProtocol.ReplyOk, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Connects to TCP <paramref name="port"/> on the sandbox's own loopback (127.0.0.1 in its
    /// network namespace; no IP route leads into a sandbox) and returns the connection as a raw
    /// duplex stream: what is written reaches the app, what the app sends is read. Disposing the
    /// stream closes the connection; <see cref="Socket.Shutdown"/> of writes (through
    /// <see cref="NetworkStream.Socket"/>) half-closes it and the app sees EOF. Throws
    /// <see cref="SandboxPortClosedException"/> when nothing accepts on the port.
    /// </summary>
    public async Task<Stream> ConnectPortAsync(int port, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, port);
        var connection = await SandboxAgentConnection.OpenAsync(AgentSocket, ct).ConfigureAwait(false);
        try
        {
            await connection.SendAsync(SandboxAgentProtocol.ConnectPort, payload, ct).ConfigureAwait(false);
            // The app may speak first: nothing past the OK frame may end up in the frame buffer.
            var reply = await connection.ReadFrameAsync(ct, exact: true).ConfigureAwait(false);
            if (reply.Type != SandboxAgentProtocol.ReplyOk)
            {
                throw SandboxAgentConnection.Unexpected(reply);
            }

            return connection.DetachStream();
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
