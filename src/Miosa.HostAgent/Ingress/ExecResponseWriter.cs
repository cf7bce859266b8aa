using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Ingress;

/// <summary>
/// Writes an exec's output to the HTTP response as it arrives. The response starts with the first
/// output (or the end), so an exec the agent refuses can still answer with a problem.
/// </summary>
public abstract class ExecResponseWriter(HttpResponse response)
{
    private bool _started;

    protected HttpResponse Response { get; } = response;

    public async ValueTask WriteAsync(ExecOutputChunk chunk, CancellationToken ct)
    {
        await EnsureStartedAsync(ct);
        await WriteChunkAsync(chunk, ct);
    }

    public async Task CompleteAsync(ExecResult result, bool oomKilled, CancellationToken ct)
    {
        await EnsureStartedAsync(ct);
        await WriteEndAsync(result, oomKilled, ct);
    }

    protected abstract Task StartAsync(CancellationToken ct);

    protected abstract ValueTask WriteChunkAsync(ExecOutputChunk chunk, CancellationToken ct);

    protected abstract Task WriteEndAsync(ExecResult result, bool oomKilled, CancellationToken ct);

    private async ValueTask EnsureStartedAsync(CancellationToken ct)
    {
        if (_started) return;
        _started = true;
        await StartAsync(ct);
    }

    protected ValueTask<System.IO.Pipelines.FlushResult> WriteRawAsync(string text, CancellationToken ct) =>
        Response.BodyWriter.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
}

/// <summary><c>application/x-ndjson</c>: one JSON object a line, flushed per chunk.</summary>
public sealed class NdjsonExecWriter(HttpResponse response) : ExecResponseWriter(response)
{
    private readonly Utf8TextDecoder _stdout = new(), _stderr = new();

    protected override Task StartAsync(CancellationToken ct)
    {
        Response.ContentType = "application/x-ndjson";
        return Response.StartAsync(ct);
    }

    protected override async ValueTask WriteChunkAsync(ExecOutputChunk chunk, CancellationToken ct)
    {
        var text = (chunk.Stream == ExecStream.Stdout ? _stdout : _stderr).Decode(chunk.Data.Span, final: false);
        if (text.Length == 0) return;
        await Line(chunk.Stream == ExecStream.Stdout ? "stdout" : "stderr", text, ct);
    }

    protected override async Task WriteEndAsync(ExecResult result, bool oomKilled, CancellationToken ct)
    {
        if (_stdout.Decode([], final: true) is { Length: > 0 } tailOut) await Line("stdout", tailOut, ct);
        if (_stderr.Decode([], final: true) is { Length: > 0 } tailErr) await Line("stderr", tailErr, ct);
        await WriteRawAsync(JsonSerializer.Serialize(new
        {
            type = "exit",
            exit_code = result.ExitCode,
            timed_out = result.TimedOut,
            oom_killed = oomKilled,
            duration_ms = (long)result.Duration.TotalMilliseconds,
        }) + "\n", ct);
    }

    private async Task Line(string type, string data, CancellationToken ct) =>
        await WriteRawAsync(JsonSerializer.Serialize(new { type, data }) + "\n", ct);
}

/// <summary>
/// The buffered JSON reply. stdout is written into the JSON string as it arrives (so a huge output
/// never sits in memory); stderr is kept, up to a bound, and written after it.
/// </summary>
public sealed class JsonExecWriter(HttpResponse response) : ExecResponseWriter(response)
{
    private const int MaxStderrChars = 10 * 1024 * 1024;
    private readonly Utf8TextDecoder _stdout = new(), _stderr = new();
    private readonly StringBuilder _stderrText = new();
    private bool _stderrTruncated;

    protected override async Task StartAsync(CancellationToken ct)
    {
        Response.ContentType = "application/json";
        await WriteRawAsync("{\"stdout\":\"", ct);
    }

    protected override async ValueTask WriteChunkAsync(ExecOutputChunk chunk, CancellationToken ct)
    {
        if (chunk.Stream == ExecStream.Stdout)
        {
            var text = _stdout.Decode(chunk.Data.Span, final: false);
            if (text.Length > 0) await WriteRawAsync(JsonEncodedText.Encode(text, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value, ct);
            return;
        }
        var err = _stderr.Decode(chunk.Data.Span, final: false);
        if (_stderrText.Length + err.Length <= MaxStderrChars) _stderrText.Append(err);
        else _stderrTruncated = true;
    }

    protected override async Task WriteEndAsync(ExecResult result, bool oomKilled, CancellationToken ct)
    {
        var tail = _stdout.Decode([], final: true);
        if (tail.Length > 0) await WriteRawAsync(JsonEncodedText.Encode(tail, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value, ct);
        _stderrText.Append(_stderr.Decode([], final: true));
        var rest = JsonSerializer.Serialize(new
        {
            stderr = _stderrText.ToString(),
            stderr_truncated = _stderrTruncated,
            exit_code = result.ExitCode,
            timed_out = result.TimedOut,
            oom_killed = oomKilled,
            duration_ms = (long)result.Duration.TotalMilliseconds,
        });
        await WriteRawAsync("\"," + rest[1..], ct);
    }
}

/// <summary>UTF-8 to text across chunk boundaries: a character split between two reads stays whole.</summary>
public sealed class Utf8TextDecoder
{
    private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();

    public string Decode(ReadOnlySpan<byte> bytes, bool final)
    {
        var chars = new char[_decoder.GetCharCount(bytes, flush: final)];
        var count = _decoder.GetChars(bytes, chars, flush: final);
        return new string(chars, 0, count);
    }
}
