namespace Miosa.HostAgent.Sandboxes;

/// <summary>A file being read out of a sandbox, frame by frame; forward-only.</summary>
public sealed class SandboxFileStream : Stream
{
    private readonly SandboxAgentConnection _connection;
    private ReadOnlyMemory<byte> _current;
    private bool _ended;

    internal SandboxFileStream(SandboxAgentConnection connection, long sizeAtOpen)
    {
        _connection = connection;
        SizeAtOpen = sizeAtOpen;
    }

    /// <summary>The file's size when it was opened; it may change while it is read (e.g. a growing log).</summary>
    public long SizeAtOpen { get; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_current.IsEmpty && !await NextAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var count = Math.Min(buffer.Length, _current.Length);
        _current[..count].CopyTo(buffer);
        _current = _current[count..];
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>Writes each frame straight to the destination, with no intermediate copy.</summary>
    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        do
        {
            if (!_current.IsEmpty)
            {
                await destination.WriteAsync(_current, cancellationToken).ConfigureAwait(false);
                _current = ReadOnlyMemory<byte>.Empty;
            }
        }
        while (await NextAsync(cancellationToken).ConfigureAwait(false));
    }

    private async ValueTask<bool> NextAsync(CancellationToken ct)
    {
        while (!_ended)
        {
            var frame = await _connection.ReadFrameAsync(ct).ConfigureAwait(false);
            switch (frame.Type)
            {
                case SandboxAgentProtocol.ReplyData:
                    _current = frame.Payload;
                    if (!_current.IsEmpty)
                    {
                        return true;
                    }

                    break;
                case SandboxAgentProtocol.ReplyEnd:
                    _ended = true;
                    break;
                default:
                    throw new IOException("Reading the sandbox file failed.", SandboxAgentConnection.Unexpected(frame));
            }
        }

        return false;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _connection.Dispose();
        }

        base.Dispose(disposing);
    }
}
