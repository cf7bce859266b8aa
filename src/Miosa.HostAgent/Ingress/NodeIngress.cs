using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Ingress;

/// <summary>
/// The host's data plane: exec streams and file bytes of the sandboxes running here, reached by the
/// API (and later the edge) over HTTP on loopback. Never exposed to users: every call carries the
/// cluster secret.
/// </summary>
public static class NodeIngress
{
    public const string TokenHeader = NodeIngressContract.TokenHeader;
    public const string PathPrefix = NodeIngressContract.PathPrefix;
    public const long MaxExecBodyBytes = 16 * 1024 * 1024;
    public const long MaxFileBytes = 4L * 1024 * 1024 * 1024;

    /// <summary>The services <see cref="MapNodeIngress"/> needs besides the <see cref="ISandboxDriver"/>.</summary>
    public static IServiceCollection AddNodeIngress(this IServiceCollection services)
    {
        services.AddHttpForwarder();
        services.AddSingleton<SandboxPortProxy>();
        services.TryAddSingleton(new SandboxActivity(TimeProvider.System));
        return services;
    }

    public static IEndpointRouteBuilder MapNodeIngress(this IEndpointRouteBuilder app, string clusterSecret)
    {
        var secret = Encoding.UTF8.GetBytes(clusterSecret);
        var group = app.MapGroup(PathPrefix).AddEndpointFilter(async (ctx, next) =>
        {
            var presented = Encoding.UTF8.GetBytes(ctx.HttpContext.Request.Headers[TokenHeader].ToString());
            if (!CryptographicOperations.FixedTimeEquals(presented, secret))
                return Problems.Of(401, "unauthorized", "Missing or wrong node token.");
            if (ctx.HttpContext.GetRouteValue("id") is not string id) return await next(ctx);
            // Every data-plane call is activity (idle timeout), and wakes a suspended sandbox first.
            var services = ctx.HttpContext.RequestServices;
            var activity = services.GetRequiredService<SandboxActivity>();
            var driver = services.GetRequiredService<ISandboxDriver>();
            using var inUse = activity.Use(id);
            if ((driver.IsSuspended(id) || driver.Find(id) is null) && activity.Wake is { } wake
                && await wake(id, ctx.HttpContext.RequestAborted) is { } refused)
            {
                if (refused.Code == "sandbox_suspended") ctx.HttpContext.Response.Headers[NodeIngressContract.ErrorHeader] = refused.Code;
                return refused.ToResult();
            }
            return await next(ctx);
        });

        group.MapPost("/{id}/exec", ExecAsync);
        group.MapGet("/{id}/processes", async (string id, ISandboxDriver driver, CancellationToken ct) =>
            Client(driver, id) is { } client
                ? Results.Json(new { data = (await client.ListProcessesAsync(ct)).Select(ProcessJson) })
                : NotRunning(id));
        group.MapDelete("/{id}/processes/{pid:int}", async (string id, int pid, ISandboxDriver driver, CancellationToken ct) =>
            Client(driver, id) is not { } client ? NotRunning(id)
            : await client.KillProcessAsync(pid, ct) ? Results.NoContent()
            : Problems.Of(404, "process_not_found", $"No process {pid} started by this API runs in sandbox {id}."));

        // Preview traffic: HTTP and WebSockets to a TCP port inside the sandbox (the port bridge).
        group.Map("/{id}/ports/{port}/{**path}", (string id, string port, HttpContext http, SandboxPortProxy proxy) =>
            proxy.ForwardAsync(http, id, port));
        // A login shell on a pseudo-terminal, over a WebSocket (docs/terminal.md).
        group.MapSandboxTerminal();

        group.MapPut("/{id}/files", PutFileAsync);
        group.MapGet("/{id}/files", GetFileAsync);
        group.MapGet("/{id}/files/list", async (string id, string? path, ISandboxDriver driver, CancellationToken ct) =>
            await FileCall(driver, id, path ?? ".", async (client, p) =>
                Results.Json(new { entries = (await client.ListAsync(p, ct)).Select(EntryJson) })));
        group.MapDelete("/{id}/files", async (string id, string? path, ISandboxDriver driver, CancellationToken ct) =>
            await FileCall(driver, id, path, async (client, p) =>
            {
                await client.DeleteAsync(p, ct);
                return Results.NoContent();
            }));
        return app;
    }

