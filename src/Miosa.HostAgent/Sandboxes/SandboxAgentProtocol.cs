using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// Frames between the host and miosa-init (native/miosa-init.c holds the same numbers):
/// <c>[u8 type][u32 big-endian length][payload]</c>, integers big-endian, strings as
/// <c>[u32 length][UTF-8 bytes]</c>. One request per connection.
/// </summary>
internal static class SandboxAgentProtocol
{
    public const int Version = 1;

    /// <summary>Largest frame the agent accepts from the host.</summary>
    public const int MaxRequestPayload = 1 << 20;

    /// <summary>Host data frames for uploads: big enough that per-frame costs vanish.</summary>
    public const int UploadChunk = 256 * 1024;

    /// <summary>Largest frame the host accepts from the agent (its data frames carry at most 128 KiB).</summary>
    public const int MaxReplyPayload = (256 * 1024) - HeaderSize;

    public const int HeaderSize = 5;

    public const byte Ping = 0x01;
    public const byte Exec = 0x02;
    public const byte Spawn = 0x03;
    public const byte Processes = 0x04;
    public const byte Kill = 0x05;
    public const byte WriteFile = 0x06;
    public const byte ReadFile = 0x07;
    public const byte ListDirectory = 0x08;
    public const byte Delete = 0x09;
    public const byte KillAll = 0x0A;
    public const byte ConnectPort = 0x0B;

    /// <summary>A shell on a pseudo-terminal: <c>[u32 cols][u32 rows]</c> + an exec payload (SandboxTerminal.cs).</summary>
    public const byte Terminal = 0x0C;

    public const byte Stdin = 0x10;
    public const byte StdinEnd = 0x11;
    public const byte Data = 0x12;
    public const byte End = 0x13;
    public const byte TerminalInput = 0x14;
    public const byte TerminalResize = 0x15;

    public const byte ReplyOk = 0x80;
    public const byte ReplyPong = 0x81;
    public const byte ReplyStdout = 0x83;
    public const byte ReplyStderr = 0x84;
    public const byte ReplyExit = 0x85;
    public const byte ReplySpawned = 0x86;
    public const byte ReplyProcess = 0x87;
    public const byte ReplyKilled = 0x88;
    public const byte ReplyData = 0x89;
    public const byte ReplyEntry = 0x8A;
    public const byte ReplyEnd = 0x8F;
    public const byte ReplyError = 0xFF;

    public const uint ExecHasStdin = 1;

    /// <summary>Agent-level error codes beyond <see cref="SandboxFileError"/>.</summary>
    public const int ErrorBadRequest = 20;
    public const int ErrorBusy = 21;

    /// <summary>A port connection failed inside the sandbox; the errno says why (ECONNREFUSED: nothing listens).</summary>
    public const int ErrorConnect = 22;

    public static void WriteHeader(Span<byte> destination, byte type, int length)
    {
        destination[0] = type;
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], (uint)length);
    }

    public static byte[] ExecPayload(ExecRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Argv.Count == 0 || request.Argv[0].Length == 0)
        {
            throw new ArgumentException("A command needs at least a program name.", nameof(request));
        }

        var timeoutMs = request.Timeout <= TimeSpan.Zero ? 0u : (uint)Math.Clamp(Math.Ceiling(request.Timeout.TotalMilliseconds), 1, uint.MaxValue);
        var writer = new ArrayBufferWriter<byte>(256);
        WriteUInt32(writer, request.Stdin is null ? 0 : ExecHasStdin);
        WriteUInt32(writer, timeoutMs);
        WriteString(writer, request.Cwd ?? string.Empty);
        WriteUInt32(writer, (uint)request.Argv.Count);
        foreach (var arg in request.Argv)
        {
            WriteString(writer, arg);
        }

        WriteUInt32(writer, (uint)request.Env.Count);
        foreach (var (key, value) in request.Env)
        {
            if (key.Length == 0 || key.Contains('='))
            {
                throw new ArgumentException($"Invalid environment variable name '{key}'.", nameof(request));
            }

            WriteString(writer, key + "=" + value);
        }

        if (writer.WrittenCount > MaxRequestPayload)
        {
            throw new ArgumentException("The command and its environment are too large.", nameof(request));
        }

        return writer.WrittenSpan.ToArray();
    }

    public static byte[] PathPayload(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var writer = new ArrayBufferWriter<byte>(path.Length + 8);
        WriteString(writer, path);
        return writer.WrittenSpan.ToArray();
    }

    public static void WriteUInt32(IBufferWriter<byte> writer, uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    public static void WriteString(IBufferWriter<byte> writer, string value)
    {
        // The agent hands strings to C APIs: an embedded NUL would silently cut them.
        if (value.Contains('\0'))
        {
            throw new ArgumentException("Strings sent to a sandbox cannot contain NUL characters.");
        }

        var length = Encoding.UTF8.GetByteCount(value);
        WriteUInt32(writer, (uint)length);
        Encoding.UTF8.GetBytes(value, writer.GetSpan(length));
        writer.Advance(length);
    }

    /// <summary>Throws the exception an agent error frame stands for.</summary>
    public static Exception ToException(ReadOnlySpan<byte> payload)
    {
        var reader = new SandboxAgentReader(payload);
        var code = reader.Byte();
        var errno = (int)reader.UInt32();
        var message = reader.String();
        return code switch
        {
            >= (int)SandboxFileError.NotFound and <= (int)SandboxFileError.Other => new SandboxFileException((SandboxFileError)code, message),
            ErrorConnect => new SandboxPortClosedException(errno, message),
            _ => new SandboxAgentException(message) { AtProcessLimit = code == ErrorBusy },
        };
    }
}

/// <summary>Bounds-checked reader of a reply payload; a short payload is a protocol error.</summary>
internal ref struct SandboxAgentReader(ReadOnlySpan<byte> payload)
{
    private ReadOnlySpan<byte> _rest = payload;

    public byte Byte()
    {
        Need(1);
        var value = _rest[0];
        _rest = _rest[1..];
        return value;
    }

    public uint UInt32()
    {
        Need(4);
        var value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return value;
    }

    public long Int64()
    {
        Need(8);
        var value = BinaryPrimitives.ReadInt64BigEndian(_rest);
        _rest = _rest[8..];
        return value;
    }

    public string String()
    {
        var length = UInt32();
        Need(length);
        var value = Encoding.UTF8.GetString(_rest[..(int)length]);
        _rest = _rest[(int)length..];
        return value;
    }

    private readonly void Need(uint count)
    {
        if ((uint)_rest.Length < count)
        {
            throw new SandboxAgentException("The sandbox agent sent a malformed reply.");
        }
    }
}
