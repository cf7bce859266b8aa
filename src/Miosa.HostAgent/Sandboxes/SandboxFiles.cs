namespace Miosa.HostAgent.Sandboxes;

/// <summary>An entry of a sandbox directory (lstat: a symlink is reported as itself).</summary>
/// <param name="Type"><c>file</c>, <c>dir</c> or <c>symlink</c> (devices, pipes and sockets count as files).</param>
/// <param name="Path">Absolute path inside the sandbox.</param>
/// <param name="Mode">Permission bits, e.g. 0644 (octal).</param>
public sealed record SandboxFileEntry(string Name, string Path, string Type, long Size, int Mode, DateTimeOffset ModifiedAt);

/// <summary>Why a file operation failed; the numbers are part of the agent protocol.</summary>
public enum SandboxFileError
{
    /// <summary>HTTP 404.</summary>
    NotFound = 1,

    /// <summary>A relative path that leaves /workspace (via .. or a symlink), or a malformed path. HTTP 400 invalid_path.</summary>
    InvalidPath = 2,

    /// <summary>A read-only system path (/usr, /etc, ...). HTTP 403.</summary>
    ReadOnly = 3,

    /// <summary>HTTP 403.</summary>
    PermissionDenied = 4,

    /// <summary>Read or write of a directory.</summary>
    IsADirectory = 5,

    /// <summary>A path component (or the target of a list) is not a directory.</summary>
    NotADirectory = 6,

    /// <summary>The disk (or the memory holding /tmp) is full.</summary>
    NoSpace = 7,

    Other = 8,
}

/// <summary>The sandbox agent could not be reached, broke the protocol or refused a request.</summary>
public class SandboxAgentException : Exception
{
    public SandboxAgentException(string message)
        : base(message)
    {
    }

    public SandboxAgentException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>
    /// The agent could not start a process because the sandbox is at its pids limit (e.g. a fork
    /// bomb): retry later, or <see cref="SandboxAgentClient.KillAllProcessesAsync"/>.
    /// </summary>
    public bool AtProcessLimit { get; init; }
}

/// <summary>A file operation failed inside the sandbox; raised before any content is transferred.</summary>
public sealed class SandboxFileException(SandboxFileError error, string message) : SandboxAgentException(message)
{
    public SandboxFileError Error { get; } = error;
}

/// <summary>
/// Nothing accepts connections on the port inside the sandbox (<see cref="Errno"/> 111,
/// ECONNREFUSED, when nothing listens there); the ingress answers 502 <c>app_not_listening</c>.
/// </summary>
public sealed class SandboxPortClosedException(int errno, string message) : SandboxAgentException(message)
{
    /// <summary>The Linux errno of the failed connect inside the sandbox.</summary>
    public int Errno { get; } = errno;
}
