namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// A command to run in a sandbox. <see cref="Env"/> is set over the sandbox's environment;
/// <see cref="Cwd"/> defaults to <c>/workspace</c>; a <see cref="Timeout"/> of zero or less means none
/// (then only cancellation stops it). The process runs in its own session and process group.
/// </summary>
public sealed record ExecRequest(
    IReadOnlyList<string> Argv,
    string? Cwd,
    IReadOnlyDictionary<string, string> Env,
    TimeSpan Timeout,
    ReadOnlyMemory<byte>? Stdin)
{
    /// <summary>A command for <c>sh -c</c>, the API's string form of a command.</summary>
    public static ExecRequest Shell(string command, TimeSpan timeout) =>
        new(["/bin/sh", "-c", command], null, new Dictionary<string, string>(), timeout, null);
}

public enum ExecStream
{
    Stdout,
    Stderr,
}

/// <summary>Output as the process wrote it. <see cref="Data"/> is only valid during the callback.</summary>
public readonly record struct ExecOutputChunk(ExecStream Stream, ReadOnlyMemory<byte> Data);

/// <summary>
/// How a foreground exec ended: the exit code of its process (128+N when killed by signal N, 127
/// when the command does not exist, 126 when it cannot be run or the working directory is
/// missing). <see cref="TimedOut"/>: the timeout passed before the exec finished (its process, or
/// a child still holding its output) and the whole process group was killed.
/// </summary>
public sealed record ExecResult(int ExitCode, bool TimedOut, TimeSpan Duration);

/// <summary>A background process the sandbox agent started. <see cref="ExitCode"/> is null while it runs.</summary>
public sealed record SandboxProcess(int Pid, IReadOnlyList<string> Argv, DateTimeOffset StartedAt, bool Running, int? ExitCode)
{
    /// <summary>Where its stdout and stderr go, inside the sandbox.</summary>
    public string LogPath => $"/tmp/miosa-process-{Pid}.log";
}