    private static async Task<IResult> ExecAsync(string id, HttpContext http, ISandboxDriver driver, CancellationToken ct)
    {
        if (http.Request.ContentLength > MaxExecBodyBytes)
            return Problems.Of(413, "body_too_large", $"An exec request is at most {MaxExecBodyBytes} bytes.");
        var bytes = await ReadBoundedAsync(http.Request.Body, MaxExecBodyBytes, ct);
        if (bytes is null) return Problems.Of(413, "body_too_large", $"An exec request is at most {MaxExecBodyBytes} bytes.");
        var (body, error) = ExecBody.Parse(bytes);
        if (error is not null) return error.ToResult();
        if (Client(driver, id) is not { } client) return NotRunning(id);

        var request = new ExecRequest(body!.Argv, body.Cwd, body.Env, body.Timeout, body.Stdin);
        if (body.Background)
        {
            try
            {
                var pid = await client.StartBackgroundAsync(request, ct);
                return Results.Json(new { process_id = pid }, statusCode: 202);
            }
            catch (SandboxAgentException e)
            {
                return AgentUnavailable(e);
            }
        }

        var oomKillsBefore = driver.ReadUsage(id)?.OomKills ?? 0;
        var streamed = http.Request.Headers.Accept.ToString().Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase);
        var response = streamed ? (ExecResponseWriter)new NdjsonExecWriter(http.Response) : new JsonExecWriter(http.Response);
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        ExecResult result;
        try
        {
            result = await client.ExecAsync(request, response.WriteAsync, ct);
        }
        catch (SandboxAgentException e) when (!http.Response.HasStarted)
        {
            return AgentUnavailable(e);
        }
        var oomKilled = result.ExitCode == 137 && (driver.ReadUsage(id)?.OomKills ?? 0) > oomKillsBefore;
        await response.CompleteAsync(result, oomKilled, ct);
        return Results.Empty;
    }

    private static async Task<IResult> PutFileAsync(string id, string? path, HttpContext http, ISandboxDriver driver, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxFileBytes;
        if (http.Request.ContentLength > MaxFileBytes)
            return Problems.Of(413, "file_too_large", $"A file upload is at most {MaxFileBytes} bytes.");
        return await FileCall(driver, id, path, async (client, p) =>
        {
            await client.WriteFileAsync(p, http.Request.Body, ct);
            return Results.NoContent();
        });
    }

    private static async Task<IResult> GetFileAsync(string id, string? path, HttpContext http, ISandboxDriver driver, CancellationToken ct) =>
        await FileCall(driver, id, path, async (client, p) =>
        {
            var content = await client.OpenReadAsync(p, ct);
            return Results.Stream(content, "application/octet-stream");
        });

    private static async Task<IResult> FileCall(ISandboxDriver driver, string id, string? path, Func<SandboxAgentClient, string, Task<IResult>> call)
    {
        if (string.IsNullOrEmpty(path)) return Problems.Invalid("path", "path is required.");
        if (path.Contains('\0')) return Problems.Invalid("path", "path must not contain NUL characters.");
        if (Client(driver, id) is not { } client) return NotRunning(id);
        try
        {
            return await call(client, path);
        }
        catch (SandboxFileException e)
        {
            return e.Error switch
            {
                SandboxFileError.NotFound => Problems.Of(404, "file_not_found", $"{path}: no such file or directory."),
                SandboxFileError.InvalidPath => Problems.Of(400, "invalid_path", $"{path}: {e.Message}"),
                SandboxFileError.ReadOnly => Problems.Of(403, "read_only_path", $"{path} is on the read-only system root."),
                SandboxFileError.PermissionDenied => Problems.Of(403, "permission_denied", $"{path}: permission denied."),
                SandboxFileError.IsADirectory => Problems.Of(409, "is_a_directory", $"{path} is a directory."),
                SandboxFileError.NotADirectory => Problems.Of(409, "not_a_directory", $"{path}: a parent is not a directory."),
                SandboxFileError.NoSpace => Problems.Of(507, "disk_full", "The sandbox's disk is full."),
                _ => Problems.Of(500, "file_error", e.Message),
            };
        }
        catch (SandboxAgentException e)
        {
            return AgentUnavailable(e);
        }
    }

    /// <summary>The sandbox's agent did not answer: out of processes (a fork bomb) or gone.</summary>
    private static IResult AgentUnavailable(SandboxAgentException e) => e.AtProcessLimit
        ? Problems.Of(429, "process_limit_reached", "The sandbox is at its process limit; kill some of its processes and retry.")
        : Problems.Of(503, "sandbox_unavailable", $"The sandbox did not answer: {e.Message}");

    private static SandboxAgentClient? Client(ISandboxDriver driver, string id) =>
        driver.Find(id) is { } running ? new SandboxAgentClient(running.AgentSocket) : null;

    private static IResult NotRunning(string id) =>
        Problems.Of(409, "sandbox_not_running", $"Sandbox {id} is not running on this host.");

    private static async Task<byte[]?> ReadBoundedAsync(Stream body, long max, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > max) return null;
                buffer.Write(chunk, 0, read);
            }
            return buffer.ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private static object ProcessJson(SandboxProcess p) => new
    {
        process_id = p.Pid,
        command = p.Argv,
        started_at = p.StartedAt,
        running = p.Running,
        exit_code = p.ExitCode,
    };

    private static object EntryJson(SandboxFileEntry e) => new
    {
        name = e.Name,
        path = e.Path,
        type = e.Type,
        size = e.Size,
        mode = e.Mode,
        modified_at = e.ModifiedAt,
    };
}
