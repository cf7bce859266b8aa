using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>A frame read from the agent; <see cref="Payload"/> is valid until the next read.</summary>
internal readonly record struct SandboxAgentFrame(byte Type, ReadOnlyMemory<byte> Payload);

/// <summary>
/// One connection to a sandbox agent, carrying one request. Everything the agent sends is treated
/// as untrusted (the sandbox's user can replace its agent): sizes are bounded, payloads checked.
/// </summary>
internal sealed class SandboxAgentConnection : IAsyncDisposable, IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(SandboxAgentProtocol.MaxReplyPayload + SandboxAgentProtocol.HeaderSize);
    private int _start;
    private int _end;
    private int _disposed;

    private SandboxAgentConnection(Socket socket) => _socket = socket;

    public static async Task<SandboxAgentConnection> OpenAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        {
            // Bulk transfers move in fewer, larger wake-ups (the kernel caps this at wmem_max).
            SendBufferSize = 1 << 20,
        };
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
            return new SandboxAgentConnection(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SandboxAgentException($"The sandbox agent is not reachable ({e.SocketErrorCode}).", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends a frame whose payload is small (requests, control frames).</summary>
    public async ValueTask SendAsync(byte type, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        var frame = ArrayPool<byte>.Shared.Rent(SandboxAgentProtocol.HeaderSize + payload.Length);
        try
        {
            SandboxAgentProtocol.WriteHeader(frame, type, payload.Length);
            payload.Span.CopyTo(frame.AsSpan(SandboxAgentProtocol.HeaderSize));
            await SendRawAsync(frame.AsMemory(0, SandboxAgentProtocol.HeaderSize + payload.Length), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>Sends bytes that already hold a complete frame (data frames built in place).</summary>
    public async ValueTask SendRawAsync(ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        try
        {
            while (!frame.IsEmpty)
            {
                var sent = await _socket.SendAsync(frame, SocketFlags.None, ct).ConfigureAwait(false);
                frame = frame[sent..];
            }
        }
        catch (SocketException e)
        {
            throw new SandboxAgentException($"The sandbox agent closed the connection ({e.SocketErrorCode}).", e);
        }
    }

    /// <summary>
    /// Reads the next frame. <paramref name="exact"/> reads no byte past it, for the last frame
    /// before the connection becomes a raw byte stream (<see cref="DetachStream"/>).
    /// </summary>
    public async ValueTask<SandboxAgentFrame> ReadFrameAsync(CancellationToken ct, bool exact = false)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await FillAsync(SandboxAgentProtocol.HeaderSize, ct, exact).ConfigureAwait(false);
        var type = _buffer[_start];
        var length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start + 1));
        if (length > SandboxAgentProtocol.MaxReplyPayload)
        {
            throw new SandboxAgentException("The sandbox agent sent an oversized frame.");
        }

        await FillAsync(SandboxAgentProtocol.HeaderSize + (int)length, ct, exact).ConfigureAwait(false);
        var payload = _buffer.AsMemory(_start + SandboxAgentProtocol.HeaderSize, (int)length);
        _start += SandboxAgentProtocol.HeaderSize + (int)length;
        return new SandboxAgentFrame(type, payload);
    }

    /// <summary>Reads a frame and checks its type; an error frame becomes its exception.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ExpectAsync(byte type, CancellationToken ct)
    {
        var frame = await ReadFrameAsync(ct).ConfigureAwait(false);
        if (frame.Type == type)
        {
            return frame.Payload;
        }

        throw Unexpected(frame);
    }

    public static Exception Unexpected(SandboxAgentFrame frame) =>
        frame.Type == SandboxAgentProtocol.ReplyError
            ? SandboxAgentProtocol.ToException(frame.Payload.Span)
            : new SandboxAgentException($"The sandbox agent sent an unexpected frame 0x{frame.Type:x2}.");

    /// <summary>Makes sure <paramref name="count"/> unread bytes sit contiguously in the buffer.</summary>
    private async ValueTask FillAsync(int count, CancellationToken ct, bool exact = false)
    {
        if (_end - _start >= count)
        {
            return;
        }

        if (_start + count > _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        while (_end - _start < count)
        {
            int read;
            try
            {
                var room = exact ? _buffer.AsMemory(_end, count - (_end - _start)) : _buffer.AsMemory(_end);
                read = await _socket.ReceiveAsync(room, SocketFlags.None, ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new SandboxAgentException($"The sandbox agent closed the connection ({e.SocketErrorCode}).", e);
            }

            if (read == 0)
            {
                throw new SandboxAgentException("The sandbox agent closed the connection.");
            }

            _end += read;
        }
    }

    /// <summary>
    /// Hands the socket over as a raw duplex stream (which then owns it) and releases this
    /// connection. Only valid when nothing unread is buffered (frames read with <c>exact</c>).
    /// </summary>
    public NetworkStream DetachStream()
    {
        if (_end != _start)
        {
            throw new InvalidOperationException("Bytes past the last frame were already read.");
        }

        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            throw new ObjectDisposedException(nameof(SandboxAgentConnection));
        }

        ArrayPool<byte>.Shared.Return(_buffer);
        return new NetworkStream(_socket, ownsSocket: true);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // Closing is the cancel signal: the agent kills what this connection started.
            _socket.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
